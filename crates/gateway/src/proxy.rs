//! The life of an API request, as explicit phases:
//! classify → authenticate → limit requests → read and parse → authorize the model →
//! route → moderate the prompt → reserve tokens → forward → relay, moderate and observe
//! the answer → record.
//!
//! Content moderation ([`crate::enforce`]) checks the prompt before anything is reserved
//! or forwarded, a whole answer before it is returned, a streamed one as it is relayed
//! ([`crate::guard`]), an upload as it is forwarded ([`crate::upload`]);
//! `/v1/moderations` is answered here without an upstream. Each phase either adds facts to the [`RequestRecord`] or
//! returns a [`Rejection`]; [`respond`] turns either outcome into a response whose body
//! publishes the usage event when it ends.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    response::Response,
};
use bulwark_config::{FailMode, Policy};
use bulwark_core::KeyStatus;
use bulwark_store::StoredKey;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::{
    client::{PeerAddr, client_of},
    endpoint::Endpoint,
    enforce,
    error::Rejection,
    moderate,
    observe::SseRelay,
    ratelimit::estimate_tokens,
    record::{Finisher, Observed, RequestRecord, ResponseBody},
    request::{
        GuardedBody, declared_length, linger, parse_json_request, presented_key, read_body,
        with_stream_usage,
    },
    state::AppState,
    upload::{self, ModeratedUpload},
    upstream::{Target, UpstreamBody, copy_response_headers},
};

/// Largest upstream JSON answer the gateway buffers to inspect (embeddings of a large
/// batch are the biggest legitimate ones).
const MAX_BUFFERED_RESPONSE: u64 = 256 * 1024 * 1024;

/// Largest upstream error body read to explain a 5xx.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// What the upstream's answer becomes.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per request and moved straight into the response; boxing the \
              streamed variant would cost an allocation per request"
)]
enum Reply {
    /// Fully read and inspected.
    Buffered {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        observed: Observed,
    },
    /// Relayed as it arrives.
    Streamed {
        status: StatusCode,
        headers: HeaderMap,
        body: UpstreamBody,
        relay: Option<Box<SseRelay>>,
        idle: std::time::Duration,
    },
}

/// The handler for every `/v1/*` request.
pub(crate) async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let peer = request.extensions().get::<PeerAddr>().copied();
    handle_from(state, peer, request).await
}

/// [`handle`] for a request whose peer address is known: the server's hot path.
pub(crate) async fn handle_from(
    state: Arc<AppState>,
    peer: Option<PeerAddr>,
    request: Request,
) -> Response {
    let path = request.uri().path().to_owned();
    let endpoint = Endpoint::from_path(&path).unwrap_or(Endpoint::Other);
    let client = client_of(peer, request.headers(), &state.settings.trusted_proxies);
    // Boxed once here, so that the moves into the response body, its end and the deferred
    // job copy a pointer rather than the record (see `record::Finisher`).
    let mut record = Box::new(RequestRecord::start(
        endpoint,
        request.method(),
        path,
        client,
    ));
    let result = pipeline(&state, request, &mut record).await;
    respond(state, record, result)
}

