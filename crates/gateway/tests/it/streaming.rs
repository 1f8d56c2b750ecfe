use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::harness::{chat_body, start};

#[tokio::test]
async fn chunks_reach_the_client_before_the_upstream_finishes() {
    let mut h = start().await;
    let started = Instant::now();
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("x-sim-chunk-delay-ms", "250")
        .json(&chat_body(
            "Tell me a story about a lighthouse keeper",
            true,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        arrivals.push(started.elapsed());
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let done = started.elapsed();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    assert!(events.len() >= 6, "several chunks then [DONE]: {events:?}");
    assert_eq!(events.last().unwrap().trim(), "data: [DONE]");
    // The upstream paces chunks 250 ms apart, so it runs for ≥ 1,250 ms; the first chunk
    // must arrive long before the end (not buffered whole). The margin leaves room for a
    // loaded machine that delivers a few chunks late together.
    assert!(done >= Duration::from_millis(1_200), "{done:?}");
    assert!(
        arrivals[0] + Duration::from_millis(500) < done,
        "first chunk at {:?}, end at {done:?}",
        arrivals[0]
    );
    assert!(
        arrivals.len() >= 4,
        "delivered in several reads: {arrivals:?}"
    );

    // The gateway asked the upstream for usage and removed that chunk again.
    assert!(!text.contains("\"usage\""), "usage chunk stripped: {text}");
    let events = h.stop_and_read_events().await;
    let req = events.iter().find_map(|e| match &e.body {
        bulwark_core::EventBody::ApiRequest(r) if r.endpoint == "chat.completions" => {
            Some(r.clone())
        }
        _ => None,
    });
    let req = req.unwrap();
    assert!(req.stream);
    assert_eq!(req.error, None, "{req:?}");
    let usage = req.usage.unwrap();
    assert!(!usage.estimated && usage.completion_tokens > 0, "{usage:?}");
    assert!(req.output.unwrap().chars > 0);
}

#[tokio::test]
async fn client_requested_usage_is_kept() {
    let h = start().await;
    let mut body = chat_body("hello", true);
    body["stream_options"] = serde_json::json!({"include_usage": true});
    let text = h
        .post("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let usage_chunks = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["usage"].is_object())
        .count();
    assert_eq!(usage_chunks, 1, "{text}");
}
