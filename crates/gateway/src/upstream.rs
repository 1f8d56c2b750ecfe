//! The model servers behind the gateway: routing by model, pooled connections to each
//! (per worker: [`pool`] for plain HTTP, a general client for HTTPS), header hygiene in
//! both directions, and timeouts.

pub(crate) mod pool;

use std::{sync::Arc, time::Duration};

use axum::body::Body;
use bulwark_config::{AuthStyle, Upstream};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri, header};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

pub(crate) use self::pool::UpstreamBody;
use self::pool::{Http1Pool, SendError};
use crate::error::Rejection;

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;
type HttpClient = Client<HttpsConnector, Body>;

thread_local! {
    /// The request-handling worker this thread is (0 on any other thread).
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the current thread as request-handling worker `index`, so upstream requests use
/// that worker's own connection pool: a pooled connection is driven by a task on the
/// worker that opened it, and sharing pools would hand every request to another thread.
pub(crate) fn set_worker_index(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// One configured upstream with its client.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) name: String,
    base_url: String,
    auth: Option<(HeaderName, HeaderValue)>,
    models: Vec<String>,
    pub(crate) response_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) stream_usage: bool,
    /// For a plain-HTTP upstream: its connections, and the path every request starts with.
    http1: Option<(Arc<Http1Pool>, String)>,
    /// For an HTTPS upstream: one client per worker; see [`set_worker_index`].
    clients: Vec<HttpClient>,
    /// Used when the worker index has no pool of its own (never, unless misconfigured).
    fallback: HttpClient,
}

/// Every upstream, in configuration order (the first match serves a model).
#[derive(Debug)]
pub(crate) struct Upstreams {
    targets: Vec<Target>,
}

/// Why the upstream clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    #[error("upstream `{0}`: the API key is not a valid header value")]
    BadKey(String),
    #[error("cannot load TLS roots: {0}")]
    Tls(String),
}

impl Upstreams {
    pub(crate) fn new(configs: &[Upstream], workers: usize) -> Result<Self, UpstreamSetupError> {
        let targets = configs
            .iter()
            .map(|c| Target::new(c, workers))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { targets })
    }

    /// The upstream serving `model`, or the first one for requests without a model.
    pub(crate) fn route(&self, model: Option<&str>) -> Option<&Target> {
        match model {
            Some(model) => self.targets.iter().find(|t| t.serves(model)),
            None => self.targets.first(),
        }
    }

    pub(crate) fn all(&self) -> &[Target] {
        &self.targets
    }
}

