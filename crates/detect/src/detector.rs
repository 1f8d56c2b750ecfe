//! What every streaming detector is: a state machine fed one point at a time, in event
//! time, that answers each point with an anomaly score and the numbers behind it.

use serde::Serialize;

use crate::time::Micros;

/// One observation of a series: a value at an event time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// When it happened (event time, never the wall clock).
    pub time: Micros,
    /// What was measured.
    pub value: f64,
}

/// A detector's answer for one point: a score in [0, 1] and why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Anomaly {
    /// 0 is ordinary, 1 is as anomalous as the detector can say. Monotone in how unlikely
    /// the point is, so one threshold means the same on every series.
    pub score: f64,
    /// The numbers behind the score.
    pub explanation: Explanation,
}

/// The numbers behind a score, each one a person can check against the series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Explanation {
    /// The value seen.
    pub observed: f64,
    /// What the recent past led us to expect: the series' recent level.
    pub expected: f64,
    /// (observed − expected) in units of the series' recent typical deviation.
    pub deviation: f64,
    /// Share of the value's recent contexts (short sequences ending in this value) never
    /// seen before, averaged over the last few points: 0 = all familiar, 1 = all new.
    pub novelty: f64,
    /// How often novelty this high occurs under the series' own history (a Gaussian tail
    /// probability); `1.0` while the detector is still learning.
    pub tail_probability: f64,
    /// The value lies beyond every value seen so far by more than the tolerance.
    pub new_extreme: bool,
    /// The detector has not seen enough of the series to judge it yet.
    pub learning: bool,
}

/// A streaming detector over one series. Implementations are deterministic: the same
/// points in the same order give the same answers. Points are expected in time order;
/// a detector may treat a point that goes back in time as the next point in sequence.
pub trait Detector {
    /// The detector's name in reports and result files.
    fn name(&self) -> &'static str;

    /// Learns from `point` and scores it.
    fn observe(&mut self, point: Point) -> Anomaly;

    /// Bytes of state this detector holds for its series (stack and heap).
    fn state_bytes(&self) -> usize;
}
