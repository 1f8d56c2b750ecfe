//! The admin API under `/admin/v1/`: tenants, accounts and keys, the same operations as
//! the CLI (both go through [`bulwark_identity::Directory`]). Protected by the admin
//! token; errors are OpenAI-shaped like everywhere else.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State, rejection::QueryRejection},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use bulwark_bus::Publish;
use bulwark_core::{AccountId, Client, KeyId, KeyStatus, TenantId, Verification};
use bulwark_identity::{DirectoryError, NewAccount, NewKey};
use bulwark_store::{KeyFilter, StoreError};
use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::{error::Rejection, request::presented_key, state::AppState};

pub(crate) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route("/tenants/{id}", get(get_tenant))
        .route("/accounts", post(create_account).get(list_accounts))
        .route("/accounts/{id}", get(get_account))
        .route("/keys", post(create_key).get(list_keys))
        .route("/keys/{id}", get(get_key))
        .route("/keys/{id}/suspend", post(suspend_key))
        .route("/keys/{id}/resume", post(resume_key))
        .route("/keys/{id}/revoke", post(revoke_key))
        .fallback(|request: Request| async move {
            Rejection::UnknownUrl {
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
            }
        })
        .layer(middleware::from_fn_with_state(state, authorize))
}

/// Every admin call needs the admin token when one is configured (configuration
/// validation guarantees one is whenever the server listens beyond loopback).
async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.admin_token {
        let presented = presented_key(request.headers()).unwrap_or("");
        let ok: bool = presented.as_bytes().ct_eq(token.expose().as_bytes()).into();
        if !ok {
            return Rejection::AdminUnauthorized.into_response();
        }
    }
    next.run(request).await
}

type Reply = Result<(StatusCode, Json<Value>), Rejection>;

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Rejection> {
    let text = std::str::from_utf8(body).map_err(|_| Rejection::InvalidUtf8)?;
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text).map_err(|e| Rejection::InvalidJson(e.to_string()))
}

fn id<T: std::str::FromStr<Err = bulwark_core::IdError>>(text: &str) -> Result<T, Rejection> {
    text.parse()
        .map_err(|e: bulwark_core::IdError| Rejection::InvalidParam {
            param: "id",
            message: e.to_string(),
        })
}

fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, Rejection> {
    q.map(|Query(q)| q).map_err(|e| Rejection::InvalidParam {
        param: "query",
        message: e.body_text(),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, Rejection> {
    serde_json::to_value(value).map_err(|e| Rejection::Internal(e.to_string()))
}

impl From<DirectoryError> for Rejection {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(message) => Rejection::InvalidParam {
                param: "body",
                message,
            },
            DirectoryError::Store(StoreError::NotFound(what)) => {
                Rejection::NotFound(capitalize(&what))
            }
            DirectoryError::Store(
                e @ (StoreError::Conflict(_) | StoreError::InvalidTransition { .. }),
            ) => Rejection::Conflict(e.to_string()),
            DirectoryError::Store(e) => Rejection::Internal(e.to_string()),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: Option<String>,
}

async fn create_tenant(State(state): State<Arc<AppState>>, body: Bytes) -> Reply {
    let req: CreateTenant = parse(&body)?;
    let tenant = state.directory.create_tenant(req.name).await?;
    Ok((StatusCode::CREATED, Json(to_json(&tenant)?)))
}

async fn list_tenants(State(state): State<Arc<AppState>>) -> Reply {
    let tenants = state.directory.list_tenants().await?;
    Ok((
        StatusCode::OK,
        Json(json!({"object": "list", "data": tenants})),
    ))
}

async fn get_tenant(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Reply {
    let tenant_id: TenantId = id(&raw)?;
    let tenant = state
        .directory
        .get_tenant(&tenant_id)
        .await?
        .ok_or_else(|| Rejection::NotFound(format!("Tenant `{raw}`")))?;
    Ok((StatusCode::OK, Json(to_json(&tenant)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    tenant: TenantId,
    name: Option<String>,
    #[serde(default)]
    verification: Option<Verification>,
    /// Where the sign-up came from (the end user's address, not the operator's).
    #[serde(default)]
    client: Option<Client>,
    #[serde(default)]
    signals: serde_json::Map<String, Value>,
}

async fn create_account(State(state): State<Arc<AppState>>, body: Bytes) -> Reply {
    let req: CreateAccount = parse(&body)?;
    let (account, event) = state
        .directory
        .create_account(NewAccount {
            tenant: req.tenant,
            name: req.name,
            verification: req.verification.unwrap_or(Verification::None),
            client: req.client.unwrap_or_default(),
            signals: req.signals,
        })
        .await?;
    state.bus.publish(event);
    Ok((StatusCode::CREATED, Json(to_json(&account)?)))
}

async fn list_accounts(
    State(state): State<Arc<AppState>>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let q = query(q)?;
    let tenant: Option<TenantId> = q.get("tenant").map(|t| id(t)).transpose()?;
    let accounts = state.directory.list_accounts(tenant.as_ref()).await?;
    Ok((
        StatusCode::OK,
        Json(json!({"object": "list", "data": accounts})),
    ))
}

async fn get_account(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Reply {
    let account_id: AccountId = id(&raw)?;
    let account = state
        .directory
        .get_account(&account_id)
        .await?
        .ok_or_else(|| Rejection::NotFound(format!("Account `{raw}`")))?;
    Ok((StatusCode::OK, Json(to_json(&account)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    account: AccountId,
    name: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    rpm: Option<u32>,
    tpm: Option<u32>,
}

async fn create_key(State(state): State<Arc<AppState>>, body: Bytes) -> Reply {
    let req: CreateKey = parse(&body)?;
    let created = state
        .directory
        .create_key(NewKey {
            account: Some(req.account),
            name: req.name,
            models: req.models,
            rpm: req.rpm,
            tpm: req.tpm,
        })
        .await?;
    state.bus.publish(created.event);
    let mut value = to_json(&created.record)?;
    if let Value::Object(map) = &mut value {
        map.insert(
            "secret".into(),
            Value::String(created.secret.expose().to_owned()),
        );
    }
    Ok((StatusCode::CREATED, Json(value)))
}

async fn list_keys(
    State(state): State<Arc<AppState>>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let q = query(q)?;
    let status = q
        .get("status")
        .map(|s| s.parse::<KeyStatus>())
        .transpose()
        .map_err(|e| Rejection::InvalidParam {
            param: "status",
            message: e.to_string(),
        })?;
    let filter = KeyFilter {
        tenant: q.get("tenant").map(|t| id(t)).transpose()?,
        account: q.get("account").map(|a| id(a)).transpose()?,
        status,
    };
    let keys = state.directory.list_keys(&filter).await?;
    Ok((
        StatusCode::OK,
        Json(json!({"object": "list", "data": keys})),
    ))
}

async fn get_key(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Reply {
    let key_id: KeyId = id(&raw)?;
    let key = state
        .directory
        .get_key(&key_id)
        .await?
        .ok_or_else(|| Rejection::NotFound(format!("Key `{raw}`")))?;
    Ok((StatusCode::OK, Json(to_json(&key)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    reason: Option<String>,
}

async fn change_status(state: Arc<AppState>, raw: String, body: Bytes, to: KeyStatus) -> Reply {
    let key_id: KeyId = id(&raw)?;
    let req: StatusBody = parse(&body)?;
    let outcome = state
        .directory
        .set_key_status(key_id, to, req.reason, "admin_api")
        .await?;
    // Apply to this process's cache now rather than at the next change-feed poll.
    if let Err(error) = state.keys.refresh().await {
        tracing::warn!(%error, "key cache refresh after a status change failed; the poller will retry");
    }
    if let Some(event) = outcome.event {
        state.bus.publish(event);
    }
    Ok((StatusCode::OK, Json(to_json(&outcome.record)?)))
}

async fn suspend_key(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Reply {
    change_status(state, raw, body, KeyStatus::Suspended).await
}

async fn resume_key(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Reply {
    change_status(state, raw, body, KeyStatus::Active).await
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Reply {
    change_status(state, raw, body, KeyStatus::Revoked).await
}
