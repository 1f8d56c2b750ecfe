//! SPOT: thresholds from extreme value theory (after Siffer, Fouque, Termier and Largouët,
//! "Anomaly Detection in Streams with Extreme Value Theory", KDD 2017), bounded for use per
//! subject.
//!
//! The idea: whatever the distribution of a statistic, its excesses over a high enough
//! threshold `t` follow a generalized Pareto distribution (Pickands–Balkema–de Haan). Fit
//! that distribution's shape γ and scale σ to the excesses seen so far, and the value that
//! is exceeded with probability `q` is
//!
//! ```text
//! z_q = t + σ/γ · ((q·n / N_t)^(−γ) − 1)      (γ ≠ 0)
//! z_q = t − σ · ln(q·n / N_t)                 (γ = 0, the exponential tail)
//! ```
//!
//! with `n` observations of which `N_t` exceeded `t`. Alerting above `z_q` fires on a
//! share `q` of ordinary observations, for every subject, without tuning a threshold per
//! subject: `q` (the risk) is the only setting.
//!
//! What differs from the paper, and why:
//! * `t` is fixed rather than a quantile of a calibration batch: the statistic fed in is
//!   already scale-free (a log2 ratio to the subject's own baseline), and a calibration
//!   batch per subject would not fit the memory budget.
//! * Only the latest [`PEAKS`] excesses are kept (the paper keeps all of them); `N_t` and
//!   `n` still count everything. The fit follows recent behaviour.
//! * The maximum-likelihood fit uses Grimshaw's reduction, as the paper does (the
//!   likelihood depends on one variable `x = γ/σ` once γ is profiled out: γ(x) =
//!   mean ln(1 + x·Y)), but maximises it over a fixed grid of `x` instead of finding the
//!   roots of its derivative: bounded work, no iteration that may not converge.
//! * The shape is kept in [0, 1] (exponential to heavy tails; see `grimshaw_grid`).
//! * With fewer than [`MIN_FIT`] peaks the tail is taken as exponential with a prior
//!   scale, shrunk towards the peaks seen (a new subject is judged with caution, not
//!   silence).

/// Excesses kept for the fit.
pub const PEAKS: usize = 16;
/// Peaks needed before the shape is fitted; fewer, and the tail is exponential.
pub const MIN_FIT: usize = 6;

/// The scale of the exponential tail assumed before peaks are seen, in the statistic's
/// unit (log2 ratio: half a doubling).
const PRIOR_SCALE: f64 = 0.5;

/// The fitted tail: shape γ and scale σ of the excesses over `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tail {
    pub gamma: f64,
    pub sigma: f64,
}

/// One stream's SPOT state: 84 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spot {
    /// Observations and peaks (observations above `t`) ever seen.
    n: u32,
    peaks_seen: u32,
    /// The latest excesses over `t`, oldest overwritten first.
    peaks: [f32; PEAKS],
    len: u8,
    next: u8,
    gamma: f32,
    sigma: f32,
}

impl Default for Spot {
    fn default() -> Self {
        Self {
            n: 0,
            peaks_seen: 0,
            peaks: [0.0; PEAKS],
            len: 0,
            next: 0,
            gamma: 0.0,
            sigma: PRIOR_SCALE as f32,
        }
    }
}

impl Spot {
    /// Observations seen.
    pub fn observations(&self) -> u32 {
        self.n
    }

    /// Learns `count` ordinary observations below the initial threshold at once (the
    /// idle stretches of a subject): they move `n` and nothing else.
    pub fn observe_below(&mut self, count: u32) {
        self.n = self.n.saturating_add(count);
    }

    /// Learns one observation `x` against the initial threshold `t`.
    pub fn observe(&mut self, x: f64, t: f64) {
        self.n = self.n.saturating_add(1);
        if x <= t || !x.is_finite() {
            return;
        }
        self.peaks_seen = self.peaks_seen.saturating_add(1);
        let at = usize::from(self.next) % PEAKS;
        if let Some(slot) = self.peaks.get_mut(at) {
            #[allow(clippy::cast_possible_truncation, reason = "f32 is enough for a fit")]
            {
                *slot = (x - t) as f32;
            }
        }
        #[allow(clippy::cast_possible_truncation, reason = "below PEAKS")]
        {
            self.next = ((at + 1) % PEAKS) as u8;
            self.len = (usize::from(self.len) + 1).min(PEAKS) as u8;
        }
        let tail = self.fit();
        #[allow(clippy::cast_possible_truncation, reason = "f32 is enough")]
        {
            self.gamma = tail.gamma as f32;
            self.sigma = tail.sigma as f32;
        }
    }

    /// The current tail estimate.
    pub fn tail(&self) -> Tail {
        Tail {
            gamma: f64::from(self.gamma),
            sigma: f64::from(self.sigma),
        }
    }

    /// The value exceeded with probability `q` per observation, given the initial
    /// threshold `t`.
    pub fn threshold(&self, t: f64, q: f64) -> f64 {
        let n = f64::from(self.n.max(1));
        // A subject with no peak yet counts as having one, so the ratio stays finite.
        let peaks = f64::from(self.peaks_seen.max(1));
        let r = (q * n / peaks).clamp(1e-300, 1.0);
        let Tail { gamma, sigma } = self.tail();
        let z = if gamma.abs() < 1e-6 {
            t - sigma * r.ln()
        } else {
            t + sigma / gamma * (r.powf(-gamma) - 1.0)
        };
        if z.is_finite() { z.max(t) } else { f64::MAX }
    }

