//! Prometheus metrics, registered once as named items and rendered in text format.

use std::sync::atomic::{AtomicU64, Ordering};

use bulwark_core::SubjectType;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::{detection::DetectionStats, state::AppState};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) endpoint: &'static str,
    pub(crate) status: u16,
    pub(crate) decision: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EndpointLabels {
    pub(crate) endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamLabels {
    pub(crate) upstream: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StageLabels {
    pub(crate) stage: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BlockLabels {
    pub(crate) stage: &'static str,
    pub(crate) category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SkipLabels {
    pub(crate) stage: &'static str,
    pub(crate) reason: &'static str,
}

/// Content moderation's metrics; `stage` is `input`, `output`, `upload` or `api`
/// (`/v1/moderations`).
#[derive(Debug, Clone)]
pub(crate) struct ModerationMetrics {
    pub(crate) scans: Family<StageLabels, Counter>,
    pub(crate) blocks: Family<BlockLabels, Counter>,
    pub(crate) skipped: Family<SkipLabels, Counter>,
    pub(crate) scan_seconds: HistogramFamily<StageLabels>,
}

impl ModerationMetrics {
    fn register(registry: &mut Registry) -> Self {
        let scans = Family::<StageLabels, Counter>::default();
        registry.register(
            "moderation_scans",
            "Texts scanned by content moderation (a stream counts once per step)",
            scans.clone(),
        );
        let blocks = Family::<BlockLabels, Counter>::default();
        registry.register(
            "moderation_blocks",
            "Prompts, answers and uploads blocked, by stage and category",
            blocks.clone(),
        );
        let skipped = Family::<SkipLabels, Counter>::default();
        registry.register(
            "moderation_skipped",
            "Checks that could not be made (scanner error or time budget overrun); fail_mode decided",
            skipped.clone(),
        );
        let scan_seconds: HistogramFamily<StageLabels> =
            Family::new_with_constructor(scan_histogram);
        registry.register(
            "moderation_scan_duration_seconds",
            "Time one scan took",
            scan_seconds.clone(),
        );
        Self {
            scans,
            blocks,
            skipped,
            scan_seconds,
        }
    }
}

fn scan_histogram() -> Histogram {
    // 1 µs .. ~1 s
    Histogram::new(exponential_buckets(0.000_001, 2.0, 21))
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the gateway exports.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) latency: HistogramFamily<EndpointLabels>,
    pub(crate) upstream_latency: HistogramFamily<UpstreamLabels>,
    pub(crate) in_flight: Gauge,
    pub(crate) moderation: ModerationMetrics,
    bus_depth: Gauge,
    bus_published: Gauge,
    bus_dropped: Gauge,
    bus_unrouted: Gauge,
    events_written: Gauge,
    events_write_retries: Gauge,
    events_write_failed: Gauge,
    events_pruned: Gauge,
    key_cache_entries: Gauge,
    key_cache_misses: Gauge,
    detection: DetectionMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DetectorLabels {
    pub(crate) detector: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SubjectLabels {
    pub(crate) subject: &'static str,
}

/// The live detectors' counters, copied from [`DetectionStats`] when rendered.
#[derive(Debug)]
struct DetectionMetrics {
    events: Gauge,
    warmup_events: Gauge,
    alerts: Family<DetectorLabels, Gauge>,
    deduplicated: Gauge,
    alerts_stored: Gauge,
    alert_store_failures: Gauge,
    panics: Gauge,
    subjects: Family<SubjectLabels, Gauge>,
    subjects_cap: Family<SubjectLabels, Gauge>,
    evictions: Family<SubjectLabels, Gauge>,
    state_bytes: Gauge,
    lag_seconds: Gauge<f64, AtomicU64>,
}

impl DetectionMetrics {
    fn register(registry: &mut Registry) -> Self {
        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let events = gauge(
            "detection_events_total",
            "Live events run through the detectors",
        );
        let warmup_events = gauge(
            "detection_warmup_events",
            "Stored events relearnt when the detectors started",
        );
        let deduplicated = gauge(
            "detection_deduplicated_total",
            "Findings suppressed as duplicates of a recent alert",
        );
        let alerts_stored = gauge(
            "detection_alerts_stored_total",
            "Alerts written to the store",
        );
        let alert_store_failures = gauge(
            "detection_alert_store_failures_total",
            "Alerts lost because the store kept failing",
        );
        let panics = gauge(
            "detection_panics_total",
            "Times a detector panicked (the engine then starts afresh)",
        );
        let state_bytes = gauge(
            "detection_state_bytes",
            "Memory held by the per-subject tables",
        );
        let alerts = Family::<DetectorLabels, Gauge>::default();
        registry.register(
            "detection_alerts_total",
            "Alerts raised, by detector",
            alerts.clone(),
        );
        let subjects = Family::<SubjectLabels, Gauge>::default();
        registry.register(
            "detection_subjects",
            "Subjects tracked, by kind",
            subjects.clone(),
        );
        let subjects_cap = Family::<SubjectLabels, Gauge>::default();
        registry.register(
            "detection_subjects_limit",
            "Most subjects tracked, by kind (the coldest are evicted beyond it)",
            subjects_cap.clone(),
        );
        let evictions = Family::<SubjectLabels, Gauge>::default();
        registry.register(
            "detection_evictions_total",
            "Subjects evicted to make room, by kind",
            evictions.clone(),
        );
        let lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "detection_lag_seconds",
            "Wall clock minus the latest event time the detectors have seen",
            lag_seconds.clone(),
        );
        Self {
            events,
            warmup_events,
            alerts,
            deduplicated,
            alerts_stored,
            alert_store_failures,
            panics,
            subjects,
            subjects_cap,
            evictions,
            state_bytes,
            lag_seconds,
        }
    }

    fn update(&self, stats: &DetectionStats) {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let load = |v: &std::sync::atomic::AtomicU64| as_i64(v.load(Ordering::Relaxed));
        self.events.set(load(&stats.events));
        self.warmup_events.set(load(&stats.warmup_events));
        self.alerts_stored.set(load(&stats.stored));
        self.alert_store_failures.set(load(&stats.store_failures));
        self.panics.set(load(&stats.panics));
        // Detection off: no engine, nothing more to say.
        let Some(names) = stats.detectors.get() else {
            return;
        };
        let engine = stats.engine();
        self.deduplicated.set(as_i64(engine.deduplicated));
        for (name, count) in names.iter().zip(engine.alerts_by_detector) {
            self.alerts
                .get_or_create(&DetectorLabels { detector: name })
                .set(as_i64(count));
        }
        let mut bytes = 0_u64;
        for (kind, table) in SubjectType::ALL.iter().zip(engine.tables) {
            let labels = SubjectLabels {
                subject: kind.as_str(),
            };
            self.subjects
                .get_or_create(&labels)
                .set(as_i64(table.len as u64));
            self.subjects_cap
                .get_or_create(&labels)
                .set(as_i64(table.cap as u64));
            self.evictions
                .get_or_create(&labels)
                .set(as_i64(table.evictions));
            bytes = bytes.saturating_add(table.bytes as u64);
        }
        self.state_bytes.set(as_i64(bytes));
        if engine.latest_event_ms > 0 {
            let now = bulwark_core::Timestamp::now().unix_millis();
            let lag = (now - engine.latest_event_ms).max(0) as f64 / 1000.0;
            self.lag_seconds.set(lag);
        }
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~65 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("bulwark");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests handled, by endpoint, status and decision",
            requests.clone(),
        );
        let latency: HistogramFamily<EndpointLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from the first byte of a request to the last byte of its response",
            latency.clone(),
        );
        let upstream_latency: HistogramFamily<UpstreamLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time from sending a request upstream to the last byte of its response",
            upstream_latency.clone(),
        );
        let moderation = ModerationMetrics::register(&mut registry);
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let in_flight = gauge(
            &mut registry,
            "requests_in_flight",
            "Requests being handled now",
        );
        let bus_depth = gauge(
            &mut registry,
            "event_bus_depth",
            "Events waiting in the deepest subscriber queue",
        );
        let bus_published = gauge(
            &mut registry,
            "event_bus_published_total",
            "Events published on the bus",
        );
        let bus_dropped = gauge(
            &mut registry,
            "event_bus_dropped_total",
            "Events shed because a subscriber queue was full",
        );
        let bus_unrouted = gauge(
            &mut registry,
            "event_bus_unrouted_total",
            "Events published with no subscriber attached",
        );
        let events_written = gauge(
            &mut registry,
            "events_written_total",
            "Events written to the store",
        );
        let events_pruned = gauge(
            &mut registry,
            "events_pruned_total",
            "Request events deleted by retention (events.retention)",
        );
        let events_write_retries = gauge(
            &mut registry,
            "events_write_retries_total",
            "Event batch writes retried",
        );
        let events_write_failed = gauge(
            &mut registry,
            "events_write_failed_total",
            "Events lost after write retries",
        );
        let key_cache_entries = gauge(
            &mut registry,
            "key_cache_entries",
            "API keys held in the key cache",
        );
        let key_cache_misses = gauge(
            &mut registry,
            "key_cache_misses_total",
            "Key lookups that read the store",
        );
        let detection = DetectionMetrics::register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            upstream_latency,
            in_flight,
            moderation,
            bus_depth,
            bus_published,
            bus_dropped,
            bus_unrouted,
            events_written,
            events_write_retries,
            events_write_failed,
            events_pruned,
            key_cache_entries,
            key_cache_misses,
            detection,
        }
    }

    /// Renders every metric, reading the bus, writer and cache counters first.
    pub(crate) fn render(&self, state: &AppState) -> String {
        let bus = state.bus.stats();
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.bus_depth.set(as_i64(bus.depth() as u64));
        self.bus_published.set(as_i64(bus.published));
        self.bus_dropped.set(as_i64(bus.dropped()));
        self.bus_unrouted.set(as_i64(bus.unrouted));
        let w = &state.writer_stats;
        self.events_written
            .set(as_i64(w.written.load(Ordering::Relaxed)));
        self.events_write_retries
            .set(as_i64(w.retries.load(Ordering::Relaxed)));
        self.events_write_failed
            .set(as_i64(w.failed.load(Ordering::Relaxed)));
        self.events_pruned
            .set(as_i64(state.events_pruned.load(Ordering::Relaxed)));
        let cache = state.keys.stats();
        self.key_cache_entries.set(as_i64(cache.entries));
        self.key_cache_misses.set(as_i64(cache.misses));
        self.detection.update(&state.detection);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.push_str("# error: metrics could not be encoded\n");
        }
        out
    }
}
