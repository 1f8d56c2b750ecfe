//! Two stores on one directory, as the server and the CLI are two processes on one file.

use std::collections::HashSet;

use bulwark_core::{EventBody, KeyStatus};
use bulwark_store::{SqliteStore, StatusChange, Store};

use crate::common::{api_event, seed, seed_key, stored_events};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_see_each_others_writes_and_never_share_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::open(dir.path()).unwrap();
    let cli = SqliteStore::open(dir.path()).unwrap();

    let (tenant, account) = seed(&cli).await;
    assert_eq!(server.get_tenant(&tenant.id).await.unwrap(), Some(tenant));
    let mut keys = Vec::new();
    for i in 0..6 {
        let by = if i % 2 == 0 { &server } else { &cli };
        keys.push(seed_key(by, &account).await);
    }
    assert_eq!(server.key_version().await.unwrap(), 6);
    assert_eq!(
        cli.get_key(&keys[0].id).await.unwrap(),
        Some(keys[0].clone())
    );

    // Both toggle every key at once, while the server also appends event batches.
    let mut tasks = Vec::new();
    for (n, store) in [server.clone(), cli.clone()].into_iter().enumerate() {
        for (k, key) in keys.iter().enumerate() {
            let store = store.clone();
            let id = key.id.clone();
            tasks.push(tokio::spawn(async move {
                let mut versions = Vec::new();
                for round in 0..10 {
                    let to = if (round + n + k) % 2 == 0 {
                        KeyStatus::Suspended
                    } else {
                        KeyStatus::Active
                    };
                    let change = StatusChange {
                        key: id.clone(),
                        to,
                        reason: None,
                        actor: format!("store{n}"),
                    };
                    let outcome = store.set_key_status(&change).await.unwrap();
                    assert_eq!(outcome.record.status, to);
                    if outcome.event.is_some() {
                        versions.push(outcome.record.version);
                    }
                }
                versions
            }));
        }
    }
    let writer = {
        let server = server.clone();
        tokio::spawn(async move {
            for batch in 0..20 {
                let events: Vec<_> = (0..500)
                    .map(|i| api_event(1_000_000 + batch * 500 + i))
                    .collect();
                assert_eq!(server.append_events(&events).await.unwrap(), 500);
            }
        })
    };

    let mut versions = Vec::new();
    for task in tasks {
        let mine = task.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one task's versions increase: {mine:?}"
        );
        versions.extend(mine);
    }
    writer.await.unwrap();

    let unique: HashSet<u64> = versions.iter().copied().collect();
    assert_eq!(unique.len(), versions.len(), "a version was assigned twice");
    let max = versions.iter().copied().max().unwrap();
    assert_eq!(server.key_version().await.unwrap(), max);
    assert_eq!(cli.key_version().await.unwrap(), max);
    assert_eq!(max, 6 + versions.len() as u64, "no version skipped or lost");

    // Both see the same final keys, in strict version order.
    let seen_by_server = server.keys_changed_since(0, 100).await.unwrap();
    let seen_by_cli = cli.keys_changed_since(0, 100).await.unwrap();
    assert_eq!(seen_by_server, seen_by_cli);
    assert_eq!(seen_by_server.len(), keys.len());
    assert!(
        seen_by_server
            .windows(2)
            .all(|w| w[0].record.version < w[1].record.version)
    );

    // Every change that happened has its event.
    let events = stored_events(&cli).await;
    let status_changes = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::KeyStatusChanged(_)))
        .count();
    assert_eq!(status_changes, versions.len());
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e.body, EventBody::ApiRequest(_)))
            .count(),
        10_000
    );
}
