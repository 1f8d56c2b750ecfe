//! Throughput of the per-subject engine (events per second on one core): synthetic
//! requests over 10,000 keys, through features, state and every detector.

#![allow(missing_docs, reason = "criterion's macros")]

use std::hint::black_box;

use bulwark_core::Event;
use bulwark_detect::usage::{Engine, EngineConfig, synthetic::SyntheticRequest};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn events(n: u64, keys: u64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys;
            let mut r =
                SyntheticRequest::new(1_793_577_600_000 + i64::try_from(i).unwrap_or(0) * 36, i)
                    .for_key(key, 5, 1_000);
            r.ip = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                u32::try_from(key).unwrap_or(0).wrapping_mul(2_654_435_761),
            )));
            r.event()
        })
        .collect()
}

fn throughput(c: &mut Criterion) {
    let events = events(100_000, 10_000);
    let mut group = c.benchmark_group("usage");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("engine_100k_events_10k_keys", |b| {
        b.iter(|| {
            let mut engine = Engine::new(EngineConfig::default());
            let mut alerts = Vec::new();
            for e in &events {
                engine.observe(black_box(e), &mut alerts);
            }
            black_box(alerts.len())
        });
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
