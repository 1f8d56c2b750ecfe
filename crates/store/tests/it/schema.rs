//! Opening, migrations and connection settings.

use bulwark_store::{SqliteStore, Store, StoreError};
use rusqlite::Connection;

use bulwark_core::{Event, Timestamp};

use crate::common::{api_event, read_all, seed, seed_key};

#[tokio::test]
async fn opening_twice_keeps_the_data_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let (tenant, _) = seed(&store).await;
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.get_tenant(&tenant.id).await.unwrap(), Some(tenant));
    let version: i64 = Connection::open(store.path())
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(
        version, 4,
        "four migrations: initial, alerts, compact events, request blocks"
    );
}

/// A database that an earlier build wrote (schema version 2, every event a JSON line)
/// keeps its events through migration 3, and new `api.request` rows are compact.
#[tokio::test]
async fn events_stored_as_json_survive_the_compact_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SqliteStore::FILE_NAME);
    let old: Vec<Event> = (0..40).map(|i| api_event(1_000 + i)).collect();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../src/sqlite/migrations/0001_initial.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../../src/sqlite/migrations/0002_alerts.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        for event in &old {
            conn.execute(
                r#"INSERT INTO events (id, ts_ms, kind, tenant, account, "key", decision, json)
                   VALUES (?1, ?2, 'api.request', 'ten_t', 'acct_a', 'key_k', 'allowed', ?3)"#,
                rusqlite::params![event.id.as_str(), event.ts.unix_millis(), event.to_json()],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let (tenant, account) = seed(&store).await;
    let key = seed_key(&store, &account).await;
    let mut new: Vec<Event> = (0..40).map(|i| api_event(2_000 + i)).collect();
    new[0].tenant = Some(tenant.id.clone());
    new[0].key = Some(key.id.clone());
    assert_eq!(store.append_events(&new).await.unwrap(), 40);

    let rows = read_all(
        &store,
        None,
        Some(Timestamp::from_unix_millis(10_000).unwrap()),
        7,
    )
    .await;
    let expected: Vec<String> = old.iter().chain(&new).map(Event::to_json).collect();
    let got: Vec<String> = rows.into_iter().map(|row| row.json).collect();
    assert_eq!(got, expected);

    let conn = Connection::open(&path).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM events WHERE json IS NOT NULL AND ts_ms < 2000"),
        40
    );
    assert_eq!(
        count("SELECT sum(events) FROM request_blocks WHERE min_ts_ms >= 2000"),
        40,
        "new requests go to blocks"
    );
    assert_eq!(
        count("SELECT count(*) FROM events WHERE kind = 'api.request' AND ts_ms >= 2000"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM events WHERE kind <> 'api.request' AND json IS NOT NULL"),
        2,
        "management events keep their lines"
    );
    assert_eq!(
        count(r#"SELECT count(*) FROM events WHERE "key" = 'key_k'"#),
        40
    );
    let plan: String = conn
        .query_row(
            r#"EXPLAIN QUERY PLAN SELECT id FROM events WHERE "key" = 'key_k' AND ts_ms > 5"#,
            [],
            |row| row.get(3),
        )
        .unwrap();
    assert!(plan.contains("events_by_key"), "{plan}");
}

#[tokio::test]
async fn the_file_is_in_wal_mode() {
    let (_dir, store) = crate::common::store();
    assert_eq!(store.path().file_name().unwrap(), SqliteStore::FILE_NAME);
    let conn = Connection::open(store.path()).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    store.ping().await.unwrap();
}

#[tokio::test]
async fn creates_missing_directories_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a").join("data");
    let store = SqliteStore::open(&data).unwrap();
    assert!(store.path().starts_with(&data));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
    // Debug names the file and never dumps connections.
    let debug = format!("{store:?}");
    assert!(
        debug.starts_with("SqliteStore {") && debug.contains("bulwark.db"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let path = store.path().to_owned();
    drop(store);
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(message)
            if message.starts_with("database schema version 99 is newer than this build (")),
        "{err}"
    );
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[tokio::test]
async fn an_unusable_directory_is_a_backend_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::open(&file).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("not-a-dir")),
        "{err}"
    );
}

#[tokio::test]
async fn clones_share_one_database() {
    let (_dir, store) = crate::common::store();
    let (_, account) = seed(&store).await;
    let clone = store.clone();
    let key = seed_key(&clone, &account).await;
    assert_eq!(store.get_key(&key.id).await.unwrap(), Some(key));
}
