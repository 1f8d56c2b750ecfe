//! What the detectors read from one `api.request` event (schema v1, `docs/events.md`):
//! computed once per event, then applied to each of its subjects.
//!
//! Fields read: `id`, `ts`, `tenant`, `account`, `key`, `client.ip`, `client.asn`,
//! `client.country`, `client.user_agent`, `model`, `usage.prompt_tokens`,
//! `usage.completion_tokens`, `decision`, and `moderation` (`input` / `output`
//! `flagged`, `categories`, `action`; `upload` `flagged_lines`, `categories`,
//! `rejected`). Nothing else.

use std::{collections::BTreeMap, net::IpAddr};

use bulwark_core::{ApiRequest, Category, Decision, Event, ModerationRecord, model_matches};

use super::sketch::{hash_bytes, hash_u64};

/// Milliseconds in a minute, an hour, a day.
pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// The price of a model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub prompt: f64,
    pub completion: f64,
}

/// Model prices by exact name or pattern (`gpt-4o*`); the exact name wins, then the
/// longest matching pattern. Empty: spend is not computed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices(pub BTreeMap<String, Price>);

impl Prices {
    /// The price of `model`, if one is configured.
    pub fn of(&self, model: &str) -> Option<Price> {
        if let Some(price) = self.0.get(model) {
            return Some(*price);
        }
        self.0
            .iter()
            .filter(|(pattern, _)| model_matches(pattern, model))
            .max_by_key(|(pattern, _)| pattern.len())
            .map(|(_, price)| *price)
    }

    /// Whether any price is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Seeds that keep the hashes of different kinds of value apart.
pub(crate) mod seed {
    pub(crate) const IP: u64 = 1;
    pub(crate) const PREFIX_V4: u64 = 2;
    pub(crate) const PREFIX_V6: u64 = 3;
    pub(crate) const ASN: u64 = 4;
    pub(crate) const COUNTRY: u64 = 5;
    pub(crate) const USER_AGENT: u64 = 6;
    pub(crate) const MODEL: u64 = 7;
}

/// The features of one `api.request` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Event time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Prompt plus completion tokens (0 when the event has no usage).
    pub tokens: u64,
    /// Spend in millionths of a US dollar, when the model has a price.
    pub spend_micros: u64,
    /// Refused or failed for a reason other than moderation: rate limited,
    /// unauthenticated, forbidden, invalid, upstream or internal error.
    pub error: bool,
    /// Refused by moderation (`decision: "blocked"`).
    pub blocked: bool,
    /// Some moderation category crossed its threshold on some side.
    pub flagged: bool,
    /// The flagged categories, one bit per [`Category::index`].
    pub flagged_categories: u8,
    /// The categories of sides the gateway blocked.
    pub blocked_categories: u8,
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// Hashes of the client address, its /24 or /48, its user agent and the model.
    pub ip_hash: Option<u64>,
    pub prefix_hash: Option<u64>,
    pub user_agent_hash: Option<u64>,
    pub model_hash: Option<u64>,
    /// Autonomous system and country, when the gateway knows them.
    pub asn: Option<u32>,
    pub country: Option<u32>,
}

impl Features {
    /// The features of `request` (the body of `event`).
    pub fn of(event: &Event, request: &ApiRequest, prices: &Prices) -> Self {
        let time_ms = event.ts.unix_millis();
        let (prompt, completion) = request
            .usage
            .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
        let spend_micros = request
            .model
            .as_deref()
            .and_then(|m| prices.of(m))
            .map_or(0, |p| {
                #[allow(clippy::cast_precision_loss, reason = "token counts")]
                let micros = prompt as f64 * p.prompt + completion as f64 * p.completion;
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "rounded, non-negative, saturating"
                )]
                let micros = micros.max(0.0).round() as u64;
                micros
            });
        let (flagged_categories, blocked_categories) =
            request.moderation.as_ref().map_or((0, 0), category_masks);
        let ip = request.client.ip;
        Self {
            time_ms,
            tokens: prompt.saturating_add(completion),
            spend_micros,
            error: matches!(
                request.decision,
                Decision::RateLimited
                    | Decision::Unauthenticated
                    | Decision::Forbidden
                    | Decision::UpstreamError
                    | Decision::InvalidRequest
                    | Decision::InternalError
            ),
            blocked: request.decision == Decision::Blocked,
            flagged: flagged_categories != 0
                || request.moderation.as_ref().is_some_and(|m| {
                    flagged_side(m) || m.upload.as_ref().is_some_and(|u| u.flagged_lines > 0)
                }),
            flagged_categories,
            blocked_categories,
            ip,
            ip_hash: ip.map(|ip| match ip {
                IpAddr::V4(v4) => hash_u64(seed::IP, u64::from(u32::from(v4))),
                IpAddr::V6(v6) => hash_bytes(seed::IP, &v6.octets()),
            }),
            prefix_hash: ip.map(prefix_hash),
            user_agent_hash: request
                .client
                .user_agent
                .as_deref()
                .map(|ua| hash_bytes(seed::USER_AGENT, ua.as_bytes())),
            model_hash: request
                .model
                .as_deref()
                .map(|m| hash_bytes(seed::MODEL, m.as_bytes())),
            asn: request.client.asn,
            country: request.client.country.as_deref().map(country_code),
        }
    }

    /// Minutes, hours and days since the epoch (0 before it).
    pub(crate) fn bucket(&self, width_ms: i64) -> u32 {
        u32::try_from(self.time_ms.max(0) / width_ms).unwrap_or(u32::MAX)
    }

    /// Hour of the week, Monday 00:00 UTC = 0 … Sunday 23:00 = 167.
    pub(crate) fn hour_of_week(&self) -> usize {
        hour_of_week(self.bucket(HOUR_MS))
    }
}

