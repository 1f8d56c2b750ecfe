//! Reading what the model said: completion text and token usage, from whole JSON
//! responses and, incrementally, from server-sent-event streams relayed chunk by chunk.

use bulwark_core::{TextDigest, Usage};
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::{
    endpoint::Endpoint,
    guard::{Ends, OutputGuard},
    wire::{ResponseView, Texts, UsageView},
};

/// Digests text that arrives in pieces: SHA-256 and character count incrementally, the
/// text itself only when the operator captures text.
#[derive(Debug)]
pub(crate) struct TextAccumulator {
    hasher: Sha256,
    chars: u64,
    text: Option<String>,
    any: bool,
}

impl TextAccumulator {
    pub(crate) fn new(capture: bool) -> Self {
        Self {
            hasher: Sha256::new(),
            chars: 0,
            text: capture.then(String::new),
            any: false,
        }
    }

    pub(crate) fn push(&mut self, piece: &str) {
        self.any = true;
        self.hasher.update(piece.as_bytes());
        self.chars += piece.chars().count() as u64;
        if let Some(text) = &mut self.text {
            text.push_str(piece);
        }
    }

    /// The digest, or `None` when no text was seen at all.
    pub(crate) fn finish(self) -> Option<TextDigest> {
        self.any.then(|| TextDigest {
            chars: self.chars,
            sha256: bulwark_core::hex_lower(&self.hasher.finalize()),
            text: self.text,
        })
    }
}

/// Output text and usage of a whole (non-streamed) JSON response.
pub(crate) fn observe_json(
    endpoint: Endpoint,
    body: &[u8],
    out: &mut TextAccumulator,
) -> Option<Usage> {
    let view = ResponseView::parse(body).ok()?;
    observe_view(endpoint, &view, out)
}

/// What a response or stream chunk says: its text goes to `out`, its usage is returned.
pub(crate) fn observe_view(
    endpoint: Endpoint,
    view: &ResponseView<'_>,
    out: &mut TextAccumulator,
) -> Option<Usage> {
    let push = |texts: &Texts<'_>, out: &mut TextAccumulator| {
        for piece in &texts.0 {
            out.push(piece);
        }
    };
    match endpoint {
        Endpoint::ChatCompletions | Endpoint::Completions => {
            for choice in view.choices.iter().flatten() {
                let message = choice.message.as_ref().or(choice.delta.as_ref());
                if let Some(content) = message.and_then(|m| m.content.as_ref()) {
                    push(content, out);
                }
                if let Some(text) = &choice.text {
                    push(text, out);
                }
            }
        }
        Endpoint::Responses => {
            for item in view.output.iter().flatten() {
                for part in item.content.iter().flatten() {
                    if part.kind.as_deref() == Some("output_text")
                        && let Some(text) = &part.text
                    {
                        out.push(text);
                    }
                }
            }
            match view.kind.as_deref() {
                Some("response.output_text.delta") => {
                    if let Some(delta) = &view.delta {
                        push(delta, out);
                    }
                }
                Some("response.completed" | "response.incomplete" | "response.failed") => {
                    return view
                        .response
                        .as_ref()
                        .and_then(|r| r.usage.as_ref())
                        .and_then(UsageView::usage);
                }
                _ => {}
            }
        }
        _ => {}
    }
    view.usage.as_ref().and_then(UsageView::usage)
}

/// Longest event the relay holds back while waiting for its end; a longer one is passed
/// through uninspected rather than buffered without bound.
const MAX_EVENT: usize = 1 << 20;

/// Relays a server-sent-event stream event by event: complete events are forwarded as
/// soon as they are complete (so chunks are never held longer than it takes their event
/// to finish), their content is observed, and the usage-only chunk that the gateway itself
/// asked for is removed again.
#[derive(Debug)]
pub(crate) struct SseRelay {
    endpoint: Endpoint,
    pending: BytesMut,
    /// How far `pending` has been searched for an event boundary.
    scanned: usize,
    strip_usage_chunk: bool,
    pub(crate) output: TextAccumulator,
    pub(crate) usage: Option<Usage>,
    /// Output moderation: holds events back until their text is checked.
    pub(crate) guard: Option<Box<OutputGuard>>,
}

