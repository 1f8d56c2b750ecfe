//! The Numenta Anomaly Benchmark (NAB v1.1): its file formats and a faithful
//! re-implementation of its scorer.
//!
//! Everything here works on text and numbers handed in by the caller; reading the files is
//! the CLI's business.

mod files;
mod scorer;

use crate::{Detector, Point};

/// Runs `detector` over a data file's points, in order, and returns its anomaly scores.
pub fn run_detector(detector: &mut impl Detector, points: &[DataPoint]) -> Vec<f64> {
    points
        .iter()
        .map(|p| {
            detector
                .observe(Point {
                    time: p.timestamp,
                    value: p.value,
                })
                .score
        })
        .collect()
}

pub use self::{
    files::{
        DataPoint, ResultsFile, parse_data_csv, parse_profiles, parse_results_csv,
        parse_scoreboard, parse_thresholds, parse_windows, results_csv,
    },
    scorer::{
        Benchmark, CostMatrix, LabelledSeries, Place, Profile, ProfileScore, SeriesScore,
        ThresholdScore, Windows, normalised, probationary_length, scaled_sigmoid,
    },
};

/// Why a NAB file or a detector's output cannot be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NabError {
    /// A JSON file (windows, profiles, thresholds, scoreboard) that does not parse.
    #[error("invalid {what}: {message}")]
    Json {
        /// Which file it was meant to be.
        what: &'static str,
        /// What the parser said.
        message: String,
    },
    /// A CSV line that does not parse.
    #[error("line {line}: {message}")]
    Csv {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A window boundary that is not one of the series' timestamps (NAB matches them
    /// exactly).
    #[error("window boundary `{timestamp}` is not a timestamp of `{series}`")]
    Window {
        /// The series, e.g. `realKnownCause/nyc_taxi.csv`.
        series: String,
        /// The boundary as written.
        timestamp: String,
    },
    /// A series the label file does not know.
    #[error("no label windows for `{0}`")]
    Unlabelled(String),
    /// Timestamps and scores of different lengths.
    #[error("`{series}` has {timestamps} timestamps but {scores} scores")]
    Length {
        /// The series.
        series: String,
        /// How many timestamps.
        timestamps: usize,
        /// How many scores.
        scores: usize,
    },
    /// An anomaly score that is not a number.
    #[error("`{0}` has an anomaly score that is not a number")]
    NotANumber(String),
}
