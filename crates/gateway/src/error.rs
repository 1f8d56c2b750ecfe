//! Every way a request can fail, and the one function that maps each to its HTTP status,
//! OpenAI-shaped body and event decision.

use std::time::Duration;

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use bulwark_core::{Category, Decision, ErrorBody};
use http::{HeaderValue, StatusCode, header};

/// Which rate limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    Requests,
    Tokens,
}

impl LimitKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
        }
    }
}

/// Why a request was not (or not fully) served. Who caused it is part of the variant:
/// the client (bad key, bad body), policy (limits), the upstream, or Bulwark itself.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Rejection {
    #[error(
        "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or `api-key: <key>`."
    )]
    MissingKey,
    #[error("Incorrect API key provided. You can find your API keys with your platform operator.")]
    UnknownKey,
    #[error("This API key has been revoked.")]
    RevokedKey,
    #[error("This API key is suspended. Contact your platform operator.")]
    SuspendedKey,
    #[error("This API key may not use the model `{0}`.")]
    ModelNotAllowed(String),
    #[error("Rate limit reached for {key} on {} per min: limit {limit}, requested {requested}. Please try again in {}.", .kind.as_str(), format_wait(*.retry_after))]
    RateLimited {
        key: String,
        kind: LimitKind,
        limit: u64,
        requested: u64,
        retry_after: Duration,
    },
    #[error("The request body is larger than the limit of {0} bytes.")]
    BodyTooLarge(u64),
    #[error("The request body was not received within {} seconds.", .0.as_secs())]
    BodyTimeout(Duration),
    #[error("The request body could not be read: {0}")]
    BodyRead(String),
    #[error("The request body is not valid UTF-8.")]
    InvalidUtf8,
    #[error("We could not parse the JSON body of your request: {0}")]
    InvalidJson(String),
    #[error("{message}")]
    InvalidParam {
        param: &'static str,
        message: String,
    },
    #[error("Unknown request URL: {method} {path}. Please check the URL for typos.")]
    UnknownUrl { method: String, path: String },
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    #[error("The upstream `{upstream}` could not be reached: {detail}")]
    UpstreamUnavailable { upstream: String, detail: String },
    #[error("The upstream `{upstream}` did not answer within {} seconds.", .after.as_secs())]
    UpstreamTimeout { upstream: String, after: Duration },
    #[error("The upstream `{upstream}` failed with status {status}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    UpstreamFailed {
        upstream: String,
        status: u16,
        message: Option<String>,
    },
    #[error("The upstream `{upstream}` sent a response larger than {limit} bytes.")]
    UpstreamTooLarge { upstream: String, limit: u64 },
    #[error(
        "The prompt was filtered by Bulwark's content policy: it was classified as {}. Please modify your prompt and retry.",
        id_list(.blocked)
    )]
    ContentFiltered {
        /// Every category that crossed its threshold.
        detected: Vec<Category>,
        /// Those the tenant's policy blocks on the input side.
        blocked: Vec<Category>,
    },
    #[error("{}", upload_message(.0))]
    UploadFiltered(Box<UploadVerdict>),
    #[error(
        "Content moderation could not check this request, and this API key's policy refuses unchecked requests. Please retry."
    )]
    ModerationUnavailable,
    #[error("Missing or incorrect admin token.")]
    AdminUnauthorized,
    #[error("{0} not found.")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Internal error in Bulwark: {0}")]
    Internal(String),
}

/// Why an upload was refused: its blocked lines (the first ones, numbered from 1), and
/// counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UploadVerdict {
    pub(crate) lines: u64,
    pub(crate) blocked_lines: u64,
    pub(crate) reject_share: f64,
    /// Line number and blocked categories, for the first [`MAX_LISTED_LINES`] lines.
    pub(crate) offending: Vec<(u64, Vec<Category>)>,
    /// Every category blocked in the file.
    pub(crate) categories: Vec<Category>,
}

/// How many offending lines an upload refusal lists.
pub(crate) const MAX_LISTED_LINES: usize = 50;

fn id_list(categories: &[Category]) -> String {
    categories
        .iter()
        .map(|c| c.id())
        .collect::<Vec<_>>()
        .join(", ")
}

