//! The per-subject engine's throughput and memory: replays synthetic `api.request` events
//! over many keys through the feature and detector stages on one core, and prints
//! events/s, the engine's own accounted bytes and the process's peak memory.
//!
//! ```text
//! cargo run --release -p bulwark-detect --example usage_bench -- [EVENTS [KEYS]]
//! ```
//! Defaults: 10,000,000 events over 1,000,000 keys (5 keys an account, 1,000 a tenant;
//! one network per key, 1% of requests from elsewhere; a skewed mix of busy and quiet
//! keys over one hour of event time). Events are made in chunks outside the timed part;
//! the time is that of `Engine::observe` alone.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::cast_precision_loss, reason = "figures for people")]

use std::{net::IpAddr, time::Instant};

use bulwark_core::Event;
use bulwark_detect::usage::{
    Engine, EngineConfig, SubjectState, SubjectTable, synthetic::SyntheticRequest,
};

/// 2026-11-02T00:00:00Z.
const T0: i64 = 1_793_577_600_000;
const CHUNK: u64 = 100_000;

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn event(i: u64, events: u64, keys: u64) -> Event {
    let r = mix(i);
    // Skewed: the square of a uniform puts most requests on the low-numbered keys.
    let u = (r >> 11) as f64 / (1_u64 << 53) as f64;
    let key = ((u * u) * keys as f64) as u64 % keys.max(1);
    let ts = T0 + (i as f64 * 3_600_000.0 / events.max(1) as f64) as i64;
    let mut request = SyntheticRequest::new(ts, i).for_key(key, 5, 1_000);
    let host = if r.is_multiple_of(100) {
        mix(r)
    } else {
        mix(key)
    };
    request.ip = Some(IpAddr::V4(std::net::Ipv4Addr::from((host >> 32) as u32)));
    request.prompt_tokens = 50 + r % 500;
    request.completion_tokens = 20 + (r >> 16) % 800;
    request.event()
}

/// Nanoseconds this thread has run on a CPU (Linux): the machine may be shared, and
/// wall time then counts other processes' turns too.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let keys: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let keys_usize = usize::try_from(keys).unwrap_or(usize::MAX);
    let mut engine = Engine::new(EngineConfig {
        max_keys: keys_usize,
        max_accounts: keys_usize / 5 + 1,
        max_tenants: keys_usize / 1_000 + 1,
        max_networks: keys_usize,
        ..EngineConfig::default()
    });
    let mut alerts = Vec::new();
    let mut busy = std::time::Duration::ZERO;
    let mut cpu_ns = 0_u64;
    let mut chunk = Vec::with_capacity(CHUNK as usize);
    let mut i = 0;
    while i < events {
        chunk.clear();
        let end = (i + CHUNK).min(events);
        chunk.extend((i..end).map(|n| event(n, events, keys)));
        let started = Instant::now();
        let cpu_started = thread_cpu_ns();
        for e in &chunk {
            engine.observe(e, &mut alerts);
        }
        busy += started.elapsed();
        if let (Some(a), Some(b)) = (cpu_started, thread_cpu_ns()) {
            cpu_ns += b.saturating_sub(a);
        }
        alerts.clear();
        i = end;
    }
    let stats = engine.stats();
    let seconds = busy.as_secs_f64();
    println!("events            {events}");
    println!(
        "keys              {keys} (tracked: {})",
        stats.tables[0].len
    );
    println!(
        "tracked subjects  keys {} accounts {} tenants {} networks {}",
        stats.tables[0].len, stats.tables[1].len, stats.tables[2].len, stats.tables[3].len
    );
    println!(
        "alerts            {} ({} deduplicated)",
        stats.alerts, stats.deduplicated
    );
    let cpu = cpu_ns as f64 / 1e9;
    println!("engine time       {seconds:.2} s wall, {cpu:.2} s on the CPU (one thread)");
    println!(
        "throughput        {:.0} events/s of CPU time on one core ({:.0} events/s wall)",
        events as f64 / cpu.max(1e-9),
        events as f64 / seconds.max(1e-9)
    );
    let subjects: usize = stats.tables.iter().map(|t| t.len).sum();
    println!(
        "state             {} bytes per subject ({} with the table's share); engine accounts {} MiB for {subjects} subjects = {:.0} bytes each",
        SubjectState::BYTES,
        SubjectTable::bytes_per_subject(),
        engine.state_bytes() / (1 << 20),
        engine.state_bytes() as f64 / subjects.max(1) as f64
    );
    if let Some(kib) = peak_rss_kib() {
        println!("peak memory       {} MiB (process, VmHWM)", kib / 1024);
    }
}
