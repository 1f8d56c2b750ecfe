use bulwark_sim::count_tokens;
use serde_json::{Value, json};

use crate::support::{read_events, start_default};

#[tokio::test]
async fn legacy_completion_has_the_text_completion_shape() {
    let sim = start_default().await;
    let body: Value = sim
        .post(
            "/v1/completions",
            json!({"model": "gpt-4o-mini", "prompt": "Once upon a time"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["logprobs"].is_null());
    let text = choice["text"].as_str().unwrap();
    assert!(text.split_whitespace().count() >= 40);
    assert_eq!(
        body["usage"]["prompt_tokens"],
        count_tokens("Once upon a time")
    );
    assert_eq!(body["usage"]["completion_tokens"], count_tokens(text));
}

#[tokio::test]
async fn an_array_of_prompts_gets_one_choice_each() {
    let sim = start_default().await;
    let body: Value = sim
        .post(
            "/v1/completions",
            json!({"model": "gpt-4o-mini", "prompt": ["one", "two"], "max_tokens": 3}),
        )
        .header("x-sim-echo", "1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    assert_eq!(choices[0]["text"], "one");
    assert_eq!(choices[1]["text"], "two");
    assert_eq!(choices[1]["index"], 1);
    assert_eq!(body["usage"]["total_tokens"], 4);
}

#[tokio::test]
async fn legacy_stream_sends_text_chunks_then_done() {
    let sim = start_default().await;
    let plain: Value = sim
        .post(
            "/v1/completions",
            json!({"model": "gpt-4o-mini", "prompt": "Write a story"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request = json!({"model": "gpt-4o-mini", "prompt": "Write a story", "stream": true,
                         "stream_options": {"include_usage": true}});
    let events = read_events(sim.post("/v1/completions", request).send().await.unwrap()).await;

    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert!(chunks.len() >= 7);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, plain["choices"][0]["text"].as_str().unwrap());
    assert_eq!(usage["usage"]["completion_tokens"], count_tokens(&text));
    for chunk in &chunks {
        assert_eq!(chunk["object"], "text_completion");
    }
}
