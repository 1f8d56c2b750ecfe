//! Keys: creation, lookups, filters, status changes and versions.

use bulwark_core::{EventBody, KeyHash, KeyId, KeyStatus, KeyStatusChanged, Timestamp};
use bulwark_store::{KeyFilter, StatusChange, Store, StoreError};

use crate::common::{account, key, key_created, seed, seed_key, store, stored_events, tenant};

fn change(key: &KeyId, to: KeyStatus) -> StatusChange {
    StatusChange {
        key: key.clone(),
        to,
        reason: Some("test".to_owned()),
        actor: "cli".to_owned(),
    }
}

#[tokio::test]
async fn keys_round_trip_every_field() {
    let (_dir, store) = store();
    let (_, account) = seed(&store).await;
    let (full, full_event) = key(&account);
    let created = store.create_key(&full, &full_event).await.unwrap();
    assert_eq!(created.version, 1, "the store assigns versions");
    let mut expected = full.record.clone();
    expected.version = 1;
    assert_eq!(created, expected);
    assert_eq!(
        store.get_key(&full.record.id).await.unwrap(),
        Some(expected.clone())
    );

    let by_hash = store.key_by_hash(&full.hash).await.unwrap().unwrap();
    assert_eq!(by_hash.record, expected);
    assert_eq!(by_hash.hash, full.hash);
    assert_eq!(store.key_by_hash(&KeyHash([7; 32])).await.unwrap(), None);
    assert_eq!(store.get_key(&KeyId::generate()).await.unwrap(), None);

    // Every optional field empty.
    let (mut bare, _) = key(&account);
    bare.record.name = None;
    bare.record.models = Vec::new();
    bare.record.rpm = None;
    bare.record.tpm = None;
    bare.record.status = KeyStatus::Suspended;
    bare.record.updated_at =
        Timestamp::from_unix_millis(bare.record.created_at.unix_millis() + 5).unwrap();
    let created = store
        .create_key(&bare, &key_created(&bare.record))
        .await
        .unwrap();
    assert_eq!(created.version, 2);
    assert_eq!(
        store.get_key(&bare.record.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store.key_by_hash(&bare.hash).await.unwrap().unwrap().record,
        created
    );

    assert!(stored_events(&store).await.contains(&full_event));
}

#[tokio::test]
async fn a_key_needs_an_account_of_its_own_tenant() {
    let (_dir, store) = store();
    let (_, account) = seed(&store).await;
    let (mut orphan, event) = key(&account);
    orphan.record.account = bulwark_core::AccountId::generate();
    let err = store.create_key(&orphan, &event).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains(orphan.record.account.as_str())),
        "{err}"
    );

    let other = tenant("other");
    store.create_tenant(&other).await.unwrap();
    let (mut foreign, event) = key(&account);
    foreign.record.tenant = other.id.clone();
    let err = store.create_key(&foreign, &event).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains(account.id.as_str())),
        "{err}"
    );

    assert!(
        store
            .list_keys(&KeyFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.key_version().await.unwrap(), 0);
}

#[tokio::test]
async fn duplicate_ids_and_hashes_conflict_and_store_nothing() {
    let (_dir, store) = store();
    let (_, account) = seed(&store).await;
    let (first, event) = key(&account);
    store.create_key(&first, &event).await.unwrap();
    let events_before = stored_events(&store).await.len();

    let (mut same_hash, same_hash_event) = key(&account);
    same_hash.hash = first.hash;
    let err = store
        .create_key(&same_hash, &same_hash_event)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("hash")),
        "{err}"
    );
    assert_eq!(store.get_key(&same_hash.record.id).await.unwrap(), None);

    let (mut same_id, same_id_event) = key(&account);
    same_id.record.id = first.record.id.clone();
    let err = store
        .create_key(&same_id, &same_id_event)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(first.record.id.as_str())),
        "{err}"
    );

    assert_eq!(stored_events(&store).await.len(), events_before);
    assert_eq!(store.key_version().await.unwrap(), 1);
}

