//! Synthetic `api.request` events for tests, benchmarks and demonstrations: every field
//! the detectors read, settable; ids derived from (time, sequence number), so the same
//! calls give the same events.

use std::net::IpAddr;

use bulwark_core::{
    AccountId, ApiRequest, Category, Client, Decision, Event, EventBody, EventId, KeyId,
    ModerationRecord, SCHEMA_VERSION, SideRecord, TenantId, Timestamp, Usage,
};

/// One synthetic request; [`SyntheticRequest::event`] makes the event.
#[derive(Debug, Clone)]
pub struct SyntheticRequest {
    /// Event time, ms since the epoch, and a sequence number that makes the id unique.
    pub ts_ms: i64,
    pub seq: u64,
    pub tenant: Option<TenantId>,
    pub account: Option<AccountId>,
    pub key: Option<KeyId>,
    pub ip: Option<IpAddr>,
    pub asn: Option<u32>,
    pub country: Option<String>,
    pub user_agent: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub decision: Decision,
    /// Categories the prompt was flagged for (`block` when the decision is `blocked`,
    /// else `flag`).
    pub flagged: Vec<Category>,
}

impl SyntheticRequest {
    /// An allowed request at `ts_ms` with no subject, 100 + 200 tokens.
    pub fn new(ts_ms: i64, seq: u64) -> Self {
        Self {
            ts_ms,
            seq,
            tenant: None,
            account: None,
            key: None,
            ip: None,
            asn: None,
            country: None,
            user_agent: Some("openai-python/1.51.0".into()),
            model: Some("gpt-4o-mini".into()),
            prompt_tokens: 100,
            completion_tokens: 200,
            decision: Decision::Allowed,
            flagged: Vec::new(),
        }
    }

    /// The same request for the key `key_<n>` of account `acct_<n / per_account>` of
    /// tenant `ten_<n / per_tenant>`.
    pub fn for_key(mut self, n: u64, per_account: u64, per_tenant: u64) -> Self {
        self.key = KeyId::parse(&format!("key_{n}")).ok();
        self.account = AccountId::parse(&format!("acct_{}", n / per_account.max(1))).ok();
        self.tenant = TenantId::parse(&format!("ten_{}", n / per_tenant.max(1))).ok();
        self
    }

    /// The event.
    pub fn event(&self) -> Event {
        let millis = u128::from(self.ts_ms.max(0).cast_unsigned()) & ((1 << 48) - 1);
        let id = EventId::from_ulid_bits((millis << 80) | u128::from(self.seq));
        let moderation = (!self.flagged.is_empty()).then(|| ModerationRecord {
            input: Some(SideRecord {
                flagged: true,
                categories: self.flagged.clone(),
                max_score: 0.9,
                action: Some(
                    if self.decision == Decision::Blocked {
                        "block"
                    } else {
                        "flag"
                    }
                    .into(),
                ),
            }),
            output: None,
            upload: None,
        });
        Event {
            v: SCHEMA_VERSION,
            id,
            ts: Timestamp::from_unix_millis(self.ts_ms).unwrap_or_else(Timestamp::now),
            tenant: self.tenant.clone(),
            account: self.account.clone(),
            key: self.key.clone(),
            body: EventBody::ApiRequest(ApiRequest {
                client: Client {
                    ip: self.ip,
                    user_agent: self.user_agent.clone(),
                    country: self.country.clone(),
                    asn: self.asn,
                },
                endpoint: "chat.completions".into(),
                model: self.model.clone(),
                stream: false,
                status: match self.decision {
                    Decision::Allowed => 200,
                    Decision::Blocked | Decision::InvalidRequest => 400,
                    Decision::RateLimited => 429,
                    Decision::Unauthenticated => 401,
                    Decision::Forbidden => 403,
                    Decision::UpstreamError => 502,
                    Decision::InternalError => 500,
                },
                decision: self.decision,
                latency_ms: 100.0,
                upstream_ms: Some(95.0),
                usage: Some(Usage {
                    prompt_tokens: self.prompt_tokens,
                    completion_tokens: self.completion_tokens,
                    estimated: false,
                }),
                input: None,
                output: None,
                method: None,
                path: None,
                upstream: None,
                error: None,
                moderation,
            }),
        }
    }
}
