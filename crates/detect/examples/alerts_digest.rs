//! A determinism check for the per-subject engine: replays a synthetic stream rich in
//! alerts (rate and token spikes, new infrastructure, moderation bursts) through tables
//! small enough to evict, and prints the number of alerts per detector and a digest of
//! their JSON. Two builds that print the same digest raise the same alerts, byte for
//! byte; run it before and after changing the engine's internals.
//!
//! ```text
//! cargo run --release -p bulwark-detect --example alerts_digest -- [EVENTS]
//! ```

#![allow(clippy::print_stdout, reason = "prints its figures")]
#![allow(clippy::cast_precision_loss, reason = "synthetic figures")]

use std::{collections::BTreeMap, net::IpAddr};

use bulwark_core::{Category, Decision};
use bulwark_detect::usage::{Engine, EngineConfig, synthetic::SyntheticRequest};

/// 2026-11-02T00:00:00Z.
const T0: i64 = 1_793_577_600_000;
const KEYS: u64 = 20_000;

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a, 64 bits.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01B3)
    })
}

fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let mut engine = Engine::new(EngineConfig {
        max_keys: 6_000,
        max_accounts: 2_000,
        max_tenants: 50,
        max_networks: 5_000,
        ..EngineConfig::default()
    });
    // Eight days of event time, so that week-old subjects use their profile.
    let span = 8 * 86_400_000_i64;
    let mut alerts = Vec::new();
    let mut digest = 0xCBF2_9CE4_8422_2325_u64;
    let mut per_detector: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..events {
        let r = mix(i);
        let u = (r >> 11) as f64 / (1_u64 << 53) as f64;
        let key = ((u * u * u) * KEYS as f64) as u64 % KEYS;
        let ts = T0 + (i as f64 * span as f64 / events as f64) as i64;
        let minute = ts / 60_000;
        let mut request = SyntheticRequest::new(ts, i).for_key(key, 5, 500);
        // Every few hours a handful of keys burst: many requests, big prompts, flags.
        let episode = (minute / 180) as u64;
        let bursting = mix(episode ^ key).is_multiple_of(400) && minute % 180 < 20;
        let host = if r.is_multiple_of(97) || (bursting && r.is_multiple_of(3)) {
            mix(r)
        } else {
            mix(key)
        };
        request.ip = Some(IpAddr::V4(std::net::Ipv4Addr::from((host >> 32) as u32)));
        request.asn = Some(64_500 + (host % 7) as u32);
        request.country = Some(if host % 11 == 0 { "FR" } else { "DE" }.into());
        request.prompt_tokens = 50 + r % 500 + if bursting { 20_000 } else { 0 };
        request.completion_tokens = 20 + (r >> 16) % 800;
        if bursting && r.is_multiple_of(2) {
            request.flagged = Category::ALL
                .get((r % 3) as usize)
                .copied()
                .into_iter()
                .collect();
            request.decision = if r.is_multiple_of(4) {
                Decision::Blocked
            } else {
                Decision::Allowed
            };
        } else if r.is_multiple_of(53) {
            request.decision = Decision::RateLimited;
        }
        let repeat = if bursting { 1 + r % 40 } else { 1 };
        for j in 0..repeat {
            let mut e = request.clone();
            e.seq = i * 64 + j;
            engine.observe(&e.event(), &mut alerts);
        }
        for alert in alerts.drain(..) {
            let json = serde_json::to_vec(&alert).unwrap_or_default();
            digest = fnv(digest, &json);
            *per_detector.entry(alert.detector.clone()).or_default() += 1;
        }
    }
    let stats = engine.stats();
    println!(
        "requests {} alerts {} deduplicated {}",
        stats.requests, stats.alerts, stats.deduplicated
    );
    for (detector, n) in &per_detector {
        println!("  {detector} {n}");
    }
    for (t, name) in stats
        .tables
        .iter()
        .zip(["keys", "accounts", "tenants", "networks"])
    {
        println!("  {name}: {} tracked, {} evicted", t.len, t.evictions);
    }
    println!("digest {digest:016x}");
}