/// Hour of the week of an hour index since the epoch (1970-01-01 was a Thursday).
pub(crate) fn hour_of_week(hour: u32) -> usize {
    let day = hour / 24;
    ((day + 3) % 7 * 24 + hour % 24) as usize
}

fn flagged_side(m: &ModerationRecord) -> bool {
    [&m.input, &m.output]
        .into_iter()
        .flatten()
        .any(|side| side.flagged)
}

/// (flagged, blocked) category masks of a moderation record.
fn category_masks(m: &ModerationRecord) -> (u8, u8) {
    let mut flagged = 0_u8;
    let mut blocked = 0_u8;
    for side in [&m.input, &m.output].into_iter().flatten() {
        let mask = mask(side.categories.iter().copied());
        flagged |= mask;
        if side.action.as_deref() == Some("block") {
            blocked |= mask;
        }
    }
    if let Some(upload) = &m.upload {
        let mask = mask(upload.categories.keys().copied());
        flagged |= mask;
        if upload.rejected {
            blocked |= mask;
        }
    }
    (flagged, blocked)
}

fn mask(categories: impl Iterator<Item = Category>) -> u8 {
    categories.fold(0, |m, c| m | (1_u8 << (c.index() % 8)))
}

/// The hash of an address's network: its /24 (IPv4) or /48 (IPv6).
pub(crate) fn prefix_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_u64(seed::PREFIX_V4, u64::from(u32::from(v4) >> 8)),
        IpAddr::V6(v6) => hash_u64(
            seed::PREFIX_V6,
            u64::try_from(u128::from(v6) >> 80).unwrap_or_default(),
        ),
    }
}

/// The network subject's id of an address: `203.0.113.0/24` or `2001:db8:1::/48`.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let net = std::net::Ipv4Addr::from(u32::from(v4) & 0xFFFF_FF00);
            format!("{net}/24")
        }
        IpAddr::V6(v6) => {
            let net = std::net::Ipv6Addr::from(u128::from(v6) & !((1_u128 << 80) - 1));
            format!("{net}/48")
        }
    }
}

/// A country code packed into a number (up to four ASCII bytes, case-folded).
fn country_code(code: &str) -> u32 {
    code.bytes().take(4).fold(0_u32, |acc, b| {
        (acc << 8) | u32::from(b.to_ascii_uppercase())
    })
}

/// The country code a packed number came from.
pub(crate) fn country_text(code: u32) -> String {
    code.to_be_bytes()
        .into_iter()
        .filter(|b| *b != 0)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_24s_and_48s() {
        assert_eq!(
            network_of("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            network_of("2001:db8:1:2:3::9".parse().unwrap()),
            "2001:db8:1::/48"
        );
        assert_eq!(
            prefix_hash("203.0.113.1".parse().unwrap()),
            prefix_hash("203.0.113.254".parse().unwrap())
        );
        assert_ne!(
            prefix_hash("203.0.113.1".parse().unwrap()),
            prefix_hash("203.0.114.1".parse().unwrap())
        );
        assert_eq!(
            prefix_hash("2001:db8:1:ffff::1".parse().unwrap()),
            prefix_hash("2001:db8:1::2".parse().unwrap())
        );
    }

    #[test]
    fn hours_of_week_start_on_monday() {
        // 1970-01-05 was a Monday.
        assert_eq!(hour_of_week(4 * 24), 0);
        assert_eq!(hour_of_week(0), 3 * 24);
        assert_eq!(hour_of_week(4 * 24 + 7 * 24 - 1), 167);
    }

    #[test]
    fn countries_pack_and_unpack() {
        assert_eq!(country_text(country_code("de")), "DE");
        assert_ne!(country_code("DE"), country_code("FR"));
    }

    #[test]
    fn prices_prefer_exact_then_longest_pattern() {
        let mut p = Prices::default();
        p.0.insert(
            "gpt-4o*".into(),
            Price {
                prompt: 2.5,
                completion: 10.0,
            },
        );
        p.0.insert(
            "gpt-4o-mini*".into(),
            Price {
                prompt: 0.15,
                completion: 0.6,
            },
        );
        p.0.insert(
            "gpt-4o-mini".into(),
            Price {
                prompt: 0.1,
                completion: 0.5,
            },
        );
        assert_eq!(p.of("gpt-4o-mini").unwrap().prompt, 0.1);
        assert_eq!(p.of("gpt-4o-mini-2024").unwrap().prompt, 0.15);
        assert_eq!(p.of("gpt-4o").unwrap().prompt, 2.5);
        assert!(p.of("claude").is_none());
    }
}
