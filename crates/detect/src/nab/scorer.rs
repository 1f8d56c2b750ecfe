//! NAB's scorer, as in `nab/sweeper.py` and `nab/runner.py` of NAB v1.1.
//!
//! * A **window** is a labelled stretch around each anomaly (together 10% of a series).
//!   Only the earliest detection inside a window counts, worth
//!   `tpWeight · σ̃(−(right − i + 1)/width) / σ̃(−1)` — the full `tpWeight` at the window's
//!   left edge, nearly nothing at its right edge; a window without a detection costs
//!   `fnWeight`.
//! * A detection outside every window costs `fpWeight · σ̃(distance past the preceding
//!   window, in window widths)`, so −`fpWeight` far from any window and less just after one.
//!   σ̃(x) = 2/(1 + e^{5x}) − 1, and −1 beyond three widths.
//! * The first 15% of a series (at most 750 points) is **probationary**: never scored.
//! * A detection is an anomaly score ≥ the threshold. NAB sweeps the threshold over every
//!   score the detector produced, for the whole corpus at once, and keeps the best total.
//! * Totals are **normalised** to 100 × (raw − null)/(perfect − null): the null detector
//!   (a constant score, so no detection beats its best threshold) and the perfect one
//!   (`tpWeight` per labelled window).

use std::collections::BTreeMap;

use crate::{nab::NabError, time::Micros};

/// What a detection, a miss and a false alarm are worth (`config/profiles.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostMatrix {
    /// The most a window's earliest detection earns.
    pub tp_weight: f64,
    /// The most a false alarm costs.
    pub fp_weight: f64,
    /// What a window without a detection costs.
    pub fn_weight: f64,
}

/// A named cost matrix: `standard`, `reward_low_FP_rate`, `reward_low_FN_rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The profile's name as NAB spells it.
    pub name: String,
    /// Its weights.
    pub costs: CostMatrix,
}

/// The label windows of every series (`labels/combined_windows.json`), keyed by the
/// series' path relative to the data directory, e.g. `realKnownCause/nyc_taxi.csv`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows {
    by_series: BTreeMap<String, Vec<(Micros, Micros)>>,
}

impl Windows {
    /// Windows from (series, [(start, end)]) pairs; each list is sorted by start.
    pub fn new(by_series: BTreeMap<String, Vec<(Micros, Micros)>>) -> Self {
        let mut by_series = by_series;
        for windows in by_series.values_mut() {
            windows.sort_unstable();
        }
        Self { by_series }
    }

    /// The windows of one series, or `None` if the labels do not know it.
    pub fn get(&self, series: &str) -> Option<&[(Micros, Micros)]> {
        self.by_series.get(series).map(Vec::as_slice)
    }

    /// Every labelled series, in name order.
    pub fn series(&self) -> impl Iterator<Item = &str> {
        self.by_series.keys().map(String::as_str)
    }

    /// How many windows there are in all: NAB's perfect score is this many `tpWeight`s.
    pub fn count(&self) -> usize {
        self.by_series.values().map(Vec::len).sum()
    }
}

/// Where a point lies for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In the probationary period: never scored.
    Probation,
    /// Outside every window: a detection here is a false positive.
    Outside,
    /// Inside the series' window with this index.
    Window(usize),
}

/// One point of a series, ready to be scored under any profile.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    anomaly: f64,
    /// σ̃ of the point's position: positive inside a window, negative outside.
    sigmoid: f64,
    /// Inside a window (probationary period or not).
    inside: bool,
    place: Place,
}

/// A detector's scores on one series, with every point placed relative to the windows.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSeries {
    name: String,
    points: Vec<Point>,
    /// Windows with at least one scored (post-probation) point: only they count.
    scored_windows: Vec<usize>,
}

/// The score of one series at one threshold (a row of NAB's `*_scores.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesScore {
    /// The series.
    pub name: String,
    /// Its raw (unnormalised) score.
    pub score: f64,
    /// Point counts after the probationary period.
    pub counts: Counts,
}

/// Point counts after the probationary period: detections inside windows (tp), outside
/// (fp), and points without a detection inside (fn) and outside (tn) windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Detections inside windows.
    pub tp: usize,
    /// Points outside windows without a detection.
    pub tn: usize,
    /// Detections outside windows.
    pub fp: usize,
    /// Points inside windows without a detection.
    pub fn_: usize,
}

/// The total score at one threshold (a row of NAB's threshold sweep).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    /// Scores at or above this are detections.
    pub threshold: f64,
    /// The raw total.
    pub score: f64,
    /// Point counts.
    pub counts: Counts,
}

