//! The benchmark's floor: the gateway's HTTP machinery with none of Bulwark's work.
//!
//! A reverse proxy built as the gateway's request path is (one thread and one
//! single-threaded tokio event loop per worker, a listening socket per worker with
//! `SO_REUSEPORT`, hyper-util's server towards the client, the gateway's own pool of
//! keep-alive hyper HTTP/1 connections upstream with an idle list per worker, answers
//! relayed frame by frame) that authenticates nothing, parses nothing, digests nothing
//! and records nothing. `bench/gateway.sh` runs it as the `floor` target beside nginx and
//! Bulwark, so that one run separates what the HTTP stack costs on the machine from what
//! Bulwark's own work adds to it.
//!
//! ```text
//! cargo run --release -p bulwark-gateway --example floor -- LISTEN UPSTREAM [WORKERS]
//! ```
//! `UPSTREAM` is `host:port` of a plain-HTTP server; `WORKERS` defaults to one per CPU.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark's helper binary reports on its terminal"
)]

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::body::Body;
use bulwark_gateway::{Http1Pool, SendError};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::net::TcpListener;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream) = match (args.first(), args.get(1)) {
        (Some(listen), Some(upstream)) => (listen.clone(), upstream.clone()),
        _ => {
            eprintln!("usage: floor LISTEN UPSTREAM [WORKERS]");
            return std::process::ExitCode::from(2);
        }
    };
    let listen: SocketAddr = match listen.parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("floor: bad listen address {listen:?}: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let workers = match args.get(2).map(|w| w.parse::<usize>()) {
        None => std::thread::available_parallelism().map_or(1, usize::from),
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("floor: WORKERS must be a positive number");
            return std::process::ExitCode::from(2);
        }
    };
    let host = match HeaderValue::from_str(&upstream) {
        Ok(host) => host,
        Err(error) => {
            eprintln!("floor: bad upstream {upstream:?}: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let (listeners, bound) = match bulwark_gateway::bind_listeners(listen, workers) {
        Ok(pair) => pair,
        Err(error) => {
            eprintln!("floor: cannot listen on {listen}: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("floor proxy on {bound} -> {upstream}, {workers} workers");
    let pool = Arc::new(Http1Pool::new(
        upstream,
        host,
        Duration::from_secs(10),
        workers,
    ));
    let threads: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listener)| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || worker(index, listener, pool))
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    std::process::ExitCode::SUCCESS
}

/// One worker: its own event loop, listening socket and slot in the upstream pool.
fn worker(index: usize, listener: std::net::TcpListener, pool: Arc<Http1Pool>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("floor: cannot start an event loop: {error}");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("floor: cannot register the listener: {error}");
                return;
            }
        };
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            let Ok((stream, _peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let pool = Arc::clone(&pool);
            let service = service_fn(move |request: Request<Incoming>| {
                let pool = Arc::clone(&pool);
                async move { Ok::<_, Infallible>(forward(&pool, index, request).await) }
            });
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    });
}

/// Sends the request upstream as it came (the pool sets `Host`) and relays the answer.
async fn forward(
    pool: &Arc<Http1Pool>,
    worker: usize,
    request: Request<Incoming>,
) -> Response<Body> {
    match pool.send(worker, request.map(Body::new)).await {
        Ok(response) => response.map(Body::new),
        Err(error) => {
            let message = match error {
                SendError::Connect(detail) => detail,
                SendError::Request(error) => error.to_string(),
            };
            let mut response = Response::new(Body::from(message));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    }
}
