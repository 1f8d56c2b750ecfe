//! The detectors on the live stream: a bus subscriber with a thread of its own runs the
//! same [`Engine`] as `bulwark replay`, stores the alerts it raises and publishes them on
//! the [`AlertBus`].
//!
//! Nothing here is on a request's path: the bus hands events over with `try_send` into
//! the detection queue (`[detection] queue` events; a full queue sheds and counts, in
//! `bulwark_event_bus_dropped_total`), and the detection thread is the only one that
//! waits on the engine or on storing alerts. A detector that panics is logged and
//! counted; the engine starts afresh and requests never notice.
//!
//! On start, the engine relearns the last `[detection] warmup` of stored events (raising
//! no alerts from them: those were raised before), so a restart does not forget every
//! subject's baseline.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bulwark_bus::{AlertBus, Subscription};
use bulwark_config::DetectionConfig;
use bulwark_core::{Alert, Event, Timestamp};
use bulwark_detect::usage::{Engine, EngineConfig, EngineStats, Price, Prices, Settings};
use bulwark_store::{EventQuery, Store};

/// The engine settings `[detection]` asks for (the server and `bulwark replay` alike).
pub fn engine_config(config: &DetectionConfig) -> EngineConfig {
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    EngineConfig {
        max_keys: config.max_keys,
        max_accounts: config.max_accounts,
        max_tenants: config.max_tenants,
        max_networks: config.max_networks,
        dedup_window_ms: millis(config.dedup_window),
        settings: Settings {
            risk: config.risk,
            spike_min_ratio: config.spike_min_ratio,
            spike_min_requests: config.spike_min_requests,
            spike_min_tokens: config.spike_min_tokens,
            min_active_minutes: config.min_active_minutes,
            burst_min_flagged: config.burst_min_flagged,
            burst_min_share: config.burst_min_share,
            infra_min_requests: config.infra_min_requests,
            infra_min_age_ms: millis(config.infra_min_age),
        },
        prices: Prices(
            config
                .prices
                .iter()
                .map(|(model, p)| {
                    (
                        model.clone(),
                        Price {
                            prompt: p.prompt,
                            completion: p.completion,
                        },
                    )
                })
                .collect(),
        ),
    }
}

/// Counters of the live detectors.
#[derive(Debug, Default)]
pub struct DetectionStats {
    /// Stored events relearnt at start.
    pub warmup_events: AtomicU64,
    /// Live events run through the detectors.
    pub events: AtomicU64,
    /// Alerts raised, stored (new rows) and lost because the store kept failing.
    pub alerts: AtomicU64,
    pub stored: AtomicU64,
    pub store_failures: AtomicU64,
    /// Times a detector panicked (the engine then starts afresh).
    pub panics: AtomicU64,
    /// The engine's own counters (subjects tracked and evicted per kind, alerts per
    /// detector, duplicates suppressed, the latest event time), as of the end of the
    /// latest round; they restart with the engine after a panic.
    pub engine: Mutex<EngineStats>,
    /// The detectors' names, in the order of `EngineStats::alerts_by_detector`; set when
    /// the engine is built.
    pub detectors: std::sync::OnceLock<Vec<&'static str>>,
}

impl DetectionStats {
    /// The engine's counters as of the end of the latest round.
    pub fn engine(&self) -> EngineStats {
        self.engine.lock().map_or_else(|e| *e.into_inner(), |s| *s)
    }
}

/// Events taken from the queue per round; alerts of a round are stored together.
const BATCH: usize = 1024;
/// How long the detection thread lets events gather after the first one arrives.
const GATHER: Duration = Duration::from_millis(50);
/// Events per page when warming up from the store: its largest page, as the CLI's export
/// reads (`EXPORT_PAGE` there says why).
const WARMUP_PAGE: usize = 10_000;
const STORE_ATTEMPTS: u32 = 3;

/// Starts the detection thread; it runs until the subscription ends (the bus is closed
/// on shutdown) and then sends on `done`.
pub(crate) fn spawn(
    config: &DetectionConfig,
    store: Arc<dyn Store>,
    subscription: Subscription,
    alerts: Arc<AlertBus>,
    stats: Arc<DetectionStats>,
    done: tokio::sync::oneshot::Sender<()>,
) -> std::io::Result<()> {
    let engine_config = engine_config(config);
    let warmup = config.warmup;
    std::thread::Builder::new()
        .name("bulwark-detect".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "cannot start the detection thread's event loop; detection is off");
                    return;
                }
            };
            let engine = Engine::new(engine_config.clone());
            let _ = stats.detectors.set(engine.detector_names());
            let live = Live {
                engine,
                config: engine_config,
                store,
                alerts,
                stats,
            };
            runtime.block_on(live.run(subscription, warmup));
            let _ = done.send(());
        })
        .map(|_| ())
}

