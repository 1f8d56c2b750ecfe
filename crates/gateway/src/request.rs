//! Reading a request body within its limits, and the facts the gateway needs from it.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::{
    endpoint::Endpoint,
    error::Rejection,
    wire::{RequestView, Texts},
};

/// Reads a whole body, refusing more than `limit` bytes or taking longer than `timeout`.
/// A declared `Content-Length` over the limit is refused before reading anything.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, Rejection> {
    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > limit) {
        if declared.is_some_and(|len| len <= limit.saturating_add(LINGER_BYTES)) {
            linger(body).await;
        }
        return Err(Rejection::BodyTooLarge(limit));
    }
    let capacity = declared.unwrap_or(8 * 1024).min(limit);
    let result = match tokio::time::timeout(timeout, read_limited(&mut body, limit, capacity)).await
    {
        Err(_) => Err(Rejection::BodyTimeout(timeout)),
        Ok(result) => result,
    };
    if matches!(result, Err(Rejection::BodyTooLarge(_))) {
        linger(body).await;
    }
    result
}

async fn read_limited(body: &mut Body, limit: u64, capacity: u64) -> Result<Bytes, Rejection> {
    // Allocated with the second frame: a body of one frame needs no buffer.
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Rejection::BodyRead(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                return Err(Rejection::BodyTooLarge(limit));
            }
            // A body that arrives in one frame (most: hyper hands over a small
            // `Content-Length` body it read with the head) is that frame, not a copy.
            if buf.is_empty() && http_body::Body::is_end_stream(body) {
                return Ok(data);
            }
            if buf.capacity() == 0 {
                buf.reserve(
                    usize::try_from(capacity)
                        .unwrap_or(8 * 1024)
                        .max(data.len()),
                );
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// The `Content-Length` a client declared, if any.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// How much of a refused body the gateway still reads (and discards) so the client, still
/// sending, gets to read the error instead of a reset connection (as nginx's lingering
/// close does).
const LINGER_BYTES: u64 = 8 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Reads and discards what is left of a refused body, within [`LINGER_BYTES`] and
/// [`LINGER_TIME`].
pub(crate) async fn linger(mut body: Body) {
    let drain = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > LINGER_BYTES {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// What the gateway takes from a generation request (chat, completions, embeddings,
/// responses) before forwarding it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestFacts {
    pub(crate) model: Option<String>,
    pub(crate) stream: bool,
    /// The client asked for `stream_options.include_usage` itself.
    pub(crate) client_wants_usage: bool,
    /// `stream_options` is present (so usage cannot be requested by a plain insertion).
    pub(crate) has_stream_options: bool,
    /// The upper bound on completion tokens the client set, if any.
    pub(crate) max_output_tokens: Option<u64>,
    /// The prompt text: messages, prompt, input and instructions, joined by newlines.
    pub(crate) input_text: String,
}

/// Parses a JSON request body into [`RequestFacts`], validating what the gateway relies
/// on. The body is forwarded as sent; only the facts are extracted here. The fast path
/// reads a borrowed view; anything it does not fit goes through the full parse, which
/// names the exact problem.
pub(crate) fn parse_json_request(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<RequestFacts, Rejection> {
    let text = std::str::from_utf8(body).map_err(|_| Rejection::InvalidUtf8)?;
    if text.trim_start().starts_with('{')
        && let Ok(view) = serde_json::from_str::<RequestView<'_>>(text)
    {
        return facts_from_view(endpoint, view);
    }
    parse_json_request_slow(endpoint, text)
}

fn facts_from_view(endpoint: Endpoint, view: RequestView<'_>) -> Result<RequestFacts, Rejection> {
    let model = view.model.filter(|m| !m.is_empty()).map(|m| m.into_owned());
    if model.is_none() && endpoint.is_generation() {
        return Err(param("model", "you must provide a model parameter"));
    }
    // The prompt's parts, in order; visited twice so that its string is sized once
    // (growing it cost three allocations a request).
    let visit = |f: &mut dyn FnMut(&Texts<'_>)| {
        if let Some(instructions) = &view.instructions {
            f(instructions);
        }
        match endpoint {
            Endpoint::ChatCompletions => {
                for message in view.messages.iter().flatten() {
                    if let Some(content) = &message.content {
                        f(content);
                    }
                }
            }
            Endpoint::Completions => {
                if let Some(prompt) = &view.prompt {
                    f(prompt);
                }
            }
            Endpoint::Embeddings | Endpoint::Responses => {
                if let Some(input) = &view.input {
                    f(input);
                }
            }
            _ => {}
        }
    };
    let mut len = 0;
    visit(&mut |texts| len += texts.joined_len());
    let mut input_text = String::with_capacity(len);
    visit(&mut |texts| texts.join_into(&mut input_text));
    Ok(RequestFacts {
        model,
        stream: view.stream.unwrap_or(false),
        client_wants_usage: view
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        has_stream_options: view.stream_options.is_some(),
        max_output_tokens: view
            .max_tokens
            .or(view.max_completion_tokens)
            .or(view.max_output_tokens),
        input_text,
    })
}

/// The full parse: slower, but it says exactly what is wrong with a body.
fn parse_json_request_slow(endpoint: Endpoint, text: &str) -> Result<RequestFacts, Rejection> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| Rejection::InvalidJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(Rejection::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => Some(m.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(param("model", "`model` must be a non-empty string")),
    };
    if model.is_none() && endpoint.is_generation() {
        return Err(param("model", "you must provide a model parameter"));
    }
    let stream = match obj.get("stream") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => false,
        Some(_) => return Err(param("stream", "`stream` must be a boolean")),
    };
    let stream_options = obj.get("stream_options").filter(|v| !v.is_null());
    let client_wants_usage = stream_options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let max_output_tokens = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_u64));

    let mut input = TextJoin::default();
    if let Some(Value::String(s)) = obj.get("instructions") {
        input.push(s);
    }
    match endpoint {
        Endpoint::ChatCompletions => {
            if let Some(messages) = obj.get("messages") {
                let Value::Array(messages) = messages else {
                    return Err(param("messages", "`messages` must be an array"));
                };
                for message in messages {
                    if let Some(content) = message.get("content") {
                        input.push_content(content);
                    }
                }
            }
        }
        Endpoint::Completions => push_strings(&mut input, obj.get("prompt")),
        Endpoint::Embeddings => push_strings(&mut input, obj.get("input")),
        Endpoint::Responses => match obj.get("input") {
            Some(Value::String(s)) => input.push(s),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Some(content) = item.get("content") {
                        input.push_content(content);
                    }
                }
            }
            _ => {}
        },
        _ => {}
    }
    Ok(RequestFacts {
        model,
        stream,
        client_wants_usage,
        has_stream_options: stream_options.is_some(),
        max_output_tokens,
        input_text: input.0,
    })
}

