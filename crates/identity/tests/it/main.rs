//! Directory and key cache over a real SQLite store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::sync::Arc;

use bulwark_core::{EventBody, KeyStatus, Verification};
use bulwark_identity::{
    Directory, DirectoryError, KeyCache, KeyHasher, NewAccount, NewKey, Pepper,
};
use bulwark_store::{SqliteStore, Store};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    directory: Directory,
    hasher: KeyHasher,
    account: bulwark_core::AccountId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let hasher = KeyHasher::new(&Pepper::load_or_create(dir.path()).unwrap());
    let directory = Directory::new(Arc::clone(&store), hasher.clone());
    let tenant = directory.create_tenant(Some("acme".into())).await.unwrap();
    let mut signals = serde_json::Map::new();
    signals.insert("email_domain".into(), "example.org".into());
    let (account, event) = directory
        .create_account(NewAccount {
            tenant: tenant.id,
            name: None,
            verification: Verification::Phone,
            client: Default::default(),
            signals,
        })
        .await
        .unwrap();
    match event.body {
        EventBody::AccountCreated(created) => {
            assert_eq!(created.signals["email_domain"], "example.org")
        }
        other => panic!("{other:?}"),
    }
    Fixture {
        _dir: dir,
        store,
        directory,
        hasher,
        account: account.id,
    }
}

fn new_key(account: &bulwark_core::AccountId) -> NewKey {
    NewKey {
        account: Some(account.clone()),
        ..Default::default()
    }
}

#[tokio::test]
async fn created_key_is_found_by_its_secret_only() {
    let f = fixture().await;
    let created = f.directory.create_key(new_key(&f.account)).await.unwrap();
    let cache = KeyCache::new(Arc::clone(&f.store), f.hasher.clone())
        .await
        .unwrap();
    let found = cache
        .lookup(created.secret.expose())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.record.id, created.record.id);
    assert_eq!(found.record.prefix, &created.secret.expose()[..12]);
    assert!(cache.lookup("bw-live-wrong").await.unwrap().is_none());
    assert!(cache.lookup("").await.unwrap().is_none());
    assert!(cache.lookup(&"x".repeat(10_000)).await.unwrap().is_none());
    // A second lookup is served from memory.
    let misses = cache.stats().misses;
    cache
        .lookup(created.secret.expose())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cache.stats().misses, misses);
}

#[tokio::test]
async fn changes_from_another_process_reach_the_cache_through_the_feed() {
    let f = fixture().await;
    let created = f.directory.create_key(new_key(&f.account)).await.unwrap();
    let cache = KeyCache::new(Arc::clone(&f.store), f.hasher.clone())
        .await
        .unwrap();
    assert_eq!(
        cache
            .lookup(created.secret.expose())
            .await
            .unwrap()
            .unwrap()
            .record
            .status,
        KeyStatus::Active
    );

    // "Another process": a second store and directory on the same files.
    let dir_path = f._dir.path();
    let other_store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir_path).unwrap());
    let other = Directory::new(
        other_store,
        KeyHasher::new(&Pepper::load_or_create(dir_path).unwrap()),
    );
    other
        .set_key_status(
            created.record.id.clone(),
            KeyStatus::Suspended,
            Some("resold".into()),
            "cli",
        )
        .await
        .unwrap();

    // Until the feed is read, the cache serves what it knew; then the change applies.
    assert_eq!(
        cache
            .lookup(created.secret.expose())
            .await
            .unwrap()
            .unwrap()
            .record
            .status,
        KeyStatus::Active
    );
    assert!(cache.refresh().await.unwrap() >= 1);
    assert_eq!(
        cache
            .lookup(created.secret.expose())
            .await
            .unwrap()
            .unwrap()
            .record
            .status,
        KeyStatus::Suspended
    );
}

#[tokio::test]
async fn a_key_created_after_a_failed_lookup_is_found_after_the_feed_runs() {
    let f = fixture().await;
    let cache = KeyCache::new(Arc::clone(&f.store), f.hasher.clone())
        .await
        .unwrap();
    let created = f.directory.create_key(new_key(&f.account)).await.unwrap();
    // The cache started before the key existed; a lookup now reads the store directly.
    assert!(
        cache
            .lookup(created.secret.expose())
            .await
            .unwrap()
            .is_some()
    );

    // The other order: "unknown" cached first, then the key appears through the feed.
    let secret = bulwark_identity::KeySecret::generate();
    assert!(cache.lookup(secret.expose()).await.unwrap().is_none());
    let hash = f.hasher.hash(secret.expose());
    let mut record = created.record.clone();
    record.id = bulwark_core::KeyId::generate();
    let event = created.event.clone();
    let mut event = event;
    event.id = bulwark_core::EventId::generate();
    f.store
        .create_key(&bulwark_store::StoredKey { record, hash }, &event)
        .await
        .unwrap();
    cache.refresh().await.unwrap();
    assert!(
        cache.lookup(secret.expose()).await.unwrap().is_some(),
        "the negative entry was invalidated"
    );
}

#[tokio::test]
async fn revocation_is_final_and_recorded() {
    let f = fixture().await;
    let created = f.directory.create_key(new_key(&f.account)).await.unwrap();
    let id = created.record.id.clone();
    let outcome = f
        .directory
        .set_key_status(id.clone(), KeyStatus::Revoked, Some("leaked".into()), "cli")
        .await
        .unwrap();
    let event = outcome.event.unwrap();
    match event.body {
        EventBody::KeyStatusChanged(change) => {
            assert_eq!(
                (change.from, change.to),
                (KeyStatus::Active, KeyStatus::Revoked)
            );
            assert_eq!(change.actor, "cli");
        }
        other => panic!("{other:?}"),
    }
    let err = f
        .directory
        .set_key_status(id, KeyStatus::Active, None, "cli")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DirectoryError::Store(bulwark_store::StoreError::InvalidTransition { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_reasons() {
    let f = fixture().await;
    let invalid = |e: DirectoryError| matches!(e, DirectoryError::Invalid(_));
    let mut k = new_key(&f.account);
    k.models = vec![" ".into()];
    assert!(invalid(f.directory.create_key(k).await.unwrap_err()));
    let mut k = new_key(&f.account);
    k.rpm = Some(0);
    assert!(invalid(f.directory.create_key(k).await.unwrap_err()));
    let mut k = new_key(&f.account);
    k.name = Some("bad\u{0}name".into());
    assert!(invalid(f.directory.create_key(k).await.unwrap_err()));
    assert!(invalid(
        f.directory.create_key(NewKey::default()).await.unwrap_err()
    ));
    let k = NewKey {
        account: Some(bulwark_core::AccountId::generate()),
        ..Default::default()
    };
    let err = f.directory.create_key(k).await.unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}
