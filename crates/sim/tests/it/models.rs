use serde_json::Value;

use crate::support::{error_of, start_default};

#[tokio::test]
async fn lists_the_served_models() {
    let sim = start_default().await;
    let body: Value = sim
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "gpt-4o-mini",
            "gpt-4o",
            "text-embedding-3-small",
            "bulwark-sim-1"
        ]
    );
    for model in body["data"].as_array().unwrap() {
        assert_eq!(model["object"], "model");
        assert_eq!(model["owned_by"], "bulwark-sim");
        assert!(model["created"].is_u64());
    }
}

#[tokio::test]
async fn retrieves_one_model_or_404() {
    let sim = start_default().await;
    let body: Value = sim
        .get("/v1/models/gpt-4o")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["id"], "gpt-4o");
    assert_eq!(body["object"], "model");

    let error = error_of(sim.get("/v1/models/gpt-9").send().await.unwrap(), 404).await;
    assert_eq!(error["code"], "model_not_found");
}
