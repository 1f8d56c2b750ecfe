//! Appending events and reading them back page by page.

use bulwark_core::{Event, EventBody, EventId, Timestamp};
use bulwark_store::{EventQuery, Store};

use crate::common::{api_event, read_all, seed, seed_key, store};

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis).unwrap()
}

/// The events sorted the way pages return them.
fn sorted(events: &[Event]) -> Vec<(Timestamp, EventId, String)> {
    let mut rows: Vec<_> = events
        .iter()
        .map(|e| (e.ts, e.id.clone(), e.to_json()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn append_skips_stored_ids_and_counts_new_ones() {
    let (_dir, store) = store();
    assert_eq!(store.append_events(&[]).await.unwrap(), 0);
    let batch: Vec<Event> = (0..5).map(|i| api_event(1_000 + i)).collect();
    assert_eq!(store.append_events(&batch).await.unwrap(), 5);
    assert_eq!(store.append_events(&batch).await.unwrap(), 0);

    let mut changed = batch[3].clone();
    changed.ts = at(9_999);
    let fresh = api_event(2_000);
    let mixed = vec![batch[0].clone(), fresh.clone(), changed, fresh.clone()];
    assert_eq!(
        store.append_events(&mixed).await.unwrap(),
        1,
        "one new id, even twice in a batch"
    );

    let rows = read_all(&store, None, None, 100).await;
    let mut expected = batch.clone();
    expected.push(fresh);
    assert_eq!(
        rows.iter()
            .map(|r| (r.ts, r.id.clone(), r.json.clone()))
            .collect::<Vec<_>>(),
        sorted(&expected),
        "the first version of an id wins and json is stored as written"
    );
}

#[tokio::test]
async fn management_events_are_stored_with_their_change() {
    let (_dir, store) = store();
    let (tenant, account) = seed(&store).await;
    let key = seed_key(&store, &account).await;
    let rows = read_all(&store, None, None, 10).await;
    let events: Vec<Event> = rows
        .iter()
        .map(|r| Event::from_json(&r.json).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    // Both may share a millisecond, and ids minted in one millisecond are unordered.
    let created = events
        .iter()
        .find(|e| matches!(e.body, EventBody::AccountCreated(_)))
        .unwrap();
    assert_eq!(created.account.as_ref(), Some(&account.id));
    assert_eq!(created.tenant.as_ref(), Some(&tenant.id));
    let minted = events
        .iter()
        .find(|e| matches!(e.body, EventBody::KeyCreated(_)))
        .unwrap();
    assert_eq!(minted.key.as_ref(), Some(&key.id));
    for (row, event) in rows.iter().zip(&events) {
        assert_eq!(
            (row.ts, &row.id, &row.json),
            (event.ts, &event.id, &event.to_json())
        );
    }
    // Re-appending them (the bus published them too) stores nothing twice.
    assert_eq!(store.append_events(&events).await.unwrap(), 0);
}

#[tokio::test]
async fn pages_return_every_event_once_in_order_across_equal_timestamps() {
    let (_dir, store) = store();
    // Five timestamps, eleven events each: every page boundary falls inside a run of
    // equal timestamps for some page size.
    let events: Vec<Event> = (0..55)
        .map(|i| api_event(10_000 + (i % 5) * 1_000))
        .collect();
    for chunk in events.chunks(20) {
        store.append_events(chunk).await.unwrap();
    }
    let all = sorted(&events);
    for page in [1, 3, 7, 11, 54, 55, 56, 1_000] {
        let rows = read_all(&store, None, None, page).await;
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.ts, r.id.clone(), r.json.clone()))
            .collect();
        assert_eq!(got, all, "page size {page}");
    }

    // since is inclusive, until exclusive.
    let window: Vec<_> = all
        .iter()
        .filter(|(ts, _, _)| *ts >= at(11_000) && *ts < at(13_000))
        .cloned()
        .collect();
    assert_eq!(window.len(), 22);
    for page in [4, 11, 100] {
        let rows = read_all(&store, Some(at(11_000)), Some(at(13_000)), page).await;
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.ts, r.id.clone(), r.json.clone()))
            .collect();
        assert_eq!(got, window, "page size {page}");
    }
    assert!(
        read_all(&store, Some(at(14_001)), None, 10)
            .await
            .is_empty()
    );
    assert!(
        read_all(&store, None, Some(at(10_000)), 10)
            .await
            .is_empty()
    );

    // `after` before `since` does not widen the window.
    let query = EventQuery {
        since: Some(at(12_000)),
        until: None,
        after: Some((at(10_000), all[0].1.clone())),
        limit: 100,
    };
    let rows = store.events_page(&query).await.unwrap();
    assert_eq!(rows.len(), 33);
    assert!(rows.iter().all(|r| r.ts >= at(12_000)));

    let empty = EventQuery {
        since: None,
        until: None,
        after: None,
        limit: 0,
    };
    assert!(store.events_page(&empty).await.unwrap().is_empty());
}

#[tokio::test]
async fn pages_are_capped() {
    let (_dir, store) = store();
    let events: Vec<Event> = (0..10_050).map(|i| api_event(1_000 + i)).collect();
    assert_eq!(store.append_events(&events).await.unwrap(), 10_050);
    let query = EventQuery {
        since: None,
        until: None,
        after: None,
        limit: usize::MAX,
    };
    assert_eq!(store.events_page(&query).await.unwrap().len(), 10_000);
    assert_eq!(read_all(&store, None, None, 100_000).await.len(), 10_050);
}

#[tokio::test]
async fn pruning_deletes_old_requests_oldest_first_and_keeps_the_audit_trail() {
    let (_dir, store) = store();
    let (_, account) = seed(&store).await;
    seed_key(&store, &account).await;
    let events: Vec<Event> = (0..25).map(|i| api_event(1_000 + i * 100)).collect();
    assert_eq!(store.append_events(&events).await.unwrap(), 25);
    let management = read_all(&store, None, None, 100).await.len() - 25;
    assert_eq!(management, 2, "account.created and key.created");

    assert_eq!(
        store.prune_events(at(1_000), 10).await.unwrap(),
        0,
        "before is exclusive"
    );
    assert_eq!(store.prune_events(at(2_000), 0).await.unwrap(), 0);
    // Ten before 2,000; in batches of four: 4, 4, 2.
    let mut batches = Vec::new();
    loop {
        let n = store.prune_events(at(2_000), 4).await.unwrap();
        batches.push(n);
        if n < 4 {
            break;
        }
    }
    assert_eq!(batches, [4, 4, 2]);
    let left: Vec<Event> = read_all(&store, None, None, 100)
        .await
        .iter()
        .map(|row| Event::from_json(&row.json).unwrap())
        .collect();
    let requests: Vec<&Event> = left
        .iter()
        .filter(|e| matches!(e.body, EventBody::ApiRequest(_)))
        .collect();
    assert_eq!(requests.len(), 15);
    assert!(requests.iter().all(|e| e.ts >= at(2_000)));

    // Everything before now: only the management events stay, however old.
    assert_eq!(
        store.prune_events(Timestamp::now(), 1_000).await.unwrap(),
        15
    );
    let left = read_all(&store, None, None, 100).await;
    assert_eq!(left.len(), management);
}
