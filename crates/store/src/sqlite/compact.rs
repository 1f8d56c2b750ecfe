//! The compact form of an `api.request` event's row: its body in a few hundred bytes of
//! binary instead of its JSON line, which is rebuilt, byte for byte, when it is read.
//!
//! Events are the hot path of the store (a row per API request) and appending one costs
//! about 4 ns per byte stored (measured with `examples/append.rs`: the WAL write, its
//! checksum and the checkpoint's copy all scale with bytes). The JSON line of an
//! `api.request` is about 760 bytes, most of it field names, hex digests and the envelope
//! that the row's columns hold anyway; this body is about 200.
//!
//! Why the rebuilt line is the line that was written: the store has only ever written
//! `Event::write_json` of the event it was given (an imported line is parsed first), and
//! that output is a function of the event's fields. The body holds every field the
//! envelope columns do not, exactly (floats by their bits, digests that are not 64
//! lowercase hex characters as text), so decoding gives back an equal event and the same
//! line. An event the body cannot hold exactly (a timestamp finer than the `ts_ms` column)
//! keeps its JSON line. The encoder destructures every struct it writes, so a field added
//! to the schema does not compile until it has a place here (and a new [`FORMAT`]).
//!
//! Layout (format 1), in order: the format byte; `v`; the client (ip as a tag `0` none,
//! `4`, `6` and its octets; user agent; country; asn); endpoint; model; stream; status;
//! decision; `latency_ms`; `upstream_ms`; usage; input and output digests; method; path;
//! upstream; error; moderation. Integers are LEB128 varints, floats little-endian IEEE
//! bits, an optional string is its length plus one (`0` for none) followed by its bytes,
//! any other optional value a presence byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bulwark_core::{
    AccountId, ApiRequest, Category, Client, Decision, Event, EventBody, EventId, KeyId,
    ModerationRecord, SideRecord, TenantId, TextDigest, Timestamp, UploadRecord, Usage,
};

/// The layout [`encode`] writes; [`decode`] reads this one only, and a later layout gets
/// the next number (old rows keep theirs).
const FORMAT: u8 = 1;

/// The envelope of an event as its row's columns hold it.
#[derive(Debug)]
pub(super) struct Envelope {
    pub id: EventId,
    pub ts: Timestamp,
    pub tenant: Option<TenantId>,
    pub account: Option<AccountId>,
    pub key: Option<KeyId>,
}

/// A body that does not decode: written by a newer build, or damaged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct CompactError(pub(super) &'static str);

/// Appends `event`'s compact body to `out` and returns true, or writes nothing and
/// returns false when the event must keep its JSON line (not an `api.request`, or a
/// timestamp the `ts_ms` column would round).
pub(super) fn encode(event: &Event, out: &mut Vec<u8>) -> bool {
    let EventBody::ApiRequest(request) = &event.body else {
        return false;
    };
    if Timestamp::from_unix_millis(event.ts.unix_millis()) != Some(event.ts) {
        return false;
    }
    let ApiRequest {
        client,
        endpoint,
        model,
        stream,
        status,
        decision,
        latency_ms,
        upstream_ms,
        usage,
        input,
        output,
        method,
        path,
        upstream,
        error,
        moderation,
    } = request;
    let mut w = Writer(out);
    w.byte(FORMAT);
    w.varint(u64::from(event.v));
    w.client(client);
    w.str(endpoint);
    w.opt_str(model.as_deref());
    w.bool(*stream);
    w.varint(u64::from(*status));
    w.byte(decision_code(*decision));
    w.f64(*latency_ms);
    w.opt(upstream_ms.as_ref(), |w, ms| w.f64(*ms));
    w.opt(usage.as_ref(), Writer::usage);
    w.opt(input.as_ref(), Writer::digest);
    w.opt(output.as_ref(), Writer::digest);
    w.opt_str(method.as_deref());
    w.opt_str(path.as_deref());
    w.opt_str(upstream.as_deref());
    w.opt_str(error.as_deref());
    w.opt(moderation.as_ref(), Writer::moderation);
    true
}

