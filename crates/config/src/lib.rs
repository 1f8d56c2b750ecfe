//! Bulwark's configuration, in two stages: one TOML file (`version = 1`, unknown fields
//! rejected) merged with `BULWARK_` environment overrides and command-line flags into a
//! [`RawConfig`], then validated into a typed [`Config`] (socket addresses, durations,
//! resolved upstreams) before any port is bound.
//!
//! `bulwark config check` runs exactly this validation and prints [`Config::to_toml`],
//! with secrets masked. Building runtime objects from a `Config` is the job of the crates
//! that own them; this crate does no network I/O.

mod detection;
mod load;
mod moderation;
mod raw;
mod secret;
mod validated;

pub use crate::{
    detection::{DetectionConfig, ModelPrice},
    load::{ENV_PREFIX, LoadError, LoadOptions, load},
    moderation::{
        Action, DEFAULT_MODERATION, FailMode, ModerationConfig, Policy, TenantModeration,
        ThresholdOverrides,
    },
    raw::{
        RawAdmin, RawConfig, RawDetection, RawEvents, RawLog, RawModeration, RawPerSide, RawPrice,
        RawServer, RawSides, RawSimulator, RawTenantModeration, RawUpstream,
    },
    secret::Secret,
    validated::{
        AdminConfig, AuthStyle, Config, ConfigError, EventsConfig, LogConfig, LogFormat,
        ServerConfig, SimulatorConfig, Upstream,
    },
};
