//! The engine: one event at a time, in event time, through every subject it concerns
//! and every detector, into alerts.
//!
//! Each `api.request` event updates up to four subjects: its key, its account, its
//! tenant and its client network (/24 or /48). Each kind has its own bounded table, so a
//! flood of minted networks can only evict networks, never keys. Findings become alerts
//! with derived ids, deduplicated per (subject, detector) over a window of event time.
//! Other kinds of event pass through untouched.

use bulwark_core::{
    ALERT_SCHEMA_VERSION, Alert, AlertId, AlertKind, AlertSubject, Event, EventBody, EventId,
    Related, Severity, SubjectType, tidy,
};

use super::{
    detectors::{Evidence, Finding, MAX_DETECTORS, Settings, SubjectDetector, View, builtin},
    features::{Features, MINUTE_MS, Prices, network_of},
    sketch::hash_bytes,
    state::SubjectState,
    table::{SubjectTable, TableStats},
};

/// What the engine runs with. Defaults documented in `docs/alerts.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Most keys, accounts, tenants and client networks tracked at once.
    pub max_keys: usize,
    pub max_accounts: usize,
    pub max_tenants: usize,
    pub max_networks: usize,
    /// An alert for a (subject, detector) suppresses the next ones for this long (ms of
    /// event time).
    pub dedup_window_ms: i64,
    pub settings: Settings,
    pub prices: Prices,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_keys: 100_000,
            max_accounts: 100_000,
            max_tenants: 10_000,
            max_networks: 100_000,
            dedup_window_ms: 60 * MINUTE_MS,
            settings: Settings::default(),
            prices: Prices::default(),
        }
    }
}

/// The engine's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events seen, and `api.request` events among them.
    pub events: u64,
    pub requests: u64,
    /// Alerts raised, and findings suppressed as duplicates.
    pub alerts: u64,
    pub deduplicated: u64,
    /// Alerts raised per detector, in [`Engine::detector_names`] order (the rest 0).
    pub alerts_by_detector: [u64; MAX_DETECTORS],
    /// The latest event time seen (ms since the epoch; 0 before any event): the wall
    /// clock minus this is how far detection lags behind.
    pub latest_event_ms: i64,
    /// Per subject kind, in [`SubjectType::ALL`] order.
    pub tables: [TableStats; 4],
}

/// The detection engine.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    detectors: Vec<Box<dyn SubjectDetector>>,
    /// Keys, accounts, tenants, networks: [`SubjectType::ALL`] order.
    tables: [SubjectTable; 4],
    events: u64,
    requests: u64,
    alerts: u64,
    deduplicated: u64,
    alerts_by_detector: [u64; MAX_DETECTORS],
    latest_event_ms: i64,
}

impl Engine {
    /// An engine with the built-in detectors.
    pub fn new(config: EngineConfig) -> Self {
        Self::with_detectors(config, builtin())
    }

    /// An engine with these detectors (at most [`MAX_DETECTORS`]; the rest are ignored).
    pub fn with_detectors(
        config: EngineConfig,
        mut detectors: Vec<Box<dyn SubjectDetector>>,
    ) -> Self {
        detectors.truncate(MAX_DETECTORS);
        Self {
            tables: [
                SubjectTable::new(config.max_keys),
                SubjectTable::new(config.max_accounts),
                SubjectTable::new(config.max_tenants),
                SubjectTable::new(config.max_networks),
            ],
            config,
            detectors,
            events: 0,
            requests: 0,
            alerts: 0,
            deduplicated: 0,
            alerts_by_detector: [0; MAX_DETECTORS],
            latest_event_ms: 0,
        }
    }

