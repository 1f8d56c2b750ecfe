//! Small pieces every endpoint shares: parsing a JSON request, writing a JSON answer, the
//! `usage` object and the clock.

use std::{
    borrow::Cow,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Body,
    extract::rejection::BytesRejection,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::{error::ApiError, overrides::Overrides, sse};

/// Parses a request body, answering malformed JSON with an OpenAI-shaped 400.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| ApiError::bad_json(&err))
}

/// A 200 JSON answer. Under `x-sim-fail: midstream` only the first half of the document
/// is sent before the body breaks.
pub(crate) fn json_response<T: Serialize>(
    value: &T,
    overrides: &Overrides,
) -> Result<Response, ApiError> {
    let bytes = Bytes::from(serde_json::to_vec(value)?);
    let body = if overrides.midstream() {
        let half = bytes.slice(..bytes.len() / 2);
        sse::paced_body(vec![half], overrides.chunk_delay, Some(1))
    } else {
        Body::from(bytes)
    };
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Seconds since the Unix epoch, as OpenAI's `created` fields carry it.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `usage` object of chat and legacy completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u32,
    pub(crate) completion_tokens: u32,
    pub(crate) total_tokens: u32,
}

impl Usage {
    pub(crate) fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

/// `stream_options` of chat and legacy completions.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub(crate) include_usage: Option<bool>,
}

impl StreamOptions {
    pub(crate) fn include_usage(options: Option<&Self>) -> bool {
        options.and_then(|o| o.include_usage).unwrap_or(false)
    }
}

/// `finish_reason` for an answer that was or was not cut by a token limit.
pub(crate) fn finish_reason(truncated: bool) -> &'static str {
    if truncated { "length" } else { "stop" }
}

/// The request body, or an OpenAI-shaped error when it could not be read.
pub(crate) fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(crate::simulator::BODY_LIMIT)
        } else {
            ApiError::invalid_request(format!("could not read the request body: {rejection}"))
        }
    })
}

/// Message content as OpenAI accepts it: a string, or an array of typed parts of which the
/// text ones (`text`, `input_text`, `output_text`) count.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// One element of an array content; parts without `text` (images, audio) are skipped.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Part {
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    /// The text of the content; several text parts are joined with newlines.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Self::Text(text) => Cow::Borrowed(text),
            Self::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|p| p.text.as_deref());
                match (texts.next(), texts.next()) {
                    (None, _) => Cow::Borrowed(""),
                    (Some(only), None) => Cow::Borrowed(only),
                    (Some(first), Some(second)) => {
                        let mut joined = format!("{first}\n{second}");
                        for text in texts {
                            joined.push('\n');
                            joined.push_str(text);
                        }
                        Cow::Owned(joined)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_text_from_string_or_parts() {
        let c: Content = serde_json::from_str(r#""hi""#).unwrap();
        assert_eq!(c.text(), "hi");
        let c: Content = serde_json::from_str(
            r#"[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"},{"type":"input_text","text":"c"}]"#,
        )
        .unwrap();
        assert_eq!(c.text(), "a\nb\nc");
        let c: Content = serde_json::from_str(r#"[]"#).unwrap();
        assert_eq!(c.text(), "");
        assert!(serde_json::from_str::<Content>("42").is_err());
    }

    #[test]
    fn usage_totals() {
        assert_eq!(Usage::new(3, 4).total_tokens, 7);
    }
}
