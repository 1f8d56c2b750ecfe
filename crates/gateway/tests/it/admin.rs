use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, assert_error, chat_body, start};

#[tokio::test]
async fn key_suspended_through_the_admin_api_is_refused_on_the_next_request() {
    let h = start().await;
    assert_eq!(h.chat("hi").await.status(), 200);
    let r = h
        .admin_post(
            &format!("/admin/v1/keys/{}/suspend", h.key_id),
            json!({"reason": "resold"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let record: Value = r.json().await.unwrap();
    assert_eq!(record["status"], "suspended");
    // Same process: the change applies at once, not at the next poll.
    assert_error(h.chat("hi").await, 403, "key_suspended").await;

    let r = h
        .admin_post(&format!("/admin/v1/keys/{}/resume", h.key_id), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.chat("hi").await.status(), 200);
}

#[tokio::test]
async fn change_made_by_another_process_arrives_within_a_second() {
    let h = start().await;
    assert_eq!(h.chat("hi").await.status(), 200);
    // A second store on the same database, as the CLI would open it.
    let other = bulwark_store::SqliteStore::open(h.dir.path()).unwrap();
    use bulwark_store::Store;
    other
        .set_key_status(&bulwark_store::StatusChange {
            key: h.key_id.parse().unwrap(),
            to: bulwark_core::KeyStatus::Suspended,
            reason: None,
            actor: "cli".into(),
        })
        .await
        .unwrap();
    let changed = Instant::now();
    loop {
        let r = h.chat("hi").await;
        if r.status() == 403 {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "suspension not seen within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn admin_api_creates_tenants_accounts_and_keys() {
    let h = start().await;
    let tenant: Value = h
        .admin_post("/admin/v1/tenants", json!({"name": "globex"}))
        .await
        .json()
        .await
        .unwrap();
    let tenant_id = tenant["id"].as_str().unwrap();
    assert!(tenant_id.starts_with("ten_"));
    let r = h
        .admin_post(
            "/admin/v1/accounts",
            json!({"tenant": tenant_id, "verification": "phone", "client": {"ip": "203.0.113.9"},
                   "signals": {"email_domain": "example.org", "device_id": "dev-1"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let account: Value = r.json().await.unwrap();
    let r = h
        .admin_post(
            "/admin/v1/keys",
            json!({"account": account["id"], "name": "ci", "rpm": 10}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let key: Value = r.json().await.unwrap();
    let secret = key["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("bw-live-") && secret.len() >= 51,
        "{secret}"
    );
    assert!(key["id"].as_str().unwrap().starts_with("key_"));

    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(secret)
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let list: Value = h
        .http
        .get(h.url("/admin/v1/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = list.to_string();
    assert!(!text.contains(secret), "secrets are never listed");
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn admin_api_needs_the_token_and_reports_errors_openai_style() {
    let h = start().await;
    let r = h.http.get(h.url("/admin/v1/keys")).send().await.unwrap();
    assert_error(r, 401, "invalid_admin_token").await;
    let r = h
        .http
        .get(h.url("/admin/v1/keys"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "invalid_admin_token").await;
    let r = h
        .admin_post("/admin/v1/accounts", json!({"tenant": "ten_doesnotexist"}))
        .await;
    assert_error(r, 404, "not_found").await;
    let r = h.admin_post("/admin/v1/keys", json!({"account": 7})).await;
    assert_error(r, 400, "invalid_json").await;
    let r = h
        .admin_post(&format!("/admin/v1/keys/{}/revoke", h.key_id), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let r = h
        .admin_post(&format!("/admin/v1/keys/{}/resume", h.key_id), json!({}))
        .await;
    assert_error(r, 409, "conflict").await;
}
