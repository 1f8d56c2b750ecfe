use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{error_of, start_default};

async fn embed(sim: &crate::support::Running, request: Value) -> Value {
    let response = sim.post("/v1/embeddings", request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn floats(embedding: &Value) -> Vec<f32> {
    embedding
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
}

#[tokio::test]
async fn float_embeddings_are_unit_length_and_deterministic() {
    let sim = start_default().await;
    let request = json!({"model": "text-embedding-3-small", "input": ["hello world", "goodbye"]});
    let body = embed(&sim, request.clone()).await;
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["object"], "embedding");
    let v = floats(&data[0]["embedding"]);
    assert_eq!(v.len(), 1536);
    assert!((norm(&v) - 1.0).abs() < 1e-4);
    assert_ne!(v, floats(&data[1]["embedding"]));
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(body["usage"]["total_tokens"], 3);

    assert_eq!(embed(&sim, request).await["data"], body["data"]);
}

#[tokio::test]
async fn dimensions_and_token_inputs_are_honoured() {
    let sim = start_default().await;
    let body = embed(
        &sim,
        json!({"model": "text-embedding-3-small", "input": "hi", "dimensions": 64}),
    )
    .await;
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 64);

    let body = embed(
        &sim,
        json!({"model": "text-embedding-3-large", "input": [[1, 2, 3], [4]]}),
    )
    .await;
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 3072);
    assert_eq!(body["usage"]["prompt_tokens"], 4);

    let error = error_of(
        sim.post(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": []}),
        )
        .send()
        .await
        .unwrap(),
        400,
    )
    .await;
    assert_eq!(error["param"], "input");
}

#[tokio::test]
async fn base64_embeddings_decode_to_the_float_vector() {
    let sim = start_default().await;
    let floats_body = embed(
        &sim,
        json!({"model": "text-embedding-3-small", "input": "same text"}),
    )
    .await;
    let b64_body = embed(
        &sim,
        json!({"model": "text-embedding-3-small", "input": "same text", "encoding_format": "base64"}),
    )
    .await;
    let encoded = b64_body["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let expected = floats(&floats_body["data"][0]["embedding"]);
    assert_eq!(decoded.len(), expected.len());
    // JSON prints shortest round-trip decimals; allow for the f64 detour of the parser.
    for (got, want) in decoded.iter().zip(&expected) {
        assert!((got - want).abs() <= 1e-7, "{got} != {want}");
    }
}