fn upload_message(v: &UploadVerdict) -> String {
    let listed = v
        .offending
        .iter()
        .map(|(line, categories)| format!("line {line} ({})", id_list(categories)))
        .collect::<Vec<_>>()
        .join(", ");
    let more = v.blocked_lines.saturating_sub(v.offending.len() as u64);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "The file was refused by Bulwark's content policy: {} of {} lines were classified as {} (more than the allowed share of {}%): {listed}{more}.",
        v.blocked_lines,
        v.lines,
        id_list(&v.categories),
        v.reject_share * 100.0,
    )
}

/// Azure OpenAI's `content_filter_result`, with Bulwark's categories and the aggregate
/// `cyber`: `filtered` when blocked, `detected` when over the threshold.
pub(crate) fn content_filter_result(
    detected: &[Category],
    blocked: &[Category],
) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for category in Category::ALL {
        map.insert(
            category.id().to_owned(),
            serde_json::json!({
                "filtered": blocked.contains(&category),
                "detected": detected.contains(&category),
            }),
        );
    }
    map.insert(
        bulwark_core::CYBER.to_owned(),
        serde_json::json!({
            "filtered": blocked.iter().any(|c| c.is_cyber()),
            "detected": detected.iter().any(|c| c.is_cyber()),
        }),
    );
    serde_json::Value::Object(map)
}

/// OpenAI-style short durations: `20ms`, `1s`, `6m0s`.
pub(crate) fn format_wait(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        if (s - s.round()).abs() < 0.05 {
            format!("{}s", s.round() as u64)
        } else {
            format!("{s:.1}s")
        }
    } else {
        let secs = d.as_secs();
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

impl Rejection {
    /// Status, error type, error code and event decision: the single mapping.
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, &'static str, Decision) {
        use Decision as D;
        use StatusCode as S;
        const INVALID: &str = "invalid_request_error";
        match self {
            Rejection::MissingKey | Rejection::UnknownKey => (
                S::UNAUTHORIZED,
                INVALID,
                "invalid_api_key",
                D::Unauthenticated,
            ),
            Rejection::RevokedKey => (S::UNAUTHORIZED, INVALID, "key_revoked", D::Unauthenticated),
            Rejection::SuspendedKey => (
                S::FORBIDDEN,
                "permission_error",
                "key_suspended",
                D::Forbidden,
            ),
            Rejection::ModelNotAllowed(_) => (
                S::FORBIDDEN,
                "permission_error",
                "model_not_allowed",
                D::Forbidden,
            ),
            Rejection::RateLimited { kind, .. } => (
                S::TOO_MANY_REQUESTS,
                kind.as_str(),
                "rate_limit_exceeded",
                D::RateLimited,
            ),
            Rejection::BodyTooLarge(_) => (
                S::PAYLOAD_TOO_LARGE,
                INVALID,
                "request_too_large",
                D::InvalidRequest,
            ),
            Rejection::BodyTimeout(_) => (
                S::REQUEST_TIMEOUT,
                INVALID,
                "request_timeout",
                D::InvalidRequest,
            ),
            Rejection::BodyRead(_) => (S::BAD_REQUEST, INVALID, "invalid_body", D::InvalidRequest),
            Rejection::InvalidUtf8 => (
                S::BAD_REQUEST,
                INVALID,
                "invalid_encoding",
                D::InvalidRequest,
            ),
            Rejection::InvalidJson(_) => {
                (S::BAD_REQUEST, INVALID, "invalid_json", D::InvalidRequest)
            }
            Rejection::InvalidParam { .. } => {
                (S::BAD_REQUEST, INVALID, "invalid_value", D::InvalidRequest)
            }
            Rejection::UnknownUrl { .. } => {
                (S::NOT_FOUND, INVALID, "unknown_url", D::InvalidRequest)
            }
            Rejection::ModelNotFound(_) => {
                (S::NOT_FOUND, INVALID, "model_not_found", D::InvalidRequest)
            }
            Rejection::UpstreamUnavailable { .. } => (
                S::BAD_GATEWAY,
                "server_error",
                "upstream_unavailable",
                D::UpstreamError,
            ),
            Rejection::UpstreamTimeout { .. } => (
                S::GATEWAY_TIMEOUT,
                "server_error",
                "upstream_timeout",
                D::UpstreamError,
            ),
            Rejection::UpstreamFailed { .. } => (
                S::BAD_GATEWAY,
                "server_error",
                "upstream_error",
                D::UpstreamError,
            ),
            Rejection::UpstreamTooLarge { .. } => (
                S::BAD_GATEWAY,
                "server_error",
                "upstream_response_too_large",
                D::UpstreamError,
            ),
            Rejection::ContentFiltered { .. } | Rejection::UploadFiltered(_) => {
                (S::BAD_REQUEST, INVALID, "content_filter", D::Blocked)
            }
            Rejection::ModerationUnavailable => (
                S::SERVICE_UNAVAILABLE,
                "server_error",
                "moderation_unavailable",
                D::Blocked,
            ),
            Rejection::AdminUnauthorized => (
                S::UNAUTHORIZED,
                INVALID,
                "invalid_admin_token",
                D::Unauthenticated,
            ),
            Rejection::NotFound(_) => (S::NOT_FOUND, INVALID, "not_found", D::InvalidRequest),
            Rejection::Conflict(_) => (S::CONFLICT, INVALID, "conflict", D::InvalidRequest),
            Rejection::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                D::InternalError,
            ),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub(crate) fn code(&self) -> &'static str {
        self.parts().2
    }

    pub(crate) fn decision(&self) -> Decision {
        self.parts().3
    }

    pub(crate) fn body(&self) -> ErrorBody {
        let (_, kind, code, _) = self.parts();
        let mut body = ErrorBody::new(kind, Some(code), self.to_string());
        match self {
            Rejection::InvalidParam { param, .. } => body.error.param = Some((*param).to_owned()),
            Rejection::ContentFiltered { .. } => body.error.param = Some("prompt".to_owned()),
            Rejection::UploadFiltered(_) => body.error.param = Some("file".to_owned()),
            _ => {}
        }
        body
    }

    /// The response body. Content-filter refusals carry Azure OpenAI's `innererror`
    /// (`ResponsibleAIPolicyViolation` with a `content_filter_result`), which Azure
    /// clients already understand, and the categories under Bulwark's ids.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let body = self.body();
        let (inner, lines) = match self {
            Rejection::ContentFiltered { detected, blocked } => {
                (content_filter_result(detected, blocked), None)
            }
            Rejection::UploadFiltered(v) => {
                let lines: Vec<serde_json::Value> = v
                    .offending
                    .iter()
                    .map(|(line, categories)| serde_json::json!({"line": line, "categories": categories}))
                    .collect();
                (
                    content_filter_result(&v.categories, &v.categories),
                    Some(serde_json::json!({
                        "lines": v.lines,
                        "blocked_lines": v.blocked_lines,
                        "offending_lines": lines,
                    })),
                )
            }
            _ => return body.to_json(),
        };
        let e = body.error;
        let mut error = serde_json::json!({
            "message": e.message,
            "type": e.kind,
            "param": e.param,
            "code": e.code,
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": inner,
            },
        });
        if let (Some(lines), Some(obj)) = (lines, error.as_object_mut()) {
            obj.insert("upload".to_owned(), lines);
        }
        serde_json::to_vec(&serde_json::json!({ "error": error }))
            .unwrap_or_else(|_| body_fallback())
    }
}

