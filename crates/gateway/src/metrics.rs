//! Prometheus metrics, registered once as named items and rendered in text format.

use std::sync::atomic::Ordering;

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

use crate::state::AppState;

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
    key_cache_entries: Gauge,
    key_cache_misses: Gauge,
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
            key_cache_entries,
            key_cache_misses,
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
        let cache = state.keys.stats();
        self.key_cache_entries.set(as_i64(cache.entries));
        self.key_cache_misses.set(as_i64(cache.misses));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.push_str("# error: metrics could not be encoded\n");
        }
        out
    }
}
