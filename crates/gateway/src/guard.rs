//! Moderation of streamed answers with a bounded leak.
//!
//! Each choice of a stream has its own incremental scan ([`StreamScan`]: per-stream state,
//! no re-scan of the transcript). Events are held back, whole and unchanged, until every
//! piece of text they carry has been checked **and** at least `stream_window` characters
//! of that choice have arrived after it; then they are released in order. When a check
//! says `block`, the held events are dropped, a final chunk with
//! `finish_reason: "content_filter"` (Responses API: a `response.incomplete` event) and
//! `[DONE]` are sent, and the upstream is no longer read. So the client sees at most the
//! text that was checked before the violation was recognised, minus the window; the
//! added time to first token is the time the model takes to write `stream_window`
//! characters.

use std::{collections::VecDeque, sync::Arc};

use bulwark_config::{Action, FailMode, Policy};
use bulwark_core::SideRecord;
use bulwark_moderation::{Side, StreamScan};
use bytes::{Bytes, BytesMut};

use crate::{
    endpoint::Endpoint,
    moderate::{Moderation, ScanFailure, blocked_categories, decide, merge_record, skipped_record},
    wire::ResponseView,
};

/// Where one event's text ends, per choice it carries.
#[derive(Debug, Clone, Copy)]
struct End {
    /// Position in [`OutputGuard::choices`].
    choice: usize,
    /// Characters of that choice received up to the end of this event.
    chars: u64,
    /// Bytes of that choice received up to the end of this event.
    bytes: usize,
}

/// The text an event carries: nearly always one choice, so no allocation for that.
#[derive(Debug, Default)]
pub(crate) struct Ends {
    first: Option<End>,
    more: Vec<End>,
}

