use bulwark_sim::{LoggedRequest, SimConfig};
use serde_json::{Value, json};

use crate::support::{start, start_default};

#[tokio::test]
async fn records_authorization_headers_and_body() {
    let sim = start_default().await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "log me"}]});
    sim.post("/v1/chat/completions?trace=1", body.clone())
        .bearer_auth("sk-forwarded")
        .header("x-custom", "yes")
        .send()
        .await
        .unwrap();
    sim.get("/v1/models")
        .header("api-key", "azure-style")
        .send()
        .await
        .unwrap();

    let log = sim.sim.requests();
    assert_eq!(log.len(), 2);
    let first = &log[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/chat/completions?trace=1");
    assert_eq!(first.authorization.as_deref(), Some("Bearer sk-forwarded"));
    assert!(
        first
            .headers
            .contains(&("x-custom".to_owned(), "yes".to_owned()))
    );
    assert_eq!(serde_json::from_str::<Value>(&first.body).unwrap(), body);
    assert_eq!(log[1].authorization.as_deref(), Some("azure-style"));

    // The same log over HTTP, for out-of-process tests; reading it is not itself logged.
    let over_http: Vec<Value> = sim
        .get("/_sim/requests")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http.len(), 2);
    assert_eq!(over_http[0]["authorization"], "Bearer sk-forwarded");
    assert_eq!(over_http[0]["path"], "/v1/chat/completions?trace=1");

    let cleared = sim
        .client
        .delete(sim.url("/_sim/requests"))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    assert!(sim.sim.requests().is_empty());
    sim.get("/v1/models").send().await.unwrap();
    sim.sim.clear_requests();
    assert!(sim.sim.requests().is_empty());
}

#[tokio::test]
async fn rejected_requests_are_logged_and_capacity_bounds_the_log() {
    let sim = start(SimConfig {
        log_capacity: 2,
        require_key: Some("k".into()),
        ..SimConfig::default()
    })
    .await;
    for i in 0..3 {
        let response = sim.get(&format!("/v1/models/{i}")).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    let paths: Vec<String> = sim
        .sim
        .requests()
        .into_iter()
        .map(|r: LoggedRequest| r.path)
        .collect();
    assert_eq!(paths, ["/v1/models/1", "/v1/models/2"]);

    let sim = start(SimConfig {
        log_capacity: 0,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(
        sim.post("/v1/completions", json!({"model": "gpt-4o", "prompt": "x"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(sim.sim.requests().is_empty());
}