async fn pipeline(
    state: &AppState,
    request: Request,
    record: &mut RequestRecord,
) -> Result<Reply, Rejection> {
    let (parts, body) = request.into_parts();
    let endpoint = record.endpoint;
    if endpoint == Endpoint::Other && !state.settings.allow_other_paths {
        return Err(Rejection::UnknownUrl {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
        });
    }

    // Authenticate. A suspended or revoked key is still attributed in the event: attempts
    // with a dead key are exactly what abuse detection wants to see.
    let presented = presented_key(&parts.headers).ok_or(Rejection::MissingKey)?;
    let key = state
        .keys
        .lookup(presented)
        .await
        .map_err(|e| Rejection::Internal(format!("key lookup failed: {e}")))?
        .ok_or(Rejection::UnknownKey)?;
    record.key = Some(Arc::clone(&key));
    match key.record.status {
        KeyStatus::Active => {}
        KeyStatus::Suspended => return Err(Rejection::SuspendedKey),
        KeyStatus::Revoked => return Err(Rejection::RevokedKey),
    }
    let limits = state.limiter.for_key(&key.record);
    record.limits = limits.check_request(&key.record).inspect_err(|_| {
        record.limits = limits.state(&key.record);
    })?;

    // `/v1/moderations` is answered here, by the scanner, never forwarded.
    if endpoint == Endpoint::Moderations {
        if parts.method != Method::POST {
            return Err(Rejection::UnknownUrl {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
            });
        }
        let bytes = read_body(
            &parts.headers,
            body,
            state.settings.max_body_bytes,
            state.settings.client_timeout,
        )
        .await?;
        let answer = crate::moderations::answer(state, record, &bytes).await?;
        return Ok(json_reply(answer));
    }

    // Read and parse what the gateway must understand; stream the rest.
    let rest = parts
        .uri
        .path_and_query()
        .map_or("", |pq| pq.as_str())
        .strip_prefix("/v1")
        .unwrap_or("");
    let has_body = !matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    );
    let mut forward_body = Body::empty();
    let mut content_length = None;
    let mut inject_usage = false;
    let mut guard = None;
    let mut upload = None;
    if has_body && (endpoint.is_generation() || is_json(&parts.headers)) {
        let bytes = read_body(
            &parts.headers,
            body,
            state.settings.max_body_bytes,
            state.settings.client_timeout,
        )
        .await?;
        let mut facts = parse_json_request(endpoint, &bytes)?;
        record.model = facts.model.clone();
        record.stream = facts.stream;
        let prompt_len = facts.input_text.len();
        if endpoint.is_generation() {
            // Kept for the event, which digests it after the response.
            record.input_text = Some(std::mem::take(&mut facts.input_text));
        }
        let target = route(state, &key, record.model.as_deref())?;
        // Moderate the prompt before anything is reserved or forwarded.
        if enforce::applies(state, endpoint) {
            let prompt = match &record.input_text {
                Some(text) => text.clone(),
                None => std::mem::take(&mut facts.input_text),
            };
            enforce::check_prompt(state, record, &prompt).await?;
        }
        if endpoint.is_generation() {
            let estimate = estimate_tokens(prompt_len, facts.max_output_tokens);
            record.limits = limits
                .reserve_tokens(&key.record, estimate)
                .inspect_err(|_| {
                    record.limits = limits.state(&key.record);
                })?;
            if key.record.tpm.is_some() {
                record.reserved_tokens = estimate;
                // Settled with the event, on the same buckets.
                record.key_limits = limits.clone();
            }
        }
        let bytes = if endpoint == Endpoint::ChatCompletions
            && facts.stream
            && !facts.client_wants_usage
            && !facts.has_stream_options
            && target.stream_usage
        {
            inject_usage = true;
            with_stream_usage(&bytes).unwrap_or(bytes)
        } else {
            bytes
        };
        content_length = Some(bytes.len() as u64);
        forward_body = Body::from(bytes);
        return forward(
            state,
            target,
            parts.method,
            rest,
            &parts.headers,
            forward_body,
            content_length,
            record,
            inject_usage,
        )
        .await;
    }
    if has_body {
        let limit = if endpoint == Endpoint::Files {
            state.settings.max_upload_bytes
        } else {
            state.settings.max_body_bytes
        };
        let declared = declared_length(&parts.headers);
        if declared.is_some_and(|len| len > limit) {
            // Read a modest excess so the client sees the 413 rather than a reset.
            if declared.is_some_and(|len| len - limit <= 8 * 1024 * 1024) {
                linger(body).await;
            }
            return Err(Rejection::BodyTooLarge(limit));
        }
        content_length = declared;
        let (guarded, guard_state) = GuardedBody::new(body, limit, state.settings.client_timeout);
        forward_body = match moderated_upload(state, &key, &parts, rest) {
            Some((boundary, fail_mode, policy)) => {
                let (body, slot) = ModeratedUpload::new(
                    guarded,
                    &boundary,
                    Arc::clone(&state.moderation),
                    policy,
                    fail_mode,
                );
                upload = Some(slot);
                Body::new(body)
            }
            None => Body::new(guarded),
        };
        guard = Some((guard_state, limit));
    }

    // Models: the list is the union of what the upstreams serve, narrowed to what this
    // key may use; a model the key may not use does not exist for it.
    if endpoint == Endpoint::Models && parts.method == Method::GET {
        let id = rest
            .strip_prefix("/models")
            .unwrap_or("")
            .trim_start_matches('/');
        let id = id.split('?').next().unwrap_or("");
        if id.is_empty() {
            return list_models(state, &key, &parts.headers).await;
        }
        let id = percent_decode(id);
        record.model = Some(id.clone());
        if !key.record.allows_model(&id) {
            return Err(Rejection::ModelNotFound(id));
        }
        let target = state
            .upstreams
            .route(Some(&id))
            .ok_or_else(|| Rejection::ModelNotFound(id.clone()))?;
        return forward(
            state,
            target,
            parts.method,
            rest,
            &parts.headers,
            forward_body,
            content_length,
            record,
            false,
        )
        .await;
    }

    let target = route(state, &key, None)?;
    let result = forward(
        state,
        target,
        parts.method,
        rest,
        &parts.headers,
        forward_body,
        content_length,
        record,
        false,
    )
    .await;
    // A moderated upload: record what the scan found; a refused one is refused here.
    if let Some(slot) = upload {
        let outcome = std::mem::take(&mut *slot.lock());
        if outcome.record.is_some() {
            record.moderation.upload = outcome.record;
        }
        if let Some(rejection) = outcome.rejection {
            return Err(rejection);
        }
    }
    // A streamed upload that broke the gateway's own limits is the client's fault.
    match (&result, guard) {
        (Err(_), Some((guard, limit))) => {
            match guard.rejection(limit, state.settings.client_timeout) {
                Some(rejection) => {
                    if let Some(rest) = guard.take_rest() {
                        linger(rest).await;
                    }
                    Err(rejection)
                }
                None => result,
            }
        }
        _ => result,
    }
}

