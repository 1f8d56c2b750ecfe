use bulwark_sim::count_tokens;
use serde_json::{Value, json};

use crate::support::{error_of, read_events, start_default};

#[tokio::test]
async fn non_streamed_response_has_the_response_shape() {
    let sim = start_default().await;
    let request = json!({"model": "gpt-4o", "instructions": "Be brief.", "input": "Explain tides"});
    let body: Value = sim
        .post("/v1/responses", request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(body["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["instructions"], "Be brief.");
    assert!(body["created_at"].is_u64());
    let output = body["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    let message = &output[0];
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["status"], "completed");
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    let part = &message["content"][0];
    assert_eq!(part["type"], "output_text");
    assert_eq!(part["annotations"], json!([]));
    let text = part["text"].as_str().unwrap();
    assert!(text.split_whitespace().count() >= 40);
    let usage = &body["usage"];
    assert_eq!(
        usage["input_tokens"],
        count_tokens("Be brief.") + count_tokens("Explain tides")
    );
    assert_eq!(usage["output_tokens"], count_tokens(text));
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn message_items_are_read_and_echoed() {
    let sim = start_default().await;
    let request = json!({"model": "gpt-4o", "input": [
        {"role": "user", "content": "earlier"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "echo me"}]}
    ]});
    let body: Value = sim
        .post("/v1/responses", request)
        .header("x-sim-echo", "1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["output"][0]["content"][0]["text"], "echo me");
    assert_eq!(body["usage"]["input_tokens"], 3);

    let error = error_of(
        sim.post("/v1/responses", json!({"model": "nope", "input": "x"}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");
}

#[tokio::test]
async fn stream_emits_the_semantic_event_sequence() {
    let sim = start_default().await;
    let request = json!({"model": "gpt-4o", "input": "Explain tides", "stream": true});
    let events = read_events(sim.post("/v1/responses", request).send().await.unwrap()).await;

    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    let deltas = names
        .iter()
        .filter(|n| **n == "response.output_text.delta")
        .count();
    assert!(deltas >= 5, "only {deltas} deltas");
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(std::iter::repeat_n("response.output_text.delta", deltas));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names, expected);

    let payloads: Vec<Value> = events.iter().map(|e| e.json()).collect();
    for (i, (payload, name)) in payloads.iter().zip(&names).enumerate() {
        assert_eq!(
            payload["type"], *name,
            "the `type` field repeats the event name"
        );
        assert_eq!(
            payload["sequence_number"], i,
            "sequence numbers count from 0"
        );
    }
    assert_eq!(payloads[0]["response"]["status"], "in_progress");
    let item_id = payloads[2]["item"]["id"].as_str().unwrap();
    let text: String = payloads
        .iter()
        .filter(|p| p["type"] == "response.output_text.delta")
        .map(|p| {
            assert_eq!(p["item_id"], item_id);
            assert_eq!(p["output_index"], 0);
            assert_eq!(p["content_index"], 0);
            p["delta"].as_str().unwrap().to_owned()
        })
        .collect();
    let done = &payloads[names.len() - 4];
    assert_eq!(done["text"], text.as_str());
    let completed = &payloads[names.len() - 1]["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"][0]["content"][0]["text"], text.as_str());
    assert_eq!(completed["usage"]["output_tokens"], count_tokens(&text));
}

#[tokio::test]
async fn max_output_tokens_makes_the_response_incomplete() {
    let sim = start_default().await;
    let request = json!({"model": "gpt-4o", "input": "Explain tides", "max_output_tokens": 5});
    let body: Value = sim
        .post("/v1/responses", request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(body["usage"]["output_tokens"], 5);
}
