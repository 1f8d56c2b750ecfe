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
        2,
        "one new id, even twice in a batch; a stored request's id at another time is \
         another request (it was edited, not exported)"
    );

    let rows = read_all(&store, None, None, 100).await;
    let mut expected = batch.clone();
    expected.push(fresh);
    expected.push(mixed[2].clone());
    assert_eq!(
        rows.iter()
            .map(|r| (r.ts, r.id.clone(), r.json.clone()))
            .collect::<Vec<_>>(),
        sorted(&expected),
        "json is stored as written"
    );

    // A management event's id is its identity, whatever its time.
    let (_, account) = seed(&store).await;
    let created = read_all(&store, None, None, 100)
        .await
        .into_iter()
        .find(|row| row.id.as_str().starts_with("evt_") && row.json.contains("account.created"))
        .unwrap();
    let mut moved = Event::from_json(&created.json).unwrap();
    moved.ts = at(5);
    assert_eq!(store.append_events(&[moved]).await.unwrap(), 0);
    assert!(store.get_account(&account.id).await.unwrap().is_some());
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
    // One batch per event, so one block per event: the limit counts them.
    let events: Vec<Event> = (0..25).map(|i| api_event(1_000 + i * 100)).collect();
    for event in &events {
        assert_eq!(
            store
                .append_events(std::slice::from_ref(event))
                .await
                .unwrap(),
            1
        );
    }
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
    let requests_left = |rows: Vec<bulwark_store::EventRow>| -> Vec<Event> {
        rows.iter()
            .map(|row| Event::from_json(&row.json).unwrap())
            .filter(|e| matches!(e.body, EventBody::ApiRequest(_)))
            .collect()
    };
    let requests = requests_left(read_all(&store, None, None, 100).await);
    assert_eq!(requests.len(), 15);
    assert!(requests.iter().all(|e| e.ts >= at(2_000)));

    // A block with events on both sides of the cut keeps the later ones.
    let batch: Vec<Event> = (0..10).map(|i| api_event(5_000 + i * 100)).collect();
    assert_eq!(store.append_events(&batch).await.unwrap(), 10);
    assert_eq!(store.prune_events(at(3_000), 100).await.unwrap(), 10);
    assert_eq!(store.prune_events(at(5_450), 100).await.unwrap(), 10);
    let requests = requests_left(read_all(&store, None, None, 100).await);
    assert_eq!(
        requests.iter().map(Event::to_json).collect::<Vec<_>>(),
        batch[5..].iter().map(Event::to_json).collect::<Vec<_>>()
    );
    // A whole block goes even when it holds more than the limit; then the part of the
    // next one before the cut.
    let later: Vec<Event> = (0..10).map(|i| api_event(7_000 + i * 100)).collect();
    assert_eq!(store.append_events(&later).await.unwrap(), 10);
    assert_eq!(store.prune_events(at(7_450), 1).await.unwrap(), 5);
    assert_eq!(store.prune_events(at(7_450), 1).await.unwrap(), 5);
    assert_eq!(store.prune_events(at(7_450), 1).await.unwrap(), 0);
    let requests = requests_left(read_all(&store, None, None, 100).await);
    let times: Vec<i64> = requests.iter().map(|e| e.ts.unix_millis()).collect();
    assert_eq!(times, [7_500, 7_600, 7_700, 7_800, 7_900]);

    // Everything before now: only the management events stay, however old.
    assert_eq!(
        store.prune_events(Timestamp::now(), 1_000).await.unwrap(),
        5
    );
    let left = read_all(&store, None, None, 100).await;
    assert_eq!(left.len(), management);
}
/// Requests end out of the order they started in, so batches hold events of many seconds
/// and a second's events arrive in many batches; pages still return every event once in
/// `(ts, id)` order, the blocks' events merged with the rows of the table (management
/// events, and requests stored before blocks).
#[tokio::test]
async fn pages_merge_late_requests_across_blocks_and_rows() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use std::sync::Arc;

    let (_dir, store) = store();
    let mut rng = StdRng::seed_from_u64(7);
    let mut events: Vec<Event> = (0..600)
        .map(|_| api_event(10_000 + rng.random_range(0..6_000)))
        .collect();
    // Equal times across seconds and batches.
    for i in (0..600).step_by(50) {
        events[i].ts = at(12_000);
    }
    let (_, account) = seed(&store).await;
    seed_key(&store, &account).await;
    // Every 37th as a row of the table, as requests were stored before blocks.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    for event in events.iter().step_by(37) {
        conn.execute(
            r#"INSERT INTO events (id, ts_ms, kind, tenant, account, "key", decision, json)
               VALUES (?1, ?2, 'api.request', 'ten_t', 'acct_a', 'key_k', 'allowed', ?3)"#,
            rusqlite::params![event.id.as_str(), event.ts.unix_millis(), event.to_json()],
        )
        .unwrap();
    }
    let fresh: Vec<Arc<Event>> = events
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 37 != 0)
        .map(|(_, event)| Arc::new(event.clone()))
        .collect();
    let mut rest = &fresh[..];
    while !rest.is_empty() {
        let n = rng.random_range(1..=rest.len().min(90));
        let (batch, tail) = rest.split_at(n);
        assert_eq!(store.append_shared_events(batch).await.unwrap(), n);
        rest = tail;
    }
    let rows_in_table: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'api.request'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rows_in_table, 17);

    let management: Vec<(Timestamp, EventId, String)> = read_all(&store, None, None, 100)
        .await
        .into_iter()
        .filter(|row| !row.json.contains("\"api.request\""))
        .map(|r| (r.ts, r.id, r.json))
        .collect();
    assert_eq!(management.len(), 2);
    let mut all = sorted(&events);
    all.extend(management);
    all.sort();
    let window = |since: i64, until: i64| -> Vec<_> {
        all.iter()
            .filter(|(ts, _, _)| *ts >= at(since) && *ts < at(until))
            .cloned()
            .collect()
    };
    for page in [1, 2, 9, 64, 599, 1_000] {
        let rows = read_all(&store, None, None, page).await;
        let got: Vec<_> = rows.into_iter().map(|r| (r.ts, r.id, r.json)).collect();
        assert_eq!(got, all, "page size {page}");
    }
    for (since, until) in [
        (12_000, 12_001),
        (11_500, 14_250),
        (15_999, 16_000),
        (0, 10_000),
    ] {
        for page in [3, 50] {
            let rows = read_all(&store, Some(at(since)), Some(at(until)), page).await;
            let got: Vec<_> = rows.into_iter().map(|r| (r.ts, r.id, r.json)).collect();
            assert_eq!(got, window(since, until), "[{since}, {until}) by {page}");
        }
    }

    // Importing what is stored adds nothing, whatever the batches.
    for chunk in events.chunks(77) {
        assert_eq!(store.append_events(chunk).await.unwrap(), 0);
    }
    assert_eq!(read_all(&store, None, None, 1_000).await.len(), all.len());
}
