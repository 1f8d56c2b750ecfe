//! The univariate streaming detector: contextual novelty, judged by its own history.
//!
//! Three published ideas, re-derived and combined:
//!
//! 1. **Contextual novelty** (the idea of HTM's raw anomaly score and of CAD OSE's
//!    context memory): values are quantised onto a coarse grid, and each point asks, for
//!    every context length k = 0…K, "has this series ever produced these k levels followed
//!    by this one?". The raw score is the share of contexts never seen. A clean periodic
//!    series learns its whole cycle and falls silent; a break in the cycle, a new level or
//!    an unseen transition lights up many contexts at once.
//! 2. **Anomaly likelihood** (Ahmad et al. 2017): the raw score is averaged over the last
//!    few points and compared with the distribution of that average over the series' own
//!    past, giving a Gaussian tail probability; the score is `ln p / ln 10⁻¹⁰`. A noisy
//!    series, always somewhat novel, must become *more* novel than usual to score.
//! 3. **New extremes** (the spatial check of NAB's `numenta` detector): a value beyond
//!    everything seen so far by more than 5% of the range scores 1.
//!
//! The grid is laid on the first `grid_warmup` values (`levels` levels across their
//! range) and coarsened, by doubling, when the series outgrows `max_levels` levels; the
//! memory is then rebuilt from the last `history` values. No parameter depends on the
//! series' length or on values not yet seen.

use std::collections::VecDeque;

use crate::{
    detector::{Anomaly, Detector, Explanation, Point},
    likelihood::{Likelihood, LikelihoodParams, Step, log_score},
    memory::ContextMemory,
};

/// The detector's settings. [`Params::FROZEN`] is the one set used everywhere, NAB
/// included; see `docs/anomaly.md` for how each value was chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Values that lay the first quantisation grid.
    pub grid_warmup: usize,
    /// Levels across the range of those values.
    pub levels: u32,
    /// The grid's step doubles once the range seen spans more than this many levels.
    pub max_levels: u32,
    /// The longest context, in preceding points (K).
    pub max_order: usize,
    /// Seasonal contexts (hour of day, level…): 0 none, 1 (hour, level), 2 also
    /// (hour, previous level, level). Judged as a second channel with its own likelihood.
    pub season_orders: usize,
    /// Fingerprint slots per context length.
    pub slots: usize,
    /// Recent values kept to rebuild the memory when the grid is coarsened.
    pub history: usize,
    /// A value beyond the range seen so far by more than this share of the range is a
    /// new extreme.
    pub extreme_tolerance: f64,
    /// The score of a new extreme.
    pub extreme_score: f64,
    /// Horizon (points) of the level and spread reported in the explanation.
    pub level_horizon: usize,
    /// Raw scores in the short-term average.
    pub short_window: usize,
    /// Raw scores left out of the long-term distribution while the memory fills.
    pub likelihood_skip: usize,
    /// Samples in the long-term distribution before any likelihood is given.
    pub likelihood_min_samples: usize,
    /// Horizon (points) of the long-term distribution.
    pub likelihood_horizon: usize,
}

impl Params {
    /// The frozen parameter set (chosen on principle and on NAB's `artificial*` series
    /// only; see `docs/anomaly.md`).
    pub const FROZEN: Self = Self {
        grid_warmup: 64,
        levels: 8,
        max_levels: 32,
        max_order: 6,
        season_orders: 2,
        slots: 512,
        history: 256,
        extreme_tolerance: 0.05,
        extreme_score: 1.0,
        level_horizon: 64,
        short_window: 10,
        likelihood_skip: 288,
        likelihood_min_samples: 100,
        likelihood_horizon: 8640,
    };
}

impl Default for Params {
    fn default() -> Self {
        Self::FROZEN
    }
}

/// The quantisation grid: level = ⌊(x − origin)/step⌋.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Grid {
    origin: f64,
    step: f64,
}

