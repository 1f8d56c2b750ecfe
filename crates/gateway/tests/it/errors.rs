use std::time::Duration;

use bulwark_config::RawUpstream;
use serde_json::json;

use crate::harness::{assert_error, chat_body, start, start_with};

#[tokio::test]
async fn missing_and_unknown_keys_are_401_invalid_api_key() {
    let h = start().await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "invalid_api_key").await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth("bw-live-notarealkeyatallnotarealkeyatallnotarealk")
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "invalid_api_key").await;
    assert!(h.sim.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn revoked_is_401_and_suspended_is_403() {
    let h = start().await;
    let key: bulwark_core::KeyId = h.key_id.parse().unwrap();
    let dir = h.gw().directory();
    dir.set_key_status(
        key.clone(),
        bulwark_core::KeyStatus::Suspended,
        None,
        "test",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_error(h.chat("hi").await, 403, "key_suspended").await;
    dir.set_key_status(
        key,
        bulwark_core::KeyStatus::Revoked,
        Some("leaked".into()),
        "test",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_error(h.chat("hi").await, 401, "key_revoked").await;
}

#[tokio::test]
async fn model_not_allowed_is_403() {
    let h = start_with(|s| s.key.models = vec!["gpt-4o-mini".into()]).await;
    assert_eq!(h.chat("hi").await.status(), 200);
    let mut body = chat_body("hi", false);
    body["model"] = json!("gpt-4o");
    assert_error(
        h.post("/v1/chat/completions", body).await,
        403,
        "model_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn model_served_by_no_upstream_is_404() {
    let h = start_with(|s| {
        s.upstream.models = Some(vec!["gpt-*".into()]);
    })
    .await;
    let mut body = chat_body("hi", false);
    body["model"] = json!("llama-3");
    assert_error(
        h.post("/v1/chat/completions", body).await,
        404,
        "model_not_found",
    )
    .await;
}

#[tokio::test]
async fn upstream_refusing_connections_is_502() {
    let h = start_with(|s| {
        s.before.push(RawUpstream {
            name: Some("dead".into()),
            // Port 9 (discard) is closed on loopback: the connection is refused.
            base_url: Some("http://127.0.0.1:9/v1".into()),
            ..Default::default()
        });
    })
    .await;
    let body = assert_error(h.chat("hi").await, 502, "upstream_unavailable").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("dead"),
        "{body}"
    );
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let h = start_with(|s| s.upstream.response_timeout = Some("300ms".into())).await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("x-sim-latency-ms", "3000")
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_error(r, 504, "upstream_timeout").await;
}

#[tokio::test]
async fn upstream_going_silent_mid_stream_ends_the_stream() {
    let mut h = start_with(|s| s.upstream.idle_timeout = Some("300ms".into())).await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("x-sim-chunk-delay-ms", "2000")
        .json(&chat_body("hi", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.is_err(),
        "the client sees a broken stream, not a complete one"
    );
    let events = h.stop_and_read_events().await;
    let broken = events.iter().any(|e| matches!(&e.body,
        bulwark_core::EventBody::ApiRequest(r) if r.error.as_deref() == Some("upstream_idle_timeout")
            && r.decision == bulwark_core::Decision::UpstreamError));
    assert!(broken, "{events:?}");
}

#[tokio::test]
async fn upstream_5xx_is_502_with_the_upstream_message() {
    let h = start().await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("x-sim-status", "503")
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_error(r, 502, "upstream_error").await;
}

#[tokio::test]
async fn upstream_dropping_the_connection_is_502() {
    let h = start().await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("x-sim-fail", "close")
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_error(r, 502, "upstream_unavailable").await;
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let h = start().await;
    let r = h.http.get(h.url("/nope")).send().await.unwrap();
    assert_error(r, 404, "unknown_url").await;
}