impl Ends {
    fn push(&mut self, end: End) {
        // A later piece of the same choice in the same event supersedes the earlier one.
        if let Some(first) = &mut self.first {
            if first.choice == end.choice {
                *first = end;
                return;
            }
            if let Some(e) = self.more.iter_mut().find(|e| e.choice == end.choice) {
                *e = end;
                return;
            }
            self.more.push(end);
        } else {
            self.first = Some(end);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &End> {
        self.first.iter().chain(&self.more)
    }
}

#[derive(Debug)]
struct ChoiceScan {
    index: u64,
    scan: StreamScan,
    chars: u64,
    /// Finished and checked to the end: all its text may go.
    done: bool,
}

#[derive(Debug)]
struct Held {
    bytes: Bytes,
    ends: Ends,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Checking and holding back.
    Checking,
    /// A check failed and `fail_mode = "open"`: everything passes from now on.
    Unchecked,
    /// Cut: the ending has been produced; nothing more goes out.
    Ended,
}

/// What the stream said about itself, for the final chunk.
#[derive(Debug, Default)]
struct Meta {
    id: Option<String>,
    model: Option<String>,
    created: Option<serde_json::Number>,
    fingerprint: Option<String>,
}

/// The output side of one streamed answer.
#[derive(Debug)]
pub(crate) struct OutputGuard {
    moderation: Arc<Moderation>,
    policy: Policy,
    fail_mode: FailMode,
    endpoint: Endpoint,
    window: u64,
    choices: Vec<ChoiceScan>,
    held: VecDeque<Held>,
    meta: Meta,
    state: State,
    /// The bytes that end a cut stream, until they are sent.
    ending: Option<Bytes>,
    /// What the event records about the output.
    pub(crate) record: Option<SideRecord>,
    /// Whether the answer was cut by a block.
    pub(crate) blocked: bool,
}

impl OutputGuard {
    pub(crate) fn new(
        moderation: Arc<Moderation>,
        policy: Policy,
        fail_mode: FailMode,
        endpoint: Endpoint,
    ) -> Self {
        let window = moderation.window() as u64;
        Self {
            moderation,
            policy,
            fail_mode,
            endpoint,
            window,
            choices: Vec::new(),
            held: VecDeque::new(),
            meta: Meta::default(),
            state: State::Checking,
            ending: None,
            record: None,
            blocked: false,
        }
    }

    /// Whether the stream has been cut: the caller sends [`OutputGuard::take_ending`]
    /// and stops reading the upstream.
    pub(crate) fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// The bytes that end a cut stream (once).
    pub(crate) fn take_ending(&mut self) -> Option<Bytes> {
        self.ending.take()
    }

    /// Reads one event: its text goes to its choice's scan; a finished choice is checked
    /// to its end. Returns where the event's text ends, for [`OutputGuard::hold`].
    pub(crate) fn see(&mut self, view: &ResponseView<'_>) -> Ends {
        let mut ends = Ends::default();
        if self.state != State::Checking {
            return ends;
        }
        if self.meta.id.is_none() {
            self.learn_meta(view);
        }
        match self.endpoint {
            Endpoint::ChatCompletions | Endpoint::Completions => {
                for choice in view.choices.iter().flatten() {
                    let index = choice.index.unwrap_or(0);
                    let message = choice.message.as_ref().or(choice.delta.as_ref());
                    let texts = message
                        .and_then(|m| m.content.as_ref())
                        .into_iter()
                        .chain(choice.text.as_ref());
                    for texts in texts {
                        for piece in &texts.0 {
                            if let Some(end) = self.push(index, piece) {
                                ends.push(end);
                            }
                        }
                    }
                    if choice.finish_reason.is_some() {
                        self.finish_choice(index);
                    }
                }
            }
            Endpoint::Responses => {
                if view.kind.as_deref() == Some("response.output_text.delta")
                    && let Some(delta) = &view.delta
                {
                    for piece in &delta.0 {
                        if let Some(end) = self.push(0, piece) {
                            ends.push(end);
                        }
                    }
                }
                if matches!(
                    view.kind.as_deref(),
                    Some("response.completed" | "response.incomplete" | "response.failed")
                ) {
                    self.finish_all();
                }
            }
            _ => {}
        }
        ends
    }

    /// The stream's end (`[DONE]`, or the upstream's end of body): everything left is
    /// checked.
    pub(crate) fn finish_all(&mut self) {
        let indexes: Vec<u64> = self
            .choices
            .iter()
            .filter(|c| !c.done)
            .map(|c| c.index)
            .collect();
        for index in indexes {
            self.finish_choice(index);
        }
    }

    /// Queues an event to forward and appends to `out` every held event that may go now.
    pub(crate) fn hold(&mut self, event: Bytes, ends: Ends, out: &mut BytesMut) {
        match self.state {
            State::Ended => {}
            State::Unchecked => {
                self.release_all(out);
                out.extend_from_slice(&event);
            }
            State::Checking => {
                self.held.push_back(Held { bytes: event, ends });
                self.release(out);
            }
        }
    }

    /// The upstream ended: checks the rest and releases what may go.
    pub(crate) fn end_of_stream(&mut self, out: &mut BytesMut) {
        if self.state == State::Checking {
            self.finish_all();
        }
        match self.state {
            State::Ended => {}
            State::Unchecked | State::Checking => self.release_all(out),
        }
    }

    fn release(&mut self, out: &mut BytesMut) {
        while let Some(front) = self.held.front() {
            let ready = front.ends.iter().all(|end| {
                self.choices.get(end.choice).is_none_or(|c| {
                    c.done
                        || (end.bytes <= c.scan.checked()
                            && end.chars.saturating_add(self.window) <= c.chars)
                })
            });
            if !ready {
                break;
            }
            if let Some(held) = self.held.pop_front() {
                out.extend_from_slice(&held.bytes);
            }
        }
    }

    fn release_all(&mut self, out: &mut BytesMut) {
        for held in self.held.drain(..) {
            out.extend_from_slice(&held.bytes);
        }
    }

    fn choice(&mut self, index: u64) -> usize {
        if let Some(at) = self.choices.iter().position(|c| c.index == index) {
            return at;
        }
        self.choices.push(ChoiceScan {
            index,
            scan: self.moderation.scanner.stream(Side::Output),
            chars: 0,
            done: false,
        });
        self.choices.len() - 1
    }

    fn push(&mut self, index: u64, piece: &str) -> Option<End> {
        if piece.is_empty() || self.state != State::Checking {
            return None;
        }
        let at = self.choice(index);
        let choice = self.choices.get_mut(at)?;
        choice.chars += piece.chars().count() as u64;
        let result = self.moderation.push_stream(&mut choice.scan, piece);
        let end = End {
            choice: at,
            chars: choice.chars,
            bytes: choice.scan.received(),
        };
        self.judge(at, result);
        Some(end)
    }

    fn finish_choice(&mut self, index: u64) {
        if self.state != State::Checking {
            return;
        }
        let at = self.choice(index);
        let Some(choice) = self.choices.get_mut(at) else {
            return;
        };
        if choice.done {
            return;
        }
        let result = self.moderation.finish_stream(&mut choice.scan);
        choice.done = true;
        self.judge(at, result);
    }

    /// Something in the stream cannot be checked (an event too long to hold):
    /// `fail_mode` decides, as for a failed scan.
    pub(crate) fn cannot_check(&mut self) {
        if self.state == State::Checking {
            self.fail();
        }
    }

    fn fail(&mut self) {
        self.record = Some(skipped_record());
        match self.fail_mode {
            FailMode::Open => self.state = State::Unchecked,
            FailMode::Closed => self.end(Ending::Unavailable),
        }
    }

    /// Applies the policy to a choice's latest verdict.
    fn judge(&mut self, at: usize, result: Result<(), ScanFailure>) {
        if result.is_err() {
            self.fail();
            return;
        }
        let Some(verdict) = self.choices.get(at).map(|c| c.scan.verdict()) else {
            return;
        };
        let action = decide(verdict, &self.policy, Side::Output);
        merge_record(&mut self.record, verdict, action);
        if action == Action::Block {
            let blocked = blocked_categories(verdict, &self.policy, Side::Output);
            self.moderation.count_side_block(Side::Output, &blocked);
            self.blocked = true;
            self.end(Ending::ContentFilter);
        }
    }

    fn end(&mut self, why: Ending) {
        self.held.clear();
        self.state = State::Ended;
        self.ending = Some(self.ending_bytes(why));
    }

    fn learn_meta(&mut self, view: &ResponseView<'_>) {
        if let Some(id) = &view.id {
            self.meta = Meta {
                id: Some(id.clone().into_owned()),
                model: view.model.as_ref().map(|m| m.clone().into_owned()),
                created: view.created.clone(),
                fingerprint: view
                    .system_fingerprint
                    .as_ref()
                    .map(|f| f.clone().into_owned()),
            };
        } else if let Some(response) = &view.response
            && let Some(id) = &response.id
        {
            self.meta = Meta {
                id: Some(id.clone().into_owned()),
                model: response.model.as_ref().map(|m| m.clone().into_owned()),
                created: response.created_at.clone(),
                fingerprint: None,
            };
        }
    }

    /// The final event(s) of a cut stream, in the endpoint's own shape.
    fn ending_bytes(&self, why: Ending) -> Bytes {
        let mut out = BytesMut::new();
        let mut data = |value: serde_json::Value, event: Option<&str>| {
            if let Some(event) = event {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(event.as_bytes());
                out.extend_from_slice(b"\n");
            }
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(value.to_string().as_bytes());
            out.extend_from_slice(b"\n\n");
        };
        let meta = &self.meta;
        match (why, self.endpoint) {
            (Ending::Unavailable, Endpoint::Responses) => data(
                serde_json::json!({
                    "type": "error",
                    "code": "moderation_unavailable",
                    "message": UNAVAILABLE,
                    "param": null,
                }),
                Some("error"),
            ),
            (Ending::Unavailable, _) => data(
                serde_json::json!({"error": {
                    "message": UNAVAILABLE,
                    "type": "server_error",
                    "param": null,
                    "code": "moderation_unavailable",
                }}),
                None,
            ),
            (Ending::ContentFilter, Endpoint::Responses) => data(
                serde_json::json!({
                    "type": "response.incomplete",
                    "response": {
                        "id": meta.id,
                        "object": "response",
                        "created_at": meta.created,
                        "model": meta.model,
                        "status": "incomplete",
                        "incomplete_details": {"reason": "content_filter"},
                        "output": [],
                    },
                }),
                Some("response.incomplete"),
            ),
            (Ending::ContentFilter, endpoint) => {
                // Held events were dropped, finish chunks among them: every choice ends here.
                let mut open: Vec<u64> = self.choices.iter().map(|c| c.index).collect();
                if open.is_empty() {
                    open.push(0);
                }
                for index in open {
                    let choice = if endpoint == Endpoint::Completions {
                        serde_json::json!({"text": "", "index": index, "logprobs": null, "finish_reason": "content_filter"})
                    } else {
                        serde_json::json!({"index": index, "delta": {}, "logprobs": null, "finish_reason": "content_filter"})
                    };
                    let object = if endpoint == Endpoint::Completions {
                        "text_completion"
                    } else {
                        "chat.completion.chunk"
                    };
                    let mut chunk = serde_json::json!({
                        "id": meta.id,
                        "object": object,
                        "created": meta.created,
                        "model": meta.model,
                        "choices": [choice],
                    });
                    if let (Some(fp), Some(obj)) = (&meta.fingerprint, chunk.as_object_mut()) {
                        obj.insert("system_fingerprint".to_owned(), fp.clone().into());
                    }
                    data(chunk, None);
                }
            }
        }
        if self.endpoint != Endpoint::Responses {
            out.extend_from_slice(b"data: [DONE]\n\n");
        }
        out.freeze()
    }
}

const UNAVAILABLE: &str = "Content moderation could not check this answer, and this API key's policy refuses unchecked answers. Please retry.";

#[derive(Debug, Clone, Copy)]
enum Ending {
    ContentFilter,
    Unavailable,
}

#[cfg(test)]
mod tests {
    use bulwark_config::{Config, RawConfig};
    use bulwark_moderation::RulePack;

    use super::*;
    use crate::{metrics::Metrics, observe::SseRelay};

    fn moderation(window: usize, fail_mode: &str, timeout: &str) -> Arc<Moderation> {
        let raw: RawConfig = toml::from_str(&format!(
            "version = 1\n[moderation]\nfail_mode = \"{fail_mode}\"\nstream_window = {window}\nscan_timeout = \"{timeout}\""
        ))
        .unwrap();
        let config = Config::from_raw(&raw, &|_| None).unwrap();
        let rules = RulePack::from_toml(
            "version = 1\n[[rule]]\nid = \"T\"\ncategory = \"cyber/phishing\"\ntitle = \"t\"\nscore = 1.0\npattern = \"your password\"\n",
        )
        .unwrap();
        let scanner = crate::moderate::test_scanner(rules);
        Arc::new(Moderation::new(
            &config.moderation,
            scanner,
            Metrics::new().moderation.clone(),
        ))
    }

    fn relay(moderation: Arc<Moderation>) -> SseRelay {
        let guard = OutputGuard::new(
            moderation,
            Policy::BLOCK_ALL,
            FailMode::Closed,
            Endpoint::ChatCompletions,
        );
        SseRelay::new(Endpoint::ChatCompletions, false, false).with_guard(guard)
    }

    fn chunk(content: &str) -> String {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}]}}\n\n"
        )
    }

    fn finish() -> String {
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".to_owned()
    }

    fn contents(out: &[u8]) -> String {
        let text = std::str::from_utf8(out).unwrap();
        text.split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn text_is_released_only_once_checked_and_a_window_behind() {
        let mut relay = relay(moderation(10, "closed", "10s"));
        let words = [
            "Hello", " there,", " my", " friend.", " How", " are", " you?",
        ];
        let mut seen = String::new();
        let mut sent = String::new();
        for word in words {
            sent.push_str(word);
            let out = relay.push(chunk(word).as_bytes());
            seen.push_str(&contents(&out));
            assert!(sent.starts_with(&seen));
            assert!(
                seen.chars().count() <= sent.chars().count().saturating_sub(10),
                "released {seen:?} of {sent:?}"
            );
        }
        assert!(!seen.is_empty(), "text flows once the window is full");
        let mut out = relay.push(finish().as_bytes()).to_vec();
        out.extend_from_slice(&relay.push(b"data: [DONE]\n\n"));
        seen.push_str(&contents(&out));
        assert_eq!(seen, sent, "everything is released at the end");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"finish_reason\":\"stop\""));
        assert!(text.ends_with("data: [DONE]\n\n"));
        let guard = relay.guard.unwrap();
        assert!(!guard.blocked);
        assert_eq!(guard.record.unwrap().action.as_deref(), Some("allow"));
    }

    #[test]
    fn a_violation_drops_what_is_held_and_ends_the_stream() {
        let mut relay = relay(moderation(16, "closed", "10s"));
        let mut seen = String::new();
        for word in [
            "Please",
            " send",
            " us",
            " your",
            " password",
            " now",
            " thanks",
        ] {
            seen.push_str(&contents(&relay.push(chunk(word).as_bytes())));
            if relay.is_cut() {
                break;
            }
        }
        assert!(relay.is_cut());
        assert!(!seen.contains("password"), "{seen:?}");
        assert!(relay.push(chunk(" more").as_bytes()).is_empty());
        let guard = relay.guard.as_ref().unwrap();
        assert!(guard.blocked);
    }

    #[test]
    fn the_cut_ends_with_a_content_filter_chunk_and_done() {
        let mut relay = relay(moderation(0, "closed", "10s"));
        // "then" is checked once the next piece shows the word ended.
        let mut out = relay
            .push(format!("{}{}", chunk("ok then"), chunk(" fine")).as_bytes())
            .to_vec();
        out.extend_from_slice(&relay.push(chunk(" your password please").as_bytes()));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"content\":\"ok then\""), "{text}");
        assert!(!text.contains("password"), "{text}");
        assert!(
            text.contains("\"finish_reason\":\"content_filter\""),
            "{text}"
        );
        assert!(
            text.contains("\"id\":\"c1\"") && text.contains("\"model\":\"m\""),
            "{text}"
        );
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    }

    #[test]
    fn a_failed_check_fails_closed_or_open() {
        let mut closed = relay(moderation(0, "closed", "0s"));
        let text =
            String::from_utf8(closed.push(chunk("hello there").as_bytes()).to_vec()).unwrap();
        assert!(
            text.contains("moderation_unavailable") && !text.contains("hello"),
            "{text}"
        );
        assert!(closed.is_cut());

        let m = moderation(0, "open", "0s");
        let guard = OutputGuard::new(
            m,
            Policy::BLOCK_ALL,
            FailMode::Open,
            Endpoint::ChatCompletions,
        );
        let mut open = SseRelay::new(Endpoint::ChatCompletions, false, false).with_guard(guard);
        let out =
            open.push(format!("{}{}", chunk("hello there"), chunk(" your password")).as_bytes());
        assert_eq!(contents(&out), "hello there your password");
        assert_eq!(
            open.guard.unwrap().record.unwrap().action.as_deref(),
            Some("skipped")
        );
    }
}