impl SseRelay {
    pub(crate) fn new(endpoint: Endpoint, strip_usage_chunk: bool, capture: bool) -> Self {
        Self {
            endpoint,
            pending: BytesMut::new(),
            scanned: 0,
            strip_usage_chunk,
            output: TextAccumulator::new(capture),
            usage: None,
            guard: None,
        }
    }

    /// The same relay, moderating the answer.
    pub(crate) fn with_guard(mut self, guard: OutputGuard) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// Whether moderation cut the stream: nothing more is read from the upstream.
    pub(crate) fn is_cut(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.is_ended())
    }

    /// Takes a chunk from the upstream; returns what to send to the client now (possibly
    /// empty).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Bytes {
        if self.is_cut() {
            return Bytes::new();
        }
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        while let Some(end) = self.next_boundary() {
            let event = self.pending.split_to(end).freeze();
            self.scanned = 0;
            let (forward, ends) = self.observe_event(&event);
            if self.forward(event, forward, ends, &mut out) {
                return out.freeze();
            }
        }
        if self.pending.len() > MAX_EVENT {
            let event = self.pending.split().freeze();
            self.scanned = 0;
            match &mut self.guard {
                // Too long to hold: it cannot be checked, so fail_mode decides.
                Some(guard) => {
                    guard.cannot_check();
                    if let Some(ending) = guard.take_ending() {
                        out.extend_from_slice(&ending);
                        self.pending.clear();
                    } else {
                        guard.hold(event, Ends::default(), &mut out);
                    }
                }
                None => out.extend_from_slice(&event),
            }
        }
        out.freeze()
    }

    /// Sends (or holds) one event; returns whether moderation cut the stream here.
    fn forward(&mut self, event: Bytes, forward: bool, ends: Ends, out: &mut BytesMut) -> bool {
        match &mut self.guard {
            None => {
                if forward && self.strip_usage_chunk {
                    push_without_null_usage(out, &event);
                } else if forward {
                    out.extend_from_slice(&event);
                }
                false
            }
            Some(guard) => {
                if let Some(ending) = guard.take_ending() {
                    out.extend_from_slice(&ending);
                    self.pending.clear();
                    return true;
                }
                if forward {
                    let event = if self.strip_usage_chunk {
                        without_null_usage(event)
                    } else {
                        event
                    };
                    guard.hold(event, ends, out);
                }
                false
            }
        }
    }

    /// The end of the stream: whatever is left, observed if it is a complete event; with
    /// moderation, the rest of the text checked and the held events released.
    pub(crate) fn finish(&mut self) -> Bytes {
        if self.is_cut() {
            return Bytes::new();
        }
        let rest = self.pending.split().freeze();
        self.scanned = 0;
        let mut out = BytesMut::new();
        if !rest.is_empty() {
            let (forward, ends) = self.observe_event(&rest);
            if self.forward(rest, forward, ends, &mut out) {
                return out.freeze();
            }
        }
        if let Some(guard) = &mut self.guard {
            guard.end_of_stream(&mut out);
            if let Some(ending) = guard.take_ending() {
                out.extend_from_slice(&ending);
            }
        }
        out.freeze()
    }

    /// Index just past the next blank line (`\n\n` or `\r\n\r\n`), if any.
    fn next_boundary(&mut self) -> Option<usize> {
        let buf = &self.pending[..];
        let start = self.scanned.saturating_sub(3);
        let mut i = start;
        while i + 1 < buf.len() {
            if buf.get(i) == Some(&b'\n') {
                if buf.get(i + 1) == Some(&b'\n') {
                    return Some(i + 2);
                }
                if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                    return Some(i + 3);
                }
            }
            i += 1;
        }
        self.scanned = buf.len();
        None
    }

    /// Reads one event's data; returns whether to forward it, and where the text it
    /// carries ends (for moderation).
    fn observe_event(&mut self, event: &[u8]) -> (bool, Ends) {
        let Ok(text) = std::str::from_utf8(event) else {
            return (true, Ends::default());
        };
        let mut data = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            }
        }
        if data.is_empty() {
            return (true, Ends::default());
        }
        if data == "[DONE]" {
            if let Some(guard) = &mut self.guard {
                guard.finish_all();
            }
            return (true, Ends::default());
        }
        let Ok(view) = serde_json::from_str::<ResponseView<'_>>(&data) else {
            return (true, Ends::default());
        };
        let ends = match &mut self.guard {
            Some(guard) => guard.see(&view),
            None => Ends::default(),
        };
        if let Some(usage) = observe_view(self.endpoint, &view, &mut self.output) {
            self.usage = Some(usage);
            let usage_only = view
                .choices
                .as_ref()
                .is_some_and(|choices| choices.is_empty());
            if usage_only && self.strip_usage_chunk {
                return (false, ends);
            }
        }
        (true, ends)
    }
}

