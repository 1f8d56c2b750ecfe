//! The configuration file as written: every field optional or defaulted, unknown fields
//! rejected. Field doc comments are the reference documentation (`docs/config.md` copies
//! them).

use std::collections::BTreeMap;

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
    /// Content moderation. Absent: the built-in section in
    /// `crates/config/src/moderation_default.toml` applies (every category blocked on
    /// both sides, `fail_mode = "closed"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<RawModeration>,
    #[serde(default)]
    pub detection: RawDetection,
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
    /// Longest an event waits before its batch is written. Default `20ms`: short batches
    /// keep the writer's bursts, and the events alive until they are written, small (see
    /// `bulwark.example.toml`).
    pub flush_interval: Option<String>,
    /// How long `api.request` events are kept (`30d`, `12h`); older ones are deleted by
    /// the server in the background. Default: kept until pruned by hand (`bulwark events
    /// prune`). Management events (accounts, keys) are the audit trail and always kept.
    pub retention: Option<String>,
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

/// `[moderation]`: what the gateway does with prompts, completions and uploads that the
/// scanner flags. Categories are named by id (`cyber/phishing`, `jailbreak`, …), by the
/// aggregate `cyber` (also written `cyber/*`: every `cyber/*` category) or by `*` (every
/// category); a more specific name wins over a less specific one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModeration {
    /// Scan at all. Default `true`; `false` turns every check off (no scan, no
    /// `moderation` field in events, `/v1/moderations` still answers).
    pub enabled: Option<bool>,
    /// `open` or `closed`: what happens to a call when the scanner fails or overruns
    /// `scan_timeout`. `open` lets it through unchecked, `closed` refuses it (503
    /// `moderation_unavailable`). Required: there is no default.
    pub fail_mode: Option<String>,
    /// Time budget of one scan (a prompt, a completion, one step of a stream, an upload).
    /// A scan that overruns it is not trusted and `fail_mode` decides. Default `250ms`.
    pub scan_timeout: Option<String>,
    /// Characters of each streamed choice held back from the client, newest first, so
    /// that text is released only once it has been checked with this much context after
    /// it. Default `64`; `0` releases text as soon as it is checked.
    pub stream_window: Option<u64>,
    /// Share of the lines of a fine-tuning or batch upload, in [0, 1], that may be
    /// blocked before the upload is refused: it is refused when the share of blocked
    /// lines is above this. Default `0`: one blocked line refuses the upload.
    pub upload_reject_share: Option<f64>,
    /// A model file (`bulwark model train` writes them) to use instead of the built-in
    /// model. Read at start-up.
    pub model: Option<String>,
    /// A semantic model file (`.bsm`, written by `bulwark model train` with its n-gram
    /// model) whose fusion combines it with `model` (or the built-in model). Unset: the
    /// built-in semantic model when `model` is unset too, and none (the n-gram model
    /// alone) when `model` names a file, since the built-in fusion was fitted for the
    /// built-in n-gram model only. Read at start-up.
    pub semantic_model: Option<String>,
    /// Threshold overrides: category (or `cyber`, or `*`) = a score in [0, 1], or
    /// `{ input = …, output = … }`. Unset: the model's calibrated thresholds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, RawPerSide<f64>>,
    /// The default policy: category (or `cyber`, or `*`) = `allow`, `flag` or `block`, or
    /// `{ input = …, output = … }`. What no entry covers is blocked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy: BTreeMap<String, RawPerSide<String>>,
    /// Per-tenant overrides, by tenant id: `[moderation.tenants.ten_…]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, RawTenantModeration>,
}

/// `[moderation.tenants.<tenant id>]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenantModeration {
    /// `open` or `closed`. Unset: the global `fail_mode`.
    pub fail_mode: Option<String>,
    /// Entries laid over the default policy, with the same syntax: the tenant's entries
    /// win over the default's for the categories they name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy: BTreeMap<String, RawPerSide<String>>,
}

/// A setting for both sides of a call, or for each: `"block"` or
/// `{ input = "flag", output = "block" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawPerSide<T> {
    Both(T),
    Sides(RawSides<T>),
}

/// The per-side form of [`RawPerSide`]; a side left out keeps what a less specific entry
/// gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSides<T> {
    pub input: Option<T>,
    pub output: Option<T>,
}

/// `[detection]`: usage analytics and anomaly detection on the live event stream (and in
/// `bulwark replay`, which reads the same section). Alerts are documented in
/// `docs/alerts.md`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetection {
    /// Run the detectors on the live event stream. Default `true`.
    pub enabled: Option<bool>,
    /// Most keys tracked at once; beyond it the coldest is forgotten. Default 100000.
    /// `0` tracks none.
    pub max_keys: Option<usize>,
    /// Most accounts tracked at once. Default 100000.
    pub max_accounts: Option<usize>,
    /// Most tenants tracked at once. Default 10000.
    pub max_tenants: Option<usize>,
    /// Most client networks (/24, /48) tracked at once. Default 100000.
    pub max_networks: Option<usize>,
    /// An alert for a subject and detector suppresses the next ones for this long (event
    /// time). Default `1h`.
    pub dedup_window: Option<String>,
    /// On start, the detectors relearn from the stored events of this last stretch,
    /// raising no alerts from them. Default `24h`; `0s` starts with no history.
    pub warmup: Option<String>,
    /// Events the detection queue holds before it sheds (and counts) them. Default 65536.
    pub queue: Option<usize>,
    /// `bulwark replay`: how late (in event time) an event may come and still be put in
    /// order. Default `10s`.
    pub lateness: Option<String>,
    /// SPOT's risk: the share of a subject's ordinary active minutes expected to cross its
    /// spike threshold. Default `0.0001`.
    pub risk: Option<f64>,
    /// A spike is at least this many times the subject's expected rate. Default `4`.
    pub spike_min_ratio: Option<f64>,
    /// …and at least this many requests in the minute (`usage_spike`). Default 20.
    pub spike_min_requests: Option<u32>,
    /// …or tokens in the minute (`token_spike`). Default 20000.
    pub spike_min_tokens: Option<u64>,
    /// Active minutes of history before a subject's spikes are judged. Default 30.
    pub min_active_minutes: Option<u32>,
    /// A moderation burst has at least this many flagged requests in the last hour.
    /// Default 5.
    pub burst_min_flagged: Option<u32>,
    /// …and at least this share of the subject's requests, in (0, 1]. Default `0.05`.
    pub burst_min_share: Option<f64>,
    /// New infrastructure is judged for subjects with at least this many requests…
    /// Default 50.
    pub infra_min_requests: Option<u32>,
    /// …over at least this much event time. Default `24h`.
    pub infra_min_age: Option<String>,
    /// Model prices in US dollars per million tokens, for spend:
    /// `"gpt-4o-mini" = { prompt = 0.15, completion = 0.6 }`. A name may end in `*`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<String, RawPrice>,
}

/// One `[detection.prices]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    /// US dollars per million prompt tokens. Default 0.
    pub prompt: Option<f64>,
    /// US dollars per million completion tokens. Default 0.
    pub completion: Option<f64>,
}