/// Whether this request is an upload whose content moderation checks (`POST /v1/files`
/// as `multipart/form-data`): its boundary and the tenant's fail mode and policy.
fn moderated_upload(
    state: &AppState,
    key: &StoredKey,
    parts: &http::request::Parts,
    rest: &str,
) -> Option<(String, FailMode, Policy)> {
    if !state.moderation.enabled || parts.method != Method::POST || rest != "/files" {
        return None;
    }
    let boundary = upload::boundary(&parts.headers)?;
    let (fail_mode, policy) = state.moderation.for_tenant(Some(&key.record.tenant));
    Some((boundary, fail_mode, *policy))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("application/json"))
}

/// Authorizes the model for the key and picks the upstream that serves it.
fn route<'a>(
    state: &'a AppState,
    key: &StoredKey,
    model: Option<&str>,
) -> Result<&'a Target, Rejection> {
    if let Some(model) = model
        && !key.record.allows_model(model)
    {
        return Err(Rejection::ModelNotAllowed(model.to_owned()));
    }
    state
        .upstreams
        .route(model)
        .ok_or_else(|| Rejection::ModelNotFound(model.unwrap_or_default().to_owned()))
}

#[allow(
    clippy::too_many_arguments,
    reason = "the phase's inputs, named; a struct would only rename them"
)]
async fn forward(
    state: &AppState,
    target: &Target,
    method: Method,
    rest: &str,
    headers: &HeaderMap,
    body: Body,
    content_length: Option<u64>,
    record: &mut RequestRecord,
    strip_usage_chunk: bool,
) -> Result<Reply, Rejection> {
    record.upstream = Some(target.name.clone());
    record.upstream_started = Some(std::time::Instant::now());
    let response = target
        .send(method, rest, headers, body, content_length)
        .await?;
    let (parts, body) = response.into_parts();
    let status = parts.status;

    if status.is_server_error() {
        let bytes = read_upstream(body, MAX_ERROR_BODY, target)
            .await
            .unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        return Err(Rejection::UpstreamFailed {
            upstream: target.name.clone(),
            status: status.as_u16(),
            message,
        });
    }

    // Room for what `respond` adds (length, the key's limits, the request id) so that the
    // map is allocated once.
    let mut out_headers = HeaderMap::with_capacity(parts.headers.len() + 10);
    copy_response_headers(&parts.headers, &mut out_headers);
    let is_sse = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    let endpoint = record.endpoint;

    if is_sse {
        let relay = endpoint.is_generation().then(|| {
            let relay = SseRelay::new(endpoint, strip_usage_chunk, state.settings.capture_text);
            Box::new(
                if enforce::applies(state, endpoint) && status.is_success() {
                    relay.with_guard(enforce::stream_guard(state, record))
                } else {
                    relay
                },
            )
        });
        return Ok(Reply::Streamed {
            status,
            headers: out_headers,
            body,
            relay,
            idle: target.idle_timeout,
        });
    }
    if endpoint.is_generation() && status.is_success() {
        let bytes = read_upstream(body, MAX_BUFFERED_RESPONSE, target).await?;
        // The event reads the upstream's own answer, after the client has its reply.
        let observed = Observed::Json {
            endpoint,
            body: bytes.clone(),
        };
        let bytes = if enforce::applies(state, endpoint) {
            enforce::check_answer(state, record, bytes).await?
        } else {
            bytes
        };
        return Ok(Reply::Buffered {
            status,
            headers: out_headers,
            body: bytes,
            observed,
        });
    }
    Ok(Reply::Streamed {
        status,
        headers: out_headers,
        body,
        relay: None,
        idle: target.idle_timeout,
    })
}

