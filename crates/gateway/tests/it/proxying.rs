use serde_json::{Value, json};

use crate::harness::{UPSTREAM_KEY, chat_body, start, start_with};

#[tokio::test]
async fn chat_completion_is_proxied_with_the_upstream_key() {
    let h = start().await;
    let response = h.chat("Tell me about lighthouses").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["x-bulwark-request-id"]
            .to_str()
            .unwrap()
            .starts_with("evt_")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(
        !body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let log = h.sim.requests();
    let seen = log
        .iter()
        .find(|r| r.path.starts_with("/v1/chat/completions"))
        .expect("upstream saw the call");
    let auth = seen.authorization.as_deref().unwrap();
    assert!(
        auth.contains(UPSTREAM_KEY),
        "upstream got its own key: {auth}"
    );
    assert!(
        !auth.contains(&h.secret),
        "the client's key never reaches the upstream"
    );
    assert!(
        !seen.headers.iter().any(|(_, v)| v.contains(&h.secret)),
        "nor in any other header"
    );
}

#[tokio::test]
async fn completions_embeddings_and_responses() {
    let h = start().await;
    let r = h
        .post(
            "/v1/completions",
            json!({"model": "gpt-4o-mini", "prompt": "Once upon a time"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "text_completion");

    let r = h
        .post(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);

    let r = h
        .post(
            "/v1/responses",
            json!({"model": "gpt-4o-mini", "input": "Say hi"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "response");
}

#[tokio::test]
async fn models_are_filtered_to_what_the_key_may_use() {
    let h = start_with(|s| s.key.models = vec!["gpt-4o*".into()]).await;
    let r = h
        .http
        .get(h.url("/v1/models"))
        .bearer_auth(&h.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"gpt-4o-mini") && ids.contains(&"gpt-4o"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"text-embedding-3-small"), "{ids:?}");

    let r = h
        .http
        .get(h.url("/v1/models/gpt-4o"))
        .bearer_auth(&h.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = h
        .http
        .get(h.url("/v1/models/text-embedding-3-small"))
        .bearer_auth(&h.secret)
        .send()
        .await
        .unwrap();
    crate::harness::assert_error(r, 404, "model_not_found").await;
}

#[tokio::test]
async fn azure_style_api_key_header_is_accepted() {
    let h = start().await;
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .header("api-key", &h.secret)
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn other_paths_are_refused_unless_allowed() {
    let h = start().await;
    let r = h
        .http
        .post(h.url("/v1/audio/speech"))
        .bearer_auth(&h.secret)
        .json(&json!({"model": "tts-1"}))
        .send()
        .await
        .unwrap();
    crate::harness::assert_error(r, 404, "unknown_url").await;

    let h = start_with(|s| s.raw.server.allow_other_paths = Some(true)).await;
    let r = h
        .http
        .post(h.url("/v1/audio/speech"))
        .bearer_auth(&h.secret)
        .json(&json!({"model": "tts-1"}))
        .send()
        .await
        .unwrap();
    // Forwarded: the simulator does not serve it and says so with its own 404.
    assert_eq!(r.status(), 404);
    assert!(
        h.sim
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/v1/audio/speech"))
    );
}

#[tokio::test]
async fn files_and_fine_tuning_are_forwarded() {
    let h = start().await;
    let line =
        r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}"#;
    let form = reqwest::multipart::Form::new()
        .text("purpose", "fine-tune")
        .part(
            "file",
            reqwest::multipart::Part::bytes(format!("{line}\n").into_bytes())
                .file_name("train.jsonl"),
        );
    let r = h
        .http
        .post(h.url("/v1/files"))
        .bearer_auth(&h.secret)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let file: Value = r.json().await.unwrap();
    let file_id = file["id"].as_str().unwrap();

    let r = h
        .post(
            "/v1/fine_tuning/jobs",
            json!({"model": "gpt-4o-mini", "training_file": file_id}),
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = h
        .http
        .get(h.url("/v1/fine_tuning/jobs"))
        .bearer_auth(&h.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
