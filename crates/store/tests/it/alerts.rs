//! Alerts: appended once per id, read back page by page in `(ts, id)` order, byte for
//! byte.

use bulwark_core::{
    ALERT_SCHEMA_VERSION, Alert, AlertId, AlertKind, AlertSubject, EventId, Explanation, Measure,
    Related, Severity, SubjectType, Timestamp,
};
use bulwark_store::{AlertQuery, Store};

use crate::common::store;

fn alert(ms: i64, n: u32) -> Alert {
    let event = EventId::generate();
    let subject = AlertSubject {
        kind: SubjectType::Key,
        id: format!("key_{n}"),
    };
    let mut explanation = Explanation::default();
    explanation.push("requests_per_minute", Measure::new(40.0, 1.0, 39.0));
    Alert {
        v: ALERT_SCHEMA_VERSION,
        kind: AlertKind::Alert,
        id: AlertId::derive(&event, "usage_spike", &subject.to_string()),
        ts: Timestamp::from_unix_millis(ms).unwrap(),
        detector: "usage_spike".into(),
        subject,
        related: Related::default(),
        severity: Severity::High,
        score: 0.975,
        summary: "requests/min 40x".into(),
        explanation,
        evidence: vec![event],
    }
}

#[tokio::test]
async fn alerts_are_stored_once_and_paged_in_time_order() {
    let (_dir, store) = store();
    let alerts: Vec<Alert> = (0..25)
        .map(|i| alert(1_000_000 - i64::from(i) * 10, i))
        .collect();
    assert_eq!(store.append_alerts(&alerts).await.unwrap(), 25);
    assert_eq!(
        store.append_alerts(&alerts).await.unwrap(),
        0,
        "ids already stored"
    );
    assert_eq!(store.append_alerts(&[]).await.unwrap(), 0);

    let mut read = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .alerts_page(&AlertQuery {
                since: None,
                until: None,
                after: after.clone(),
                limit: 7,
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.ts, last.id.clone()));
        read.extend(page);
    }
    assert_eq!(read.len(), 25);
    assert!(
        read.windows(2)
            .all(|w| (w[0].ts, &w[0].id) < (w[1].ts, &w[1].id))
    );
    for row in &read {
        let original = alerts.iter().find(|a| a.id == row.id).unwrap();
        assert_eq!(row.json, original.to_json(), "stored byte for byte");
        assert_eq!(Alert::from_json(&row.json).unwrap(), *original);
    }

    let window = store
        .alerts_page(&AlertQuery {
            since: Timestamp::from_unix_millis(1_000_000 - 100),
            until: Timestamp::from_unix_millis(1_000_000),
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(window.len(), 10, "ts in [since, until)");
}