/// Reads an upstream body whole, within a size limit and the idle timeout between chunks.
async fn read_upstream(
    mut body: UpstreamBody,
    limit: u64,
    target: &Target,
) -> Result<Bytes, Rejection> {
    let mut buf = bytes::BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(target.idle_timeout, body.frame()).await {
            Err(_) => {
                return Err(Rejection::UpstreamTimeout {
                    upstream: target.name.clone(),
                    after: target.idle_timeout,
                });
            }
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) => {
                return Err(Rejection::UpstreamUnavailable {
                    upstream: target.name.clone(),
                    detail: e.to_string(),
                });
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                return Err(Rejection::UpstreamTooLarge {
                    upstream: target.name.clone(),
                    limit,
                });
            }
            // An answer that arrives in one frame (most: hyper hands over a whole
            // `Content-Length` body it has already read) is that frame, not a copy.
            if buf.is_empty() && http_body::Body::is_end_stream(&body) {
                return Ok(data);
            }
            buf.extend_from_slice(&data);
        }
    }
}

/// `GET /v1/models`: every upstream's list, merged, filtered to what each upstream serves
/// and what the key may use.
async fn list_models(
    state: &AppState,
    key: &StoredKey,
    headers: &HeaderMap,
) -> Result<Reply, Rejection> {
    let mut data: Vec<Value> = Vec::new();
    let mut last_error = None;
    let mut answered = 0;
    for target in state.upstreams.all() {
        let result = async {
            let response = target
                .send(Method::GET, "/models", headers, Body::empty(), None)
                .await?;
            let status = response.status();
            let bytes = read_upstream(response.into_body(), MAX_ERROR_BODY * 64, target).await?;
            if !status.is_success() {
                return Err(Rejection::UpstreamFailed {
                    upstream: target.name.clone(),
                    status: status.as_u16(),
                    message: None,
                });
            }
            Ok(serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
        .await;
        match result {
            Ok(list) => {
                answered += 1;
                for model in list
                    .get("data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(id) = model.get("id").and_then(Value::as_str) else {
                        continue;
                    };
                    let first_server = state
                        .upstreams
                        .route(Some(id))
                        .is_some_and(|t| std::ptr::eq(t, target));
                    if first_server
                        && key.record.allows_model(id)
                        && !data.iter().any(|m| m.get("id") == model.get("id"))
                    {
                        data.push(model.clone());
                    }
                }
            }
            Err(e) => {
                tracing::warn!(upstream = %target.name, error = %e, "model list failed");
                last_error = Some(e);
            }
        }
    }
    if answered == 0 {
        return Err(
            last_error.unwrap_or_else(|| Rejection::Internal("no upstream configured".into()))
        );
    }
    let body = serde_json::to_vec(&serde_json::json!({"object": "list", "data": data}))
        .map_err(|e| Rejection::Internal(e.to_string()))?;
    Ok(json_reply(Bytes::from(body)))
}

/// A 200 JSON answer made by the gateway itself.
fn json_reply(body: Bytes) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Reply::Buffered {
        status: StatusCode::OK,
        headers,
        body,
        observed: Observed::NOTHING,
    }
}

