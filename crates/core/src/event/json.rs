//! The JSON line of an `api.request` event, written directly.
//!
//! Nearly every event is an `api.request`, and every one of them is serialized at least
//! once (into the store; again by `events export`). Through serde, the envelope's
//! `#[serde(flatten)]` and internally tagged body go through serde's generic map
//! machinery, and serde_json escapes strings a byte at a time: together about 12,000
//! instructions an event, measured with callgrind on the gateway under load, a tenth of
//! what the whole proxy spends on a request. This writer produces **the same bytes** as
//! `serde_json::to_writer(event)` (the tests compare the two on every field filled,
//! empty and awkward) for a few thousand instructions; other kinds of event, and the rare
//! values it does not handle itself (years beyond 9999), go through serde.
//!
//! Adding a field to [`ApiRequest`] means adding it here too: the tests build the struct
//! with every field set, so they stop compiling until the test data names the new field,
//! and then fail until this writer writes it.

use std::io::Write as _;

use chrono::{Datelike, Timelike};

use super::{ApiRequest, Client, Event, EventBody, TextDigest, Usage};
use crate::Timestamp;

/// Writes `event` as one JSON line (no newline), byte for byte as serde_json would.
pub(super) fn write_event(event: &Event, out: &mut Vec<u8>) {
    let EventBody::ApiRequest(request) = &event.body else {
        serde_fallback(event, out);
        return;
    };
    let start = out.len();
    if !write_api_request(event, request, out) {
        out.truncate(start);
        serde_fallback(event, out);
    }
}

fn serde_fallback(event: &Event, out: &mut Vec<u8>) {
    // Every field is a string, number, bool, or map with string keys: this cannot fail.
    let _ = serde_json::to_writer(&mut *out, event);
}

/// The fast path; false when a value needs serde after all (the caller starts over).
fn write_api_request(event: &Event, r: &ApiRequest, out: &mut Vec<u8>) -> bool {
    out.extend_from_slice(b"{\"v\":");
    write_u64(out, u64::from(event.v));
    out.extend_from_slice(b",\"id\":");
    write_str(out, event.id.as_str());
    out.extend_from_slice(b",\"ts\":");
    if !write_timestamp(out, event.ts) {
        return false;
    }
    out.extend_from_slice(b",\"tenant\":");
    write_opt_str(out, event.tenant.as_ref().map(|id| id.as_str()));
    out.extend_from_slice(b",\"account\":");
    write_opt_str(out, event.account.as_ref().map(|id| id.as_str()));
    out.extend_from_slice(b",\"key\":");
    write_opt_str(out, event.key.as_ref().map(|id| id.as_str()));
    out.extend_from_slice(b",\"kind\":\"api.request\",\"client\":");
    write_client(out, &r.client);
    out.extend_from_slice(b",\"endpoint\":");
    write_str(out, &r.endpoint);
    out.extend_from_slice(b",\"model\":");
    write_opt_str(out, r.model.as_deref());
    out.extend_from_slice(if r.stream {
        b",\"stream\":true,\"status\":"
    } else {
        b",\"stream\":false,\"status\":"
    });
    write_u64(out, u64::from(r.status));
    out.extend_from_slice(b",\"decision\":");
    write_str(out, r.decision.as_str());
    out.extend_from_slice(b",\"latency_ms\":");
    write_f64(out, r.latency_ms);
    out.extend_from_slice(b",\"upstream_ms\":");
    match r.upstream_ms {
        Some(ms) => write_f64(out, ms),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"usage\":");
    match &r.usage {
        Some(usage) => write_usage(out, usage),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"input\":");
    write_opt_digest(out, r.input.as_ref());
    out.extend_from_slice(b",\"output\":");
    write_opt_digest(out, r.output.as_ref());
    for (name, value) in [
        (&b",\"method\":"[..], &r.method),
        (b",\"path\":", &r.path),
        (b",\"upstream\":", &r.upstream),
        (b",\"error\":", &r.error),
    ] {
        if let Some(value) = value {
            out.extend_from_slice(name);
            write_str(out, value);
        }
    }
    if let Some(moderation) = &r.moderation {
        out.extend_from_slice(b",\"moderation\":");
        // Small, and only on moderated requests: serde's own bytes.
        if serde_json::to_writer(&mut *out, moderation).is_err() {
            return false;
        }
    }
    out.push(b'}');
    true
}