    /// The detectors' names, in order.
    pub fn detector_names(&self) -> Vec<&'static str> {
        self.detectors.iter().map(|d| d.name()).collect()
    }

    /// Feeds one event; appends the alerts it raises to `alerts`.
    pub fn observe(&mut self, event: &Event, alerts: &mut Vec<Alert>) {
        self.events += 1;
        self.latest_event_ms = self.latest_event_ms.max(event.ts.unix_millis());
        let EventBody::ApiRequest(request) = &event.body else {
            return;
        };
        self.requests += 1;
        let features = Features::of(event, request, &self.config.prices);
        let bits = event.id.ulid_bits();
        let subjects = [
            event.key.as_ref().map(|k| k.as_str()),
            event.account.as_ref().map(|a| a.as_str()),
            event.tenant.as_ref().map(|t| t.as_str()),
            None,
        ];
        let fingerprints: [Option<u64>; 4] = std::array::from_fn(|kind_index| {
            if kind_index == 3 {
                return features.prefix_hash;
            }
            let id = subjects.get(kind_index).copied().flatten()?;
            Some(hash_bytes(kind_index as u64 + 11, id.as_bytes()))
        });
        // Locate every subject before touching any: the four lookups' cache misses
        // overlap (each table is changed only by its own subject below).
        let located: [Option<usize>; 4] = std::array::from_fn(|kind_index| {
            let table = self.tables.get(kind_index)?;
            table.locate(fingerprints.get(kind_index).copied().flatten()?)
        });
        for (kind_index, (table, id)) in self.tables.iter_mut().zip(subjects).enumerate() {
            let kind = SubjectType::ALL
                .get(kind_index)
                .copied()
                .unwrap_or(SubjectType::Key);
            let Some(fingerprint) = fingerprints.get(kind_index).copied().flatten() else {
                continue;
            };
            let found = located.get(kind_index).copied().flatten();
            let Some(state) =
                table.entry_located(fingerprint, found, || SubjectState::new(&features))
            else {
                continue;
            };
            let update = state.record(&features, bits);
            let SubjectState { stats, memory } = state;
            let minute = features.bucket(MINUTE_MS);
            for (slot, detector) in self.detectors.iter().enumerate() {
                let view = View {
                    subject: kind,
                    stats,
                    features: &features,
                    update: &update,
                    settings: &self.config.settings,
                };
                let Some(finding) = detector.observe(&view, memory) else {
                    continue;
                };
                let Some(last) = memory.alerted.get_mut(slot) else {
                    continue;
                };
                let window =
                    u32::try_from(self.config.dedup_window_ms / MINUTE_MS).unwrap_or(u32::MAX);
                if *last != 0 && minute.saturating_add(1).saturating_sub(*last) < window {
                    self.deduplicated += 1;
                    continue;
                }
                *last = minute.saturating_add(1);
                let subject_id = match kind {
                    SubjectType::Network => features.ip.map(network_of).unwrap_or_default(),
                    _ => id.unwrap_or_default().to_owned(),
                };
                alerts.push(alert(
                    event,
                    detector.name(),
                    kind,
                    subject_id,
                    finding,
                    stats_evidence(stats),
                ));
                self.alerts += 1;
                if let Some(n) = self.alerts_by_detector.get_mut(slot) {
                    *n += 1;
                }
            }
        }
    }

    /// The engine's counters now.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            events: self.events,
            requests: self.requests,
            alerts: self.alerts,
            deduplicated: self.deduplicated,
            alerts_by_detector: self.alerts_by_detector,
            latest_event_ms: self.latest_event_ms,
            tables: self.tables.each_ref().map(SubjectTable::stats),
        }
    }

    /// Bytes held by the subject tables.
    pub fn state_bytes(&self) -> usize {
        self.tables.iter().map(SubjectTable::accounted_bytes).sum()
    }
}

/// The evidence a subject's state can point to: (first event of the minute, first flag
/// of the hour).
fn stats_evidence(stats: &super::state::SubjectStats) -> [u128; 2] {
    [
        u128::from_be_bytes(stats.minute_first_event),
        u128::from_be_bytes(stats.hour_first_flag),
    ]
}

fn alert(
    event: &Event,
    detector: &str,
    kind: SubjectType,
    id: String,
    finding: Finding,
    evidence_bits: [u128; 2],
) -> Alert {
    let subject = AlertSubject { kind, id };
    let mut evidence: Vec<EventId> = finding
        .evidence
        .iter()
        .filter_map(|e| {
            let bits = match e {
                Evidence::MinuteStart => evidence_bits[0],
                Evidence::FirstFlagThisHour => evidence_bits[1],
            };
            (bits != 0).then(|| EventId::from_ulid_bits(bits))
        })
        .filter(|id| *id != event.id)
        .collect();
    evidence.push(event.id.clone());
    let score = tidy(finding.score.clamp(0.0, 1.0));
    Alert {
        v: ALERT_SCHEMA_VERSION,
        kind: AlertKind::Alert,
        id: AlertId::derive(&event.id, detector, &subject.to_string()),
        ts: event.ts,
        detector: detector.to_owned(),
        subject,
        related: Related {
            tenant: event.tenant.clone(),
            account: event.account.clone(),
            key: event.key.clone(),
        },
        severity: Severity::of_score(score),
        score,
        summary: finding.summary,
        explanation: finding.explanation,
        evidence,
    }
}
