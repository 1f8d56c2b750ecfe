//! Bulwark's shared vocabulary: typed ids, timestamps, the tenants / accounts / keys that
//! the gateway serves, the usage-event schema v1, the alert schema v1 and the OpenAI-shaped error body.
//!
//! Everything here is plain data with serde shapes that other tools depend on. This crate
//! does no I/O and knows nothing about HTTP servers, databases or buses; those live in the
//! crates that use it. Changing a serialized shape here is a schema change: extend, never
//! rename (see `docs/events.md`).

mod alert;
mod entity;
mod error;
mod event;
mod id;
mod moderation;
pub mod script;
mod text;
mod time;

pub use crate::{
    alert::{
        ALERT_SCHEMA_VERSION, Alert, AlertKind, AlertParseError, AlertSubject, Explanation,
        Measure, Related, Severity, SubjectType, tidy,
    },
    entity::{
        Account, KeyHash, KeyRecord, KeyStatus, ParseEnumError, Tenant, Verification, model_matches,
    },
    error::{ApiError, ErrorBody},
    event::{
        AccountCreated, ApiRequest, Client, Decision, Event, EventBody, EventKind, EventParseError,
        KeyCreated, KeyStatusChanged, SCHEMA_VERSION, SchemaError, TextDigest, Usage,
    },
    id::{AccountId, AlertId, EventId, IdError, KeyId, TenantId},
    moderation::{CYBER, Category, ModerationRecord, Side, SideRecord, UploadRecord},
    text::{hex_lower, sha256_hex},
    time::{Timestamp, TimestampError},
};
