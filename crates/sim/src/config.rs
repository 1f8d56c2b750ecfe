//! How a simulator behaves when no request header says otherwise.

use std::time::Duration;

/// The models served when the configuration does not name any.
const DEFAULT_MODELS: [&str; 4] = [
    "gpt-4o-mini",
    "gpt-4o",
    "text-embedding-3-small",
    "bulwark-sim-1",
];

/// Settings of a [`Simulator`](crate::Simulator). Every field has a default; tests usually
/// start from `SimConfig::default()` and change one or two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Wait before the response headers are sent. `x-sim-latency-ms` overrides it.
    pub latency: Duration,
    /// Wait between two streamed chunks. `x-sim-chunk-delay-ms` overrides it.
    pub chunk_delay: Duration,
    /// Answer with the prompt itself (the last user message, the completion prompt or the
    /// Responses input text) instead of a canned paragraph. `x-sim-echo` overrides it.
    pub echo: bool,
    /// Model ids served by `/v1/models` and accepted by the generation endpoints.
    pub models: Vec<String>,
    /// When set, every `/v1` request needs `Authorization: Bearer <key>` or `api-key: <key>`.
    pub require_key: Option<String>,
    /// How many received requests the log remembers, oldest dropped first. `0` turns the
    /// log off, which is what load benchmarks want.
    pub log_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            echo: false,
            models: DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect(),
            require_key: None,
            log_capacity: 1000,
        }
    }
}