impl Grid {
    fn level(&self, x: f64) -> i64 {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "saturating: far levels are just far"
        )]
        let level = ((x - self.origin) / self.step).floor() as i64;
        level
    }
}

/// The univariate detector for one series. State per series, with [`Params::FROZEN`]:
/// the context memory (9 tables × 512 slots × 4 B = 18 KiB), the value history (256 ×
/// 16 B = 4 KiB) and about 0.8 KiB of scalars and small rings: 23,336 bytes, fixed
/// whatever the series' length ([`Detector::state_bytes`] gives the exact figure). This
/// is the NAB-grade detector; the per-key detectors of the usage pipeline will be leaner.
#[derive(Debug, Clone)]
pub struct Univariate {
    params: Params,
    memory: ContextMemory,
    history: VecDeque<(f64, i64)>,
    /// The last `max_order` levels, oldest first.
    context: VecDeque<i64>,
    grid: Option<Grid>,
    likelihood: Likelihood,
    season_likelihood: Likelihood,
    seen: u64,
    min: f64,
    max: f64,
    level: f64,
    spread: f64,
}

impl Univariate {
    /// A detector with the given settings (values below 1 are raised to 1).
    pub fn new(params: Params) -> Self {
        let params = Params {
            grid_warmup: params.grid_warmup.max(2),
            levels: params.levels.max(1),
            max_levels: params.max_levels.max(params.levels.max(1)),
            history: params.history.max(params.grid_warmup.max(2)),
            short_window: params.short_window.max(1),
            likelihood_horizon: params.likelihood_horizon.max(1),
            ..params
        };
        let likelihood = Likelihood::new(LikelihoodParams {
            short_window: params.short_window,
            skip: params.likelihood_skip,
            min_samples: params.likelihood_min_samples,
            horizon: params.likelihood_horizon,
            min_mean: 0.03,
            min_variance: 0.0003,
            red: 1e-5,
            yellow: 1e-3,
        });
        Self {
            memory: ContextMemory::new(params.max_order + 1 + params.season_orders, params.slots),
            history: VecDeque::with_capacity(params.history),
            context: VecDeque::with_capacity(params.max_order + 1),
            grid: None,
            season_likelihood: likelihood.clone(),
            likelihood,
            seen: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            level: 0.0,
            spread: 0.0,
            params,
        }
    }

    /// The settings in use.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Learns the contexts of `value` at hour of day `hour`; returns the shares of
    /// sequential and of seasonal contexts never seen before.
    fn learn(&mut self, grid: Grid, value: f64, hour: i64) -> (f64, f64) {
        let level = grid.level(value);
        let mut novel = 0_u32;
        let mut contexts = 0_u32;
        for order in 0..=self.context.len() {
            let start = self.context.len() - order;
            let symbols = self.context.iter().skip(start).copied().chain([level]);
            contexts += 1;
            novel += u32::from(self.memory.insert(order, symbols));
        }
        let mut season_novel = 0_u32;
        let previous = self.context.back().copied();
        for k in 0..self.params.season_orders {
            let table = self.params.max_order + 1 + k;
            let symbols = [hour]
                .into_iter()
                .chain(previous.filter(|_| k >= 1))
                .chain([level]);
            season_novel += u32::from(self.memory.insert(table, symbols));
        }
        if self.context.len() == self.params.max_order {
            self.context.pop_front();
        }
        if self.params.max_order > 0 {
            self.context.push_back(level);
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a handful of seasonal orders"
        )]
        let seasons = (self.params.season_orders as u32).max(1);
        (
            f64::from(novel) / f64::from(contexts.max(1)),
            f64::from(season_novel) / f64::from(seasons),
        )
    }

    /// Forgets every context and relearns the kept history under `grid`.
    fn rebuild(&mut self, grid: Grid) {
        self.memory.clear();
        self.context.clear();
        let history = std::mem::take(&mut self.history);
        for &(v, hour) in &history {
            self.learn(grid, v, hour);
        }
        self.history = history;
    }

    /// The grid for the values seen so far: laid once, then coarsened by doubling.
    fn grid_for(&mut self) -> Option<Grid> {
        let range = self.max - self.min;
        match self.grid {
            None => {
                if self.history.len() < self.params.grid_warmup {
                    return None;
                }
                let fallback = (self.max.abs().max(self.min.abs()) * 0.01).max(1e-6);
                let step = if range > 0.0 {
                    range / f64::from(self.params.levels)
                } else {
                    fallback
                };
                let grid = Grid {
                    origin: self.min,
                    step,
                };
                self.grid = Some(grid);
                self.rebuild(grid);
                Some(grid)
            }
            Some(mut grid) => {
                let limit = f64::from(self.params.max_levels);
                if range / grid.step > limit {
                    for _ in 0..256 {
                        grid.step *= 2.0;
                        if range / grid.step <= limit {
                            break;
                        }
                    }
                    self.grid = Some(grid);
                    self.rebuild(grid);
                }
                Some(grid)
            }
        }
    }
}

