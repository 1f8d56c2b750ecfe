//! Starting and stopping the gateway: build runtime objects from a validated
//! configuration, bind, accept connections, drain on shutdown, flush events.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use bulwark_bus::{AlertBus, EventBus, StoreWriter};
use bulwark_config::{AuthStyle, Config, Upstream};
use bulwark_identity::{Directory, KeyCache, KeyHasher, Pepper, PepperError};
use bulwark_moderation::{Model, ModelError, RulePack, Scanner, SemanticModel};
use bulwark_sim::{SimConfig, Simulator};
use bulwark_store::{Retention, SqliteStore, Store, StoreError};
use http::{HeaderValue, StatusCode, header};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tower::ServiceExt;

use crate::{
    admin,
    client::PeerAddr,
    detection::{self, DetectionStats},
    error::Rejection,
    metrics::Metrics,
    moderate::Moderation,
    proxy,
    ratelimit::RateLimiter,
    state::{AppState, Settings},
    upstream::{UpstreamSetupError, Upstreams},
};

/// How often the key cache reads the store's change feed. Key status changes made by any
/// process reach every request path within this interval.
const KEY_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How long shutdown waits for the detectors to finish their queue.
const DETECTION_DRAIN: Duration = Duration::from_secs(10);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pepper(#[from] PepperError),
    #[error(transparent)]
    Upstream(#[from] UpstreamSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the built-in simulator: {0}")]
    Simulator(std::io::Error),
    #[error("cannot start a worker thread: {0}")]
    Worker(std::io::Error),
    #[error("cannot start request worker {index}: {reason}")]
    WorkerLoop { index: usize, reason: String },
    #[error("cannot read the moderation model `{}`: {source}", .path.display())]
    ModelFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot build the moderation scanner: {0}")]
    Scanner(String),
    #[error("cannot load the moderation model `{}`: {source}", .path.display())]
    Model {
        path: std::path::PathBuf,
        source: ModelError,
    },
}

/// What shutdown did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Request workers that ended before a shutdown was requested (their event loop
    /// could not start, or they panicked). Any such worker stops the gateway.
    pub failed_workers: usize,
    /// Connections still open when the grace period ran out, closed by force.
    pub aborted_connections: usize,
    /// Events written to the store over the gateway's life.
    pub events_written: u64,
    /// Events shed because the bus was full.
    pub events_dropped: u64,
    /// Events lost because the store kept failing.
    pub events_failed: u64,
}

/// A running gateway. Dropping it does not stop it: call [`RunningGateway::shutdown`]
/// then [`RunningGateway::wait`].
#[derive(Debug)]
pub struct RunningGateway {
    addr: SocketAddr,
    state: Arc<AppState>,
    simulator: Option<(Simulator, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<ShutdownReport>,
    alerts: Arc<AlertBus>,
    detection: Arc<DetectionStats>,
}

impl RunningGateway {
    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tenant, account and key operations on the gateway's store.
    pub fn directory(&self) -> &Directory {
        &self.state.directory
    }

    /// The alerts the live detectors raise, as they are raised (after they are stored).
    pub fn alerts(&self) -> &AlertBus {
        &self.alerts
    }

    /// The live detectors' counters.
    pub fn detection(&self) -> &DetectionStats {
        &self.detection
    }

    /// The built-in simulator and its address, when no upstream is configured.
    pub fn simulator(&self) -> Option<(&Simulator, SocketAddr)> {
        self.simulator.as_ref().map(|(s, a)| (s, *a))
    }

    /// Begins a graceful shutdown: stop accepting, let in-flight requests finish within
    /// `server.shutdown_timeout`, then flush every pending event.
    pub fn shutdown(&self) {
        self.state.draining.store(true, Ordering::Relaxed);
        self.shutdown.send_replace(true);
    }

