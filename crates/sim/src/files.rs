//! `/v1/files`: upload (multipart), list, retrieve, download and delete, kept in memory
//! and bounded so a runaway test cannot exhaust the machine.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{
        Multipart, Path, Query, State,
        multipart::{MultipartError, MultipartRejection},
        rejection::QueryRejection,
    },
    http::header,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{answers, error::ApiError, overrides::Overrides, simulator::Shared, wire};

/// The most files stored at once.
pub(crate) const MAX_FILES: usize = 64;
/// The most bytes stored at once, all files together.
pub(crate) const MAX_TOTAL_BYTES: usize = 64 * 1024 * 1024;

/// The purposes OpenAI accepts for an upload.
const PURPOSES: [&str; 6] = [
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
];

/// The file object, as OpenAI returns it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileObject {
    id: String,
    object: &'static str,
    bytes: usize,
    created_at: u64,
    filename: String,
    purpose: String,
    status: &'static str,
    status_details: Option<String>,
    expires_at: Option<u64>,
}

#[derive(Debug)]
struct StoredFile {
    meta: FileObject,
    content: Bytes,
}

/// The uploaded files, oldest first.
#[derive(Debug, Default)]
pub(crate) struct FileStore {
    files: Mutex<Vec<StoredFile>>,
}

impl FileStore {
    fn insert(&self, meta: FileObject, content: Bytes) -> Result<FileObject, ApiError> {
        let mut files = self.files.lock();
        if files.len() >= MAX_FILES {
            return Err(ApiError::invalid_request(format!(
                "the simulator stores at most {MAX_FILES} files; delete some first"
            )));
        }
        let stored: usize = files.iter().map(|f| f.content.len()).sum();
        if stored.saturating_add(content.len()) > MAX_TOTAL_BYTES {
            return Err(ApiError::invalid_param(
                "file",
                format!(
                    "the simulator stores at most {MAX_TOTAL_BYTES} bytes of files; delete some first"
                ),
            ));
        }
        files.push(StoredFile {
            meta: meta.clone(),
            content,
        });
        Ok(meta)
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&StoredFile) -> T) -> Result<T, ApiError> {
        let files = self.files.lock();
        files
            .iter()
            .find(|file| file.meta.id == id)
            .map(f)
            .ok_or_else(|| ApiError::no_such_object("File object", id))
    }

    /// Whether a file with `id` is stored.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.files.lock().iter().any(|file| file.meta.id == id)
    }

    fn remove(&self, id: &str) -> Result<(), ApiError> {
        let mut files = self.files.lock();
        let index = files
            .iter()
            .position(|file| file.meta.id == id)
            .ok_or_else(|| ApiError::no_such_object("File object", id))?;
        files.remove(index);
        Ok(())
    }

    fn list(&self, purpose: Option<&str>) -> Vec<FileObject> {
        let files = self.files.lock();
        files
            .iter()
            .rev()
            .filter(|f| purpose.is_none_or(|p| f.meta.purpose == p))
            .map(|f| f.meta.clone())
            .collect()
    }
}

/// `POST /v1/files`: `multipart/form-data` with a `purpose` and a `file` field.
pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    Extension(overrides): Extension<Overrides>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart =
        multipart.map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
    let mut purpose = None;
    let mut file = None;
    let bad_form = |err: MultipartError| {
        ApiError::invalid_request(format!(
            "could not read the multipart body: {}",
            err.body_text()
        ))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("purpose") => purpose = Some(field.text().await.map_err(bad_form)?),
            Some("file") => {
                let filename = field.file_name().unwrap_or("upload").to_owned();
                file = Some((filename, field.bytes().await.map_err(bad_form)?));
            }
            _ => {}
        }
    }
    let purpose = purpose.ok_or_else(|| {
        ApiError::invalid_param("purpose", "Missing required parameter: 'purpose'.")
    })?;
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(ApiError::invalid_param(
            "purpose",
            format!("'{purpose}' is not one of {PURPOSES:?} - 'purpose'"),
        ));
    }
    let (filename, content) =
        file.ok_or_else(|| ApiError::invalid_param("file", "Missing required parameter: 'file'."))?;

    let hex = answers::id_hex(answers::hash(&content), shared.next_seq());
    let meta = FileObject {
        id: format!("file-{hex}"),
        object: "file",
        bytes: content.len(),
        created_at: wire::unix_now(),
        filename,
        purpose,
        status: "processed",
        status_details: None,
        expires_at: None,
    };
    let meta = shared.files.insert(meta, content)?;
    wire::json_response(&meta, &overrides)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    purpose: Option<String>,
}

/// `GET /v1/files`, newest first, optionally filtered by `purpose`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
    let data = shared.files.list(query.purpose.as_deref());
    let first_id = data.first().map(|f| f.id.clone());
    let last_id = data.last().map(|f| f.id.clone());
    Ok(Json(json!({ "object": "list", "data": data, "has_more": false, "first_id": first_id, "last_id": last_id }))
        .into_response())
}

/// `GET /v1/files/{id}`.
pub(crate) async fn retrieve(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let meta = shared.files.with(&id, |file| file.meta.clone())?;
    Ok(Json(meta).into_response())
}

/// `GET /v1/files/{id}/content`: the uploaded bytes, unchanged.
pub(crate) async fn content(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let content = shared.files.with(&id, |file| file.content.clone())?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        content,
    )
        .into_response())
}

/// `DELETE /v1/files/{id}`.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    shared.files.remove(&id)?;
    Ok(Json(json!({ "id": id, "object": "file", "deleted": true })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, purpose: &str, bytes: usize) -> FileObject {
        FileObject {
            id: id.to_owned(),
            object: "file",
            bytes,
            created_at: 0,
            filename: "f.jsonl".to_owned(),
            purpose: purpose.to_owned(),
            status: "processed",
            status_details: None,
            expires_at: None,
        }
    }

    #[test]
    fn stores_lists_and_removes() {
        let store = FileStore::default();
        store
            .insert(meta("file-a", "fine-tune", 1), Bytes::from_static(b"a"))
            .unwrap();
        store
            .insert(meta("file-b", "batch", 1), Bytes::from_static(b"b"))
            .unwrap();
        let ids: Vec<String> = store.list(None).into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["file-b", "file-a"]);
        assert_eq!(store.list(Some("batch")).len(), 1);
        assert!(store.contains("file-a"));
        store.remove("file-a").unwrap();
        assert!(!store.contains("file-a"));
        assert!(store.remove("file-a").is_err());
    }

    #[test]
    fn is_bounded_in_count_and_bytes() {
        let store = FileStore::default();
        for i in 0..MAX_FILES {
            store
                .insert(meta(&format!("file-{i}"), "batch", 0), Bytes::new())
                .unwrap();
        }
        assert!(
            store
                .insert(meta("file-x", "batch", 0), Bytes::new())
                .is_err()
        );

        let store = FileStore::default();
        let big = Bytes::from(vec![0u8; MAX_TOTAL_BYTES]);
        store
            .insert(meta("file-big", "batch", big.len()), big)
            .unwrap();
        assert!(
            store
                .insert(meta("file-1", "batch", 1), Bytes::from_static(b"x"))
                .is_err()
        );
    }
}
