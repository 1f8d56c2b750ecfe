//! What every request handler shares.

use std::{
    sync::Arc,
    sync::atomic::{AtomicBool, AtomicU64},
    time::Duration,
};

use bulwark_bus::{EventBus, WriterStats};
use bulwark_config::Secret;
use bulwark_identity::{Directory, KeyCache};
use bulwark_store::Store;
use ipnet::IpNet;

use crate::{
    detection::DetectionStats, metrics::Metrics, moderate::Moderation, ratelimit::RateLimiter,
    upstream::Upstreams,
};

/// The request-path settings taken from the validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) capture_text: bool,
    pub(crate) max_body_bytes: u64,
    pub(crate) max_upload_bytes: u64,
    pub(crate) client_timeout: Duration,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) allow_other_paths: bool,
}

#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) settings: Settings,
    pub(crate) keys: Arc<KeyCache>,
    pub(crate) directory: Directory,
    pub(crate) limiter: RateLimiter,
    pub(crate) upstreams: Upstreams,
    pub(crate) bus: Arc<EventBus>,
    pub(crate) writer_stats: Arc<WriterStats>,
    /// Request events deleted by retention so far.
    pub(crate) events_pruned: Arc<AtomicU64>,
    /// The live detectors' counters (all zero when detection is off).
    pub(crate) detection: Arc<DetectionStats>,
    pub(crate) metrics: Metrics,
    /// Content moderation: scanner and policies.
    pub(crate) moderation: Arc<Moderation>,
    pub(crate) admin_token: Option<Secret>,
    pub(crate) store: Arc<dyn Store>,
    /// Set when shutdown begins: `/readyz` fails so load balancers stop sending traffic.
    pub(crate) draining: AtomicBool,
}