    /// Resolves once the gateway is stopping: asked to by [`RunningGateway::shutdown`],
    /// or on its own because a request worker failed (see [`ShutdownReport`]). `serve`
    /// waits for this beside the signals, so that a gateway that stopped on its own does
    /// not leave a process up that serves nothing.
    pub fn stopping(&self) -> impl Future<Output = ()> + use<> {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await.map(|_| ());
        }
    }

    /// Waits until the gateway has stopped and its events are written.
    pub async fn wait(self) -> ShutdownReport {
        match self.task.await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(%error, "gateway task failed");
                ShutdownReport {
                    failed_workers: 0,
                    aborted_connections: 0,
                    events_written: 0,
                    events_dropped: 0,
                    events_failed: 0,
                }
            }
        }
    }
}

/// Starts the gateway on the SQLite store in `config.server.data_dir`.
pub async fn start(config: &Config) -> Result<RunningGateway, StartError> {
    let dir = config.server.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
    start_with_store(config, Arc::new(store)).await
}

/// Starts the gateway on the SQLite store in `config.server.data_dir`, moderating with
/// `scanner` instead of the built-in (or configured) model and rules; the configured
/// threshold overrides still apply. For tests that need a deterministic scanner.
pub async fn start_with_scanner(
    config: &Config,
    scanner: Scanner,
) -> Result<RunningGateway, StartError> {
    let dir = config.server.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
    start_inner(config, Arc::new(store), Some(scanner)).await
}

/// Starts the gateway on the given store.
pub async fn start_with_store(
    config: &Config,
    store: Arc<dyn Store>,
) -> Result<RunningGateway, StartError> {
    start_inner(config, store, None).await
}

/// The scanner the configuration asks for, with the built-in rule pack: the built-in
/// models (n-gram and semantic, fused) when it names no model file; the n-gram model it
/// names alone, or fused with the semantic model it names (`moderation.semantic_model`).
pub fn configured_scanner(config: &Config) -> Result<Scanner, StartError> {
    let m = &config.moderation;
    if m.model.is_none() && m.semantic_model.is_none() {
        return Ok(Scanner::builtin());
    }
    let read = |path: &std::path::PathBuf| {
        std::fs::read(path).map_err(|source| StartError::ModelFile {
            path: path.clone(),
            source,
        })
    };
    let invalid = |path: &std::path::PathBuf, source: ModelError| StartError::Model {
        path: path.clone(),
        source,
    };
    let model = match &m.model {
        None => Model::builtin(),
        Some(path) => Model::from_bytes(&read(path)?).map_err(|e| invalid(path, e))?,
    };
    let Some(path) = &m.semantic_model else {
        return Ok(Scanner::new(model, RulePack::builtin()));
    };
    let semantic = SemanticModel::from_bytes(&read(path)?)
        .map_err(|e| invalid(path, ModelError(e.to_string())))?;
    Scanner::fused(model, semantic, RulePack::builtin()).map_err(|e| invalid(path, e))
}

