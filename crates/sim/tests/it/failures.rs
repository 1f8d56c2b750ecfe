use std::time::{Duration, Instant};

use bulwark_sim::SimConfig;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::{error_of, start, start_default};

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn require_key_rejects_missing_and_wrong_keys() {
    let sim = start(SimConfig {
        require_key: Some("sk-sim".into()),
        ..SimConfig::default()
    })
    .await;

    let error = error_of(
        sim.post("/v1/chat/completions", chat(false))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(error["code"], "invalid_api_key");
    assert_eq!(error["type"], "invalid_request_error");
    let wrong = sim
        .post("/v1/chat/completions", chat(false))
        .bearer_auth("sk-other")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(wrong, 401).await["code"], "invalid_api_key");
    let wrong = sim
        .get("/v1/models")
        .header("api-key", "sk-other")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let ok = sim
        .post("/v1/chat/completions", chat(false))
        .bearer_auth("sk-sim")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = sim
        .get("/v1/models")
        .header("api-key", "sk-sim")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // The simulator's own endpoints need no key.
    assert_eq!(sim.get("/healthz").send().await.unwrap().status(), 200);
    assert_eq!(
        sim.get("/_sim/requests").send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn x_sim_status_forces_an_openai_error() {
    let sim = start_default().await;
    let response = sim
        .post("/v1/chat/completions", chat(false))
        .header("x-sim-status", "503")
        .send()
        .await
        .unwrap();
    let error = error_of(response, 503).await;
    assert_eq!(error["type"], "server_error");

    let response = sim
        .post(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "x"}),
        )
        .header("x-sim-status", "429")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response, 429).await["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn x_sim_fail_close_drops_the_connection_without_an_answer() {
    let sim = start_default().await;
    for stream in [false, true] {
        let result = sim
            .post("/v1/chat/completions", chat(stream))
            .header("x-sim-fail", "close")
            .send()
            .await;
        let error = match result {
            Err(err) => err,
            Ok(response) => panic!("expected no response, got status {}", response.status()),
        };
        assert!(!error.is_status(), "{error}");
    }
    // The server is still healthy afterwards.
    assert_eq!(
        sim.post("/v1/chat/completions", chat(false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn x_sim_fail_midstream_breaks_the_body_after_a_few_chunks() {
    let sim = start_default().await;
    let response = sim
        .post("/v1/chat/completions", chat(true))
        .header("x-sim-fail", "midstream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body should end in an error");
    let text = String::from_utf8(received).unwrap();
    assert!(text.matches("data: ").count() >= 2, "{text}");
    assert!(!text.contains("[DONE]"));

    // Plain JSON answers break too: the client cannot read a whole document.
    let response = sim
        .post("/v1/chat/completions", chat(false))
        .header("x-sim-fail", "midstream")
        .send()
        .await
        .unwrap();
    assert!(response.json::<Value>().await.is_err());
}

#[tokio::test]
async fn latency_delays_the_response_headers() {
    let sim = start_default().await;
    let started = Instant::now();
    let response = sim
        .post("/v1/chat/completions", chat(false))
        .header("x-sim-latency-ms", "300")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let sim = start(SimConfig {
        latency: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await;
    let started = Instant::now();
    sim.get("/v1/models").send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn unknown_paths_get_openai_errors() {
    let sim = start_default().await;
    let error = error_of(sim.get("/v1/nothing-here").send().await.unwrap(), 404).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("/v1/nothing-here")
    );
    error_of(sim.get("/v1/chat/completions").send().await.unwrap(), 405).await;
}
