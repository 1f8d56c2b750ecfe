//! Opening, migrations and connection settings.

use bulwark_store::{SqliteStore, Store, StoreError};
use rusqlite::Connection;

use crate::common::{seed, seed_key};

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
    assert_eq!(version, 2, "two migrations: initial, alerts");
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
