//! The live detectors: a usage spike sent through the real gateway with a real key is
//! found, stored and published within a deadline.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use bulwark_core::{AccountId, KeyId, SubjectType, TenantId, Timestamp};
use bulwark_detect::usage::synthetic::SyntheticRequest;
use bulwark_store::{AlertQuery, SqliteStore, Store};

use crate::harness;

/// Stored alerts of `detector` about the key.
async fn alerts_for(store: &dyn Store, detector: &str, key: &str) -> Vec<bulwark_core::Alert> {
    let page = store
        .alerts_page(&AlertQuery {
            since: None,
            until: None,
            after: None,
            limit: 1000,
        })
        .await
        .unwrap();
    page.iter()
        .map(|row| bulwark_core::Alert::from_json(&row.json).unwrap())
        .filter(|a| {
            a.detector == detector && a.subject.kind == SubjectType::Key && a.subject.id == key
        })
        .collect()
}

#[tokio::test]
async fn a_usage_spike_through_the_gateway_raises_a_stored_alert_within_seconds() {
    let mut h = harness::start_with(|setup| {
        setup.raw.detection.warmup = Some("6h".into());
    })
    .await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(h.dir.path()).unwrap());
    let key = store
        .get_key(&KeyId::parse(&h.key_id).unwrap())
        .await
        .unwrap()
        .unwrap();

    // Three hours of ordinary history for the key (two requests a minute), stored as the
    // gateway would have stored it, then a restart: the detectors warm up from it.
    let now = Timestamp::now().unix_millis();
    let mut history = Vec::new();
    for minute in 0..180_i64 {
        for j in 0..2_i64 {
            let seq = (minute * 2 + j) as u64;
            let mut r = SyntheticRequest::new(now - (181 - minute) * 60_000 + j * 20_000, seq);
            r.key = Some(key.id.clone());
            r.account = Some(AccountId::parse(key.account.as_str()).unwrap());
            r.tenant = Some(TenantId::parse(key.tenant.as_str()).unwrap());
            r.ip = Some("127.0.0.1".parse().unwrap());
            history.push(r.event());
        }
    }
    assert_eq!(store.append_events(&history).await.unwrap(), 360);
    h.restart_with("fail_mode = \"closed\"").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.gw().detection().warmup_events.load(Ordering::Relaxed) < 360 {
        assert!(Instant::now() < deadline, "the detectors did not warm up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut published = h.gw().alerts().subscribe();

    // The spike: sixty calls at once (at least thirty in one minute, 15x the baseline).
    let calls = (0..60).map(|i| {
        h.chat(if i % 2 == 0 {
            "hello"
        } else {
            "what time is it"
        })
    });
    for response in futures_util::future::join_all(calls).await {
        assert_eq!(response.status(), 200);
    }
    let sent = Instant::now();

    let alert = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let alert = published.recv().await.unwrap();
            if alert.detector == "usage_spike" && alert.subject.id == h.key_id {
                return alert;
            }
        }
    })
    .await
    .expect("no usage_spike alert was published for the key");
    let published_after = sent.elapsed();
    // Published after it was stored: the store has it already.
    let stored = alerts_for(store.as_ref(), "usage_spike", &h.key_id).await;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert_eq!(stored[0], *alert);
    assert!(
        published_after < Duration::from_secs(2),
        "alert published {published_after:?} after the last response"
    );
    let rpm = alert.explanation.get("requests_per_minute").unwrap();
    assert!(rpm.observed >= 20.0 && rpm.expected < 4.0, "{rpm:?}");
    assert_eq!(alert.related.key.as_ref().unwrap().as_str(), h.key_id);
    assert!(alert.evidence.last().unwrap().as_str().starts_with("evt_"));
    let detection = h.gw().detection();
    // The alert can be raised from the first round of gathered events, before the rest of
    // the sixty have been run through: every one of them gets there soon after.
    let deadline = Instant::now() + Duration::from_secs(5);
    while detection.events.load(Ordering::Relaxed) < 60 {
        assert!(
            Instant::now() < deadline,
            "only {} of the 60 events reached the detectors",
            detection.events.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(detection.panics.load(Ordering::Relaxed), 0);
    // The engine's own counters are copied before its alerts are delivered.
    let engine = detection.engine();
    assert!(engine.alerts_by_detector[0] >= 1, "{engine:?}"); // usage_spike
    assert!(engine.tables[0].len >= 1, "{engine:?}");
    assert!(engine.latest_event_ms > 0, "{engine:?}");

    // Operators see the same on /metrics.
    let metrics = h.metrics().await;
    let value = |line: &str| -> f64 {
        let found = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .unwrap_or_else(|| panic!("no `{line}` in\n{metrics}"));
        found.trim().parse().unwrap()
    };
    assert!(value("bulwark_detection_alerts_total{detector=\"usage_spike\"}") >= 1.0);
    assert!(value("bulwark_detection_events_total") >= 60.0);
    assert!(value("bulwark_detection_warmup_events") >= 360.0);
    assert!(value("bulwark_detection_subjects{subject=\"key\"}") >= 1.0);
    assert_eq!(value("bulwark_detection_panics_total"), 0.0);
    let lag = value("bulwark_detection_lag_seconds");
    assert!((0.0..60.0).contains(&lag), "{lag}");
}
