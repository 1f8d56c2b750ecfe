//! Bulwark's gateway: an OpenAI-compatible reverse proxy (streaming included) that
//! authenticates API keys, applies per-key rate limits, forwards to the configured
//! upstreams (or the built-in simulator), and turns every call into a usage event.
//!
//! Content moderation sits in the pipeline: prompts before forwarding ([`enforce`]),
//! streamed answers as they are relayed ([`guard`]), whole answers before they are
//! returned, fine-tuning and batch uploads as they are forwarded ([`upload`]); and
//! `/v1/moderations` is answered here ([`moderations`]).
//!
//! The request path is a sequence of explicit phases in [`proxy`]; every response body
//! publishes its event when it ends ([`record`]). Errors map to OpenAI-shaped bodies in
//! one place ([`error`]). The admin API (`/admin/v1/`) and the operations endpoints
//! (`/healthz`, `/readyz`, `/metrics`) live here too, and so does the wiring of the live
//! detectors ([`detection`]: a bus subscriber on a thread of its own). Not here: storage
//! (the store crate), key secrets (identity), the event pipeline (bus), configuration
//! parsing (config), what the detectors judge (detect).

mod admin;
mod client;
mod detection;
mod endpoint;
mod enforce;
mod error;
mod guard;
mod metrics;
mod moderate;
mod moderations;
mod observe;
mod proxy;
mod ratelimit;
mod record;
mod request;
mod server;
mod state;
mod upload;
mod upstream;
mod wire;

pub use crate::{
    detection::{DetectionStats, engine_config},
    server::{
        RunningGateway, ShutdownReport, StartError, bind_listeners, configured_scanner, start,
        start_with_scanner, start_with_store,
    },
    upstream::UpstreamSetupError,
};

/// The keep-alive HTTP/1 pool of plain-HTTP upstreams, public for the benchmark's floor
/// proxy (`examples/floor.rs`), which must forward exactly as the gateway does.
#[doc(hidden)]
pub use crate::upstream::pool::{Http1Pool, SendError, UpstreamBody};
