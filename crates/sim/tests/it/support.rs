//! Starting a simulator on a free port and reading its event streams.

use std::time::{Duration, Instant};

use bulwark_sim::{SimConfig, Simulator};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot};

/// A simulator served on `127.0.0.1:<free port>`, stopped when dropped.
pub(crate) struct Running {
    pub(crate) sim: Simulator,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` as JSON to `path`.
    pub(crate) fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).json(&body)
    }

    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }
}

pub(crate) async fn start(config: SimConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = Simulator::new(config);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sim.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    Running {
        sim,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

pub(crate) async fn start_default() -> Running {
    start(SimConfig::default()).await
}

/// One server-sent event and when its last byte arrived.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) at: Instant,
    pub(crate) name: Option<String>,
    pub(crate) data: String,
}

impl Event {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("bad JSON in {:?}: {e}", self.data))
    }
}

/// Reads a whole event stream, noting when each event arrived.
pub(crate) async fn read_events(response: reqwest::Response) -> Vec<Event> {
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
    {
        buffer.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        let at = Instant::now();
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            events.push(Event { at, name, data });
        }
    }
    assert!(
        buffer.is_empty(),
        "stream ended inside an event: {buffer:?}"
    );
    events
}

/// The `error` object of an OpenAI error response, after checking its status and shape.
pub(crate) async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    let error = body["error"].clone();
    for field in ["message", "type", "param", "code"] {
        assert!(
            error.get(field).is_some(),
            "error body lacks `{field}`: {body}"
        );
    }
    assert!(error["message"].is_string());
    error
}
