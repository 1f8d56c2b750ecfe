//! What appending usage events costs the store: CPU time per event (every thread of the
//! process, so the WAL checkpoints count too), bytes on disk and bytes written per event
//! (the write volume a disk sees), for batches shaped like the gateway's (`StoreWriter`:
//! up to 1,000 events a transaction).
//!
//! `cargo run --release -p bulwark-store --example append -- [EVENTS] [KEYS] [BATCH]`
//! (defaults 200000, 1, 1000). Linux only (CPU time is read from `/proc/self/stat`).

#![allow(clippy::print_stdout, reason = "an example prints its result")]

use std::{sync::Arc, time::Instant};

use bulwark_core::{AccountId, Event, EventId, KeyId, TenantId, Timestamp};
use bulwark_store::{SqliteStore, Store};

/// An `api.request` as the gateway benchmark's requests leave it (moderation off), with
/// fresh ids and digests of its own.
fn event(
    tenant: &TenantId,
    account: &AccountId,
    key: &KeyId,
    n: usize,
) -> serde_json::Result<Event> {
    let digest = |side: &str| bulwark_core::sha256_hex(format!("{side} {n}").as_bytes());
    let line = serde_json::json!({
        "v": 1, "kind": "api.request", "id": EventId::generate().as_str(),
        "ts": Timestamp::now().to_string(),
        "tenant": tenant.as_str(), "account": account.as_str(), "key": key.as_str(),
        "client": {"ip": "203.0.113.7", "user_agent": "OpenAI/Python 1.51.0", "country": null, "asn": null},
        "endpoint": "chat.completions", "model": "gpt-4o-mini", "stream": false,
        "status": 200, "decision": "allowed", "latency_ms": 3.077, "upstream_ms": 3.071,
        "usage": {"prompt_tokens": 191, "completion_tokens": 91},
        "input": {"chars": 956, "sha256": digest("input")},
        "output": {"chars": 420, "sha256": digest("output")},
        "method": "POST", "path": "/v1/chat/completions", "upstream": "sim",
    });
    serde_json::from_value(line)
}

/// Bytes the process has handed to `write` and `pwrite` so far (`wchar` of
/// `/proc/self/io`): the WAL's frames and the checkpoint's copies of them.
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// User and system CPU time of the whole process so far, in seconds.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (events, keys, batch) = (arg(1, 200_000), arg(2, 1).max(1), arg(3, 1_000).max(1));
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path())?;
    let tenant = TenantId::generate();
    let account = AccountId::generate();
    let key_ids: Vec<KeyId> = (0..keys).map(|_| KeyId::generate()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;

    // Built before the clock starts: only the store's work is measured.
    let all: Vec<Arc<Event>> = (0..events)
        .zip(key_ids.iter().cycle())
        .map(|(i, key)| event(&tenant, &account, key, i).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let (user0, sys0) = cpu_seconds();
    let written0 = bytes_written();
    let started = Instant::now();
    let mut written = 0;
    for chunk in all.chunks(batch) {
        written += runtime.block_on(store.append_shared_events(chunk))?;
    }
    let elapsed = started.elapsed();
    // Let the checkpoint thread copy the last of the WAL back, so its work counts.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (user1, sys1) = cpu_seconds();
    let io = bytes_written().saturating_sub(written0);

    let size = std::fs::metadata(store.path())?.len();
    let per = |seconds: f64| seconds * 1e6 / written as f64;
    println!(
        "{written} events, {keys} keys, batches of {batch}: {:.2} µs user + {:.2} µs system per event \
         (process CPU), {:.0} bytes of database file and {:.0} bytes written (WAL and \
         checkpoint) per event, {:.0} events/s wall",
        per(user1 - user0),
        per(sys1 - sys0),
        size as f64 / written as f64,
        io as f64 / written as f64,
        written as f64 / elapsed.as_secs_f64(),
    );
    Ok(())
}
