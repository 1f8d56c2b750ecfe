//! The per-subject engine: detectors fire on what they should, stay quiet otherwise, and
//! memory stays bounded.

use bulwark_core::{Alert, Category, Decision, SubjectType};
use bulwark_detect::usage::{
    Engine, EngineConfig, SubjectState, SubjectTable, synthetic::SyntheticRequest,
};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// 2026-11-02T00:00:00Z, a Monday.
const T0: i64 = 1_793_577_600_000;

/// A deterministic pseudo-random number in [0, 1).
fn rand(i: u64) -> f64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1_u64 << 53) as f64
}

fn request(ts: i64, seq: u64) -> SyntheticRequest {
    let mut r = SyntheticRequest::new(ts, seq).for_key(1, 1, 1);
    r.ip = Some("198.51.100.7".parse().unwrap());
    r.asn = Some(64_500);
    r.country = Some("NL".into());
    r
}

/// `minutes` of steady history for key 1: 0–4 requests a minute.
fn history(engine: &mut Engine, start: i64, minutes: i64, alerts: &mut Vec<Alert>) -> u64 {
    let mut seq = 0;
    for m in 0..minutes {
        let n = (rand(m as u64) * 5.0) as i64;
        for j in 0..n {
            seq += 1;
            let ts = start + m * MINUTE + j * (MINUTE / (n + 1));
            engine.observe(&request(ts, seq).event(), alerts);
        }
    }
    seq
}

fn of<'a>(alerts: &'a [Alert], detector: &str, kind: SubjectType) -> Vec<&'a Alert> {
    alerts
        .iter()
        .filter(|a| a.detector == detector && a.subject.kind == kind)
        .collect()
}

#[test]
fn steady_usage_raises_nothing() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut alerts = Vec::new();
    history(&mut engine, T0, 3 * 24 * 60, &mut alerts);
    assert!(alerts.is_empty(), "{:#?}", alerts.first());
    let stats = engine.stats();
    assert!(stats.requests > 5_000);
    assert_eq!(stats.tables[0].len, 1);
    assert_eq!(stats.tables[3].len, 1, "one network");
}

#[test]
fn a_usage_spike_is_explained_and_deduplicated() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut alerts = Vec::new();
    let mut seq = history(&mut engine, T0, 180, &mut alerts);
    assert!(alerts.is_empty());
    let spike_at = T0 + 181 * MINUTE;
    for i in 0..60 {
        seq += 1;
        engine.observe(&request(spike_at + i * 500, seq).event(), &mut alerts);
    }
    let spikes = of(&alerts, "usage_spike", SubjectType::Key);
    assert_eq!(spikes.len(), 1, "{alerts:#?}");
    let alert = spikes[0];
    assert_eq!(alert.subject.id, "key_1");
    assert_eq!(alert.related.account.as_ref().unwrap().as_str(), "acct_1");
    let rpm = alert.explanation.get("requests_per_minute").unwrap();
    assert!(rpm.observed >= 20.0 && rpm.observed <= 60.0, "{rpm:?}");
    assert!(rpm.expected > 0.5 && rpm.expected < 4.0, "{rpm:?}");
    assert!(rpm.observed >= rpm.threshold.unwrap(), "{rpm:?}");
    assert!(
        alert.summary.starts_with("requests/min"),
        "{}",
        alert.summary
    );
    assert_eq!(
        alert.evidence.len(),
        2,
        "the minute's first request and the trigger"
    );
    assert!(alert.score > 0.75);
    // The account and the tenant (one key each) spiked too; the network as well.
    assert_eq!(of(&alerts, "usage_spike", SubjectType::Account).len(), 1);

    // Another burst 10 minutes later is the same incident…
    let before = alerts.len();
    for i in 0..60 {
        seq += 1;
        engine.observe(
            &request(spike_at + 10 * MINUTE + i * 500, seq).event(),
            &mut alerts,
        );
    }
    assert_eq!(
        of(&alerts[before..], "usage_spike", SubjectType::Key).len(),
        0
    );
    assert!(engine.stats().deduplicated > 0);
    // …one two hours later is a new one.
    for i in 0..80 {
        seq += 1;
        engine.observe(
            &request(spike_at + 2 * HOUR + i * 500, seq).event(),
            &mut alerts,
        );
    }
    assert_eq!(
        of(&alerts[before..], "usage_spike", SubjectType::Key).len(),
        1
    );
    // The counters operators see: alerts per detector, and the latest event time.
    let stats = engine.stats();
    for (slot, name) in engine.detector_names().into_iter().enumerate() {
        let raised = alerts.iter().filter(|a| a.detector == name).count() as u64;
        assert_eq!(stats.alerts_by_detector[slot], raised, "{name}");
    }
    assert_eq!(stats.alerts_by_detector.iter().sum::<u64>(), stats.alerts);
    assert_eq!(stats.latest_event_ms, spike_at + 2 * HOUR + 79 * 500);
}

#[test]
fn a_token_spike_with_a_normal_request_rate_is_found() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut alerts = Vec::new();
    let mut seq = history(&mut engine, T0, 240, &mut alerts);
    let at = T0 + 241 * MINUTE;
    for i in 0..4 {
        seq += 1;
        let mut r = request(at + i * 10_000, seq);
        r.prompt_tokens = 60_000;
        engine.observe(&r.event(), &mut alerts);
    }
    assert!(of(&alerts, "usage_spike", SubjectType::Key).is_empty());
    let tokens = of(&alerts, "token_spike", SubjectType::Key);
    assert_eq!(tokens.len(), 1, "{alerts:#?}");
    assert!(
        tokens[0]
            .explanation
            .get("tokens_per_minute")
            .unwrap()
            .observed
            >= 60_000.0
    );
}