/// One profile's result for one detector.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileScore {
    /// The profile.
    pub profile: String,
    /// The threshold used (optimised or given).
    pub threshold: f64,
    /// The raw total at that threshold.
    pub raw: f64,
    /// The null detector's raw total (the 0 of the normalised scale).
    pub null: f64,
    /// The perfect detector's raw total (the 100).
    pub perfect: f64,
    /// 100 × (raw − null)/(perfect − null): what NAB's scoreboard shows.
    pub normalised: f64,
    /// Point counts at the threshold.
    pub counts: Counts,
}

/// NAB's scaled sigmoid of a relative position: 0.9866 at −1 (a window's left edge), 0 at
/// 0 (its right edge), −0.9866 at +1, and −1 beyond +3.
pub fn scaled_sigmoid(position: f64) -> f64 {
    if position > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// The probationary period of a series of `rows` points: 15% of it, at most 750 points
/// (NAB computes `min(floor(0.15·n), 0.15·5000)` in floating point; so do we).
pub fn probationary_length(rows: usize) -> usize {
    const PROBATION_PERCENT: f64 = 0.15;
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "series lengths are far below 2^52 and the result is a non-negative whole number"
    )]
    let length = (PROBATION_PERCENT * rows as f64)
        .floor()
        .min(PROBATION_PERCENT * 5000.0) as usize;
    length
}

/// 100 × (raw − null)/(perfect − null).
pub fn normalised(raw: f64, null: f64, perfect: f64) -> f64 {
    100.0 * (raw - null) / (perfect - null)
}

impl LabelledSeries {
    /// Places every point of a series relative to its windows. `name` is the series' path
    /// relative to the data directory; window boundaries must be timestamps of the series,
    /// as NAB requires.
    pub fn new(
        name: &str,
        timestamps: &[Micros],
        anomaly_scores: &[f64],
        windows: &[(Micros, Micros)],
    ) -> Result<Self, NabError> {
        if timestamps.len() != anomaly_scores.len() {
            return Err(NabError::Length {
                series: name.to_owned(),
                timestamps: timestamps.len(),
                scores: anomaly_scores.len(),
            });
        }
        if anomaly_scores.iter().any(|s| s.is_nan()) {
            return Err(NabError::NotANumber(name.to_owned()));
        }
        let index_of = |t: Micros| {
            timestamps
                .iter()
                .position(|&x| x == t)
                .ok_or_else(|| NabError::Window {
                    series: name.to_owned(),
                    timestamp: crate::time::format_nab_time(t),
                })
        };
        // Window (left, right) indices, in time order and disjoint.
        let mut bounds = Vec::with_capacity(windows.len());
        for &(start, end) in windows {
            let (left, right) = (index_of(start)?, index_of(end)?);
            if right < left || bounds.last().is_some_and(|&(_, r)| left <= r) {
                return Err(NabError::Window {
                    series: name.to_owned(),
                    timestamp: crate::time::format_nab_time(start),
                });
            }
            bounds.push((left, right));
        }

        let probation = probationary_length(timestamps.len());
        let mut points = Vec::with_capacity(timestamps.len());
        let mut scored_windows = Vec::new();
        let mut next = bounds.iter().copied().enumerate().peekable();
        let mut current: Option<(usize, usize, f64)> = None; // (window, right, width)
        let mut previous: Option<(usize, f64)> = None; // (right, width)
        for (i, &anomaly) in anomaly_scores.iter().enumerate() {
            if let Some(&(w, (left, right))) = next.peek()
                && left == i
            {
                next.next();
                #[allow(clippy::cast_precision_loss, reason = "window widths are small")]
                let width = (right - left + 1) as f64;
                current = Some((w, right, width));
            }
            #[allow(clippy::cast_precision_loss, reason = "indices are far below 2^52")]
            let (sigmoid, place) = match current {
                Some((w, right, width)) => (
                    scaled_sigmoid(-((right - i + 1) as f64) / width),
                    Place::Window(w),
                ),
                None => (
                    previous.map_or(-1.0, |(right, width)| {
                        scaled_sigmoid(i.abs_diff(right) as f64 / (width - 1.0))
                    }),
                    Place::Outside,
                ),
            };
            let inside = matches!(place, Place::Window(_));
            let place = if i < probation {
                Place::Probation
            } else {
                place
            };
            if let Place::Window(w) = place
                && scored_windows.last() != Some(&w)
            {
                scored_windows.push(w);
            }
            points.push(Point {
                anomaly,
                sigmoid,
                inside,
                place,
            });
            if let Some((_, right, width)) = current
                && right == i
            {
                previous = Some((right, width));
                current = None;
            }
        }
        Ok(Self {
            name: name.to_owned(),
            points,
            scored_windows,
        })
    }

