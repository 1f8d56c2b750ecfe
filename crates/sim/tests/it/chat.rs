use std::time::{Duration, Instant};

use bulwark_sim::{SimConfig, count_tokens};
use serde_json::{Value, json};

use crate::support::{error_of, read_events, start, start_default};

fn ask(prompt: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": prompt}
    ]})
}

/// The text of a chat stream, after checking every chunk's envelope.
fn streamed_text(events: &[crate::support::Event]) -> String {
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| e.json())
        .filter_map(|chunk| {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn non_streamed_completion_has_the_openai_shape() {
    let sim = start_default().await;
    let body: Value = sim
        .post("/v1/chat/completions", ask("How do plants eat?"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["system_fingerprint"], "fp_bulwark_sim");
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1);
    let choice = &choices[0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["refusal"].is_null());
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["finish_reason"], "stop");
    let content = choice["message"]["content"].as_str().unwrap();
    let words = content.split_whitespace().count();
    assert!((40..=120).contains(&words), "{content}");

    let usage = &body["usage"];
    assert_eq!(
        usage["prompt_tokens"],
        count_tokens("You are helpful.") + count_tokens("How do plants eat?")
    );
    assert_eq!(usage["completion_tokens"], count_tokens(content));
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );

    // Same prompt, same answer, new id.
    let again: Value = sim
        .post("/v1/chat/completions", ask("How do plants eat?"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["choices"][0]["message"]["content"], content);
    assert_ne!(again["id"], body["id"]);
}

#[tokio::test]
async fn stream_sends_role_content_finish_then_done() {
    let sim = start_default().await;
    let plain: Value = sim
        .post("/v1/chat/completions", ask("Tell me something"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut request = ask("Tell me something");
    request["stream"] = json!(true);
    let events = read_events(
        sim.post("/v1/chat/completions", request)
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let content_chunks = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert!(content_chunks >= 5, "only {content_chunks} content chunks");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    for chunk in &chunks {
        assert_eq!(chunk["id"], chunks[0]["id"]);
        assert!(chunk.get("usage").is_none(), "usage only when asked for");
    }
    assert_eq!(
        streamed_text(&events),
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
}

#[tokio::test]
async fn chunks_arrive_one_by_one_with_the_chunk_delay() {
    let sim = start_default().await;
    let mut request = ask("pace yourself");
    request["stream"] = json!(true);
    let started = Instant::now();
    let response = sim
        .post("/v1/chat/completions", request)
        .header("x-sim-chunk-delay-ms", "100")
        .send()
        .await
        .unwrap();
    let events = read_events(response).await;
    let first = events.first().unwrap().at;
    let last = events.last().unwrap().at;

    assert!(events.len() >= 8);
    let whole = last - started;
    assert!(
        whole >= Duration::from_millis(100 * (events.len() as u64 - 1)),
        "stream took only {whole:?}"
    );
    assert!(
        first - started < whole / 3,
        "first chunk at {:?} of {whole:?}",
        first - started
    );
    // Arrivals are spread out, not delivered in one burst at the end.
    let spread = events
        .windows(2)
        .filter(|w| w[1].at - w[0].at >= Duration::from_millis(50))
        .count();
    assert!(
        spread >= events.len() / 2,
        "only {spread} of {} gaps were paced",
        events.len()
    );
}

#[tokio::test]
async fn include_usage_adds_a_final_usage_chunk() {
    let sim = start_default().await;
    let mut request = ask("count for me");
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let events = read_events(
        sim.post("/v1/chat/completions", request)
            .send()
            .await
            .unwrap(),
    )
    .await;

    let n = events.len();
    assert_eq!(events[n - 1].data, "[DONE]");
    let usage_chunk = events[n - 2].json();
    assert_eq!(usage_chunk["choices"], json!([]));
    let text = streamed_text(&events);
    assert_eq!(
        usage_chunk["usage"]["completion_tokens"],
        count_tokens(&text)
    );
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens"],
        count_tokens("You are helpful.") + count_tokens("count for me")
    );
    for event in &events[..n - 2] {
        assert!(event.json()["usage"].is_null());
    }
}

#[tokio::test]
async fn echo_answers_with_the_last_user_message() {
    let sim = start(SimConfig {
        echo: true,
        ..SimConfig::default()
    })
    .await;
    let request = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "repeat"}, {"type": "text", "text": "exactly this"}]}
    ]});
    let body: Value = sim
        .post("/v1/chat/completions", request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "repeat\nexactly this"
    );

    // Per request, by header, on a simulator that does not echo by default.
    let sim = start_default().await;
    let body: Value = sim
        .post("/v1/chat/completions", ask("say my words back"))
        .header("x-sim-echo", "1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "say my words back"
    );
}

#[tokio::test]
async fn max_tokens_truncates_with_finish_reason_length() {
    let sim = start_default().await;
    let mut request = ask("a long answer please");
    request["max_tokens"] = json!(7);
    let body: Value = sim
        .post("/v1/chat/completions", request.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(count_tokens(content), 7);
    assert_eq!(body["usage"]["completion_tokens"], 7);

    // `max_completion_tokens` wins over `max_tokens`, and streams end the same way.
    request["max_completion_tokens"] = json!(12);
    request["stream"] = json!(true);
    let events = read_events(
        sim.post("/v1/chat/completions", request)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(count_tokens(&streamed_text(&events)), 12);
    let finish = events[events.len() - 2].json();
    assert_eq!(finish["choices"][0]["finish_reason"], "length");

    // A limit above the answer's length changes nothing.
    let mut request = ask("a long answer please");
    request["max_tokens"] = json!(4096);
    let body: Value = sim
        .post("/v1/chat/completions", request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn unknown_model_and_bad_json_are_openai_errors() {
    let sim = start_default().await;
    let mut request = ask("hi");
    request["model"] = json!("gpt-9");
    let error = error_of(
        sim.post("/v1/chat/completions", request)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(
        error["message"],
        "The model `gpt-9` does not exist or you do not have access to it."
    );

    let response = sim
        .client
        .post(sim.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let error = error_of(response, 400).await;
    assert_eq!(error["type"], "invalid_request_error");
}
