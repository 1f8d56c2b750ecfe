//! The ensemble detector: contextual novelty at two time scales, reported at its onset.
//!
//! Two ideas from the best published NAB detectors, re-derived on top of [`Univariate`]:
//!
//! 1. **Two time scales** (ARTime reads a downsampled window of the series; a slow drift
//!    is invisible point by point but plain in hourly means). A *fine* [`Univariate`] sees
//!    every point; a *coarse* one sees the mean of every `block` points, one point per
//!    block, with its own grid, contexts and likelihood. Each judges its series by its own
//!    history; the channel that finds the moment less likely speaks.
//! 2. **Report the onset, then rest** (CAD OSE's rest period): once a score reaches
//!    `report`, the next `rest` points are damped (× `damp`). An anomaly is one event, not
//!    a burst of alarms; an operator, like NAB, wants to hear of it once and early.
//!
//! Pure and deterministic like its parts; state is two [`Univariate`]s plus a few
//! scalars, fixed whatever the series' length.

use crate::{
    detector::{Anomaly, Detector, Point},
    likelihood::log_score,
    time::Micros,
    univariate::{Params, Univariate},
};

/// How the channels' answers at one point become one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The channel with the higher score speaks.
    Larger,
    /// The smallest tail probability, multiplied by the number of channels that answered
    /// (Bonferroni): several channels looking at the same moment must not multiply the
    /// false alarms.
    Bonferroni,
}

/// The ensemble's settings. [`EnsembleParams::FROZEN`] is the one set used everywhere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnsembleParams {
    /// The fine channel's settings (every point).
    pub fine: Params,
    /// The coarse channel's settings (one point per block).
    pub coarse: Params,
    /// Points averaged into one point of each coarse channel; 0 or 1 turns that channel
    /// off.
    pub blocks: [usize; 2],
    /// A score at or above this is reported, and starts a rest period.
    pub report: f64,
    /// Points after a report whose scores are damped.
    pub rest: usize,
    /// The factor applied to scores during a rest period.
    pub damp: f64,
    /// If positive, the rest period lasts this long in event time (microseconds) instead
    /// of `rest` points.
    pub rest_time: Micros,
    /// How the channels' answers are combined.
    pub combine: Combine,
    /// A coarse channel's tail probability is multiplied by this before it is compared
    /// (1: as it is).
    pub coarse_penalty: f64,
}

impl EnsembleParams {
    /// The frozen parameter set (see `docs/anomaly.md` for what was chosen on what).
    pub const FROZEN: Self = Self {
        fine: Params::FROZEN,
        coarse: Params {
            grid_warmup: 32,
            likelihood_skip: 48,
            likelihood_min_samples: 50,
            likelihood_horizon: 720,
            ..Params::FROZEN
        },
        blocks: [12, 0],
        report: 0.5,
        rest: 100,
        damp: 0.1,
        rest_time: 0,
        combine: Combine::Larger,
        coarse_penalty: 1.0,
    };
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self::FROZEN
    }
}

/// The ensemble detector for one series; see the module documentation. State per series
/// with [`EnsembleParams::FROZEN`]: two [`Univariate`]s and about 80 bytes of scalars
/// ([`Detector::state_bytes`] gives the exact figure).
#[derive(Debug, Clone)]
pub struct Ensemble {
    params: EnsembleParams,
    fine: Univariate,
    coarse: [Option<Coarse>; 2],
    /// Points left in the current rest period.
    resting: usize,
    /// Event time at which a rest period counted in event time ends.
    rest_until: Micros,
}

impl Ensemble {
    /// A detector with the given settings.
    pub fn new(params: EnsembleParams) -> Self {
        Self {
            fine: Univariate::new(params.fine),
            coarse: params.blocks.map(|block| {
                (block > 1).then(|| Coarse {
                    detector: Univariate::new(params.coarse),
                    block,
                    sum: 0.0,
                    len: 0,
                })
            }),
            resting: 0,
            rest_until: Micros::MIN,
            params,
        }
    }