    /// The series' name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the series is empty.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Whether point `i` lies inside a window (NAB's `label` column; probationary points
    /// are labelled too).
    pub fn in_window(&self, i: usize) -> bool {
        self.points.get(i).is_some_and(|p| p.inside)
    }

    /// NAB's `label` column: 1 inside a window, probationary period included.
    pub fn labels(&self) -> impl Iterator<Item = bool> + '_ {
        self.points.iter().map(|p| p.inside)
    }

    /// The detector's anomaly score of each point.
    pub fn anomaly_scores(&self) -> impl Iterator<Item = f64> + '_ {
        self.points.iter().map(|p| p.anomaly)
    }

    /// Where each point lies.
    pub fn places(&self) -> impl Iterator<Item = Place> + '_ {
        self.points.iter().map(|p| p.place)
    }

    /// NAB's per-row `S(t)`: what a detection at each point would add to the score.
    pub fn contributions(&self, costs: &CostMatrix) -> Vec<f64> {
        self.points.iter().map(|p| weight(p, costs)).collect()
    }

    /// The series' score when every anomaly score ≥ `threshold` is a detection: the
    /// earliest detection of each window, minus every false positive, minus every
    /// window without a detection.
    pub fn score_at(&self, costs: &CostMatrix, threshold: f64) -> SeriesScore {
        let mut counts = Counts::default();
        let mut false_positives = 0.0;
        // Best detection per scored window; NAB starts each at −fnWeight.
        let mut best: Vec<Option<f64>> = Vec::new();
        for p in &self.points {
            let detected = p.anomaly >= threshold;
            match p.place {
                Place::Probation => {}
                Place::Outside if detected => {
                    counts.fp += 1;
                    false_positives += weight(p, costs);
                }
                Place::Outside => counts.tn += 1,
                Place::Window(w) => {
                    if best.len() <= w {
                        best.resize(w + 1, None);
                    }
                    if detected {
                        counts.tp += 1;
                        if let Some(slot) = best.get_mut(w) {
                            let value = weight(p, costs);
                            *slot = Some(slot.map_or(value, |b: f64| b.max(value)));
                        }
                    } else {
                        counts.fn_ += 1;
                    }
                }
            }
        }
        let windows: f64 = self
            .scored_windows
            .iter()
            .map(|&w| {
                best.get(w)
                    .copied()
                    .flatten()
                    .map_or(-costs.fn_weight, |b| b.max(-costs.fn_weight))
            })
            .sum();
        SeriesScore {
            name: self.name.clone(),
            score: false_positives + windows,
            counts,
        }
    }
}

/// What a detection at `p` is worth under `costs`.
fn weight(p: &Point, costs: &CostMatrix) -> f64 {
    if p.inside {
        p.sigmoid * costs.tp_weight / scaled_sigmoid(-1.0)
    } else {
        p.sigmoid * costs.fp_weight
    }
}

/// A detector's output over a corpus, ready to be scored under each profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Benchmark {
    series: Vec<LabelledSeries>,
    /// Windows in the whole label file: the perfect score is this many `tpWeight`s.
    labelled_windows: usize,
}

impl Benchmark {
    /// A corpus of labelled series; `labelled_windows` is [`Windows::count`] of the label
    /// file (NAB's perfect score counts every window it lists).
    pub fn new(series: Vec<LabelledSeries>, labelled_windows: usize) -> Self {
        Self {
            series,
            labelled_windows,
        }
    }

    /// The series, in the order given.
    pub fn series(&self) -> &[LabelledSeries] {
        &self.series
    }

    /// The total score at every distinct threshold, highest threshold first (NAB's
    /// `calcScoreByThreshold` over the whole corpus). The first row, at 1.1, detects
    /// nothing.
    pub fn sweep(&self, costs: &CostMatrix) -> Vec<ThresholdScore> {
        sweep(
            self.series
                .iter()
                .enumerate()
                .flat_map(|(s, series)| series.points.iter().map(move |p| (s, *p))),
            costs,
        )
    }

    /// The best threshold for `costs`: the highest-scoring row of [`Self::sweep`] (the
    /// highest threshold among equals, as NAB's stable sort keeps it).
    pub fn optimise(&self, costs: &CostMatrix) -> ThresholdScore {
        best_of(&self.sweep(costs))
    }

