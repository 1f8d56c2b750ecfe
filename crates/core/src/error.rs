//! The OpenAI error body: `{"error":{"message":…,"type":…,"param":…,"code":…}}`.
//!
//! Every error Bulwark returns over HTTP has this shape, because OpenAI client libraries
//! parse it into typed exceptions. Which status goes with which error is the gateway's
//! business; this is only the wire shape.

use serde::{Deserialize, Serialize};

/// The outer object of an OpenAI error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

/// The inner object of an OpenAI error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    /// An error body with no `param`.
    pub fn new(kind: &str, code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            error: ApiError {
                message: message.into(),
                kind: kind.to_owned(),
                param: None,
                code: code.map(str::to_owned),
            },
        }
    }

    /// Serializes to JSON bytes. Serializing this plain struct cannot fail.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_openai_shape_with_null_param() {
        let body = ErrorBody::new("invalid_request_error", Some("invalid_api_key"), "bad key");
        let v: serde_json::Value = serde_json::from_slice(&body.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"message":"bad key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})
        );
    }
}