/// With `include_usage`, every chunk carries `"usage":null`; a client that did not ask
/// for usage should not see that either.
fn without_null_usage(event: Bytes) -> Bytes {
    if !event.windows(NULL_USAGE.len()).any(|w| w == NULL_USAGE) {
        return event;
    }
    let mut out = BytesMut::with_capacity(event.len());
    push_without_null_usage(&mut out, &event);
    out.freeze()
}

const NULL_USAGE: &[u8] = br#","usage":null"#;

fn push_without_null_usage(out: &mut BytesMut, event: &[u8]) {
    let mut rest = event;
    while let Some(at) = rest.windows(NULL_USAGE.len()).position(|w| w == NULL_USAGE) {
        let (head, tail) = rest.split_at(at);
        out.extend_from_slice(head);
        rest = tail.get(NULL_USAGE.len()..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(content: &str) -> String {
        format!(
            "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n"
        )
    }

    #[test]
    fn relays_events_as_they_complete_even_when_split() {
        let mut relay = SseRelay::new(Endpoint::ChatCompletions, false, true);
        let whole = format!("{}{}data: [DONE]\n\n", chunk("Hel"), chunk("lo"));
        let (a, b) = whole.split_at(10);
        let first = relay.push(a.as_bytes());
        assert!(first.is_empty(), "an incomplete event is held");
        let mut out = first.to_vec();
        out.extend_from_slice(&relay.push(b.as_bytes()));
        out.extend_from_slice(&relay.finish());
        assert_eq!(String::from_utf8(out).unwrap(), whole);
        let digest = std::mem::replace(&mut relay.output, TextAccumulator::new(false))
            .finish()
            .unwrap();
        assert_eq!(digest.text.as_deref(), Some("Hello"));
        assert_eq!(digest.chars, 5);
    }

    #[test]
    fn strips_only_the_usage_chunk_it_asked_for() {
        let usage =
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n";
        let stream = format!("{}{usage}data: [DONE]\n\n", chunk("x"));
        let mut relay = SseRelay::new(Endpoint::ChatCompletions, true, false);
        let out = relay.push(stream.as_bytes());
        let out = String::from_utf8(out.to_vec()).unwrap();
        assert!(!out.contains("usage"), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"));
        assert_eq!(
            relay.usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 2,
                estimated: false
            })
        );

        let mut keep = SseRelay::new(Endpoint::ChatCompletions, false, false);
        assert!(
            String::from_utf8(keep.push(stream.as_bytes()).to_vec())
                .unwrap()
                .contains("usage")
        );
    }

    #[test]
    fn crlf_boundaries_and_responses_api() {
        let mut relay = SseRelay::new(Endpoint::Responses, false, true);
        let s = "event: response.output_text.delta\r\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\r\n\r\n\
                 event: response.completed\r\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}\r\n\r\n";
        assert_eq!(relay.push(s.as_bytes()).len(), s.len());
        assert_eq!(relay.usage.unwrap().prompt_tokens, 4);
    }

    #[test]
    fn oversized_event_is_passed_through_not_buffered() {
        let mut relay = SseRelay::new(Endpoint::ChatCompletions, false, false);
        let big = vec![b'a'; MAX_EVENT + 10];
        assert_eq!(relay.push(&big).len(), big.len());
    }

    #[test]
    fn json_responses() {
        let mut acc = TextAccumulator::new(true);
        let usage = observe_json(
            Endpoint::ChatCompletions,
            br#"{"choices":[{"message":{"content":"Hi there"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
            &mut acc,
        );
        assert_eq!(usage.unwrap().completion_tokens, 2);
        assert_eq!(acc.finish().unwrap().text.as_deref(), Some("Hi there"));
    }
}
