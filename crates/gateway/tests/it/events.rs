use bulwark_core::{Decision, EventBody, EventKind};
use serde_json::Value;

use crate::harness::{assert_error, start, start_with};

#[tokio::test]
async fn every_request_becomes_one_event_with_the_schema_fields() {
    let mut h = start().await;
    assert_eq!(
        h.chat("What is the tallest lighthouse?").await.status(),
        200
    );
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .json(&crate::harness::chat_body("x", false))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "invalid_api_key").await;

    let events = h.stop_and_read_events().await;
    let requests: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == EventKind::ApiRequest)
        .collect();
    assert_eq!(requests.len(), 2, "{events:?}");
    let kinds: Vec<_> = events.iter().map(|e| e.kind()).collect();
    assert!(
        kinds.contains(&EventKind::AccountCreated) && kinds.contains(&EventKind::KeyCreated),
        "{kinds:?}"
    );

    let ok = requests
        .iter()
        .find(|e| matches!(&e.body, EventBody::ApiRequest(r) if r.decision == Decision::Allowed))
        .unwrap();
    let v: Value = serde_json::from_str(&ok.to_json()).unwrap();
    for field in [
        "v",
        "kind",
        "id",
        "ts",
        "tenant",
        "account",
        "key",
        "client",
        "endpoint",
        "model",
        "stream",
        "status",
        "decision",
        "latency_ms",
        "upstream_ms",
        "usage",
        "input",
        "output",
    ] {
        assert!(v.get(field).is_some(), "missing {field}: {v}");
    }
    assert_eq!(v["key"], h.key_id);
    assert!(
        v.get("error").is_none(),
        "a complete, allowed response has no error: {v}"
    );
    assert_eq!(v["endpoint"], "chat.completions");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["client"]["ip"], "127.0.0.1");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(v["upstream_ms"].as_f64().unwrap() <= v["latency_ms"].as_f64().unwrap());
    assert_eq!(v["input"]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        v["input"].get("text").is_none(),
        "prompt text is not stored by default: {v}"
    );
    assert!(
        v["output"].get("text").is_none(),
        "completion text is not stored by default: {v}"
    );
    let raw = std::fs::read(h.dir.path().join("bulwark.db")).unwrap();
    let needle = b"tallest lighthouse";
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "prompt text absent from the database file"
    );

    let denied = requests.iter().find(
        |e| matches!(&e.body, EventBody::ApiRequest(r) if r.decision == Decision::Unauthenticated),
    );
    let denied = denied.unwrap();
    let EventBody::ApiRequest(r) = &denied.body else {
        unreachable!()
    };
    assert_eq!(r.status, 401);
    assert_eq!(r.error.as_deref(), Some("invalid_api_key"));
    assert!(r.upstream_ms.is_none());
}

#[tokio::test]
async fn text_is_stored_when_capture_is_enabled() {
    let mut h = start_with(|s| s.raw.events.capture_text = Some(true)).await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("x-sim-echo", "1")
        .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "echo me back"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = h.stop_and_read_events().await;
    let req = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::ApiRequest(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(req.input.unwrap().text.as_deref(), Some("echo me back"));
    assert_eq!(req.output.unwrap().text.as_deref(), Some("echo me back"));
}
