//! The event schema, version 1: one JSON object per line.
//!
//! Every event shares an envelope (`v`, `kind`, `id`, `ts`, `tenant`, `account`, `key`);
//! the rest depends on `kind`. Readers ignore fields they do not know, so later issues add
//! fields (moderation, policy) without a version bump; renaming or removing one needs a new
//! version. The schema is documented in `docs/events.md`.

mod json;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{
    AccountId, EventId, KeyId, TenantId, Timestamp, Verification,
    entity::{KeyStatus, string_enum},
};

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// An event in a version this crate cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported event schema version {0}: this build reads version {SCHEMA_VERSION}")]
pub struct SchemaError(pub u32);

/// One event: the shared envelope plus a kind-specific body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub v: u32,
    pub id: EventId,
    pub ts: Timestamp,
    pub tenant: Option<TenantId>,
    pub account: Option<AccountId>,
    pub key: Option<KeyId>,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The kind-specific part of an event, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
#[allow(
    clippy::large_enum_variant,
    reason = "api.request is nearly every event; boxing it would cost an allocation each"
)]
pub enum EventBody {
    #[serde(rename = "api.request")]
    ApiRequest(ApiRequest),
    #[serde(rename = "account.created")]
    AccountCreated(AccountCreated),
    #[serde(rename = "key.created")]
    KeyCreated(KeyCreated),
    #[serde(rename = "key.status_changed")]
    KeyStatusChanged(KeyStatusChanged),
}

string_enum!(
    /// The `kind` of an event, for filtering without the body.
    EventKind, "event kind" {
        ApiRequest => "api.request",
        AccountCreated => "account.created",
        KeyCreated => "key.created",
        KeyStatusChanged => "key.status_changed",
    }
);

impl Event {
    /// A new event with a fresh id, stamped now.
    pub fn new(
        tenant: Option<TenantId>,
        account: Option<AccountId>,
        key: Option<KeyId>,
        body: EventBody,
    ) -> Self {
        Self {
            v: SCHEMA_VERSION,
            id: EventId::generate(),
            ts: Timestamp::now(),
            tenant,
            account,
            key,
            body,
        }
    }

    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self.body {
            EventBody::ApiRequest(_) => EventKind::ApiRequest,
            EventBody::AccountCreated(_) => EventKind::AccountCreated,
            EventBody::KeyCreated(_) => EventKind::KeyCreated,
            EventBody::KeyStatusChanged(_) => EventKind::KeyStatusChanged,
        }
    }

    /// Parses one JSON line, refusing versions this build does not know.
    pub fn from_json(line: &str) -> Result<Self, EventParseError> {
        let event: Event = serde_json::from_str(line)?;
        if event.v != SCHEMA_VERSION {
            return Err(SchemaError(event.v).into());
        }
        Ok(event)
    }

    /// Serializes to one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(1024);
        self.write_json(&mut out);
        // Built from `&str`s and ASCII: always UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the JSON line (no trailing newline) to `out`: the same bytes as
    /// `serde_json::to_writer(out, self)`, written directly for `api.request` events
    /// (see `event/json.rs` for why).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        json::write_event(self, out);
    }
}

/// A line that is not an event this build can read.
#[derive(Debug, thiserror::Error)]
pub enum EventParseError {
    #[error("not a valid event: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

string_enum!(
    /// What the gateway did with a request.
    Decision, "decision" {
        /// Forwarded to the upstream and answered.
        Allowed => "allowed",
        /// Refused by content moderation.
        Blocked => "blocked",
        /// Refused by a rate limit (429).
        RateLimited => "rate_limited",
        /// No key, an unknown key or a revoked key (401).
        Unauthenticated => "unauthenticated",
        /// A known key that may not do this: suspended, model not allowed (403).
        Forbidden => "forbidden",
        /// The upstream could not be reached, timed out or failed (502/504).
        UpstreamError => "upstream_error",
        /// The request itself was unusable: malformed, too large, too slow, unknown path.
        InvalidRequest => "invalid_request",
        /// Bulwark itself failed (500); always a bug worth reporting.
        InternalError => "internal_error",
    }
);

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// ISO 3166 country code, when a geo database is configured.
    pub country: Option<String>,
    /// Autonomous system number, when a geo database is configured.
    pub asn: Option<u32>,
}

/// Token counts, as the upstream reported them or, when it did not, as estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// True when the upstream reported no usage and Bulwark estimated it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub estimated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Length and digest of a prompt or completion; the text itself only when the operator
/// enabled `capture_text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextDigest {
    /// Unicode scalar values, not bytes.
    pub chars: u64,
    /// Lowercase hex SHA-256 of the UTF-8 text.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl TextDigest {
    /// Digests `text`, keeping it only when `capture` is set.
    pub fn of(text: &str, capture: bool) -> Self {
        Self {
            chars: text.chars().count() as u64,
            sha256: crate::sha256_hex(text.as_bytes()),
            text: capture.then(|| text.to_owned()),
        }
    }

    /// [`TextDigest::of`] for text the caller owns: kept without a copy when captured.
    pub fn of_owned(text: String, capture: bool) -> Self {
        Self {
            chars: text.chars().count() as u64,
            sha256: crate::sha256_hex(text.as_bytes()),
            text: capture.then_some(text),
        }
    }
}

