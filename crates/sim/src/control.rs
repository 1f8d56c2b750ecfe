//! The simulator's own endpoints: the request log over HTTP (for out-of-process tests),
//! the health check, and OpenAI-shaped answers for unknown paths and methods.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
    response::IntoResponse,
};

use crate::{error::ApiError, log::LoggedRequest, simulator::Shared};

/// `GET /_sim/requests`: the request log, oldest first.
pub(crate) async fn requests(State(shared): State<Arc<Shared>>) -> Json<Vec<LoggedRequest>> {
    Json(shared.log.snapshot())
}

/// `DELETE /_sim/requests`: empties the request log.
pub(crate) async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.log.clear();
    StatusCode::NO_CONTENT
}

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Any path the simulator does not serve.
pub(crate) async fn not_found(request: Request) -> impl IntoResponse {
    ApiError::invalid_url(request.method().as_str(), request.uri().path())
}

/// A served path called with a method it does not take.
pub(crate) async fn method_not_allowed() -> impl IntoResponse {
    ApiError::method_not_allowed()
}
