//! Bulwark's anomaly detection: streaming detectors that turn a subject's series of
//! (event time, value) points into anomaly scores with explanations a person can check,
//! and a faithful re-implementation of the Numenta Anomaly Benchmark's scorer to measure
//! them.
//!
//! The crate is pure and deterministic: no I/O, no wall clock (only the event times it is
//! given), no randomness, no global state. The same points in the same order give the
//! same scores, in the live server, in a replay and in the NAB benchmark. Every detector's
//! state is bounded (fixed-size rings and tables), with its size documented.
//!
//! Two parts: the univariate detector and NAB's scorer (one series at a time), and
//! [`usage`], the per-subject engine that turns usage events into alerts (bounded tables
//! of keys, accounts, tenants and networks; spike, new-infrastructure and moderation-burst
//! detectors; SPOT thresholds). [`Reorder`] puts a stream back in event-time order for
//! replays. It is not for reading files, storing alerts or publishing them: the CLI and
//! the gateway do that around it.

mod detector;
mod ensemble;
mod likelihood;
mod memory;
pub mod nab;
mod reorder;
mod time;
mod univariate;
pub mod usage;

pub use crate::{
    detector::{Anomaly, Detector, Explanation, Point},
    ensemble::{Combine, Ensemble, EnsembleParams},
    reorder::Reorder,
    time::{Micros, format_nab_time, parse_nab_time},
    univariate::{Params, Univariate},
};