async fn start_inner(
    config: &Config,
    store: Arc<dyn Store>,
    scanner: Option<Scanner>,
) -> Result<RunningGateway, StartError> {
    // The model is loaded first: a bad model file stops start-up before anything binds.
    let scanner = match scanner {
        Some(scanner) => scanner,
        None => {
            let config = config.clone();
            // Off the event loop: building the model's tables takes a moment.
            tokio::task::spawn_blocking(move || configured_scanner(&config))
                .await
                .map_err(|e| StartError::Scanner(e.to_string()))??
        }
    };
    let pepper = Pepper::load_or_create(&config.server.data_dir)?;
    let hasher = KeyHasher::new(&pepper);
    let keys = Arc::new(KeyCache::new(Arc::clone(&store), hasher.clone()).await?);
    let directory = Directory::new(Arc::clone(&store), hasher);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let mut simulator = None;
    let upstream_configs = if config.upstreams.is_empty() {
        let sim = Simulator::new(SimConfig {
            latency: config.simulator.latency,
            chunk_delay: config.simulator.chunk_delay,
            echo: config.simulator.echo,
            ..SimConfig::default()
        });
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(StartError::Simulator)?;
        let addr = listener.local_addr().map_err(StartError::Simulator)?;
        let mut rx = shutdown_rx.clone();
        let serving = sim.clone();
        tokio::spawn(async move {
            let stop = async move { stopped(&mut rx).await };
            if let Err(error) = serving.serve(listener, stop).await {
                tracing::error!(%error, "built-in simulator stopped");
            }
        });
        tracing::warn!(
            simulator = %format!("http://{addr}/v1"),
            "no upstream configured: serving the built-in SIMULATED model; answers are canned, not from a real model"
        );
        simulator = Some((sim, addr));
        vec![simulated_upstream(addr)]
    } else {
        config.upstreams.clone()
    };
    let upstreams = Upstreams::new(&upstream_configs, config.server.workers.max(1))?;

    let bus = Arc::new(EventBus::new(config.events.bus_capacity));
    let writer = StoreWriter::new(
        Arc::clone(&store),
        config.events.batch_size,
        config.events.flush_interval,
    );
    let writer_stats = writer.stats();
    let writer_task = tokio::spawn(writer.run(bus.subscribe("store")));

    // Retention: old request events go in the background, in batches between the
    // writer's.
    let events_pruned = match config.events.retention {
        Some(retention) => {
            let pruner = Retention::new(Arc::clone(&store), retention);
            let pruned = pruner.pruned();
            let mut rx = shutdown_rx.clone();
            tokio::spawn(pruner.run(async move { stopped(&mut rx).await }));
            pruned
        }
        None => Arc::default(),
    };

    // The detectors: a subscriber with its own queue and thread, off every request path.
    let alerts = Arc::new(AlertBus::new(1024));
    let detection_stats = Arc::new(DetectionStats::default());
    let detection_done = if config.detection.enabled {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        detection::spawn(
            &config.detection,
            Arc::clone(&store),
            bus.subscribe_with_capacity("detect", config.detection.queue),
            Arc::clone(&alerts),
            Arc::clone(&detection_stats),
            done_tx,
        )
        .map_err(StartError::Worker)?;
        Some(done_rx)
    } else {
        None
    };

    let workers = config.server.workers.max(1);
    let (listeners, addr) =
        bind_listeners(config.server.listen, workers).map_err(|source| StartError::Bind {
            addr: config.server.listen,
            source,
        })?;

    if config.admin.token.is_none() {
        tracing::warn!(
            "no admin token set: the admin API is open to anyone who can reach {addr} (loopback only)"
        );
    }

    let metrics = Metrics::new();
    let state = Arc::new(AppState {
        settings: Settings {
            capture_text: config.events.capture_text,
            max_body_bytes: config.server.max_body_bytes,
            max_upload_bytes: config.server.max_upload_bytes,
            client_timeout: config.server.client_timeout,
            trusted_proxies: config.server.trusted_proxies.clone(),
            allow_other_paths: config.server.allow_other_paths,
        },
        keys: Arc::clone(&keys),
        directory,
        limiter: RateLimiter::new(),
        upstreams,
        bus: Arc::clone(&bus),
        writer_stats: Arc::clone(&writer_stats),
        events_pruned,
        detection: Arc::clone(&detection_stats),
        moderation: Arc::new(Moderation::new(
            &config.moderation,
            scanner,
            metrics.moderation.clone(),
        )),
        metrics,
        admin_token: config.admin.token.clone(),
        store,
        draining: Default::default(),
    });

    let mut rx = shutdown_rx.clone();
    tokio::spawn(keys.follow(KEY_POLL_INTERVAL, async move { stopped(&mut rx).await }));

    let app = Routes {
        state: Arc::clone(&state),
        router: router(Arc::clone(&state)),
    };
    let client_timeout = config.server.client_timeout;
    let grace = config.server.shutdown_timeout;
    let mut finished = Vec::with_capacity(workers);
    let mut starting = Vec::with_capacity(workers);
    let mut failure = None;
    for (index, listener) in listeners.into_iter().enumerate() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let app = app.clone();
        let rx = shutdown_rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("bulwark-worker-{index}"))
            .spawn(move || {
                let aborted = run_worker(index, listener, app, rx, client_timeout, grace, ready_tx);
                let _ = done_tx.send(aborted);
            });
        match spawned {
            Ok(_) => {
                finished.push(done_rx);
                starting.push((index, ready_rx));
            }
            Err(error) => {
                failure = Some(StartError::Worker(error));
                break;
            }
        }
    }
    let stop = shutdown_tx.clone();
    let draining = Arc::clone(&state);
    let task = tokio::spawn(async move {
        let workers = supervise(finished, &stop, || {
            draining.draining.store(true, Ordering::Relaxed);
        })
        .await;
        // Every connection is closed, so every response body has published its event.
        bus.close();
        if let Err(error) = writer_task.await {
            tracing::error!(%error, "event writer task failed");
        }
        // The detectors finish the queued events and store their alerts, within bounds.
        if let Some(done) = detection_done
            && tokio::time::timeout(DETECTION_DRAIN, done).await.is_err()
        {
            tracing::warn!("detectors still busy at shutdown: their last alerts may be lost");
        }
        let stats = bus.stats();
        let report = ShutdownReport {
            failed_workers: workers.failed,
            aborted_connections: workers.aborted,
            events_written: writer_stats.written.load(Ordering::Relaxed),
            events_dropped: stats.dropped(),
            events_failed: writer_stats.failed.load(Ordering::Relaxed),
        };
        tracing::info!(?report, "gateway stopped");
        report
    });

    // Every worker has its event loop and its listening socket before start-up succeeds:
    // one that cannot (out of file descriptors, say) fails the start, and the others stop.
    for (index, ready) in starting {
        if failure.is_some() {
            break;
        }
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => failure = Some(StartError::WorkerLoop { index, reason }),
            Err(_) => {
                failure = Some(StartError::WorkerLoop {
                    index,
                    reason: "it panicked".to_owned(),
                });
            }
        }
    }
    if let Some(error) = failure {
        state.draining.store(true, Ordering::Relaxed);
        shutdown_tx.send_replace(true);
        let _ = task.await;
        return Err(error);
    }

    tracing::info!(%addr, workers, upstreams = upstream_configs.len(), "gateway listening");
    Ok(RunningGateway {
        addr,
        state,
        simulator,
        shutdown: shutdown_tx,
        task,
        alerts,
        detection: detection_stats,
    })
}

