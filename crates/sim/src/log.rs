//! The request log: the last N requests the simulator received, as tests need to see them
//! (what did the gateway forward, with which key, which body).

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;

/// How much of a request body the log keeps.
pub(crate) const MAX_LOGGED_BODY: usize = 64 * 1024;

/// One received request, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The path with its query string, e.g. `/v1/files?purpose=fine-tune`.
    pub path: String,
    /// The raw value of the `Authorization` header, or else of the `api-key` header.
    pub authorization: Option<String>,
    /// Every header, in arrival order; values decoded as lossy UTF-8.
    pub headers: Vec<(String, String)>,
    /// The body as lossy UTF-8, cut to its first 64 KiB.
    pub body: String,
}

impl LoggedRequest {
    /// Builds a log entry; `body` is cut to [`MAX_LOGGED_BODY`] bytes.
    pub(crate) fn new(
        method: &http::Method,
        path: String,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Self {
        let header_text =
            |value: &http::HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .or_else(|| headers.get("api-key"))
            .map(header_text);
        let body = body.get(..MAX_LOGGED_BODY).unwrap_or(body);
        Self {
            method: method.as_str().to_owned(),
            path,
            authorization,
            headers: headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), header_text(value)))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

/// A bounded ring buffer of [`LoggedRequest`]s, oldest first. The lock is only ever held
/// for a push, a clone or a clear — never across an await.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    entries: Mutex<VecDeque<LoggedRequest>>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
        }
    }

    /// Whether requests are recorded at all; when not, callers skip building entries.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    pub(crate) fn push(&self, entry: LoggedRequest) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock();
        while entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<LoggedRequest> {
        self.entries.lock().iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> LoggedRequest {
        LoggedRequest::new(
            &http::Method::GET,
            path.to_owned(),
            &http::HeaderMap::new(),
            b"",
        )
    }

    #[test]
    fn keeps_the_newest_entries_oldest_first() {
        let log = RequestLog::new(2);
        for path in ["/a", "/b", "/c"] {
            log.push(entry(path));
        }
        let paths: Vec<String> = log.snapshot().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/b", "/c"]);
        log.clear();
        assert!(log.snapshot().is_empty());
    }

    #[test]
    fn capacity_zero_records_nothing() {
        let log = RequestLog::new(0);
        log.push(entry("/a"));
        assert!(log.snapshot().is_empty());
    }

    #[test]
    fn records_the_authorization_or_api_key_header_and_cuts_the_body() {
        let mut headers = http::HeaderMap::new();
        headers.insert("api-key", http::HeaderValue::from_static("k1"));
        let body = vec![b'x'; MAX_LOGGED_BODY + 10];
        let e = LoggedRequest::new(&http::Method::POST, "/v1/x".into(), &headers, &body);
        assert_eq!(e.authorization.as_deref(), Some("k1"));
        assert_eq!(e.body.len(), MAX_LOGGED_BODY);
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer k2"),
        );
        let e = LoggedRequest::new(&http::Method::POST, "/v1/x".into(), &headers, b"{}");
        assert_eq!(e.authorization.as_deref(), Some("Bearer k2"));
        assert_eq!(e.headers.len(), 2);
    }
}
