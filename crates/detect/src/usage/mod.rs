//! Usage analytics and anomaly detection per subject: keys, accounts, tenants and client
//! networks, from `api.request` events (schema v1), in event time.
//!
//! Code map: [`features`] reads an event once; [`state`] holds a subject's rolling
//! counts, sketches, profile and inter-arrival statistics ([`sketch`] has the tiny
//! sketches); [`table`] bounds how many subjects are tracked; [`spot`] turns a subject's
//! history into extreme-value thresholds; [`detectors`] judge; [`engine`] ties them
//! together and raises alerts.
//!
//! Memory per subject: [`SubjectState::BYTES`] bytes of state plus the table's slot
//! header and index entry ([`SubjectTable::bytes_per_subject`]); `docs/alerts.md` gives
//! the figure and a test pins it below 1 KiB.

pub mod detectors;
pub mod engine;
pub mod features;
pub mod sketch;
pub mod spot;
pub mod state;
pub mod synthetic;
pub mod table;

pub use self::{
    detectors::{Finding, Memory, Settings, SubjectDetector, View},
    engine::{Engine, EngineConfig, EngineStats},
    features::{Features, Price, Prices, network_of},
    state::SubjectState,
    table::{SubjectTable, TableStats},
};