impl Default for Univariate {
    fn default() -> Self {
        Self::new(Params::FROZEN)
    }
}

impl Detector for Univariate {
    fn name(&self) -> &'static str {
        "bulwark"
    }

    fn observe(&mut self, point: Point) -> Anomaly {
        let x = point.value;
        self.seen += 1;

        // The explanation's baseline: an exponentially weighted level and spread.
        let expected = if self.seen == 1 { x } else { self.level };
        let sd = self.spread.sqrt();
        let deviation = if sd > 0.0 { (x - expected) / sd } else { 0.0 };
        #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
        let alpha = 1.0 / (self.seen.min(self.params.level_horizon as u64) as f64);
        let delta = x - self.level;
        self.level += alpha * delta;
        self.spread = (1.0 - alpha) * (self.spread + alpha * delta * delta);

        // New extremes, judged against the range before this point.
        let range = self.max - self.min;
        let tolerance = self.params.extreme_tolerance * range;
        let new_extreme = self.history.len() >= self.params.grid_warmup
            && range > 0.0
            && (x > self.max + tolerance || x < self.min - tolerance);
        self.min = self.min.min(x);
        self.max = self.max.max(x);

        let grid = self.grid_for();
        if self.history.len() == self.params.history {
            self.history.pop_front();
        }
        let hour = point.time.div_euclid(3_600_000_000).rem_euclid(24);
        self.history.push_back((x, hour));

        let (novelty, tail) = match grid {
            Some(grid) => {
                let (raw, season_raw) = self.learn(grid, x, hour);
                let Step { average, tail } = self.likelihood.update(raw);
                let season = (self.params.season_orders > 0)
                    .then(|| self.season_likelihood.update(season_raw));
                // The channel that finds the point less likely speaks for it.
                match season {
                    Some(s) if s.tail.zip(tail).is_some_and(|(a, b)| a < b) => (s.average, s.tail),
                    _ => (average, tail),
                }
            }
            None => (0.0, None),
        };
        let mut score = tail.map_or(0.0, log_score);
        if new_extreme {
            score = score.max(self.params.extreme_score);
        }
        Anomaly {
            score,
            explanation: Explanation {
                observed: x,
                expected,
                deviation,
                novelty,
                tail_probability: tail.unwrap_or(1.0),
                new_extreme,
                learning: tail.is_none(),
            },
        }
    }

    fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            - std::mem::size_of::<ContextMemory>()
            - 2 * std::mem::size_of::<Likelihood>()
            + self.memory.state_bytes()
            + self.likelihood.state_bytes()
            + self.season_likelihood.state_bytes()
            + self.history.capacity() * std::mem::size_of::<(f64, i64)>()
            + self.context.capacity() * std::mem::size_of::<i64>()
    }
}
