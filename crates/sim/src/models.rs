//! `GET /v1/models` and `GET /v1/models/{id}`: the served model ids, listed from JSON
//! rendered once at start-up.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Serialize;

use crate::{error::ApiError, simulator::Shared};

/// The fixed `created` timestamp of every model, so listings are byte-for-byte stable.
const CREATED: u64 = 1_700_000_000;

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

impl<'a> Model<'a> {
    fn new(id: &'a str) -> Self {
        Self {
            id,
            object: "model",
            created: CREATED,
            owned_by: "bulwark-sim",
        }
    }
}

/// The served models and their pre-rendered JSON.
#[derive(Debug)]
pub(crate) struct Catalog {
    ids: Vec<String>,
    list_json: Bytes,
}

impl Catalog {
    pub(crate) fn new(ids: &[String]) -> Self {
        let data: Vec<Model<'_>> = ids.iter().map(|id| Model::new(id)).collect();
        let list = serde_json::json!({ "object": "list", "data": data });
        Self {
            ids: ids.to_vec(),
            list_json: Bytes::from(list.to_string()),
        }
    }

    pub(crate) fn serves(&self, model: &str) -> bool {
        self.ids.iter().any(|id| id == model)
    }
}

fn json(bytes: impl Into<Bytes>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes.into()).into_response()
}

/// `GET /v1/models`.
pub(crate) async fn list(State(shared): State<Arc<Shared>>) -> Response {
    json(shared.catalog.list_json.clone())
}

/// `GET /v1/models/{id}`; ids may contain `/`, as some providers' do.
pub(crate) async fn retrieve(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    shared.check_model(&id)?;
    Ok(json(serde_json::to_vec(&Model::new(&id))?))
}