    fn fit(&self) -> Tail {
        let mut buf = [0.0_f64; PEAKS];
        let k = usize::from(self.len).min(PEAKS);
        for (b, p) in buf.iter_mut().zip(&self.peaks) {
            *b = f64::from(*p).max(1e-9);
        }
        let peaks = buf.get(..k).unwrap_or_default();
        #[allow(clippy::cast_precision_loss, reason = "k ≤ PEAKS")]
        let kf = k as f64;
        let mean = peaks.iter().sum::<f64>() / kf.max(1.0);
        if k < MIN_FIT {
            // Exponential tail; the scale shrinks from the prior towards the peaks' mean.
            return Tail {
                gamma: 0.0,
                sigma: (PRIOR_SCALE * 2.0 + mean * kf) / (2.0 + kf),
            };
        }
        grimshaw_grid(peaks, mean)
    }
}

/// The generalized Pareto fit maximising the profile likelihood over a grid of
/// x = γ/σ (Grimshaw 1993): for each x, γ(x) = mean ln(1 + x·Y) and
/// ℓ(x) = −k·ln(γ(x)/x) − k·(1 + γ(x)); x → 0 is the exponential fit (σ = mean).
fn grimshaw_grid(peaks: &[f64], mean: f64) -> Tail {
    #[allow(clippy::cast_precision_loss, reason = "k ≤ PEAKS")]
    let k = peaks.len() as f64;
    let max = peaks.iter().copied().fold(0.0_f64, f64::max);
    let mut best = Tail {
        gamma: 0.0,
        sigma: mean.max(1e-6),
    };
    let mut best_ll = -k * best.sigma.ln() - k;
    // x < 0 (bounded tails) down to just above −1/max; x > 0 (heavy tails) up to 128/mean.
    let bounded = (1..=16).map(|s| -(1.0 - (-f64::from(s) / 2.0).exp2()) / max);
    let heavy = (0..=24).map(|s| (f64::from(s) / 2.0 - 5.0).exp2() / mean.max(1e-9));
    for x in bounded.chain(heavy) {
        let gamma = peaks.iter().map(|y| (1.0 + x * y).ln()).sum::<f64>() / k;
        if !gamma.is_finite() || gamma.abs() < 1e-9 {
            continue;
        }
        let sigma = gamma / x;
        if sigma <= 0.0 || !sigma.is_finite() {
            continue;
        }
        let ll = -k * sigma.ln() - k * (1.0 + gamma);
        // Only shapes in [0, 1] are trusted from sixteen points: a bounded tail (γ < 0)
        // promises a maximum the subject's next burst may well exceed, and for alerting
        // erring towards the heavier tail only raises the threshold.
        if ll > best_ll && (0.0..=1.0).contains(&gamma) {
            best_ll = ll;
            best = Tail { gamma, sigma };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::sketch::hash_u64;

    /// A deterministic uniform in (0, 1).
    fn uniform(i: u64) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "53 bits")]
        let u = ((hash_u64(99, i) >> 11) as f64 + 0.5) / (1_u64 << 53) as f64;
        u
    }

    #[test]
    fn exponential_data_gives_an_exponential_fit_and_the_right_quantile() {
        // Exponential with rate 1: P(X > z) = e^-z, so the 1e-3 quantile is ln 1000 ≈ 6.9.
        let mut spot = Spot::default();
        let mut total_peaks = 0;
        for i in 0..20_000 {
            let x = -uniform(i).ln();
            spot.observe(x, 2.0);
            total_peaks += u32::from(x > 2.0);
        }
        assert_eq!(spot.observations(), 20_000);
        assert_eq!(spot.peaks_seen, total_peaks);
        let z = spot.threshold(2.0, 1e-3);
        assert!((5.0..9.5).contains(&z), "z = {z}, tail {:?}", spot.tail());
    }

    #[test]
    fn heavy_tails_raise_the_threshold() {
        // Pareto with shape 1/γ = 2 (γ = 0.5): much heavier than exponential.
        let mut heavy = Spot::default();
        let mut light = Spot::default();
        for i in 0..5_000 {
            let u = uniform(i);
            heavy.observe(u.powf(-0.5) - 1.0, 1.0);
            light.observe(-u.ln() * 0.5, 1.0);
        }
        // Sixteen peaks cannot pin the shape down; the threshold is what must follow.
        assert!(heavy.tail().gamma >= 0.0, "{:?}", heavy.tail());
        assert!(
            heavy.threshold(1.0, 1e-4) > 1.5 * light.threshold(1.0, 1e-4),
            "{:?} {:?}",
            heavy.tail(),
            light.tail()
        );
    }

    #[test]
    fn a_quiet_subject_gets_a_cautious_finite_threshold() {
        let mut spot = Spot::default();
        spot.observe_below(180);
        let z = spot.threshold(1.0, 1e-4);
        // 1 + 0.5·ln(1/(1e-4·180)) ≈ 3.0
        assert!((2.8..3.2).contains(&z), "{z}");
        let mut fresh = Spot::default();
        assert!(fresh.threshold(1.0, 1e-4) >= 1.0);
        fresh.observe(f64::NAN, 1.0);
        fresh.observe(f64::INFINITY, 1.0);
        assert!(fresh.threshold(1.0, 1e-4).is_finite());
    }
}
