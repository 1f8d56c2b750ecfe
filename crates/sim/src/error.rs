//! The OpenAI error body, `{"error":{"message","type","param","code"}}`, and the statuses
//! that go with each kind of failure the simulator reports.
//!
//! OpenAI client libraries turn these bodies into typed exceptions, so every error the
//! simulator returns — including the ones it fakes on request — has exactly this shape.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// An error answer: its HTTP status and the OpenAI error object.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
        }
    }

    fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// A 400 about something in the request.
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// A 400 about one named request parameter.
    pub(crate) fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid_request(message).with_param(param)
    }

    /// A 400 for a body that is not JSON or does not have the expected shape.
    pub(crate) fn bad_json(err: &serde_json::Error) -> Self {
        Self::invalid_request(format!(
            "We could not parse the JSON body of your request. ({err}) \
             The OpenAI API expects a JSON payload."
        ))
    }

    /// The 404 OpenAI answers for a model it does not serve.
    pub(crate) fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_code("model_not_found")
    }

    /// A 404 for a stored object (file, job) that does not exist.
    pub(crate) fn no_such_object(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No such {what}: {id}"),
        )
        .with_param("id")
    }

    /// A 404 for a path the simulator does not serve.
    pub(crate) fn invalid_url(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Invalid URL ({method} {path})"),
        )
    }

    /// A 405 for a known path called with the wrong method.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "Method not allowed for this URL",
        )
    }

    /// The 401 for a missing or wrong API key.
    pub(crate) fn invalid_api_key(provided: bool) -> Self {
        let message = if provided {
            "Incorrect API key provided. You can find your API key at \
             https://platform.openai.com/account/api-keys."
        } else {
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        };
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
            .with_code("invalid_api_key")
    }

    /// A 413 for a body over the simulator's size limit.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("Request body is larger than {limit} bytes"),
        )
    }

    /// A 500 for a failure inside the simulator itself.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The error OpenAI would send with `status`, as asked for by `x-sim-status`.
    pub(crate) fn simulated(status: StatusCode) -> Self {
        let (kind, code, message) = match status.as_u16() {
            400 => ("invalid_request_error", None, "Simulated bad request."),
            401 => (
                "invalid_request_error",
                Some("invalid_api_key"),
                "Simulated invalid API key.",
            ),
            403 => ("permission_error", None, "Simulated permission error."),
            404 => ("invalid_request_error", None, "Simulated not found."),
            409 => ("invalid_request_error", None, "Simulated conflict."),
            422 => (
                "invalid_request_error",
                None,
                "Simulated unprocessable entity.",
            ),
            429 => (
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached (simulated). Please try again later.",
            ),
            503 => (
                "server_error",
                None,
                "The server is overloaded or not ready yet (simulated).",
            ),
            500..=599 => (
                "server_error",
                None,
                "The server had an error while processing your request (simulated).",
            ),
            _ => ("invalid_request_error", None, "Simulated error."),
        };
        let err = Self::new(status, kind, message);
        match code {
            Some(code) => err.with_code(code),
            None => err,
        }
    }

    /// The JSON body bytes.
    pub(crate) fn body(&self) -> Vec<u8> {
        let body = Body {
            error: Inner {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
                .to_vec()
        })
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        Self::internal(format!("could not serialize the answer: {err}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(err: &ApiError) -> serde_json::Value {
        serde_json::from_slice(&err.body()).unwrap()
    }

    #[test]
    fn model_not_found_has_the_openai_shape() {
        let err = ApiError::model_not_found("gpt-9");
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert_eq!(
            json(&err),
            serde_json::json!({"error":{
                "message":"The model `gpt-9` does not exist or you do not have access to it.",
                "type":"invalid_request_error","param":null,"code":"model_not_found"}})
        );
    }

    #[test]
    fn simulated_statuses_keep_their_status_and_shape() {
        for status in [400, 429, 500, 502, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            let err = ApiError::simulated(status);
            assert_eq!(err.status, status);
            let body = json(&err);
            assert!(body["error"]["message"].is_string());
            assert!(body["error"]["type"].is_string());
            assert!(body["error"].get("param").is_some());
            assert!(body["error"].get("code").is_some());
        }
    }
}