fn param(name: &'static str, message: &str) -> Rejection {
    Rejection::InvalidParam {
        param: name,
        message: message.to_owned(),
    }
}

/// Strings, or arrays of strings; token arrays carry no text and are skipped.
fn push_strings(input: &mut TextJoin, value: Option<&Value>) {
    match value {
        Some(Value::String(s)) => input.push(s),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::String(s) = item {
                    input.push(s);
                }
            }
        }
        _ => {}
    }
}

#[derive(Default)]
struct TextJoin(String);

impl TextJoin {
    fn push(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(s);
    }

    /// Message content: a string, or parts of which the text ones count
    /// (`text`, `input_text`, `output_text`).
    fn push_content(&mut self, content: &Value) {
        match content {
            Value::String(s) => self.push(s),
            Value::Array(parts) => {
                for part in parts {
                    if let Some(Value::String(s)) = part.get("text") {
                        self.push(s);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Returns the body with `"stream_options":{"include_usage":true}` added, so a streamed
/// chat completion reports its token usage. Only called when the client sent no
/// `stream_options`; the insertion keeps the client's bytes otherwise untouched.
pub(crate) fn with_stream_usage(body: &Bytes) -> Option<Bytes> {
    let open = body.iter().position(|b| *b == b'{')?;
    let (head, tail) = body.split_at(open + 1);
    let tail_is_empty = tail.iter().all(|b| b.is_ascii_whitespace() || *b == b'}');
    let mut out = Vec::with_capacity(body.len() + 48);
    out.extend_from_slice(head);
    out.extend_from_slice(br#""stream_options":{"include_usage":true}"#);
    if !tail_is_empty {
        out.push(b',');
    }
    out.extend_from_slice(tail);
    Some(Bytes::from(out))
}

/// The headers that name the caller's key: `Authorization: Bearer …` or `api-key: …`.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value)
            .trim();
        if !token.is_empty() {
            return Some(token);
        }
    }
    headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_facts() {
        let body = br#"{"model":"gpt-4o","stream":true,"max_tokens":50,"messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        let facts = parse_json_request(Endpoint::ChatCompletions, body).unwrap();
        assert_eq!(facts.model.as_deref(), Some("gpt-4o"));
        assert!(facts.stream && !facts.client_wants_usage && !facts.has_stream_options);
        assert_eq!(facts.max_output_tokens, Some(50));
        assert_eq!(facts.input_text, "be brief\nhello");
    }

    #[test]
    fn responses_and_embeddings_text() {
        let f = parse_json_request(Endpoint::Responses, br#"{"model":"m","instructions":"sys","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}]}"#).unwrap();
        assert_eq!(f.input_text, "sys\nhi");
        let f = parse_json_request(
            Endpoint::Embeddings,
            br#"{"model":"m","input":["a","b",[1,2]]}"#,
        )
        .unwrap();
        assert_eq!(f.input_text, "a\nb");
    }

    #[test]
    fn bad_bodies_are_clear_errors() {
        let e = |b: &[u8]| {
            parse_json_request(Endpoint::ChatCompletions, b)
                .unwrap_err()
                .code()
        };
        assert_eq!(e(b"{\"model\":"), "invalid_json");
        assert_eq!(e(b"[1]"), "invalid_json");
        assert_eq!(e(b"\xff\xfe"), "invalid_encoding");
        assert_eq!(e(br#"{"messages":[]}"#), "invalid_value");
        assert_eq!(e(br#"{"model":"m","stream":"yes"}"#), "invalid_value");
        assert_eq!(e(br#"{"model":"m","messages":"hi"}"#), "invalid_value");
    }

    #[test]
    fn stream_usage_insertion_keeps_valid_json() {
        for body in [&br#"{"model":"m","stream":true}"#[..], b" { }", b"{}"] {
            let out = with_stream_usage(&Bytes::copy_from_slice(body)).unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["stream_options"]["include_usage"], true);
        }
    }

    fn chunks(parts: &[&'static str]) -> Body {
        let frames: Vec<Result<Bytes, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        Body::from_stream(futures_util::stream::iter(frames))
    }

    fn read(body: Body, limit: u64) -> Result<Bytes, Rejection> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(read_body(
            &HeaderMap::new(),
            body,
            limit,
            Duration::from_secs(5),
        ))
    }

    #[test]
    fn a_body_of_one_frame_is_that_frame() {
        let sent = Bytes::from(vec![b'x'; 1000]);
        let got = read(Body::from(sent.clone()), 4096).unwrap();
        assert_eq!(got, sent);
        assert_eq!(got.as_ptr(), sent.as_ptr(), "copied instead of handed over");
        assert_eq!(read(Body::empty(), 4096).unwrap(), Bytes::new());
    }

    #[test]
    fn a_body_of_many_frames_is_joined_within_the_limit() {
        assert_eq!(read(chunks(&["ab", "cd", "e"]), 5).unwrap(), "abcde");
        let too_large = read(chunks(&["ab", "cd", "ef"]), 5).unwrap_err();
        assert!(
            matches!(too_large, Rejection::BodyTooLarge(5)),
            "{too_large:?}"
        );
        let too_large = read(Body::from("abcdef"), 5).unwrap_err();
        assert!(
            matches!(too_large, Rejection::BodyTooLarge(5)),
            "{too_large:?}"
        );
    }

    #[test]
    fn keys_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer bw-live-x".parse().unwrap());
        assert_eq!(presented_key(&h), Some("bw-live-x"));
        let mut h = HeaderMap::new();
        h.insert("api-key", "bw-live-y".parse().unwrap());
        assert_eq!(presented_key(&h), Some("bw-live-y"));
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }
}

/// What cut a streamed client body short.
#[derive(Debug, Default)]
pub(crate) struct BodyGuardState {
    too_large: std::sync::atomic::AtomicBool,
    too_slow: std::sync::atomic::AtomicBool,
    /// The rest of a body refused for its size, for [`linger`].
    rest: parking_lot::Mutex<Option<Body>>,
}

impl BodyGuardState {
    /// What is left of a body refused for its size.
    pub(crate) fn take_rest(&self) -> Option<Body> {
        self.rest.lock().take()
    }

    /// The rejection that explains a failed forward, if the client body caused it.
    pub(crate) fn rejection(&self, limit: u64, timeout: Duration) -> Option<Rejection> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.too_large.load(Relaxed) {
            Some(Rejection::BodyTooLarge(limit))
        } else if self.too_slow.load(Relaxed) {
            Some(Rejection::BodyTimeout(timeout))
        } else {
            None
        }
    }
}

/// A client body streamed to the upstream (uploads): at most `limit` bytes, and no
/// silence longer than `idle` between chunks. What tripped is recorded in the shared
/// state so the failed forward can be reported as the client's fault (413 / 408), not
/// the upstream's.
pub(crate) struct GuardedBody {
    inner: Option<Body>,
    remaining: u64,
    idle: Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    state: std::sync::Arc<BodyGuardState>,
}

impl GuardedBody {
    pub(crate) fn new(
        inner: Body,
        limit: u64,
        idle: Duration,
    ) -> (Self, std::sync::Arc<BodyGuardState>) {
        let state = std::sync::Arc::new(BodyGuardState::default());
        let body = Self {
            inner: Some(inner),
            remaining: limit,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            state: std::sync::Arc::clone(&state),
        };
        (body, state)
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        use std::{future::Future, sync::atomic::Ordering::Relaxed, task::Poll};
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match std::pin::Pin::new(inner).poll_frame(cx) {
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    this.state.too_slow.store(true, Relaxed);
                    return Poll::Ready(Some(Err(axum::Error::new(
                        "the client stopped sending its body",
                    ))));
                }
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.sleep
                    .as_mut()
                    .reset(tokio::time::Instant::now() + this.idle);
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.state.too_large.store(true, Relaxed);
                        *this.state.rest.lock() = this.inner.take();
                        return Poll::Ready(Some(Err(axum::Error::new(
                            "the client body is over the limit",
                        ))));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map(http_body::Body::size_hint)
            .unwrap_or_default()
    }
}
