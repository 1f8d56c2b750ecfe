//! Numenta's anomaly likelihood (Ahmad et al., 2017, "Unsupervised real-time anomaly
//! detection for streaming data", §3.2), re-derived: a raw score is turned into "how
//! unusual is the recent average of raw scores *for this series*", so one threshold means
//! the same on a noisy series as on a clean one.

use std::collections::VecDeque;

/// Tail probability → score: `ln(p)/ln(1e-10)`, so p = 10⁻⁵ scores 0.5 and p ≤ 10⁻¹⁰
/// scores 1 (the mapping of NAB's `numenta` detector).
pub(crate) fn log_score(tail: f64) -> f64 {
    const FLOOR: f64 = 1e-10;
    ((tail + FLOOR).ln() / FLOOR.ln()).clamp(0.0, 1.0)
}

/// The upper Gaussian tail Q(z) = P(Z > z), by the complementary error function
/// (Numerical Recipes' `erfcc`, fractional error below 1.2·10⁻⁷ everywhere).
pub(crate) fn gaussian_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let ax = x.abs();
    let t = 1.0 / (1.0 + 0.5 * ax);
    let poly = -ax * ax - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

/// The likelihood stage's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LikelihoodParams {
    /// Raw scores averaged into the short-term mean.
    pub(crate) short_window: usize,
    /// Raw scores skipped before the long-term distribution starts (the raw model's own
    /// learning transient).
    pub(crate) skip: usize,
    /// Short-term means in the distribution before any likelihood is given.
    pub(crate) min_samples: usize,
    /// Horizon of the long-term distribution: a running mean until this many samples,
    /// then an exponential window of this length.
    pub(crate) horizon: usize,
    /// Floors of the distribution (Numenta's), so a series with almost no novelty does
    /// not turn its first blip into a certainty.
    pub(crate) min_mean: f64,
    pub(crate) min_variance: f64,
    /// A tail probability at or below this is "red"; in a run of red points only the
    /// first keeps its probability, the rest are shown at `yellow` (Numenta's filter).
    pub(crate) red: f64,
    pub(crate) yellow: f64,
}

/// State: the short ring and the long-term moments. Memory: `short_window` f64s + 48 bytes.
#[derive(Debug, Clone)]
pub(crate) struct Likelihood {
    params: LikelihoodParams,
    recent: VecDeque<f64>,
    recent_sum: f64,
    seen: usize,
    samples: usize,
    mean: f64,
    variance: f64,
    previous_red: bool,
}

/// One step of the likelihood stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Step {
    /// The short-term mean of raw scores.
    pub(crate) average: f64,
    /// Its upper tail probability under the long-term distribution (after the red/yellow
    /// filter); `None` while learning.
    pub(crate) tail: Option<f64>,
}

impl Likelihood {
    pub(crate) fn new(params: LikelihoodParams) -> Self {
        Self {
            params,
            recent: VecDeque::with_capacity(params.short_window),
            recent_sum: 0.0,
            seen: 0,
            samples: 0,
            mean: 0.0,
            variance: 0.0,
            previous_red: false,
        }
    }

    pub(crate) fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.recent.capacity() * std::mem::size_of::<f64>()
    }

    /// Adds a raw score and judges the new short-term mean against the distribution of
    /// the past ones (the current mean joins the distribution afterwards).
    pub(crate) fn update(&mut self, raw: f64) -> Step {
        let p = &self.params;
        if self.recent.len() == p.short_window
            && let Some(old) = self.recent.pop_front()
        {
            self.recent_sum -= old;
        }
        self.recent.push_back(raw);
        self.recent_sum += raw;
        #[allow(
            clippy::cast_precision_loss,
            reason = "the ring holds a handful of scores"
        )]
        let average = self.recent_sum / self.recent.len() as f64;
        self.seen += 1;

        let tail = (self.samples >= p.min_samples).then(|| {
            let mean = self.mean.max(p.min_mean);
            let sd = self.variance.max(p.min_variance).sqrt();
            let tail = if average > mean {
                gaussian_tail((average - mean) / sd)
            } else {
                0.5
            };
            let red = tail <= p.red;
            let shown = if red && self.previous_red {
                p.yellow.max(tail)
            } else {
                tail
            };
            self.previous_red = red;
            shown
        });

        if self.seen > p.skip {
            self.samples += 1;
            #[allow(
                clippy::cast_precision_loss,
                reason = "sample counts are far below 2^52"
            )]
            let alpha = 1.0 / (self.samples.min(p.horizon) as f64);
            let delta = average - self.mean;
            self.mean += alpha * delta;
            self.variance = (1.0 - alpha) * (self.variance + alpha * delta * delta);
        }
        Step { average, tail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gaussian_tail_matches_known_values() {
        for (z, q) in [
            (0.0, 0.5),
            (1.0, 0.158_655_253_9),
            (1.959_963_985, 0.025),
            (3.0, 0.001_349_898_032),
            (-1.0, 0.841_344_746_1),
        ] {
            assert!((gaussian_tail(z) - q).abs() < 2e-7 * q.max(1e-3), "{z}");
        }
        let far = gaussian_tail(6.0);
        assert!((far / 9.865_876_45e-10 - 1.0).abs() < 1e-5, "{far}");
    }

    #[test]
    fn log_scores_map_tail_probabilities_to_the_unit_interval() {
        assert!((log_score(1e-5) - 0.5).abs() < 1e-4);
        assert_eq!(log_score(0.0), 1.0);
        assert!(log_score(1.0) < 1e-9);
    }
}
