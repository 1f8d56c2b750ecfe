//! What every request goes through before its endpoint: the request log, the API-key
//! check and the `x-sim-*` overrides (latency, forced status, dropped connection).
//!
//! The simulator's own control paths (`/_sim/*`, `/healthz`) skip all of it, so reading
//! the log neither needs a key nor shows up in the log.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, header};

use crate::{
    error::ApiError,
    log::LoggedRequest,
    overrides::{Fail, Overrides},
    simulator::{BODY_LIMIT, Shared},
    sse,
};

/// The middleware wrapped around every route; see the module docs.
pub(crate) async fn front(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path.starts_with("/_sim/") {
        return next.run(request).await;
    }
    let is_api = path == "/v1" || path.starts_with("/v1/");
    let overrides = Overrides::from_headers(&shared.config, request.headers());

    let mut request = if shared.log.enabled() {
        match record(&shared, request).await {
            Ok(request) => request,
            Err(err) => return err.into_response(),
        }
    } else {
        request
    };

    if !overrides.latency.is_zero() {
        tokio::time::sleep(overrides.latency).await;
    }
    if is_api
        && let Some(key) = &shared.config.require_key
        && let Err(err) = check_key(request.headers(), key)
    {
        return err.into_response();
    }
    if let Some(status) = overrides.status {
        return ApiError::simulated(status).into_response();
    }
    if overrides.fail == Some(Fail::Close) {
        return sse::broken_body().into_response();
    }
    request.extensions_mut().insert(overrides);
    next.run(request).await
}

/// Logs `request` and hands it back with its body buffered.
async fn record(shared: &Shared, request: Request) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|err| {
            let err = err.into_inner();
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::too_large(BODY_LIMIT)
            } else {
                ApiError::invalid_request(format!("could not read the request body: {err}"))
            }
        })?;
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
    shared.log.push(LoggedRequest::new(
        &parts.method,
        path,
        &parts.headers,
        &bytes,
    ));
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Accepts `Authorization: Bearer <key>` or `api-key: <key>`.
fn check_key(headers: &HeaderMap, key: &str) -> Result<(), ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bearer = authorization.and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let api_key = headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|presented| presented == key)
    {
        Ok(())
    } else {
        let provided = authorization.is_some() || api_key.is_some();
        Err(ApiError::invalid_api_key(provided))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn accepts_bearer_or_api_key() {
        assert!(check_key(&headers(&[("authorization", "Bearer sk-1")]), "sk-1").is_ok());
        assert!(check_key(&headers(&[("authorization", "bearer sk-1")]), "sk-1").is_ok());
        assert!(check_key(&headers(&[("api-key", "sk-1")]), "sk-1").is_ok());
        assert!(
            check_key(
                &headers(&[("authorization", "Bearer nope"), ("api-key", "sk-1")]),
                "sk-1"
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_missing_or_wrong_keys() {
        assert!(check_key(&HeaderMap::new(), "sk-1").is_err());
        assert!(check_key(&headers(&[("authorization", "Bearer sk-2")]), "sk-1").is_err());
        assert!(check_key(&headers(&[("authorization", "Basic sk-1")]), "sk-1").is_err());
        assert!(check_key(&headers(&[("authorization", "sk-1")]), "sk-1").is_err());
    }
}