/// How the request workers ended.
#[derive(Debug, Default, PartialEq, Eq)]
struct WorkersEnded {
    /// Connections closed by force when the grace period ran out, over all workers.
    aborted: usize,
    /// Workers that ended before a shutdown was requested.
    failed: usize,
}

/// Waits for every request worker (each sends its count of aborted connections when it
/// ends; a worker that panicked sends nothing). A worker that ends before a shutdown was
/// requested stops the gateway: the others drain as on a requested shutdown and `serve`
/// exits with an error, so that a supervisor restarts the process instead of it running
/// on with fewer workers, or none, while its health checks still answer.
/// `drain` marks the gateway as draining (not ready) before the stop is sent.
async fn supervise(
    finished: Vec<tokio::sync::oneshot::Receiver<usize>>,
    stop: &watch::Sender<bool>,
    drain: impl Fn(),
) -> WorkersEnded {
    use futures_util::StreamExt as _;
    let mut pending: futures_util::stream::FuturesUnordered<_> = finished
        .into_iter()
        .enumerate()
        .map(|(index, done)| async move { (index, done.await) })
        .collect();
    let mut ended = WorkersEnded::default();
    while let Some((index, done)) = pending.next().await {
        let unasked = !*stop.borrow();
        match done {
            Ok(aborted) => ended.aborted += aborted,
            Err(_) => tracing::error!(worker = index, "a request worker panicked"),
        }
        if unasked || done.is_err() {
            ended.failed += 1;
        }
        if unasked {
            tracing::error!(
                worker = index,
                "a request worker stopped before shutdown was asked for: stopping the gateway"
            );
            drain();
            stop.send_replace(true);
        }
    }
    ended
}