struct Live {
    engine: Engine,
    config: EngineConfig,
    store: Arc<dyn Store>,
    alerts: Arc<AlertBus>,
    stats: Arc<DetectionStats>,
}

impl Live {
    async fn run(mut self, mut subscription: Subscription, warmup: Duration) {
        if !warmup.is_zero() {
            self.warm_up(warmup).await;
        }
        let mut batch = Vec::with_capacity(BATCH);
        let mut raised = Vec::new();
        while let Some(first) = subscription.recv().await {
            batch.push(first);
            // Let events gather rather than waking once per event: a wake-up (a futex
            // and a context switch) costs about as much CPU as the detectors do, and it
            // is paid on the cores the request path runs on. Alerts stay well within a
            // second of their event.
            tokio::time::sleep(GATHER).await;
            loop {
                let room = BATCH.saturating_sub(batch.len());
                subscription.drain_into(&mut batch, room);
                let full = batch.len() >= BATCH;
                for event in batch.drain(..) {
                    self.observe(&event, &mut raised);
                }
                self.publish_stats();
                if !raised.is_empty() {
                    self.deliver(&mut raised).await;
                }
                if !full {
                    break;
                }
            }
        }
    }

    /// Copies the engine's counters where operators read them.
    fn publish_stats(&self) {
        let stats = self.engine.stats();
        match self.stats.engine.lock() {
            Ok(mut shared) => *shared = stats,
            Err(poisoned) => *poisoned.into_inner() = stats,
        }
    }

    /// Runs one event through the engine; a panic costs the engine's state, not the
    /// thread.
    fn observe(&mut self, event: &Event, raised: &mut Vec<Alert>) {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        let before = raised.len();
        let engine = &mut self.engine;
        if std::panic::catch_unwind(AssertUnwindSafe(|| engine.observe(event, raised))).is_err() {
            raised.truncate(before);
            self.stats.panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(event = %event.id, "a detector panicked; detection restarts without history");
            self.engine = Engine::new(self.config.clone());
        }
    }

    /// Stores the alerts, then publishes them.
    async fn deliver(&self, raised: &mut Vec<Alert>) {
        self.stats
            .alerts
            .fetch_add(raised.len() as u64, Ordering::Relaxed);
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=STORE_ATTEMPTS {
            match self.store.append_alerts(raised).await {
                Ok(n) => {
                    self.stats.stored.fetch_add(n as u64, Ordering::Relaxed);
                    break;
                }
                Err(error) if attempt < STORE_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "storing alerts failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(error) => {
                    self.stats
                        .store_failures
                        .fetch_add(raised.len() as u64, Ordering::Relaxed);
                    tracing::error!(%error, alerts = raised.len(), "storing alerts failed; they are only published");
                }
            }
        }
        for alert in raised.drain(..) {
            tracing::info!(
                alert = %alert.id,
                detector = %alert.detector,
                subject = %alert.subject,
                severity = %alert.severity,
                summary = %alert.summary,
                "alert"
            );
            self.alerts.publish(alert);
        }
    }

    /// Relearns the stored events of the last `warmup`, discarding their alerts.
    async fn warm_up(&mut self, warmup: Duration) {
        let now = Timestamp::now();
        let back = i64::try_from(warmup.as_millis()).unwrap_or(i64::MAX);
        let since =
            Timestamp::from_unix_millis(now.unix_millis().saturating_sub(back)).unwrap_or(now);
        let mut after = None;
        let mut discarded = Vec::new();
        loop {
            let query = EventQuery {
                since: Some(since),
                until: Some(now),
                after: after.take(),
                limit: WARMUP_PAGE,
            };
            let page = match self.store.events_page(&query).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "cannot read stored events to warm up the detectors; starting with what was read");
                    break;
                }
            };
            let Some(last) = page.last() else { break };
            after = Some((last.ts, last.id.clone()));
            for row in &page {
                if let Ok(event) = Event::from_json(&row.json) {
                    self.observe(&event, &mut discarded);
                    discarded.clear();
                    self.stats.warmup_events.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Warm-up events are not live ones.
        self.stats.events.store(0, Ordering::Relaxed);
        self.publish_stats();
        tracing::info!(
            events = self.stats.warmup_events.load(Ordering::Relaxed),
            "detectors warmed up from stored events"
        );
    }
}