#[test]
fn new_infrastructure_for_a_key_with_history() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut alerts = Vec::new();
    let mut seq = 0;
    for i in 0..200 {
        seq += 1;
        engine.observe(&request(T0 + i * 15 * MINUTE, seq).event(), &mut alerts);
    }
    assert!(alerts.is_empty());
    let mut r = request(T0 + 200 * 15 * MINUTE, seq + 1);
    r.ip = Some("203.0.113.9".parse().unwrap());
    r.asn = Some(64_999);
    r.country = Some("KP".into());
    engine.observe(&r.event(), &mut alerts);
    let found = of(&alerts, "new_infrastructure", SubjectType::Key);
    assert_eq!(found.len(), 1, "{alerts:#?}");
    let summary = &found[0].summary;
    assert!(
        summary.contains("ASN 64999") && summary.contains("country KP"),
        "{summary}"
    );
    assert!(summary.contains("network 203.0.113.0/24"), "{summary}");
    assert_eq!(
        found[0].explanation.get("recent_asns").unwrap().observed,
        2.0
    );
    assert!(of(&alerts, "new_infrastructure", SubjectType::Network).is_empty());

    // A young key changing networks is not news.
    let mut young = Engine::new(EngineConfig::default());
    let mut none = Vec::new();
    young.observe(&request(T0, 1).event(), &mut none);
    young.observe(&r.event(), &mut none);
    assert!(none.is_empty());
}

#[test]
fn guardrail_probing_is_a_moderation_burst() {
    let mut engine = Engine::new(EngineConfig::default());
    let mut alerts = Vec::new();
    let mut seq = history(&mut engine, T0, 120, &mut alerts);
    let at = T0 + 121 * MINUTE;
    for i in 0..12 {
        seq += 1;
        let mut r = request(at + i * 20_000, seq);
        r.decision = if i % 2 == 0 {
            Decision::Blocked
        } else {
            Decision::Allowed
        };
        r.flagged = vec![if i % 3 == 0 {
            Category::Jailbreak
        } else {
            Category::Malware
        }];
        engine.observe(&r.event(), &mut alerts);
    }
    let bursts = of(&alerts, "moderation_burst", SubjectType::Key);
    assert_eq!(bursts.len(), 1, "{alerts:#?}");
    let b = bursts[0];
    assert!(b.summary.contains("cyber/malware"), "{}", b.summary);
    let share = b.explanation.get("flagged_share").unwrap();
    assert!(
        share.observed > share.threshold.unwrap() && share.expected <= 0.02,
        "{share:?}"
    );
    assert!(b.explanation.get("category:jailbreak").is_some());
    assert_eq!(
        b.evidence.len(),
        2,
        "the hour's first flagged request and the trigger"
    );
}

#[test]
fn same_events_same_alerts_byte_for_byte() {
    let run = || {
        let mut engine = Engine::new(EngineConfig::default());
        let mut alerts = Vec::new();
        let mut seq = history(&mut engine, T0, 200, &mut alerts);
        for i in 0..100 {
            seq += 1;
            engine.observe(
                &request(T0 + 201 * MINUTE + i * 300, seq).event(),
                &mut alerts,
            );
        }
        alerts
            .iter()
            .map(Alert::to_json)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = run();
    assert!(!a.is_empty());
    assert_eq!(a, run());
}

#[test]
fn state_per_subject_is_under_one_kib() {
    let per_subject = SubjectTable::bytes_per_subject();
    const { assert!(SubjectState::BYTES <= 1024) };
    assert!(per_subject <= 1024, "{per_subject}");
}

#[test]
fn ten_million_minted_subjects_do_not_grow_the_table_past_its_cap() {
    let cap = 10_000;
    let mut table = SubjectTable::new(cap);
    let f = bulwark_detect::usage::Features::of(
        &request(T0, 1).event(),
        match &request(T0, 1).event().body {
            bulwark_core::EventBody::ApiRequest(r) => r,
            _ => unreachable!(),
        },
        &Default::default(),
    );
    let template = SubjectState::new(&f);
    let mut peak = 0;
    for minted in 0..10_000_000_u64 {
        let fingerprint = minted.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        assert!(table.entry(fingerprint, || template.clone()).is_some());
        if minted % 100_000 == 0 {
            peak = peak.max(table.accounted_bytes());
        }
    }
    let stats = table.stats();
    assert_eq!(stats.len, cap);
    assert_eq!(stats.evictions, 10_000_000 - cap as u64);
    let bound = cap * SubjectTable::bytes_per_subject() + 64 * 1024;
    assert!(
        peak.max(stats.bytes) <= bound,
        "{} > {bound}",
        peak.max(stats.bytes)
    );
}

#[test]
fn minted_networks_and_keys_through_the_engine_stay_within_the_caps() {
    let config = EngineConfig {
        max_keys: 1_000,
        max_accounts: 1_000,
        max_tenants: 100,
        max_networks: 1_000,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config);
    let mut alerts = Vec::new();
    for i in 0..200_000_u64 {
        let mut r = SyntheticRequest::new(T0 + i as i64, i).for_key(i, 1, 1_000);
        r.ip = Some(std::net::IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(i) << 80,
        )));
        engine.observe(&r.event(), &mut alerts);
    }
    let stats = engine.stats();
    for (table, cap) in stats.tables.iter().zip([1_000, 1_000, 100, 1_000]) {
        assert_eq!(table.len, cap.min(table.len));
        assert!(
            table.len <= cap && table.bytes <= cap * SubjectTable::bytes_per_subject() + 64 * 1024,
            "{table:?}"
        );
    }
    assert_eq!(stats.tables[0].evictions, 199_000);
}