impl Rejection {
    /// The headers that go with this error: content type, and the retry and
    /// authentication hints clients act on.
    pub(crate) fn headers(&self) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Rejection::RateLimited { retry_after, .. } = self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            headers.insert(
                "retry-after-ms",
                HeaderValue::from(retry_after.as_millis() as u64),
            );
        }
        if matches!(self, Rejection::ModerationUnavailable) {
            headers.insert(crate::moderate::HEADER, HeaderValue::from_static("skipped"));
        }
        if matches!(
            self,
            Rejection::MissingKey | Rejection::UnknownKey | Rejection::RevokedKey
        ) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        headers
    }
}

fn body_fallback() -> Vec<u8> {
    ErrorBody::new("server_error", Some("internal_error"), "internal error").to_json()
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.to_json()));
        *response.status_mut() = self.status();
        *response.headers_mut() = self.headers();
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_look_like_openai() {
        assert_eq!(format_wait(Duration::from_millis(20)), "20ms");
        assert_eq!(format_wait(Duration::from_secs(1)), "1s");
        assert_eq!(format_wait(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_wait(Duration::from_secs(360)), "6m0s");
    }

    #[test]
    fn rate_limit_response_has_retry_headers() {
        let r = Rejection::RateLimited {
            key: "key_x".into(),
            kind: LimitKind::Requests,
            limit: 2,
            requested: 1,
            retry_after: Duration::from_millis(1200),
        };
        assert_eq!(r.decision(), Decision::RateLimited);
        let response = r.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(response.headers()["retry-after-ms"], "1200");
    }
}
