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

/// With `events.retention`, the server deletes older request events in the background
/// (at start, then every ten minutes); account and key events stay, however old.
#[tokio::test]
async fn retention_prunes_old_requests_and_keeps_the_audit_trail() {
    use std::time::{Duration, Instant};

    use bulwark_core::{Event, Timestamp};
    use bulwark_store::{SqliteStore, Store};

    let mut h = start_with(|setup| setup.raw.events.retention = Some("2h".into())).await;
    assert_eq!(h.chat("Keep me").await.status(), 200);
    let mut events = h.stop_and_read_events().await;
    let kept: Vec<String> = events.iter().map(|e| e.to_json()).collect();
    assert_eq!(kept.len(), 3, "account, key, request");

    // Old copies of every event: three hours back, past the retention.
    let three_hours_ago = Timestamp::now().unix_millis() - 3 * 3_600_000;
    for event in &mut events {
        event.id = bulwark_core::EventId::generate();
        event.ts = Timestamp::from_unix_millis(three_hours_ago).unwrap();
    }
    let store = SqliteStore::open(h.dir.path()).unwrap();
    assert_eq!(store.append_events(&events).await.unwrap(), 3);
    drop(store);

    h.restart_with("fail_mode = \"closed\"").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h
        .metrics()
        .await
        .contains("bulwark_events_pruned_total 1\n")
    {
        assert!(Instant::now() < deadline, "{}", h.metrics().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left: Vec<Event> = h.stop_and_read_events().await;
    let old_management: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind() != EventKind::ApiRequest)
        .collect();
    assert_eq!(left.len(), kept.len() + old_management.len(), "{left:?}");
    for event in old_management {
        assert!(left.contains(event), "{event:?} was pruned");
    }
    for line in &kept {
        assert!(
            left.iter().any(|e| &e.to_json() == line),
            "{line} was pruned"
        );
    }
}