/// The event a compact body and its row's envelope hold.
pub(super) fn decode(envelope: Envelope, body: &[u8]) -> Result<Event, CompactError> {
    let mut r = Reader(body);
    if r.byte()? != FORMAT {
        return Err(CompactError(
            "unknown body format (written by a newer build?)",
        ));
    }
    let v = u32::try_from(r.varint()?).map_err(|_| CompactError("schema version too large"))?;
    let client = r.client()?;
    let endpoint = r.string()?;
    let model = r.opt_string()?;
    let stream = r.bool()?;
    let status = u16::try_from(r.varint()?).map_err(|_| CompactError("status too large"))?;
    let decision = decision_from(r.byte()?)?;
    let latency_ms = r.f64()?;
    let upstream_ms = r.opt(Reader::f64)?;
    let usage = r.opt(Reader::usage)?;
    let input = r.opt(Reader::digest)?;
    let output = r.opt(Reader::digest)?;
    let method = r.opt_string()?;
    let path = r.opt_string()?;
    let upstream = r.opt_string()?;
    let error = r.opt_string()?;
    let moderation = r.opt(Reader::moderation)?;
    if !r.0.is_empty() {
        return Err(CompactError("bytes after the end of the body"));
    }
    let Envelope {
        id,
        ts,
        tenant,
        account,
        key,
    } = envelope;
    Ok(Event {
        v,
        id,
        ts,
        tenant,
        account,
        key,
        body: EventBody::ApiRequest(ApiRequest {
            client,
            endpoint,
            model,
            stream,
            status,
            decision,
            latency_ms,
            upstream_ms,
            usage,
            input,
            output,
            method,
            path,
            upstream,
            error,
            moderation,
        }),
    })
}

/// A decision's byte. Fixed here rather than taken from the enum's order, so that
/// reordering the enum cannot change what stored rows mean.
fn decision_code(decision: Decision) -> u8 {
    match decision {
        Decision::Allowed => 0,
        Decision::Blocked => 1,
        Decision::RateLimited => 2,
        Decision::Unauthenticated => 3,
        Decision::Forbidden => 4,
        Decision::UpstreamError => 5,
        Decision::InvalidRequest => 6,
        Decision::InternalError => 7,
    }
}

fn decision_from(code: u8) -> Result<Decision, CompactError> {
    Decision::ALL
        .iter()
        .copied()
        .find(|&decision| decision_code(decision) == code)
        .ok_or(CompactError("unknown decision"))
}

/// Digest tags: a 64-character lowercase hex digest is kept as its 32 bytes, anything
/// else (an imported line may hold uppercase hex, or not hex at all) as text.
const DIGEST_RAW: u8 = 1;
const DIGEST_TEXT: u8 = 2;