fn write_client(out: &mut Vec<u8>, client: &Client) {
    out.extend_from_slice(b"{\"ip\":");
    match client.ip {
        // An address's text is digits, hex, dots and colons: nothing to escape.
        Some(ip) => {
            out.push(b'"');
            let _ = write!(out, "{ip}");
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"user_agent\":");
    write_opt_str(out, client.user_agent.as_deref());
    out.extend_from_slice(b",\"country\":");
    write_opt_str(out, client.country.as_deref());
    out.extend_from_slice(b",\"asn\":");
    match client.asn {
        Some(asn) => write_u64(out, u64::from(asn)),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn write_usage(out: &mut Vec<u8>, usage: &Usage) {
    out.extend_from_slice(b"{\"prompt_tokens\":");
    write_u64(out, usage.prompt_tokens);
    out.extend_from_slice(b",\"completion_tokens\":");
    write_u64(out, usage.completion_tokens);
    if usage.estimated {
        out.extend_from_slice(b",\"estimated\":true");
    }
    out.push(b'}');
}

fn write_opt_digest(out: &mut Vec<u8>, digest: Option<&TextDigest>) {
    let Some(digest) = digest else {
        out.extend_from_slice(b"null");
        return;
    };
    out.extend_from_slice(b"{\"chars\":");
    write_u64(out, digest.chars);
    out.extend_from_slice(b",\"sha256\":");
    write_str(out, &digest.sha256);
    if let Some(text) = &digest.text {
        out.extend_from_slice(b",\"text\":");
        write_str(out, text);
    }
    out.push(b'}');
}

fn write_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => write_str(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

/// serde_json's own float formatting (and `null` for what JSON cannot hold).
fn write_f64(out: &mut Vec<u8>, value: f64) {
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// `"2026-11-28T10:00:00.123Z"`, as `Timestamp`'s `Display` writes it (RFC 3339,
/// milliseconds, `Z`); false for years it writes otherwise (before 0 or after 9999).
fn write_timestamp(out: &mut Vec<u8>, ts: Timestamp) -> bool {
    let t = ts.as_datetime();
    let Ok(year) = u32::try_from(t.year()) else {
        return false;
    };
    if year > 9999 {
        return false;
    }
    let millis = t.nanosecond() / 1_000_000;
    // A leap second shows as a 60th second in the text, milliseconds below 1000.
    let (second, millis) = if millis >= 1000 {
        (t.second() + 1, millis - 1000)
    } else {
        (t.second(), millis)
    };
    let mut buf = *b"\"0000-00-00T00:00:00.000Z\"";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            if let Some(b) = buf.get_mut(i) {
                *b = b'0' + (n % 10) as u8;
            }
            n /= 10;
        }
    };
    put(1, 4, year);
    put(6, 2, t.month());
    put(9, 2, t.day());
    put(12, 2, t.hour());
    put(15, 2, t.minute());
    put(18, 2, second);
    put(21, 3, millis);
    out.extend_from_slice(&buf);
    true
}

/// A JSON string with serde_json's escapes: `\"`, `\\`, `\b \f \n \r \t`, and `\u00XX`
/// (lowercase hex) for the other control characters; everything else as it is.
fn write_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut done = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Eight bytes at a time while none of them needs an escape.
        if let Some(chunk) = bytes.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !needs_escape(u64::from_le_bytes(word)) {
                at += 8;
                continue;
            }
        }
        let b = bytes.get(at).copied().unwrap_or(0);
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            _ => {
                at += 1;
                continue;
            }
        };
        out.extend_from_slice(bytes.get(done..at).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
        } else {
            out.extend_from_slice(escape);
        }
        at += 1;
        done = at;
    }
    out.extend_from_slice(bytes.get(done..).unwrap_or_default());
    out.push(b'"');
}

