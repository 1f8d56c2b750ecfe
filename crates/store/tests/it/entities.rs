//! Tenants and accounts.

use bulwark_core::{AccountId, Event, TenantId, Timestamp, Verification};
use bulwark_store::{Store, StoreError};

use crate::common::{account, store, stored_events, tenant};

#[tokio::test]
async fn tenants_round_trip_and_list_in_creation_order() {
    let (_dir, store) = store();
    assert!(store.list_tenants().await.unwrap().is_empty());
    let mut first = tenant("first");
    first.created_at = Timestamp::from_unix_millis(1_000).unwrap();
    let second = tenant("second");
    store.create_tenant(&second).await.unwrap();
    store.create_tenant(&first).await.unwrap();
    assert_eq!(
        store.get_tenant(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_tenant(&TenantId::generate()).await.unwrap(), None);
    assert_eq!(
        store.list_tenants().await.unwrap(),
        vec![first.clone(), second]
    );
    let err = store.create_tenant(&first).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(first.id.as_str())),
        "{err}"
    );
}

#[tokio::test]
async fn accounts_round_trip_every_field_and_store_their_event() {
    let (_dir, store) = store();
    let acme = tenant("acme");
    let other = tenant("other");
    store.create_tenant(&acme).await.unwrap();
    store.create_tenant(&other).await.unwrap();

    let (mut named, named_event) = account(&acme.id);
    named.verification = Verification::Organization;
    named.created_at = Timestamp::from_unix_millis(1_000).unwrap();
    let (mut anonymous, anonymous_event) = account(&acme.id);
    anonymous.name = None;
    anonymous.verification = Verification::None;
    anonymous.created_at = Timestamp::from_unix_millis(2_000).unwrap();
    let (elsewhere, elsewhere_event) = account(&other.id);
    store.create_account(&named, &named_event).await.unwrap();
    store
        .create_account(&anonymous, &anonymous_event)
        .await
        .unwrap();
    store
        .create_account(&elsewhere, &elsewhere_event)
        .await
        .unwrap();

    assert_eq!(
        store.get_account(&named.id).await.unwrap(),
        Some(named.clone())
    );
    assert_eq!(
        store.get_account(&anonymous.id).await.unwrap(),
        Some(anonymous.clone())
    );
    assert_eq!(
        store.get_account(&AccountId::generate()).await.unwrap(),
        None
    );
    assert_eq!(
        store.list_accounts(Some(&acme.id)).await.unwrap(),
        vec![named.clone(), anonymous.clone()]
    );
    assert_eq!(store.list_accounts(None).await.unwrap().len(), 3);
    assert!(
        store
            .list_accounts(Some(&TenantId::generate()))
            .await
            .unwrap()
            .is_empty()
    );

    let events = stored_events(&store).await;
    for expected in [&named_event, &anonymous_event, &elsewhere_event] {
        assert!(events.contains(expected), "missing {expected:?}");
    }
}

#[tokio::test]
async fn an_account_needs_its_tenant() {
    let (_dir, store) = store();
    let missing = TenantId::generate();
    let (account, event) = account(&missing);
    let err = store.create_account(&account, &event).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if *m == format!("tenant `{missing}`")),
        "{err}"
    );
    assert_eq!(store.get_account(&account.id).await.unwrap(), None);
    assert!(
        stored_events(&store).await.is_empty(),
        "no event without its change"
    );
}

#[tokio::test]
async fn a_duplicate_account_or_event_changes_nothing() {
    let (_dir, store) = store();
    let acme = tenant("acme");
    store.create_tenant(&acme).await.unwrap();
    let (first, event) = account(&acme.id);
    store.create_account(&first, &event).await.unwrap();

    let (_, fresh_event) = account(&acme.id);
    let err = store
        .create_account(&first, &fresh_event)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(first.id.as_str())),
        "{err}"
    );

    // A new account whose event id is already stored: the account is rolled back too.
    let (second, _) = account(&acme.id);
    let reused: Event = event.clone();
    let err = store.create_account(&second, &reused).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(event.id.as_str())),
        "{err}"
    );
    assert_eq!(store.get_account(&second.id).await.unwrap(), None);
    assert_eq!(stored_events(&store).await, vec![event]);
}