fn simulated_upstream(addr: SocketAddr) -> Upstream {
    Upstream {
        name: "simulator".into(),
        base_url: format!("http://{addr}/v1"),
        api_key_env: None,
        api_key: None,
        auth: AuthStyle::Bearer,
        models: vec!["*".into()],
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(300),
        idle_timeout: Duration::from_secs(120),
        stream_usage: true,
    }
}

/// What a connection serves: `/v1/*` straight to the proxy (the hot path skips the
/// router's matching, extensions and boxed futures), everything else through the router.
#[derive(Clone)]
struct Routes {
    state: Arc<AppState>,
    router: Router,
}

impl Routes {
    async fn call(self, peer: SocketAddr, mut request: Request<hyper::body::Incoming>) -> Response {
        if request.uri().path().starts_with("/v1/") {
            return proxy::handle_from(self.state, Some(PeerAddr(peer)), request.map(Body::new))
                .await;
        }
        request.extensions_mut().insert(PeerAddr(peer));
        match self.router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/{*rest}", any(proxy::handle))
        .nest("/admin/v1", admin::router(Arc::clone(&state)))
        .fallback(|request: Request| async move {
            Rejection::UnknownUrl {
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
            }
        })
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "draining"})),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                serde_json::json!({"status": "store_unavailable", "error": error.to_string()}),
            ),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(&state);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// One listening socket per worker on the same address (`SO_REUSEPORT`: the kernel
/// spreads connections across them). With port 0, the first socket picks the port and the
/// others join it. Public for other thread-per-core servers of the binary (the simulator).
pub fn bind_listeners(
    addr: SocketAddr,
    workers: usize,
) -> std::io::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut listeners = Vec::with_capacity(workers);
    let mut bound = addr;
    for _ in 0..workers {
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        socket.set_reuse_port(workers > 1)?;
        socket.bind(&bound.into())?;
        socket.listen(1024)?;
        socket.set_nonblocking(true)?;
        let listener: std::net::TcpListener = socket.into();
        bound = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok((listeners, bound))
}

/// A request-handling worker: one thread, one single-threaded event loop, one listening
/// socket, its own upstream connection pools. Nothing on a request's path crosses to
/// another thread, as in nginx's worker processes. Returns the connections closed by
/// force at shutdown.
fn run_worker(
    index: usize,
    listener: std::net::TcpListener,
    app: Routes,
    shutdown: watch::Receiver<bool>,
    client_timeout: Duration,
    grace: Duration,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
) -> usize {
    crate::upstream::set_worker_index(index);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(format!("its event loop: {error}")));
            return 0;
        }
    };
    let listener = {
        let _context = runtime.enter();
        match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready.send(Err(format!("its listening socket: {error}")));
                return 0;
            }
        }
    };
    runtime.spawn(anchor_timers());
    runtime.spawn(crate::record::LaterRunner::new());
    let _ = ready.send(Ok(()));
    runtime.block_on(serve(listener, app, shutdown, client_timeout, grace))
}

/// How often the timer anchor of [`anchor_timers`] fires.
const ANCHOR_PERIOD: Duration = Duration::from_millis(250);

/// Keeps one timer pending on a worker's event loop at all times, due within
/// [`ANCHOR_PERIOD`].
///
/// tokio's timer wakes its event loop (an eventfd write, then one more `epoll_wait`)
/// whenever a timer is registered that is due before every pending one, or while none is
/// pending, even when the registering task runs on the loop's own thread. At low
/// concurrency every request found the timer wheel empty, so every request paid that
/// round trip: strace counted one `write` per request at one connection. With the anchor
/// due sooner than any request's timeouts (seconds), a request's timers are never the
/// earliest and register silently; the anchor itself costs one wake-up per period.
async fn anchor_timers() {
    loop {
        tokio::time::sleep(ANCHOR_PERIOD).await;
    }
}