/// Appends the primitives of the layout to a buffer; `blocks.rs` writes with it too.
pub(super) struct Writer<'a>(pub(super) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(super) fn byte(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn bool(&mut self, value: bool) {
        self.byte(u8::from(value));
    }

    pub(super) fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            // Truncation intended: the low seven bits, with the continuation bit.
            self.byte((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    fn f64(&mut self, value: f64) {
        self.0.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    fn f32(&mut self, value: f32) {
        self.0.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    pub(super) fn str(&mut self, text: &str) {
        self.varint(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }

    pub(super) fn opt_str(&mut self, text: Option<&str>) {
        match text {
            None => self.varint(0),
            Some(text) => {
                self.varint(text.len() as u64 + 1);
                self.0.extend_from_slice(text.as_bytes());
            }
        }
    }

    fn opt<T>(&mut self, value: Option<&T>, write: impl FnOnce(&mut Self, &T)) {
        match value {
            None => self.byte(0),
            Some(value) => {
                self.byte(1);
                write(self, value);
            }
        }
    }

    fn client(&mut self, client: &Client) {
        let Client {
            ip,
            user_agent,
            country,
            asn,
        } = client;
        match ip {
            None => self.byte(0),
            Some(IpAddr::V4(ip)) => {
                self.byte(4);
                self.0.extend_from_slice(&ip.octets());
            }
            Some(IpAddr::V6(ip)) => {
                self.byte(6);
                self.0.extend_from_slice(&ip.octets());
            }
        }
        self.opt_str(user_agent.as_deref());
        self.opt_str(country.as_deref());
        self.opt(asn.as_ref(), |w, asn| w.varint(u64::from(*asn)));
    }

    fn usage(&mut self, usage: &Usage) {
        let Usage {
            prompt_tokens,
            completion_tokens,
            estimated,
        } = usage;
        self.varint(*prompt_tokens);
        self.varint(*completion_tokens);
        self.bool(*estimated);
    }

    fn digest(&mut self, digest: &TextDigest) {
        let TextDigest {
            chars,
            sha256,
            text,
        } = digest;
        match hex32(sha256) {
            Some(raw) => {
                self.byte(DIGEST_RAW);
                self.0.extend_from_slice(&raw);
            }
            None => {
                self.byte(DIGEST_TEXT);
                self.str(sha256);
            }
        }
        self.varint(*chars);
        self.opt_str(text.as_deref());
    }

    fn moderation(&mut self, record: &ModerationRecord) {
        let ModerationRecord {
            input,
            output,
            upload,
        } = record;
        self.opt(input.as_ref(), Self::side);
        self.opt(output.as_ref(), Self::side);
        self.opt(upload.as_ref(), Self::upload);
    }

    fn side(&mut self, side: &SideRecord) {
        let SideRecord {
            flagged,
            categories,
            max_score,
            action,
        } = side;
        self.bool(*flagged);
        self.varint(categories.len() as u64);
        for category in categories {
            self.str(category.id());
        }
        self.f32(*max_score);
        self.opt_str(action.as_deref());
    }

    fn upload(&mut self, upload: &UploadRecord) {
        let UploadRecord {
            lines,
            flagged_lines,
            categories,
            rejected,
            skipped,
        } = upload;
        self.varint(*lines);
        self.varint(*flagged_lines);
        self.varint(categories.len() as u64);
        for (category, count) in categories {
            self.str(category.id());
            self.varint(*count);
        }
        self.bool(*rejected);
        self.bool(*skipped);
    }
}

/// The 32 bytes of a digest written as 64 lowercase hex digits, the only form that
/// `hex_lower` gives back unchanged.
fn hex32(text: &str) -> Option<[u8; 32]> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut raw = [0_u8; 32];
    for (out, pair) in raw.iter_mut().zip(bytes.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *out = (nibble(*high)? << 4) | nibble(*low)?;
    }
    Some(raw)
}

/// Reads the primitives of the layout; `blocks.rs` reads with it too.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

const TRUNCATED: CompactError = CompactError("truncated body");

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], CompactError> {
        if n > self.0.len() {
            return Err(TRUNCATED);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CompactError> {
        self.take(N)?.try_into().map_err(|_| TRUNCATED)
    }

    pub(super) fn byte(&mut self) -> Result<u8, CompactError> {
        let [byte] = self.array()?;
        Ok(byte)
    }

    fn bool(&mut self) -> Result<bool, CompactError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CompactError("a flag that is neither 0 nor 1")),
        }
    }

    pub(super) fn varint(&mut self) -> Result<u64, CompactError> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CompactError("a varint longer than 64 bits"))
    }

    pub(super) fn len(&mut self) -> Result<usize, CompactError> {
        let len = usize::try_from(self.varint()?).map_err(|_| TRUNCATED)?;
        if len > self.0.len() {
            return Err(TRUNCATED);
        }
        Ok(len)
    }

    fn f64(&mut self) -> Result<f64, CompactError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.array()?)))
    }

    fn f32(&mut self) -> Result<f32, CompactError> {
        Ok(f32::from_bits(u32::from_le_bytes(self.array()?)))
    }

    fn text(&mut self, len: usize) -> Result<String, CompactError> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CompactError("text that is not UTF-8"))
    }

    fn string(&mut self) -> Result<String, CompactError> {
        let len = self.len()?;
        self.text(len)
    }

    fn opt_string(&mut self) -> Result<Option<String>, CompactError> {
        match self.varint()? {
            0 => Ok(None),
            n => {
                let len = usize::try_from(n - 1).map_err(|_| TRUNCATED)?;
                self.text(len).map(Some)
            }
        }
    }

    fn opt<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, CompactError>,
    ) -> Result<Option<T>, CompactError> {
        match self.byte()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(CompactError("a presence byte that is neither 0 nor 1")),
        }
    }

    fn count(&mut self) -> Result<usize, CompactError> {
        // Every element takes at least one byte, so a count above the bytes left is damage
        // (and must not size an allocation).
        self.len()
    }

    fn category(&mut self) -> Result<Category, CompactError> {
        let len = self.len()?;
        let id = self.take(len)?;
        std::str::from_utf8(id)
            .ok()
            .and_then(Category::from_id)
            .ok_or(CompactError("unknown moderation category"))
    }

    fn client(&mut self) -> Result<Client, CompactError> {
        let ip = match self.byte()? {
            0 => None,
            4 => Some(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => return Err(CompactError("unknown address family")),
        };
        let user_agent = self.opt_string()?;
        let country = self.opt_string()?;
        let asn =
            self.opt(|r| u32::try_from(r.varint()?).map_err(|_| CompactError("asn too large")))?;
        Ok(Client {
            ip,
            user_agent,
            country,
            asn,
        })
    }

    fn usage(&mut self) -> Result<Usage, CompactError> {
        Ok(Usage {
            prompt_tokens: self.varint()?,
            completion_tokens: self.varint()?,
            estimated: self.bool()?,
        })
    }

    fn digest(&mut self) -> Result<TextDigest, CompactError> {
        let sha256 = match self.byte()? {
            DIGEST_RAW => bulwark_core::hex_lower(self.take(32)?),
            DIGEST_TEXT => self.string()?,
            _ => return Err(CompactError("unknown digest form")),
        };
        Ok(TextDigest {
            chars: self.varint()?,
            sha256,
            text: self.opt_string()?,
        })
    }

    fn moderation(&mut self) -> Result<ModerationRecord, CompactError> {
        Ok(ModerationRecord {
            input: self.opt(Self::side)?,
            output: self.opt(Self::side)?,
            upload: self.opt(Self::upload)?,
        })
    }

    fn side(&mut self) -> Result<SideRecord, CompactError> {
        let flagged = self.bool()?;
        let count = self.count()?;
        let mut categories = Vec::with_capacity(count);
        for _ in 0..count {
            categories.push(self.category()?);
        }
        Ok(SideRecord {
            flagged,
            categories,
            max_score: self.f32()?,
            action: self.opt_string()?,
        })
    }

    fn upload(&mut self) -> Result<UploadRecord, CompactError> {
        let lines = self.varint()?;
        let flagged_lines = self.varint()?;
        let count = self.count()?;
        let mut categories = std::collections::BTreeMap::new();
        for _ in 0..count {
            let category = self.category()?;
            categories.insert(category, self.varint()?);
        }
        Ok(UploadRecord {
            lines,
            flagged_lines,
            categories,
            rejected: self.bool()?,
            skipped: self.bool()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn envelope_of(event: &Event) -> Envelope {
        Envelope {
            id: event.id.clone(),
            ts: event.ts,
            tenant: event.tenant.clone(),
            account: event.account.clone(),
            key: event.key.clone(),
        }
    }

    /// Encodes, decodes and checks that the event and its JSON line came back exactly.
    fn round_trip(event: &Event) -> Vec<u8> {
        let mut body = Vec::new();
        assert!(encode(event, &mut body), "{event:?}");
        let back = decode(envelope_of(event), &body).unwrap();
        assert_eq!(&back, event);
        assert_eq!(back.to_json(), event.to_json());
        body
    }

    fn request(event: &mut Event) -> &mut ApiRequest {
        match &mut event.body {
            EventBody::ApiRequest(request) => request,
            _ => unreachable!(),
        }
    }

    fn minimal() -> Event {
        Event {
            v: bulwark_core::SCHEMA_VERSION,
            id: EventId::generate(),
            ts: Timestamp::from_unix_millis(1_764_460_800_123).unwrap(),
            tenant: None,
            account: None,
            key: None,
            body: EventBody::ApiRequest(ApiRequest {
                client: Client::default(),
                endpoint: "other".to_owned(),
                model: None,
                stream: false,
                status: 401,
                decision: Decision::Unauthenticated,
                latency_ms: 0.25,
                upstream_ms: None,
                usage: None,
                input: None,
                output: None,
                method: None,
                path: None,
                upstream: None,
                error: None,
                moderation: None,
            }),
        }
    }

    fn full() -> Event {
        let mut event = minimal();
        event.tenant = Some(TenantId::generate());
        event.account = Some(AccountId::generate());
        event.key = Some(KeyId::generate());
        *request(&mut event) = ApiRequest {
            client: Client {
                ip: Some("2001:db8::7".parse().unwrap()),
                user_agent: Some("openai-python/1.51.0 \u{1F600}".to_owned()),
                country: Some("NL".to_owned()),
                asn: Some(64_496),
            },
            endpoint: "chat.completions".to_owned(),
            model: Some("gpt-4o-mini".to_owned()),
            stream: true,
            status: 200,
            decision: Decision::Allowed,
            latency_ms: 412.7,
            upstream_ms: Some(410.2),
            usage: Some(Usage {
                prompt_tokens: 120,
                completion_tokens: u64::MAX,
                estimated: true,
            }),
            input: Some(TextDigest::of("Write a phishing mail", true)),
            output: Some(TextDigest::of("I can't help with that.", false)),
            method: Some("POST".to_owned()),
            path: Some("/v1/chat/completions".to_owned()),
            upstream: Some("openai".to_owned()),
            error: Some("content_filter".to_owned()),
            moderation: Some(ModerationRecord {
                input: Some(SideRecord {
                    flagged: true,
                    categories: vec![Category::Phishing, Category::Jailbreak],
                    max_score: 0.913,
                    action: Some("block".to_owned()),
                }),
                output: Some(SideRecord::default()),
                upload: Some(UploadRecord {
                    lines: 10,
                    flagged_lines: 2,
                    categories: BTreeMap::from([(Category::Malware, 2)]),
                    rejected: true,
                    skipped: false,
                }),
            }),
        };
        event
    }

    #[test]
    fn every_field_comes_back() {
        round_trip(&minimal());
        let body = round_trip(&full());
        let json = full().to_json();
        assert!(
            body.len() * 2 < json.len(),
            "{} bytes against {}",
            body.len(),
            json.len()
        );
    }

    #[test]
    fn digests_that_are_not_lowercase_hex_are_kept_as_written() {
        for sha256 in [
            "CF58FA9206F1F98D02FBAF37BE41450F31BF2E7BFD0AC50024A79E1DA6629CA4",
            "cf58",
            "",
            "zz58fa9206f1f98d02fbaf37be41450f31bf2e7bfd0ac50024a79e1da6629ca4",
        ] {
            let mut event = minimal();
            request(&mut event).input = Some(TextDigest {
                chars: 3,
                sha256: sha256.to_owned(),
                text: None,
            });
            round_trip(&event);
        }
    }

    #[test]
    fn what_the_row_cannot_hold_exactly_keeps_its_json() {
        let mut event = minimal();
        event.ts = Timestamp::from(event.ts.as_datetime() + chrono::Duration::microseconds(456));
        let mut body = Vec::new();
        assert!(!encode(&event, &mut body));
        assert!(body.is_empty());

        let mut signals = serde_json::Map::new();
        signals.insert("device".to_owned(), "d1".into());
        let mut event = minimal();
        event.body = EventBody::AccountCreated(bulwark_core::AccountCreated {
            verification: bulwark_core::Verification::None,
            client: Client::default(),
            signals,
        });
        assert!(!encode(&event, &mut body));
        assert!(body.is_empty());
    }

    #[test]
    fn damaged_bodies_are_errors_not_panics() {
        let body = round_trip(&full());
        for len in 0..body.len() {
            assert!(
                decode(envelope_of(&full()), body.get(..len).unwrap()).is_err(),
                "truncated at {len}"
            );
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(decode(envelope_of(&full()), &longer).is_err());
        let mut newer = body;
        newer[0] = FORMAT + 1;
        let err = decode(envelope_of(&full()), &newer).unwrap_err();
        assert!(err.to_string().contains("newer build"), "{err}");
        // A varint of eleven bytes, and a string longer than the body.
        assert!(
            decode(
                envelope_of(&full()),
                &[
                    FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
                ]
            )
            .is_err()
        );
        assert!(decode(envelope_of(&full()), &[FORMAT, 1, 0, 0xff, 0x7f]).is_err());
    }

    #[test]
    fn decisions_keep_their_codes() {
        for (code, decision) in Decision::ALL.iter().enumerate() {
            assert_eq!(usize::from(decision_code(*decision)), code);
            assert_eq!(decision_from(decision_code(*decision)).unwrap(), *decision);
        }
        assert!(decision_from(200).is_err());
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(any::<String>())
    }

    fn digest() -> impl Strategy<Value = Option<TextDigest>> {
        proptest::option::of(
            (any::<String>(), any::<bool>(), any::<u64>(), any::<bool>()).prop_map(
                |(text, capture, chars, hex)| {
                    let mut digest = TextDigest::of(&text, capture);
                    digest.chars = chars;
                    if !hex {
                        digest.sha256 = text;
                    }
                    digest
                },
            ),
        )
    }

    fn side() -> impl Strategy<Value = Option<SideRecord>> {
        proptest::option::of(
            (
                any::<bool>(),
                proptest::sample::subsequence(Category::ALL.to_vec(), 0..=Category::ALL.len()),
                any::<f32>(),
                opt_text(),
            )
                .prop_map(|(flagged, categories, max_score, action)| SideRecord {
                    flagged,
                    categories,
                    max_score,
                    action,
                }),
        )
    }

    fn moderation() -> impl Strategy<Value = Option<ModerationRecord>> {
        let upload = proptest::option::of(
            (
                any::<u64>(),
                any::<u64>(),
                proptest::collection::btree_map(
                    proptest::sample::select(Category::ALL.to_vec()),
                    any::<u64>(),
                    0..4,
                ),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(lines, flagged_lines, categories, rejected, skipped)| {
                    UploadRecord {
                        lines,
                        flagged_lines,
                        categories,
                        rejected,
                        skipped,
                    }
                }),
        );
        proptest::option::of(
            (side(), side(), upload).prop_map(|(input, output, upload)| ModerationRecord {
                input,
                output,
                upload,
            }),
        )
    }

    fn event() -> impl Strategy<Value = Event> {
        let client = (
            proptest::option::of(any::<IpAddr>()),
            opt_text(),
            opt_text(),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(ip, user_agent, country, asn)| Client {
                ip,
                user_agent,
                country,
                asn,
            });
        let head = (
            client,
            any::<String>(),
            opt_text(),
            any::<bool>(),
            any::<u16>(),
            proptest::sample::select(Decision::ALL.to_vec()),
            any::<f64>(),
            proptest::option::of(any::<f64>()),
            proptest::option::of((any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
                |(p, c, estimated)| Usage {
                    prompt_tokens: p,
                    completion_tokens: c,
                    estimated,
                },
            )),
        );
        let tail = (
            digest(),
            digest(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            moderation(),
            any::<u32>(),
            0_i64..4_102_444_800_000,
        );
        (head, tail).prop_map(
            |(
                (client, endpoint, model, stream, status, decision, latency_ms, upstream_ms, usage),
                (input, output, method, path, upstream, error, moderation, v, ts_ms),
            )| {
                let mut event = minimal();
                event.v = v;
                event.ts = Timestamp::from_unix_millis(ts_ms).unwrap();
                *request(&mut event) = ApiRequest {
                    client,
                    endpoint,
                    model,
                    stream,
                    status,
                    decision,
                    latency_ms,
                    upstream_ms,
                    usage,
                    input,
                    output,
                    method,
                    path,
                    upstream,
                    error,
                    moderation,
                };
                event
            },
        )
    }

    /// Field by field, floats by their bits: `PartialEq` would call a NaN different from
    /// itself, while the body must give back the very same bits (and so the same line).
    fn same(a: &Event, b: &Event) -> bool {
        format!("{a:?}") == format!("{b:?}") && a.to_json() == b.to_json() && {
            let (EventBody::ApiRequest(x), EventBody::ApiRequest(y)) = (&a.body, &b.body) else {
                return false;
            };
            x.latency_ms.to_bits() == y.latency_ms.to_bits()
                && x.upstream_ms.map(f64::to_bits) == y.upstream_ms.map(f64::to_bits)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_request_comes_back_exactly(event in event()) {
            let mut body = Vec::new();
            prop_assert!(encode(&event, &mut body));
            let back = decode(envelope_of(&event), &body).unwrap();
            prop_assert!(same(&back, &event), "{back:?}\n{event:?}");
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut body = vec![FORMAT];
            body.extend(bytes);
            let _ = decode(envelope_of(&minimal()), &body);
        }
    }
}
