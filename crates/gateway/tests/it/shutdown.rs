use std::time::Duration;

use bulwark_core::{EventBody, EventKind};
use futures_util::StreamExt;

use crate::harness::{chat_body, start};

#[tokio::test]
async fn graceful_shutdown_finishes_streams_and_loses_no_event() {
    let mut h = start().await;
    for i in 0..20 {
        assert_eq!(h.chat(&format!("request {i}")).await.status(), 200);
    }
    // A slow stream in flight when shutdown begins.
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("x-sim-chunk-delay-ms", "100")
        .json(&chat_body("a long story", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reader = tokio::spawn(async move {
        let mut stream = response.bytes_stream();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        text
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let gw = h.gw.take().unwrap();
    let addr = gw.local_addr();
    gw.shutdown();
    // New connections are refused once shutdown has begun (soon: every worker's loop
    // drops its listener when it sees the signal, later on a loaded machine).
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "listener closed");
    let report = gw.wait().await;
    assert_eq!(report.aborted_connections, 0);
    assert_eq!(report.events_dropped, 0);
    let text = reader.await.unwrap();
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "the in-flight stream completed: {text}"
    );

    let events = bulwark_gateway_events(&h).await;
    let requests = events
        .iter()
        .filter(|e| e.kind() == EventKind::ApiRequest)
        .count();
    assert_eq!(
        requests, 21,
        "every request, the in-flight stream included, was stored"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.body, EventBody::ApiRequest(r) if r.stream && r.error.is_none()))
    );
}

async fn bulwark_gateway_events(h: &crate::harness::Harness) -> Vec<bulwark_core::Event> {
    crate::harness::read_events(h.dir.path()).await
}