impl Target {
    fn new(config: &Upstream, workers: usize) -> Result<Self, UpstreamSetupError> {
        let auth = match &config.api_key {
            None => None,
            Some(key) => {
                let (name, text) = match config.auth {
                    AuthStyle::Bearer => {
                        (header::AUTHORIZATION, format!("Bearer {}", key.expose()))
                    }
                    AuthStyle::ApiKey => {
                        (HeaderName::from_static("api-key"), key.expose().to_owned())
                    }
                };
                let mut value = HeaderValue::try_from(text)
                    .map_err(|_| UpstreamSetupError::BadKey(config.name.clone()))?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        let build = || {
            let mut http = HttpConnector::new();
            http.set_connect_timeout(Some(config.connect_timeout));
            http.set_nodelay(true);
            http.enforce_http(false);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http);
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(512)
                .build(https)
        };
        let http1 = plain_http(&config.base_url).map(|(address, host, path)| {
            let pool = Http1Pool::new(address, host, config.connect_timeout, workers);
            (Arc::new(pool), path)
        });
        Ok(Self {
            name: config.name.clone(),
            base_url: config.base_url.clone(),
            auth,
            models: config.models.clone(),
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
            stream_usage: config.stream_usage,
            clients: if http1.is_some() {
                Vec::new()
            } else {
                (0..workers.max(1)).map(|_| build()).collect()
            },
            http1,
            fallback: build(),
        })
    }

    pub(crate) fn serves(&self, model: &str) -> bool {
        self.models
            .iter()
            .any(|p| bulwark_core::model_matches(p, model))
    }

    /// Sends a request for `/v1{rest}` (`rest` includes the query) with the client's
    /// headers cleaned and the upstream's own credentials, waiting at most
    /// `response_timeout` for the response headers.
    pub(crate) async fn send(
        &self,
        method: http::Method,
        rest: &str,
        client_headers: &HeaderMap,
        body: Body,
        content_length: Option<u64>,
    ) -> Result<Response<UpstreamBody>, Rejection> {
        let prefix = match &self.http1 {
            // Origin-form: the connection already names the server.
            Some((_, path)) => path.as_str(),
            None => self.base_url.as_str(),
        };
        // Joined by hand and handed over whole: `format!` and `str::parse` cost two
        // allocations and the formatting machinery on every request.
        let mut uri = String::with_capacity(prefix.len() + rest.len());
        uri.push_str(prefix);
        uri.push_str(rest);
        let uri = Uri::try_from(uri).map_err(|_| Rejection::InvalidParam {
            param: "path",
            message: "the request path is not valid".into(),
        })?;
        // Allocated once: the client's headers, the credentials, the length and the host.
        let mut headers = HeaderMap::with_capacity(client_headers.len() + 3);
        copy_request_headers(client_headers, &mut headers);
        if let Some((name, value)) = &self.auth {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(len) = content_length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let worker = WORKER.with(std::cell::Cell::get);
        // The exchange is built inside the `timeout` call, not bound to a variable first:
        // a future held in a variable keeps its own slot in this function's future beside
        // the `Timeout` it moved into, which doubled this future's size and, through every
        // `async fn` above it, the request's (7.5 KB instead of 4.3 KB for the whole
        // request), all of it copied each time a request's future is moved into place.
        let sent = tokio::time::timeout(self.response_timeout, async {
            match &self.http1 {
                Some((pool, _)) => pool.send(worker, request).await.map_err(|e| match e {
                    SendError::Connect(detail) => detail,
                    SendError::Request(e) => describe(&e),
                }),
                None => {
                    let client = self.clients.get(worker).unwrap_or(&self.fallback);
                    match client.request(request).await {
                        Ok(response) => Ok(response.map(UpstreamBody::unpooled)),
                        Err(e) => Err(describe(&e)),
                    }
                }
            }
        })
        .await;
        match sent {
            Err(_) => Err(Rejection::UpstreamTimeout {
                upstream: self.name.clone(),
                after: self.response_timeout,
            }),
            Ok(Err(detail)) => Err(Rejection::UpstreamUnavailable {
                upstream: self.name.clone(),
                detail,
            }),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// For a plain-HTTP base URL: the address to connect to, the `Host` header and the path
/// prefix (without a trailing slash).
fn plain_http(base_url: &str) -> Option<(String, HeaderValue, String)> {
    let uri: Uri = base_url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let authority = uri.authority()?;
    let host = HeaderValue::from_str(authority.as_str()).ok()?;
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let path = uri.path().trim_end_matches('/').to_owned();
    Some((address, host, path))
}

/// The innermost cause, which says what actually went wrong ("connection refused").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = cause.to_string();
        source = cause.source();
    }
    text
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) never cross a proxy.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Client headers that must not reach the upstream: its credentials are replaced, the
/// body may be re-framed, and responses must stay uncompressed so they can be inspected.
/// OpenAI organisation and project headers name the client's account at the provider,
/// which is not the account the upstream key belongs to.
const DROP_TO_UPSTREAM: &[&str] = &[
    "host",
    "authorization",
    "api-key",
    "content-length",
    "accept-encoding",
    "openai-organization",
    "openai-project",
    "x-forwarded-for",
    "forwarded",
];

/// Upstream headers the client must not see: the provider's organisation and the limits
/// of the operator's shared upstream key (the client gets its own key's limits instead).
const DROP_TO_CLIENT: &[&str] = &[
    "content-length",
    "openai-organization",
    "openai-project",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "set-cookie",
];

fn connection_listed(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case(name))
}

fn copy_request_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || DROP_TO_UPSTREAM.contains(&n) || connection_listed(from, n) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// Copies upstream response headers that may reach the client.
pub(crate) fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || DROP_TO_CLIENT.contains(&n) || connection_listed(from, n) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_and_hop_headers_never_reach_upstream() {
        let mut from = HeaderMap::new();
        from.insert("authorization", "Bearer bw-live-secret".parse().unwrap());
        from.insert("api-key", "bw-live-secret".parse().unwrap());
        from.insert("connection", "keep-alive, x-custom-hop".parse().unwrap());
        from.insert("x-custom-hop", "1".parse().unwrap());
        from.insert("user-agent", "openai-python/1.51.0".parse().unwrap());
        from.insert("accept-encoding", "gzip".parse().unwrap());
        let mut to = HeaderMap::new();
        copy_request_headers(&from, &mut to);
        assert_eq!(to.len(), 1, "{to:?}");
        assert_eq!(to["user-agent"], "openai-python/1.51.0");
    }

    #[test]
    fn provider_org_and_limits_never_reach_client() {
        let mut from = HeaderMap::new();
        from.insert("openai-organization", "org-operator".parse().unwrap());
        from.insert("x-ratelimit-limit-requests", "10000".parse().unwrap());
        from.insert("x-request-id", "req_1".parse().unwrap());
        let mut to = HeaderMap::new();
        copy_response_headers(&from, &mut to);
        assert_eq!(to.len(), 1);
        assert_eq!(to["x-request-id"], "req_1");
    }
}