#[tokio::test]
async fn list_keys_honours_every_filter() {
    let (_dir, store) = store();
    let (acme, alice) = seed(&store).await;
    let (bob, bob_event) = account(&acme.id);
    store.create_account(&bob, &bob_event).await.unwrap();
    let (other, carol) = seed(&store).await;

    let mut keys = Vec::new();
    for (owner, millis) in [
        (&alice, 1_000),
        (&bob, 2_000),
        (&alice, 3_000),
        (&carol, 4_000),
    ] {
        let (mut stored, event) = key(owner);
        stored.record.created_at = Timestamp::from_unix_millis(millis).unwrap();
        keys.push(store.create_key(&stored, &event).await.unwrap());
    }
    let outcome = store
        .set_key_status(&change(&keys[2].id, KeyStatus::Suspended))
        .await
        .unwrap();
    keys[2] = outcome.record;

    let ids = |filter: KeyFilter| {
        let store = store.clone();
        async move {
            store
                .list_keys(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.id)
                .collect::<Vec<_>>()
        }
    };
    let all: Vec<KeyId> = keys.iter().map(|k| k.id.clone()).collect();
    assert_eq!(ids(KeyFilter::default()).await, all);
    assert_eq!(
        ids(KeyFilter {
            tenant: Some(acme.id.clone()),
            ..KeyFilter::default()
        })
        .await,
        all[..3].to_vec()
    );
    assert_eq!(
        ids(KeyFilter {
            tenant: Some(other.id.clone()),
            ..KeyFilter::default()
        })
        .await,
        vec![all[3].clone()]
    );
    assert_eq!(
        ids(KeyFilter {
            account: Some(alice.id.clone()),
            ..KeyFilter::default()
        })
        .await,
        vec![all[0].clone(), all[2].clone()]
    );
    assert_eq!(
        ids(KeyFilter {
            status: Some(KeyStatus::Active),
            ..KeyFilter::default()
        })
        .await,
        vec![all[0].clone(), all[1].clone(), all[3].clone()]
    );
    assert_eq!(
        ids(KeyFilter {
            tenant: Some(acme.id.clone()),
            account: Some(alice.id.clone()),
            status: Some(KeyStatus::Suspended),
        })
        .await,
        vec![all[2].clone()]
    );
    assert!(
        ids(KeyFilter {
            tenant: Some(other.id.clone()),
            account: Some(alice.id.clone()),
            status: None
        })
        .await
        .is_empty()
    );
    assert!(
        ids(KeyFilter {
            status: Some(KeyStatus::Revoked),
            ..KeyFilter::default()
        })
        .await
        .is_empty()
    );
    // The records listed are the stored ones, suspension included.
    assert_eq!(store.list_keys(&KeyFilter::default()).await.unwrap(), keys);
}