/// Decodes `%XX` escapes in a path segment (model ids such as `ft:gpt-4o:org:x`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The header that names a request's event (`evt_…`) in its answer. A static name: one
/// inserted as a `&str` is copied into a new buffer on every answer.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-bulwark-request-id");

/// Builds the response, success or rejection, around a body that records the event.
fn respond(
    state: Arc<AppState>,
    mut record: Box<RequestRecord>,
    result: Result<Reply, Rejection>,
) -> Response {
    let limits = record.limits;
    let id = HeaderValue::try_from(record.id.as_str()).ok();
    let skipped = record.moderation_skipped();
    let (status, mut headers, body) = match result {
        Ok(Reply::Buffered {
            status,
            headers,
            body,
            observed,
        }) => {
            record.status = status.as_u16();
            if !status.is_success() {
                record.error = Some("upstream_client_error");
            }
            // hyper writes `content-length` from the body's exact size, without the two
            // allocations a `HeaderValue` of a number costs.
            (
                status,
                headers,
                ResponseBody::ready(body, Finisher::new(Arc::clone(&state), record), observed),
            )
        }
        Ok(Reply::Streamed {
            status,
            headers,
            body,
            relay,
            idle,
        }) => {
            record.status = status.as_u16();
            if !status.is_success() {
                record.error = Some("upstream_client_error");
            }
            (
                status,
                headers,
                ResponseBody::relay(body, relay, idle, Finisher::new(Arc::clone(&state), record)),
            )
        }
        Err(rejection) => {
            let status = rejection.status();
            record.status = status.as_u16();
            record.decision = rejection.decision();
            record.error = Some(rejection.code());
            if rejection.status().is_server_error() {
                tracing::warn!(event = %record.id, error = %rejection, "request failed");
            }
            let headers = rejection.headers();
            let body = Bytes::from(rejection.to_json());
            (
                status,
                headers,
                ResponseBody::ready(
                    body,
                    Finisher::new(Arc::clone(&state), record),
                    Observed::NOTHING,
                ),
            )
        }
    };
    limits.write_headers(&mut headers);
    if skipped {
        headers.insert(moderate::HEADER, HeaderValue::from_static("skipped"));
    }
    if let Some(id) = id {
        headers.insert(REQUEST_ID.clone(), id);
    }
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_model_ids() {
        assert_eq!(percent_decode("ft%3Agpt-4o%3Aorg"), "ft:gpt-4o:org");
        assert_eq!(percent_decode("bad%zz%"), "bad%zz%");
    }
}