    /// The settings in use.
    pub fn params(&self) -> &EnsembleParams {
        &self.params
    }
}

/// A coarse channel: a [`Univariate`] fed the mean of every `block` points.
#[derive(Debug, Clone)]
struct Coarse {
    detector: Univariate,
    block: usize,
    sum: f64,
    len: usize,
}

impl Coarse {
    /// Adds a point; an answer only when a block completes.
    fn observe(&mut self, point: Point) -> Option<Anomaly> {
        if !point.value.is_finite() {
            return None;
        }
        self.sum += point.value;
        self.len += 1;
        if self.len < self.block {
            return None;
        }
        #[allow(clippy::cast_precision_loss, reason = "a block is a handful of points")]
        let mean = self.sum / self.len as f64;
        self.sum = 0.0;
        self.len = 0;
        Some(self.detector.observe(Point {
            time: point.time,
            value: mean,
        }))
    }

    fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() - std::mem::size_of::<Univariate>()
            + self.detector.state_bytes()
    }
}

impl Default for Ensemble {
    fn default() -> Self {
        Self::new(EnsembleParams::FROZEN)
    }
}

impl Detector for Ensemble {
    fn name(&self) -> &'static str {
        "bulwark"
    }

    fn observe(&mut self, point: Point) -> Anomaly {
        let mut anomaly = self.fine.observe(point);
        let mut answered = 1_u32;
        let mut extreme = anomaly.explanation.new_extreme;
        for coarse in self.coarse.iter_mut().flatten() {
            let Some(mut a) = coarse.observe(point) else {
                continue;
            };
            answered += 1;
            extreme |= a.explanation.new_extreme;
            if self.params.coarse_penalty != 1.0 && !a.explanation.learning {
                a.explanation.tail_probability =
                    (a.explanation.tail_probability * self.params.coarse_penalty).min(1.0);
                let tail_score = log_score(a.explanation.tail_probability);
                a.score = if a.explanation.new_extreme {
                    tail_score.max(self.params.coarse.extreme_score)
                } else {
                    tail_score
                };
            }
            let better = match self.params.combine {
                Combine::Larger => a.score > anomaly.score,
                Combine::Bonferroni => {
                    a.explanation.tail_probability < anomaly.explanation.tail_probability
                }
            };
            if better {
                anomaly = a;
            }
        }
        if self.params.combine == Combine::Bonferroni && answered > 1 {
            let tail = (anomaly.explanation.tail_probability * f64::from(answered)).min(1.0);
            anomaly.explanation.tail_probability = tail;
            let mut score = log_score(tail);
            if extreme {
                score = score.max(self.params.fine.extreme_score);
            }
            anomaly.score = score;
        }
        if self.params.rest_time > 0 {
            if point.time < self.rest_until {
                anomaly.score *= self.params.damp;
            } else if anomaly.score >= self.params.report {
                self.rest_until = point.time.saturating_add(self.params.rest_time);
            }
        } else if self.resting > 0 {
            self.resting -= 1;
            anomaly.score *= self.params.damp;
        } else if anomaly.score >= self.params.report {
            self.resting = self.params.rest;
        }
        anomaly
    }

    fn state_bytes(&self) -> usize {
        // Each part counts its own inline size.
        let coarse: usize = self
            .coarse
            .iter()
            .map(|c| {
                c.as_ref()
                    .map_or(std::mem::size_of::<Option<Coarse>>(), |c| {
                        c.state_bytes() + std::mem::size_of::<Option<Coarse>>()
                            - std::mem::size_of::<Coarse>()
                    })
            })
            .sum();
        std::mem::size_of::<Self>()
            - std::mem::size_of::<Univariate>()
            - std::mem::size_of::<[Option<Coarse>; 2]>()
            + self.fine.state_bytes()
            + coarse
    }
}
