//! Rows that a hand edit (or a bug) made unreadable are `Corrupt`, never a panic.

use bulwark_core::KeyStatus;
use bulwark_store::{KeyFilter, StatusChange, Store, StoreError};
use rusqlite::Connection;

use crate::common::{seed, seed_key, store};

/// Changes the file behind the store's back, as an operator with the sqlite3 shell would.
fn edit(store: &bulwark_store::SqliteStore, sql: &str) {
    let conn = Connection::open(store.path()).unwrap();
    conn.pragma_update(None, "foreign_keys", false).unwrap();
    conn.execute_batch(sql).unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, column: &str) {
    assert!(
        matches!(&result, Err(StoreError::Corrupt(message)) if message.contains(column)),
        "expected corrupt `{column}`, got {result:?}"
    );
}

#[tokio::test]
async fn unreadable_keys_are_corrupt() {
    let (_dir, store) = store();
    let (_, account) = seed(&store).await;
    let key = seed_key(&store, &account).await;

    edit(&store, "UPDATE keys SET status = 'lost'");
    assert_corrupt(store.get_key(&key.id).await, "keys.status");
    assert_corrupt(store.list_keys(&KeyFilter::default()).await, "keys.status");
    let change = StatusChange {
        key: key.id.clone(),
        to: KeyStatus::Revoked,
        reason: None,
        actor: "cli".into(),
    };
    assert_corrupt(store.set_key_status(&change).await, "keys.status");

    edit(&store, "UPDATE keys SET status = 'active', hash = x'00'");
    assert_corrupt(store.keys_changed_since(0, 10).await, "keys.hash");

    edit(
        &store,
        "UPDATE keys SET hash = zeroblob(32), models = 'gpt-4o'",
    );
    assert_corrupt(store.get_key(&key.id).await, "keys.models");

    edit(&store, "UPDATE keys SET models = '[]', account = 'acct x'");
    assert_corrupt(store.get_key(&key.id).await, "keys.account");
}

#[tokio::test]
async fn unreadable_accounts_tenants_and_events_are_corrupt() {
    let (_dir, store) = store();
    let (tenant, account) = seed(&store).await;
    edit(&store, "UPDATE accounts SET verification = 'passport'");
    assert_corrupt(
        store.get_account(&account.id).await,
        "accounts.verification",
    );
    edit(
        &store,
        "UPDATE tenants SET created_at_ms = 9223372036854775807",
    );
    assert_corrupt(store.get_tenant(&tenant.id).await, "tenants.created_at_ms");
    store
        .append_events(&[crate::common::api_event(1_000)])
        .await
        .unwrap();
    let query_all = bulwark_store::EventQuery {
        since: None,
        until: None,
        after: None,
        limit: 10,
    };
    for (body, why) in [
        ("x'01ff'", "truncated"),
        ("x'09'", "newer build"),
        ("x'0100010000'", "truncated"),
    ] {
        edit(&store, &format!("UPDATE request_blocks SET body = {body}"));
        let result = store.events_page(&query_all).await;
        assert!(
            matches!(&result, Err(StoreError::Corrupt(message)) if message.contains("request_blocks.body") && message.contains(why)),
            "{body}: {result:?}"
        );
    }
    edit(&store, "DELETE FROM request_blocks");
    // A request's row of the table, as rows were written before blocks.
    edit(
        &store,
        "INSERT INTO events (id, ts_ms, kind, body) VALUES ('evt_01JDQ6Z3X5M8V4N2K7P9R1T3W5', 5, 'api.request', x'01')",
    );
    for (body, why) in [
        ("x'01ff'", "truncated"),
        ("x'09'", "newer build"),
        ("NULL", "neither JSON nor a body"),
    ] {
        edit(
            &store,
            &format!(
                "PRAGMA ignore_check_constraints = ON; UPDATE events SET body = {body} WHERE kind = 'api.request'"
            ),
        );
        let result = store.events_page(&query_all).await;
        assert!(
            matches!(&result, Err(StoreError::Corrupt(message)) if message.contains("events.body") && message.contains(why)),
            "{body}: {result:?}"
        );
    }
    edit(
        &store,
        "DELETE FROM events WHERE json IS NULL; UPDATE events SET id = 'oops' WHERE rowid = (SELECT min(rowid) FROM events)",
    );
    let query = bulwark_store::EventQuery {
        since: None,
        until: None,
        after: None,
        limit: 10,
    };
    assert_corrupt(store.events_page(&query).await, "events.id");
}
