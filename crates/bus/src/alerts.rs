//! The alert bus: alerts fan out to whoever listens now (case tools, webhooks, tests).
//!
//! Alerts are few (the detectors deduplicate them) and are stored before they are
//! published, so a broadcast channel fits: publishing never waits, a listener that falls
//! behind skips the oldest alerts and is told how many (it can read them back from the
//! store), and publishing with no listener is not an error.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use bulwark_core::Alert;
use tokio::sync::broadcast;

/// Alerts as they are raised, to every current listener.
#[derive(Debug)]
pub struct AlertBus {
    tx: broadcast::Sender<Arc<Alert>>,
    published: AtomicU64,
}

impl AlertBus {
    /// A bus on which a listener may fall `capacity` alerts behind before it skips some.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            tx,
            published: AtomicU64::new(0),
        }
    }

    /// Hands `alert` to every listener; never waits.
    pub fn publish(&self, alert: Alert) {
        self.published.fetch_add(1, Ordering::Relaxed);
        // An error only means that nobody listens right now.
        let _ = self.tx.send(Arc::new(alert));
    }

    /// A listener for the alerts published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Alert>> {
        self.tx.subscribe()
    }

    /// Alerts published so far.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use bulwark_core::{
        ALERT_SCHEMA_VERSION, AlertId, AlertKind, AlertSubject, EventId, Explanation, Related,
        Severity, SubjectType, Timestamp,
    };

    use super::*;

    fn alert() -> Alert {
        let event = EventId::generate();
        Alert {
            v: ALERT_SCHEMA_VERSION,
            kind: AlertKind::Alert,
            id: AlertId::derive(&event, "usage_spike", "key:key_1"),
            ts: Timestamp::now(),
            detector: "usage_spike".into(),
            subject: AlertSubject {
                kind: SubjectType::Key,
                id: "key_1".into(),
            },
            related: Related::default(),
            severity: Severity::High,
            score: 0.97,
            summary: String::new(),
            explanation: Explanation::default(),
            evidence: vec![event],
        }
    }

    #[tokio::test]
    async fn listeners_get_alerts_and_laggards_learn_what_they_missed() {
        let bus = AlertBus::new(2);
        bus.publish(alert()); // nobody listens: fine
        let mut rx = bus.subscribe();
        let a = alert();
        bus.publish(a.clone());
        assert_eq!(*rx.recv().await.unwrap(), a);
        for _ in 0..3 {
            bus.publish(alert());
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(1))
        ));
        assert_eq!(bus.published(), 5);
    }
}
