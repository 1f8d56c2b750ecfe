//! Server-sent events and the streamed bodies that carry them.
//!
//! An answer's events are built up front (cheap: a few dozen small JSON objects) and then
//! written to the wire one frame at a time, with the chunk delay between frames, so clients
//! and the gateway see a real incremental stream. The same machinery produces the bodies
//! that break on purpose (`x-sim-fail`).

use std::{io, time::Duration};

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use crate::overrides::Overrides;

/// The terminator of chat and completion streams.
pub(crate) const DONE: Bytes = Bytes::from_static(b"data: [DONE]\n\n");

/// How many frames a `midstream` failure lets through before breaking the body.
const FRAMES_BEFORE_FAILURE: usize = 3;

/// Frames `value` as a `data:` event.
pub(crate) fn data<T: Serialize>(value: &T) -> Result<Bytes, serde_json::Error> {
    frame(None, value)
}

/// Frames `value` as a named event: `event: <name>` then `data: <json>`.
pub(crate) fn event<T: Serialize>(name: &str, value: &T) -> Result<Bytes, serde_json::Error> {
    frame(Some(name), value)
}

fn frame<T: Serialize>(name: Option<&str>, value: &T) -> Result<Bytes, serde_json::Error> {
    let mut buf = BytesMut::with_capacity(256).writer();
    if let Some(name) = name {
        io::Write::write_all(&mut buf, b"event: ").map_err(serde_json::Error::io)?;
        io::Write::write_all(&mut buf, name.as_bytes()).map_err(serde_json::Error::io)?;
        io::Write::write_all(&mut buf, b"\n").map_err(serde_json::Error::io)?;
    }
    io::Write::write_all(&mut buf, b"data: ").map_err(serde_json::Error::io)?;
    serde_json::to_writer(&mut buf, value)?;
    io::Write::write_all(&mut buf, b"\n\n").map_err(serde_json::Error::io)?;
    Ok(buf.into_inner().freeze())
}

/// A body that writes `frames` one by one, waiting `delay` between two frames, and that
/// fails with an I/O error instead of sending frame number `fail_at` (0-based).
pub(crate) fn paced_body(frames: Vec<Bytes>, delay: Duration, fail_at: Option<usize>) -> Body {
    struct Pacing {
        frames: std::vec::IntoIter<Bytes>,
        sent: usize,
        delay: Duration,
        fail_at: Option<usize>,
    }
    let start = Pacing {
        frames: frames.into_iter(),
        sent: 0,
        delay,
        fail_at,
    };
    let stream = futures_util::stream::unfold(Some(start), |state| async move {
        let mut state = state?;
        if state.fail_at == Some(state.sent) {
            if state.sent > 0 {
                // Hyper only flushes when the body is pending: without this pause the frames
                // already produced would be dropped with the connection, unsent.
                tokio::task::yield_now().await;
            }
            return Some((Err(io::Error::other("simulated upstream failure")), None));
        }
        let frame = state.frames.next()?;
        if state.sent > 0 && !state.delay.is_zero() {
            tokio::time::sleep(state.delay).await;
        }
        state.sent += 1;
        Some((Ok(frame), Some(state)))
    });
    Body::from_stream(stream)
}

/// A body that fails before its first byte. Hyper then drops the connection without
/// flushing the response head, so the client sees the connection close with no answer.
pub(crate) fn broken_body() -> Body {
    paced_body(Vec::new(), Duration::ZERO, Some(0))
}

/// An event-stream response of `frames`, paced and broken as `overrides` say.
pub(crate) fn response(frames: Vec<Bytes>, overrides: &Overrides) -> Response {
    let fail_at = overrides
        .midstream()
        .then(|| FRAMES_BEFORE_FAILURE.min(frames.len().saturating_sub(1)));
    let body = paced_body(frames, overrides.chunk_delay, fail_at);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_data_and_named_events() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(
            data(&v).unwrap(),
            Bytes::from_static(b"data: {\"a\":1}\n\n")
        );
        assert_eq!(
            event("response.created", &v).unwrap(),
            Bytes::from_static(b"event: response.created\ndata: {\"a\":1}\n\n")
        );
    }

    async fn drain(body: Body) -> (Vec<Bytes>, bool) {
        use futures_util::StreamExt;
        let mut stream = body.into_data_stream();
        let mut frames = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(frame) => frames.push(frame),
                Err(_) => return (frames, true),
            }
        }
        (frames, false)
    }

    #[tokio::test]
    async fn paced_body_sends_every_frame_in_order() {
        let frames = vec![
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        ];
        let (got, failed) = drain(paced_body(frames.clone(), Duration::from_millis(1), None)).await;
        assert_eq!(got, frames);
        assert!(!failed);
    }

    #[tokio::test]
    async fn paced_body_breaks_where_asked() {
        let frames = vec![
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        ];
        let (got, failed) = drain(paced_body(frames, Duration::ZERO, Some(2))).await;
        assert_eq!(got.len(), 2);
        assert!(failed);
        let (got, failed) = drain(broken_body()).await;
        assert!(got.is_empty());
        assert!(failed);
    }
}
