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
    univariate::{Params, Univariate},
};

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
        for coarse in self.coarse.iter_mut().flatten() {
            if let Some(a) = coarse.observe(point)
                && a.score > anomaly.score
            {
                anomaly = a;
            }
        }
        if self.resting > 0 {
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