/// Resolves once shutdown has been requested.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it before anything else happens.
    let _ = rx.wait_for(|stop| *stop).await.map(|_| ());
}

/// Accepts connections until shutdown, then drains; returns how many connections had to
/// be closed by force when `grace` ran out.
async fn serve(
    listener: TcpListener,
    app: Routes,
    mut shutdown: watch::Receiver<bool>,
    client_timeout: Duration,
    grace: Duration,
) -> usize {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(client_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = hyper::service::service_fn(move |request| {
                    futures_util::FutureExt::map(app.clone().call(peer, request), Ok::<_, Infallible>)
                });
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let connection = graceful.watch(connection.into_owned());
                connections.spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%peer, error = %error, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopped(&mut shutdown) => break,
        }
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        "shutting down: draining in-flight requests"
    );
    let drained = tokio::time::timeout(grace, async {
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_ok() {
        return 0;
    }
    let aborted = connections.len();
    tracing::warn!(
        aborted,
        "grace period over: closing the remaining connections"
    );
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    aborted
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::{oneshot, watch};

    use super::{WorkersEnded, supervise};

    /// Two workers' "done" channels and the supervisor's view of them.
    fn workers() -> ([oneshot::Sender<usize>; 2], Vec<oneshot::Receiver<usize>>) {
        let (a, ra) = oneshot::channel();
        let (b, rb) = oneshot::channel();
        ([a, b], vec![ra, rb])
    }

    #[tokio::test]
    async fn a_requested_shutdown_is_not_a_failure() {
        let ([a, b], finished) = workers();
        let (stop, _rx) = watch::channel(false);
        let drained = AtomicUsize::new(0);
        stop.send_replace(true);
        a.send(1).unwrap();
        b.send(2).unwrap();
        let ended = supervise(finished, &stop, || {
            drained.fetch_add(1, Ordering::Relaxed);
        })
        .await;
        assert_eq!(
            ended,
            WorkersEnded {
                aborted: 3,
                failed: 0
            }
        );
        assert_eq!(drained.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_worker_that_ends_unasked_stops_the_others() {
        let ([a, b], finished) = workers();
        let (stop, mut rx) = watch::channel(false);
        let drained = AtomicUsize::new(0);
        // The first worker's loop could not start: it ends at once, nobody asked.
        a.send(0).unwrap();
        let supervisor = supervise(finished, &stop, || {
            drained.fetch_add(1, Ordering::Relaxed);
        });
        let other = async move {
            // The second worker sees the stop, drains, and reports what it closed.
            rx.wait_for(|stop| *stop).await.unwrap();
            b.send(4).unwrap();
        };
        let both = async { tokio::join!(supervisor, other) };
        // Bounded: the old supervisor never sent the stop, and this would wait forever.
        let (ended, ()) = tokio::time::timeout(std::time::Duration::from_secs(5), both)
            .await
            .expect("the supervisor stops the other workers");
        assert_eq!(
            ended,
            WorkersEnded {
                aborted: 4,
                failed: 1
            }
        );
        assert_eq!(drained.load(Ordering::Relaxed), 1);
        assert!(*stop.borrow());
    }

    #[tokio::test]
    async fn a_worker_that_panics_is_a_failure_even_while_draining() {
        let ([a, b], finished) = workers();
        let (stop, _rx) = watch::channel(false);
        stop.send_replace(true);
        // A panicking worker thread drops its sender without a word.
        drop(a);
        b.send(0).unwrap();
        let ended = supervise(finished, &stop, || {}).await;
        assert_eq!(
            ended,
            WorkersEnded {
                aborted: 0,
                failed: 1
            }
        );
    }
}