    /// Every series' score at `threshold`, and their total.
    pub fn score_at(
        &self,
        costs: &CostMatrix,
        threshold: f64,
    ) -> (Vec<SeriesScore>, ThresholdScore) {
        let rows: Vec<SeriesScore> = self
            .series
            .iter()
            .map(|s| s.score_at(costs, threshold))
            .collect();
        let mut total = ThresholdScore {
            threshold,
            score: 0.0,
            counts: Counts::default(),
        };
        for row in &rows {
            total.score += row.score;
            total.counts.tp += row.counts.tp;
            total.counts.tn += row.counts.tn;
            total.counts.fp += row.counts.fp;
            total.counts.fn_ += row.counts.fn_;
        }
        (rows, total)
    }

    /// The null detector's best total: a constant score on every point of the same
    /// series, optimised like any detector (in practice: every window missed).
    pub fn null_score(&self, costs: &CostMatrix) -> f64 {
        let rows = sweep(
            self.series.iter().enumerate().flat_map(|(s, series)| {
                series
                    .points
                    .iter()
                    .map(move |p| (s, Point { anomaly: 0.5, ..*p }))
            }),
            costs,
        );
        best_of(&rows).score
    }

    /// The perfect detector's total: `tpWeight` for every labelled window.
    pub fn perfect_score(&self, costs: &CostMatrix) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "window counts are small")]
        let windows = self.labelled_windows as f64;
        windows * costs.tp_weight
    }

    /// Scores the corpus under `profile`, at `threshold` if given (as NAB does with the
    /// thresholds of `config/thresholds.json`), else at the optimised threshold.
    pub fn evaluate(&self, profile: &Profile, threshold: Option<f64>) -> ProfileScore {
        let costs = &profile.costs;
        let at = match threshold {
            Some(t) => self.score_at(costs, t).1,
            None => self.optimise(costs),
        };
        let null = self.null_score(costs);
        let perfect = self.perfect_score(costs);
        ProfileScore {
            profile: profile.name.clone(),
            threshold: at.threshold,
            raw: at.score,
            null,
            perfect,
            normalised: normalised(at.score, null, perfect),
            counts: at.counts,
        }
    }
}

fn best_of(rows: &[ThresholdScore]) -> ThresholdScore {
    let mut best = ThresholdScore {
        threshold: 1.1,
        score: f64::NEG_INFINITY,
        counts: Counts::default(),
    };
    for row in rows {
        if row.score > best.score {
            best = *row;
        }
    }
    best
}

/// NAB's sweep over (series index, point) pairs: sort the scored points by anomaly score,
/// highest first; walking down, each new score value closes the row of the one before.
fn sweep(points: impl Iterator<Item = (usize, Point)>, costs: &CostMatrix) -> Vec<ThresholdScore> {
    let mut scorable: Vec<(usize, Point)> = points
        .filter(|(_, p)| p.place != Place::Probation)
        .collect();
    scorable.sort_by(|a, b| b.1.anomaly.total_cmp(&a.1.anomaly));

    // Each window's part starts at −fnWeight; parts are summed in order of first
    // appearance, after the false positives, as NAB's dict does.
    let mut part_of: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut parts: Vec<f64> = Vec::new();
    let mut counts = Counts::default();
    for (s, p) in &scorable {
        match p.place {
            Place::Window(w) => {
                counts.fn_ += 1;
                let next = parts.len();
                part_of.entry((*s, w)).or_insert_with(|| {
                    parts.push(-costs.fn_weight);
                    next
                });
            }
            Place::Outside => counts.tn += 1,
            Place::Probation => {}
        }
    }
    let mut false_positives = 0.0;
    let total = |fp: f64, parts: &[f64]| parts.iter().fold(fp, |sum, x| sum + x);

    let mut rows = Vec::new();
    let mut threshold = 1.1;
    for (s, p) in &scorable {
        if p.anomaly != threshold {
            rows.push(ThresholdScore {
                threshold,
                score: total(false_positives, &parts),
                counts,
            });
            threshold = p.anomaly;
        }
        match p.place {
            Place::Window(w) => {
                counts.tp += 1;
                counts.fn_ -= 1;
                if let Some(part) = part_of.get(&(*s, w)).and_then(|&i| parts.get_mut(i)) {
                    *part = part.max(weight(p, costs));
                }
            }
            Place::Outside => {
                counts.fp += 1;
                counts.tn -= 1;
                false_positives += weight(p, costs);
            }
            Place::Probation => {}
        }
    }
    rows.push(ThresholdScore {
        threshold,
        score: total(false_positives, &parts),
        counts,
    });
    rows
}