/// Whether any byte of `word` is a control character, `"` or `\`.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` (for n ≤ 128) or equal to zero sets its high bit here; bytes of 128
    // and above are masked out by `!word`.
    let below = |n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    below(0x20) | zero(word ^ (ONES * u64::from(b'"'))) | zero(word ^ (ONES * u64::from(b'\\')))
        != 0
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;
    use crate::{
        AccountId, Category, Decision, KeyId, ModerationRecord, SideRecord, TenantId, UploadRecord,
    };

    fn serde_bytes(event: &Event) -> String {
        serde_json::to_string(event).unwrap()
    }

    fn ours(event: &Event) -> String {
        let mut out = Vec::new();
        write_event(event, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn full_request() -> ApiRequest {
        ApiRequest {
            client: Client {
                ip: Some("2001:db8::7".parse().unwrap()),
                user_agent: Some("openai-python/1.51.0".into()),
                country: Some("DE".into()),
                asn: Some(64_496),
            },
            endpoint: "chat.completions".into(),
            model: Some("gpt-4o-mini".into()),
            stream: true,
            status: 200,
            decision: Decision::Blocked,
            latency_ms: 412.7,
            upstream_ms: Some(0.1 + 0.2),
            usage: Some(Usage {
                prompt_tokens: 120,
                completion_tokens: u64::MAX,
                estimated: true,
            }),
            input: Some(TextDigest::of("hello \"world\"\n", true)),
            output: Some(TextDigest::of("world", false)),
            method: Some("POST".into()),
            path: Some("/v1/chat/completions".into()),
            upstream: Some("sim".into()),
            error: Some("content_filter".into()),
            moderation: Some(ModerationRecord {
                input: Some(SideRecord {
                    flagged: true,
                    categories: vec![Category::Phishing, Category::Jailbreak],
                    max_score: 0.93,
                    action: Some("block".into()),
                }),
                output: None,
                upload: Some(UploadRecord {
                    lines: 10,
                    flagged_lines: 2,
                    categories: [(Category::Malware, 2)].into_iter().collect(),
                    rejected: false,
                    skipped: true,
                }),
            }),
        }
    }

    fn event(body: ApiRequest) -> Event {
        Event::new(
            Some(TenantId::generate()),
            Some(AccountId::generate()),
            Some(KeyId::generate()),
            EventBody::ApiRequest(body),
        )
    }

    /// The fast path's own bytes, not serde's fallback.
    fn fast(event: &Event) -> String {
        let EventBody::ApiRequest(request) = &event.body else {
            panic!("not an api.request");
        };
        let mut out = Vec::new();
        assert!(write_api_request(event, request, &mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_field_set_matches_serde() {
        let event = event(full_request());
        assert_eq!(fast(&event), serde_bytes(&event));
    }

    #[test]
    fn every_option_empty_matches_serde() {
        let mut request = full_request();
        request.client = Client::default();
        request.model = None;
        request.stream = false;
        request.upstream_ms = None;
        request.usage = None;
        request.input = None;
        request.output = None;
        request.method = None;
        request.path = None;
        request.upstream = None;
        request.error = None;
        request.moderation = None;
        let mut event = event(request);
        event.tenant = None;
        event.account = None;
        event.key = None;
        assert_eq!(fast(&event), serde_bytes(&event));
    }

    #[test]
    fn awkward_numbers_and_times_match_serde() {
        for (latency, ts) in [
            (0.0, "1970-01-01T00:00:00.000Z"),
            (-0.0, "0001-02-03T04:05:06.007Z"),
            (f64::NAN, "9999-12-31T23:59:59.999Z"),
            (f64::INFINITY, "2026-11-28T10:00:00.123Z"),
            (1e21, "2024-02-29T12:00:00.500Z"),
            (1.0e-7, "2026-11-28T10:00:00.120Z"),
            (123_456_789.123_456_7, "2026-11-28T10:00:00.000Z"),
        ] {
            let mut request = full_request();
            request.latency_ms = latency;
            let mut event = event(request);
            event.ts = Timestamp::parse(ts).unwrap();
            assert_eq!(fast(&event), serde_bytes(&event), "{latency} {ts}");
        }
        // Beyond year 9999 serde writes it (and the fast path steps aside).
        let mut event = event(full_request());
        event.ts = Timestamp::from_unix_millis(253_402_300_800_000).unwrap();
        assert_eq!(ours(&event), serde_bytes(&event));
    }

    #[test]
    fn random_strings_match_serde() {
        let alphabet: Vec<char> = (0u32..0x80)
            .filter_map(char::from_u32)
            .chain(['é', '€', '😀', '\u{2028}', '\u{7f}', '\u{ffff}'])
            .collect();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let len = rng.random_range(0..40);
            let text: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let mut request = full_request();
            request.client.user_agent = Some(text.clone());
            request.model = Some(text.clone());
            request.input = Some(TextDigest::of(&text, true));
            let event = event(request);
            assert_eq!(fast(&event), serde_bytes(&event), "{text:?}");
        }
    }

    #[test]
    fn other_kinds_go_through_serde() {
        let event = Event::new(
            None,
            None,
            None,
            EventBody::KeyStatusChanged(crate::KeyStatusChanged {
                from: crate::KeyStatus::Active,
                to: crate::KeyStatus::Revoked,
                reason: None,
                actor: "cli".into(),
            }),
        );
        assert_eq!(ours(&event), serde_bytes(&event));
    }
}