/// One call to the API, whatever became of it (`kind: "api.request"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiRequest {
    pub client: Client,
    /// `chat.completions`, `completions`, `embeddings`, `models`, `responses`, `files`,
    /// `fine_tuning.jobs`, `other`.
    pub endpoint: String,
    pub model: Option<String>,
    pub stream: bool,
    /// The HTTP status returned to the client.
    pub status: u16,
    pub decision: Decision,
    /// From the first byte of the request to the last byte of the response.
    pub latency_ms: f64,
    /// From sending to the upstream until its last byte; absent when it was never called.
    pub upstream_ms: Option<f64>,
    pub usage: Option<Usage>,
    pub input: Option<TextDigest>,
    pub output: Option<TextDigest>,
    /// HTTP method (extension of v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request path without the query (extension of v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Name of the upstream that served the request (extension of v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The error `code` returned to the client, when the request was not allowed or failed
    /// (extension of v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What content moderation found and did (extension of v1); absent when nothing was
    /// checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<crate::ModerationRecord>,
}

/// An account was created (`kind: "account.created"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCreated {
    pub verification: Verification,
    /// Where the sign-up came from, as the operator reported it.
    pub client: Client,
    /// Whatever sign-up signals the operator supplies: `email_domain`, `device_id`,
    /// `payment_fingerprint`, … Fake-account detection links accounts through these.
    pub signals: serde_json::Map<String, serde_json::Value>,
}

/// A key was created (`kind: "key.created"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCreated {
    pub name: Option<String>,
    pub models: Vec<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

/// A key's status changed (`kind: "key.status_changed"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatusChanged {
    pub from: KeyStatus,
    pub to: KeyStatus,
    pub reason: Option<String>,
    /// Who made the change: `cli`, `admin_api`, or a detector / case id later.
    pub actor: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request_event() -> Event {
        Event::new(
            Some(TenantId::generate()),
            Some(AccountId::generate()),
            Some(KeyId::generate()),
            EventBody::ApiRequest(ApiRequest {
                client: Client {
                    ip: Some("203.0.113.7".parse().unwrap()),
                    user_agent: Some("openai-python/1.51.0".into()),
                    country: None,
                    asn: None,
                },
                endpoint: "chat.completions".into(),
                model: Some("gpt-4o-mini".into()),
                stream: true,
                status: 200,
                decision: Decision::Allowed,
                latency_ms: 412.7,
                upstream_ms: Some(410.2),
                usage: Some(Usage {
                    prompt_tokens: 120,
                    completion_tokens: 300,
                    estimated: false,
                }),
                input: Some(TextDigest::of("hello", false)),
                output: Some(TextDigest::of("world", true)),
                method: None,
                path: None,
                upstream: None,
                error: None,
                moderation: None,
            }),
        )
    }

    #[test]
    fn api_request_has_the_documented_fields() {
        let event = request_event();
        let v: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
        for field in [
            "v",
            "kind",
            "id",
            "ts",
            "tenant",
            "account",
            "key",
            "client",
            "endpoint",
            "model",
            "stream",
            "status",
            "decision",
            "latency_ms",
            "upstream_ms",
            "usage",
            "input",
            "output",
        ] {
            assert!(v.get(field).is_some(), "missing `{field}` in {v}");
        }
        assert_eq!(v["v"], 1);
        assert_eq!(v["kind"], "api.request");
        assert_eq!(
            v["client"],
            json!({"ip":"203.0.113.7","user_agent":"openai-python/1.51.0","country":null,"asn":null})
        );
        assert_eq!(
            v["usage"],
            json!({"prompt_tokens":120,"completion_tokens":300})
        );
        assert!(
            v["input"].get("text").is_none(),
            "text is absent unless captured"
        );
        assert_eq!(v["output"]["text"], "world");
        assert_eq!(v["input"]["sha256"], crate::sha256_hex(b"hello"));
        assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn readers_ignore_unknown_fields_and_refuse_unknown_versions() {
        let mut v: serde_json::Value = serde_json::from_str(&request_event().to_json()).unwrap();
        v["detections"] = json!({"spike": {"score": 0.9}});
        assert!(Event::from_json(&v.to_string()).is_ok());
        v["v"] = json!(2);
        let err = Event::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(err.contains("version 2"), "{err}");
    }

    #[test]
    fn management_events_round_trip() {
        let event = Event::new(
            Some(TenantId::generate()),
            Some(AccountId::generate()),
            Some(KeyId::generate()),
            EventBody::KeyStatusChanged(KeyStatusChanged {
                from: KeyStatus::Active,
                to: KeyStatus::Suspended,
                reason: Some("resold on a forum".into()),
                actor: "cli".into(),
            }),
        );
        let json = event.to_json();
        assert!(json.contains(r#""kind":"key.status_changed""#), "{json}");
        assert_eq!(Event::from_json(&json).unwrap(), event);
        assert_eq!(event.kind(), EventKind::KeyStatusChanged);
    }

    #[test]
    fn text_digest_counts_chars_not_bytes() {
        assert_eq!(TextDigest::of("héllo", false).chars, 5);
    }
}
