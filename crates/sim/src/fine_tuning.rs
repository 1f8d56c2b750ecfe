//! `/v1/fine_tuning/jobs`: create (the training file must have been uploaded), list,
//! retrieve and cancel. Jobs never train: they wait in `validating_files` until
//! cancelled, which keeps every answer deterministic.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, Query, State, rejection::BytesRejection, rejection::QueryRejection},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{answers, error::ApiError, overrides::Overrides, simulator::Shared, wire};

/// The most jobs remembered at once.
const MAX_JOBS: usize = 256;
/// The page size when the client names none, as OpenAI's.
const DEFAULT_PAGE: usize = 20;

#[derive(Debug, Deserialize)]
struct CreateJob {
    model: String,
    training_file: String,
    #[serde(default)]
    validation_file: Option<String>,
    #[serde(default)]
    hyperparameters: Option<Value>,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// The fine-tuning job object, as OpenAI returns it.
#[derive(Debug, Clone, Serialize)]
struct Job {
    id: String,
    object: &'static str,
    created_at: u64,
    error: Option<Value>,
    estimated_finish: Option<u64>,
    fine_tuned_model: Option<String>,
    finished_at: Option<u64>,
    hyperparameters: Value,
    integrations: Vec<Value>,
    metadata: Option<Value>,
    method: Value,
    model: String,
    organization_id: &'static str,
    result_files: Vec<String>,
    seed: i64,
    status: &'static str,
    suffix: Option<String>,
    trained_tokens: Option<u64>,
    training_file: String,
    validation_file: Option<String>,
}

/// The jobs, oldest first.
#[derive(Debug, Default)]
pub(crate) struct JobStore {
    jobs: Mutex<Vec<Job>>,
}

/// `POST /v1/fine_tuning/jobs`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(overrides): Extension<Overrides>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateJob = wire::parse_json(&wire::body(body)?)?;
    if request.model.trim().is_empty() {
        return Err(ApiError::invalid_param(
            "model",
            "Missing required parameter: 'model'.",
        ));
    }
    for (param, file) in [
        ("training_file", Some(&request.training_file)),
        ("validation_file", request.validation_file.as_ref()),
    ] {
        if let Some(file) = file
            && !shared.files.contains(file)
        {
            return Err(ApiError::invalid_param(
                param,
                format!("invalid {param}: {file}"),
            ));
        }
    }

    let hash = answers::hash(request.training_file.as_bytes());
    let hyperparameters = request.hyperparameters.unwrap_or_else(
        || json!({ "n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto" }),
    );
    let method = request.method.unwrap_or_else(|| {
        json!({ "type": "supervised", "supervised": { "hyperparameters": hyperparameters.clone() } })
    });
    let job = Job {
        id: format!("ftjob-{}", answers::id_hex(hash, shared.next_seq())),
        object: "fine_tuning.job",
        created_at: wire::unix_now(),
        error: None,
        estimated_finish: None,
        fine_tuned_model: None,
        finished_at: None,
        hyperparameters,
        integrations: Vec::new(),
        metadata: request.metadata,
        method,
        model: request.model,
        organization_id: "org-bulwark-sim",
        result_files: Vec::new(),
        seed: request.seed.unwrap_or((hash % 1_000_000) as i64),
        status: "validating_files",
        suffix: request.suffix,
        trained_tokens: None,
        training_file: request.training_file,
        validation_file: request.validation_file,
    };
    {
        let mut jobs = shared.jobs.jobs.lock();
        if jobs.len() >= MAX_JOBS {
            return Err(ApiError::invalid_request(format!(
                "the simulator keeps at most {MAX_JOBS} fine-tuning jobs"
            )));
        }
        jobs.push(job.clone());
    }
    wire::json_response(&job, &overrides)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/fine_tuning/jobs`: newest first, paged by `after` and `limit`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, 100);
    let (data, has_more) = {
        let jobs = shared.jobs.jobs.lock();
        let mut newest_first = jobs.iter().rev();
        if let Some(after) = &query.after {
            // Skip up to and including the cursor; an unknown cursor gives an empty page.
            newest_first.find(|job| &job.id == after);
        }
        let page: Vec<Job> = newest_first.by_ref().take(limit).cloned().collect();
        let has_more = newest_first.next().is_some();
        (page, has_more)
    };
    Ok(Json(json!({ "object": "list", "data": data, "has_more": has_more })).into_response())
}

/// `GET /v1/fine_tuning/jobs/{id}`.
pub(crate) async fn retrieve(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jobs = shared.jobs.jobs.lock();
    let job = jobs
        .iter()
        .find(|job| job.id == id)
        .ok_or_else(|| ApiError::no_such_object("fine-tuning job", &id))?;
    Ok(Json(job).into_response())
}

/// `POST /v1/fine_tuning/jobs/{id}/cancel`.
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut jobs = shared.jobs.jobs.lock();
    let job = jobs
        .iter_mut()
        .find(|job| job.id == id)
        .ok_or_else(|| ApiError::no_such_object("fine-tuning job", &id))?;
    if job.status == "cancelled" {
        return Err(ApiError::invalid_request(format!(
            "Job {id} has already been cancelled."
        )));
    }
    job.status = "cancelled";
    Ok(Json(&*job).into_response())
}
