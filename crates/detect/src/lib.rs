//! Bulwark's anomaly detection: streaming detectors that turn a subject's series of
//! (event time, value) points into anomaly scores with explanations a person can check,
//! and a faithful re-implementation of the Numenta Anomaly Benchmark's scorer to measure
//! them.
//!
//! The crate is pure and deterministic: no I/O, no wall clock (only the event times it is
//! given), no randomness, no global state. The same points in the same order give the
//! same scores, in the live server, in a replay and in the NAB benchmark. Every detector's
//! state is bounded (fixed-size rings and tables), with its size documented. It is not for
//! reading files, keeping per-subject tables, raising alerts or storing them: the CLI and
//! the gateway do that around it.

mod detector;
mod ensemble;
mod likelihood;
mod memory;
pub mod nab;
mod time;
mod univariate;

pub use crate::{
    detector::{Anomaly, Detector, Explanation, Point},
    ensemble::{Ensemble, EnsembleParams},
    time::{Micros, format_nab_time, parse_nab_time},
    univariate::{Params, Univariate},
};
