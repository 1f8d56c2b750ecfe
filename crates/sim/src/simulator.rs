//! The [`Simulator`]: shared state, the route table and the server loop.

use std::{
    future::Future,
    io,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post},
    serve::ListenerExt,
};

use crate::{
    chat, completions,
    config::SimConfig,
    control, embeddings,
    error::ApiError,
    files::{self, FileStore},
    fine_tuning::{self, JobStore},
    front,
    log::{LoggedRequest, RequestLog},
    models::Catalog,
    responses,
};

/// The largest request body accepted: one maximal file upload plus multipart framing.
pub(crate) const BODY_LIMIT: usize = files::MAX_TOTAL_BYTES + 1024 * 1024;

/// State shared by every handler of one simulator.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) log: RequestLog,
    pub(crate) catalog: Catalog,
    pub(crate) files: FileStore,
    pub(crate) jobs: JobStore,
    seq: AtomicU64,
}

impl Shared {
    /// A number unique within this simulator, for ids.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Fails with OpenAI's 404 unless `model` is served.
    pub(crate) fn check_model(&self, model: &str) -> Result<(), ApiError> {
        if self.catalog.serves(model) {
            Ok(())
        } else {
            Err(ApiError::model_not_found(model))
        }
    }
}

/// A simulated OpenAI-compatible upstream. Cheap to clone: clones share the request log,
/// the stored files and the fine-tuning jobs.
#[derive(Debug, Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

impl Simulator {
    /// A simulator with `config`. Nothing is bound until [`Simulator::serve`] or until the
    /// [`Simulator::router`] is mounted somewhere.
    pub fn new(config: SimConfig) -> Self {
        let shared = Shared {
            log: RequestLog::new(config.log_capacity),
            catalog: Catalog::new(&config.models),
            files: FileStore::default(),
            jobs: JobStore::default(),
            seq: AtomicU64::new(1),
            config,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Every endpoint of the simulator, ready to serve or to mount in another router:
    /// `/v1/*` (the OpenAI API), `/_sim/requests` (the request log) and `/healthz`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(chat::create))
            .route("/v1/completions", post(completions::create))
            .route("/v1/embeddings", post(embeddings::create))
            .route("/v1/responses", post(responses::create))
            .route("/v1/models", get(crate::models::list))
            .route("/v1/models/{*id}", get(crate::models::retrieve))
            .route("/v1/files", post(files::upload).get(files::list))
            .route("/v1/files/{id}", get(files::retrieve).delete(files::delete))
            .route("/v1/files/{id}/content", get(files::content))
            .route(
                "/v1/fine_tuning/jobs",
                post(fine_tuning::create).get(fine_tuning::list),
            )
            .route("/v1/fine_tuning/jobs/{id}", get(fine_tuning::retrieve))
            .route(
                "/v1/fine_tuning/jobs/{id}/cancel",
                post(fine_tuning::cancel),
            )
            .route(
                "/_sim/requests",
                get(control::requests).delete(control::clear_requests),
            )
            .route("/healthz", get(control::healthz))
            .fallback(control::not_found)
            .method_not_allowed_fallback(control::method_not_allowed)
            .layer(middleware::from_fn_with_state(
                self.shared.clone(),
                front::front,
            ))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.shared.clone())
    }

    /// The logged requests, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.snapshot()
    }

    /// Forgets every logged request.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Serves the [`Simulator::router`] on `listener` until `shutdown` completes, then
    /// lets in-flight responses finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        // Streams are many small writes; Nagle's algorithm would batch them and distort both
        // chunk timing and benchmark latency.
        let listener = listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}
