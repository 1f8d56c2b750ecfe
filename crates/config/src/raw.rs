//! The configuration file as written: every field optional or defaulted, unknown fields
//! rejected. Field doc comments are the reference documentation (`docs/config.md` copies
//! them).

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Format version of this file; must be `1`.
    pub version: Option<u32>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub events: RawEvents,
    #[serde(default)]
    pub log: RawLog,
    /// The model servers behind the gateway. None: the built-in simulator is started.
    #[serde(default)]
    pub upstreams: Vec<RawUpstream>,
    #[serde(default)]
    pub simulator: RawSimulator,
}

/// `[server]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// Directory holding the SQLite database and the key pepper. Default `./bulwark-data`.
    pub data_dir: Option<String>,
    /// Largest accepted request body in bytes, except uploads. Default 4 MiB.
    pub max_body_bytes: Option<u64>,
    /// Largest accepted `/v1/files` upload in bytes. Default 512 MiB.
    pub max_upload_bytes: Option<u64>,
    /// Time a client has to send its whole request (headers and body). Default `30s`.
    pub client_timeout: Option<String>,
    /// Time in-flight requests get to finish on shutdown. Default `30s`.
    pub shutdown_timeout: Option<String>,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed for the client address.
    pub trusted_proxies: Option<Vec<String>>,
    /// Forward `/v1/*` paths other than the known OpenAI endpoints. Default `false`.
    pub allow_other_paths: Option<bool>,
    /// Request-handling threads, each with its own event loop and listening socket
    /// (`SO_REUSEPORT`), like nginx's worker processes. Default `0`: one per CPU.
    pub workers: Option<usize>,
}

/// `[admin]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Bearer token for `/admin/v1/`. Required when `listen` is not a loopback address.
    /// Prefer the environment: `BULWARK_ADMIN__TOKEN`.
    pub token: Option<String>,
}

/// `[events]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    /// Store prompt and completion text in events. Default `false`: only lengths and
    /// SHA-256 digests are kept.
    pub capture_text: Option<bool>,
    /// Events the in-process bus holds per subscriber before it sheds (and counts) them.
    /// Default 65536.
    pub bus_capacity: Option<usize>,
    /// Most events written in one database transaction. Default 1000.
    pub batch_size: Option<usize>,
    /// Longest an event waits before its batch is written. Default `250ms`.
    pub flush_interval: Option<String>,
}

/// `[log]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `text` (default) or `json`.
    pub format: Option<String>,
    /// A `tracing` filter such as `info` or `bulwark_gateway=debug,info`. Default `info`.
    pub level: Option<String>,
}

/// One `[[upstreams]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Unique name, used in logs, metrics and events.
    pub name: Option<String>,
    /// Base URL including the API version prefix, e.g. `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    /// Environment variable holding the upstream's API key. Unset: no key is sent.
    pub api_key_env: Option<String>,
    /// How the key is sent: `bearer` (default, `Authorization: Bearer …`) or `api-key`
    /// (Azure's `api-key: …` header).
    pub auth: Option<String>,
    /// Model-name patterns this upstream serves (`gpt-4o`, `gpt-4o-*`, `*`). Default
    /// `["*"]`. A request goes to the first upstream whose patterns match its model.
    pub models: Option<Vec<String>>,
    /// Time to establish a connection. Default `5s`.
    pub connect_timeout: Option<String>,
    /// Time until the upstream's response headers arrive. Default `300s`.
    pub response_timeout: Option<String>,
    /// Longest silence allowed between body chunks of a response. Default `120s`.
    pub idle_timeout: Option<String>,
    /// Ask for token usage in streamed chat responses (`stream_options.include_usage`)
    /// even when the client did not, and strip it again on the way back, so rate limits
    /// and events count real tokens. Default `true`.
    pub stream_usage: Option<bool>,
}

/// `[simulator]`: the built-in simulated upstream, used when no upstream is configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulator {
    /// Delay before each response. Default `0ms`.
    pub latency: Option<String>,
    /// Delay between streamed chunks. Default `0ms`.
    pub chunk_delay: Option<String>,
    /// Answer every prompt with the prompt itself. Default `false`.
    pub echo: Option<bool>,
}
