//! Keep-alive HTTP/1 connections to a plain-HTTP upstream, one idle list per worker.
//!
//! Most deployments put the model server next to the gateway (vLLM, Ollama or llama.cpp
//! on the same host or network) and speak plain HTTP/1.1 to it. For those, a general
//! client's machinery (a shared pool keyed by origin, a task per request that waits to
//! return the connection, connection metadata in every response) is most of what the
//! gateway itself costs per request. Here a worker takes an idle connection from its own
//! list, sends on it, and the answer's body puts it back once it has been read to the
//! end; a connection is driven by a task on the worker that opened it. HTTPS upstreams
//! (TLS, HTTP/2) keep the general client.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use hyper::{
    body::Incoming,
    client::conn::http1::{self, SendRequest},
};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpStream;

/// Idle connections kept per worker; more are closed when their answers end.
const MAX_IDLE_PER_WORKER: usize = 512;

/// Why a request could not be sent.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made.
    Connect(String),
    /// The connection failed while the request was sent or the answer awaited.
    Request(hyper::Error),
}

/// The idle connections to one upstream.
#[derive(Debug)]
pub struct Http1Pool {
    /// `host:port` to connect to.
    address: String,
    /// The `Host` header of every request.
    host: HeaderValue,
    connect_timeout: Duration,
    /// One list per worker (see `set_worker_index`); the most recently used on top.
    idle: Vec<Mutex<Vec<SendRequest<Body>>>>,
}

impl Http1Pool {
    pub fn new(
        address: String,
        host: HeaderValue,
        connect_timeout: Duration,
        workers: usize,
    ) -> Self {
        Self {
            address,
            host,
            connect_timeout,
            idle: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        }
    }

    /// Sends `request` (origin-form URI, no `Host`) on an idle connection of `worker`'s,
    /// or a new one. A request that an idle connection closed under never left the
    /// gateway, so it is sent again on a fresh connection.
    pub async fn send(
        self: &Arc<Self>,
        worker: usize,
        mut request: Request<Body>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        request
            .headers_mut()
            .insert(http::header::HOST, self.host.clone());
        if let Some(mut sender) = self.take_idle(worker).await {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.lease(worker, sender, response)),
                Err(mut error) => match error.take_message() {
                    // Not sent: the connection was closed while idle.
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Request(error.into_error())),
                },
            }
        }
        let mut sender = self.connect().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Request)?;
        Ok(self.lease(worker, sender, response))
    }

    /// The most recently used idle connection of `worker` that is still open, once it
    /// has finished its previous exchange.
    async fn take_idle(&self, worker: usize) -> Option<SendRequest<Body>> {
        let list = self.idle.get(worker).or_else(|| self.idle.first())?;
        loop {
            let mut sender = list.lock().pop()?;
            if sender.is_closed() {
                continue;
            }
            // Returned when its answer was read to the end; the connection's task may not
            // have seen that end yet.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let stream = match tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect(self.address.as_str()),
        )
        .await
        {
            Err(_) => {
                return Err(SendError::Connect(format!(
                    "no connection to {} within {:?}",
                    self.address, self.connect_timeout
                )));
            }
            Ok(Err(error)) => return Err(SendError::Connect(error.to_string())),
            Ok(Ok(stream)) => stream,
        };
        // Requests and answers are written whole; Nagle would only delay them.
        stream
            .set_nodelay(true)
            .map_err(|e| SendError::Connect(e.to_string()))?;
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Request)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    fn lease(
        self: &Arc<Self>,
        worker: usize,
        sender: SendRequest<Body>,
        response: Response<Incoming>,
    ) -> Response<UpstreamBody> {
        response.map(|inner| UpstreamBody {
            inner,
            lease: Some(Lease {
                pool: Arc::clone(self),
                worker,
                sender,
            }),
        })
    }

    fn put(&self, worker: usize, sender: SendRequest<Body>) {
        if let Some(list) = self.idle.get(worker) {
            let mut list = list.lock();
            if list.len() < MAX_IDLE_PER_WORKER {
                list.push(sender);
            }
        }
    }
}

/// A pooled connection lent to one answer.
#[derive(Debug)]
struct Lease {
    pool: Arc<Http1Pool>,
    worker: usize,
    sender: SendRequest<Body>,
}

/// An upstream answer's body. A pooled connection goes back to its worker's list when the
/// body has been read to the end; an answer abandoned halfway closes its connection (HTTP/1
/// cannot skip the rest of an answer).
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    lease: Option<Lease>,
}

impl UpstreamBody {
    /// A body from a client that manages its own connections.
    pub(crate) fn unpooled(inner: Incoming) -> Self {
        Self { inner, lease: None }
    }

    fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.pool.put(lease.worker, lease.sender);
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            // A broken connection is not reused.
            Poll::Ready(Some(Err(_))) => this.lease = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A reader that stops once the announced length has arrived never sees the end.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        convert::Infallible,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use http::Uri;
    use http_body_util::{BodyExt, Full};
    use hyper::{server::conn::http1 as server, service::service_fn};
    use tokio::net::TcpListener;

    use super::*;

    /// A server answering every request with `body`, counting the connections it
    /// accepted; with `close`, it asks for each connection to be closed after one answer.
    async fn server(body: &'static str, close: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let service = service_fn(move |request: Request<Incoming>| async move {
                    assert_eq!(request.headers()["host"], "upstream.test");
                    assert_eq!(request.uri(), "/v1/models");
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    if close {
                        response
                            .headers_mut()
                            .insert("connection", HeaderValue::from_static("close"));
                    }
                    Ok::<_, Infallible>(response)
                });
                tokio::spawn(
                    server::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (address, accepted)
    }

    fn pool(address: String) -> Arc<Http1Pool> {
        Arc::new(Http1Pool::new(
            address,
            HeaderValue::from_static("upstream.test"),
            Duration::from_secs(5),
            2,
        ))
    }

    fn request() -> Request<Body> {
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = Uri::from_static("/v1/models");
        request
    }

    async fn text(response: Response<UpstreamBody>) -> String {
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn a_connection_read_to_the_end_is_used_again() {
        let (address, accepted) = server("ok", false).await;
        let pool = pool(address);
        for _ in 0..5 {
            let response = pool.send(0, request()).await.unwrap();
            assert_eq!(text(response).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // Each worker has its own connections.
        let response = pool.send(1, request()).await.unwrap();
        assert_eq!(text(response).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_server_closes_is_replaced() {
        let (address, accepted) = server("bye", true).await;
        let pool = pool(address);
        for _ in 0..3 {
            let response = pool.send(0, request()).await.unwrap();
            assert_eq!(text(response).await, "bye");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_answer_abandoned_halfway_does_not_lend_its_connection() {
        let (address, accepted) = server("a long answer nobody reads", false).await;
        let pool = pool(address);
        let response = pool.send(0, request()).await.unwrap();
        drop(response);
        let response = pool.send(0, request()).await.unwrap();
        assert_eq!(text(response).await, "a long answer nobody reads");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_server_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let error = pool(address).send(0, request()).await.unwrap_err();
        assert!(matches!(error, SendError::Connect(_)), "{error:?}");
    }
}