#[tokio::test]
async fn status_transitions_follow_the_lifecycle() {
    let (_dir, store) = store();
    let (_, account) = seed(&store).await;
    let key = seed_key(&store, &account).await;

    let suspended = store
        .set_key_status(&change(&key.id, KeyStatus::Suspended))
        .await
        .unwrap();
    assert_eq!(suspended.record.status, KeyStatus::Suspended);
    assert!(suspended.record.version > key.version);
    assert!(suspended.record.updated_at >= key.updated_at);
    assert_eq!(suspended.record.created_at, key.created_at);
    let event = suspended.event.clone().unwrap();
    assert_eq!(event.key.as_ref(), Some(&key.id));
    assert_eq!(event.account.as_ref(), Some(&key.account));
    assert_eq!(event.tenant.as_ref(), Some(&key.tenant));
    assert_eq!(event.ts, suspended.record.updated_at);
    assert_eq!(
        event.body,
        EventBody::KeyStatusChanged(KeyStatusChanged {
            from: KeyStatus::Active,
            to: KeyStatus::Suspended,
            reason: Some("test".to_owned()),
            actor: "cli".to_owned(),
        })
    );
    assert_eq!(
        store.get_key(&key.id).await.unwrap(),
        Some(suspended.record.clone())
    );

    // Asking for the status a key already has changes and records nothing.
    let same = store
        .set_key_status(&change(&key.id, KeyStatus::Suspended))
        .await
        .unwrap();
    assert!(same.event.is_none());
    assert_eq!(same.record, suspended.record);
    assert_eq!(store.key_version().await.unwrap(), suspended.record.version);

    let resumed = store
        .set_key_status(&change(&key.id, KeyStatus::Active))
        .await
        .unwrap();
    assert_eq!(resumed.record.status, KeyStatus::Active);
    assert!(resumed.record.version > suspended.record.version);

    let revoked = store
        .set_key_status(&change(&key.id, KeyStatus::Revoked))
        .await
        .unwrap();
    assert_eq!(revoked.record.status, KeyStatus::Revoked);
    let again = store
        .set_key_status(&change(&key.id, KeyStatus::Revoked))
        .await
        .unwrap();
    assert!(again.event.is_none());

    for to in [KeyStatus::Active, KeyStatus::Suspended] {
        let err = store
            .set_key_status(&change(&key.id, to))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidTransition { key: k, from: KeyStatus::Revoked, to: t }
                if *k == key.id.to_string() && *t == to),
            "{err}"
        );
    }
    assert_eq!(
        store.get_key(&key.id).await.unwrap(),
        Some(revoked.record.clone())
    );

    // Each change stored its event; the no-ops and refusals stored none.
    let changes: Vec<_> = stored_events(&store)
        .await
        .into_iter()
        .filter(|e| matches!(e.body, EventBody::KeyStatusChanged(_)))
        .collect();
    // Pages are in (ts, id) order, and ids minted in the same millisecond are unordered.
    let mut expected = vec![
        suspended.event.unwrap(),
        resumed.event.unwrap(),
        revoked.event.unwrap(),
    ];
    expected.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    assert_eq!(changes, expected);

    let err = store
        .set_key_status(&change(&KeyId::generate(), KeyStatus::Active))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn versions_increase_and_keys_changed_since_sees_exactly_the_changes() {
    let (_dir, store) = store();
    assert_eq!(store.key_version().await.unwrap(), 0);
    assert!(store.keys_changed_since(0, 100).await.unwrap().is_empty());
    let (_, account) = seed(&store).await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(seed_key(&store, &account).await);
    }
    assert_eq!(
        keys.iter().map(|k| k.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(store.key_version().await.unwrap(), 3);

    let seen = store.key_version().await.unwrap();
    let suspended = store
        .set_key_status(&change(&keys[1].id, KeyStatus::Suspended))
        .await
        .unwrap()
        .record;
    let revoked = store
        .set_key_status(&change(&keys[0].id, KeyStatus::Revoked))
        .await
        .unwrap()
        .record;
    assert_eq!((suspended.version, revoked.version), (4, 5));
    assert_eq!(store.key_version().await.unwrap(), 5);

    let changed = store.keys_changed_since(seen, 100).await.unwrap();
    assert_eq!(
        changed.iter().map(|k| k.record.clone()).collect::<Vec<_>>(),
        vec![suspended.clone(), revoked]
    );
    let first = store.keys_changed_since(seen, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].record, suspended);

    // From the start: every key once, at its latest version, in version order.
    let all = store.keys_changed_since(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|k| k.record.version).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(all[0].record.id, keys[2].id);
    assert!(store.keys_changed_since(5, 100).await.unwrap().is_empty());
    assert!(
        store
            .keys_changed_since(u64::MAX, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.keys_changed_since(0, 0).await.unwrap().is_empty());
}
