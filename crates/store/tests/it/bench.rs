//! Append, import and export throughput, for the event writer's path. Not a test: run it with
//! `cargo test -p bulwark-store --release --test it -- --ignored --nocapture throughput`.
//!
//! The number that matters is CPU time per appended event, of the whole process (the
//! checkpoint thread included): the gateway pays it on a machine it shares with the proxy,
//! and CPU time, unlike wall time, holds still when other work shares the machine.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports what it measured"
)]

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use bulwark_core::{
    AccountId, ApiRequest, Client, Decision, Event, EventBody, EventId, KeyId, TenantId,
    TextDigest, Timestamp, Usage,
};
use bulwark_store::{EventQuery, SqliteStore, Store};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};

use crate::common::store;

const EVENTS: usize = 200_000;
/// Requests per second the events are spread over, as the gateway's target load.
const RATE: i64 = 12_000;

/// The gateway writer's default `events.flush_interval`.
const FLUSH: Duration = Duration::from_millis(20);

/// Fresh databases per measurement; the median is reported.
const RUNS: usize = 3;
/// Events already stored when a run starts: enough that every key's entries span pages of
/// their own, as they do after a while in production.
const PREFILL: usize = 1_000_000;
/// When the measured events start.
const START_MS: i64 = 1_760_000_000_000;

/// Who sends the requests and how long they take.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    /// Active keys, up to four per account.
    keys: usize,
    /// Draws a request's latency in milliseconds.
    latency_ms: fn(&mut StdRng) -> i64,
}

const SCENARIOS: [Scenario; 2] = [
    // `bench/gateway.py`: one key, a local mock upstream that answers at once.
    Scenario {
        name: "load test (1 key, 1-5 ms answers)",
        keys: 1,
        latency_ms: |rng| rng.random_range(1..5),
    },
    // Many keys, model latencies: most answers within two seconds, long generations up
    // to thirty. Index inserts land all over the last seconds of each index, and every
    // key's entries have pages of their own.
    Scenario {
        name: "production (1000 keys, 0.15-30 s answers)",
        keys: 1_000,
        latency_ms: |rng| {
            if rng.random_bool(0.9) {
                rng.random_range(150..2_000)
            } else {
                rng.random_range(2_000..30_000)
            }
        },
    },
];

/// `count` keys, four per account, of ten tenants.
fn gateway_keys(count: usize) -> Vec<(TenantId, AccountId, KeyId)> {
    let tenants: Vec<TenantId> = (0..10).map(|_| TenantId::generate()).collect();
    let mut rng = StdRng::seed_from_u64(3);
    let mut keys = Vec::with_capacity(count);
    while keys.len() < count {
        let tenant = tenants.choose(&mut rng).unwrap().clone();
        let account = AccountId::generate();
        for _ in 0..4.min(count - keys.len()) {
            keys.push((tenant.clone(), account.clone(), KeyId::generate()));
        }
    }
    keys
}

/// A database holding [`PREFILL`] small events of `keys` from before [`START_MS`], at
/// [`RATE`]: written straight into the table, in one transaction, because only the shape
/// of the indexes matters (the table itself is appended to either way).
fn prefilled(keys: &[(TenantId, AccountId, KeyId)]) -> tempfile::TempDir {
    let (dir, store) = store();
    let path = store.path().to_owned();
    drop(store);
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA cache_size = -262144;
         CREATE TEMP TABLE bench_keys (tenant TEXT, account TEXT, \"key\" TEXT);",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    for (tenant, account, key) in keys {
        tx.execute(
            "INSERT INTO bench_keys VALUES (?1, ?2, ?3)",
            (tenant.as_str(), account.as_str(), key.as_str()),
        )
        .unwrap();
    }
    // Ids sort before the ULIDs of the measured events, as older ids do.
    tx.execute(
        r#"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
        INSERT INTO events (id, ts_ms, kind, tenant, account, "key", decision, json)
        SELECT printf('evt_00%024d', i), ?2 + i * 1000 / ?3, 'api.request', k.tenant,
               k.account, k."key", 'allowed', '{}'
        FROM n JOIN bench_keys AS k ON k.rowid = 1 + i % ?4"#,
        (
            PREFILL as i64,
            START_MS - PREFILL as i64 * 1000 / RATE - 60_000,
            RATE,
            keys.len() as i64,
        ),
    )
    .unwrap();
    tx.commit().unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    dir
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// CPU time (user + system) of this process so far, all threads, including the ones that
/// ended; `None` where `/proc` is not there. (Its unit is USER_HZ, 100 per second on
/// every Linux: runs of several seconds make that precise enough.)
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name (which may hold spaces), fields start at `state` (field 3):
    // utime and stime are fields 14 and 15.
    let (_, rest) = stat.rsplit_once(") ")?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `count` `api.request` events as the gateway writes them, in the order it writes them:
/// ids and timestamps are taken when a request starts, the event is published when it
/// ends, so the store sees them close to, but not exactly in, `(ts, id)` order.
fn gateway_events(scenario: &Scenario, keys: &[(TenantId, AccountId, KeyId)]) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(7);
    let agents = [
        "openai-python/1.51.0",
        "OpenAI/NodeJS/4.67.3",
        "langchain-openai/0.2.2 openai-python/1.51.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/129.0.0.0 Safari/537.36",
    ];
    let models = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o3-mini"];
    // Prompts and completions are slices of one random text: only their digests are kept.
    let corpus: String = (0..8_192)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect();
    let text = |rng: &mut StdRng, chars: usize| -> &str {
        let start = rng.random_range(0..corpus.len() - chars);
        corpus.get(start..start + chars).unwrap()
    };
    let start_ms = START_MS;
    // (finished at, event): ids are minted in start order, so they sort like `ts`.
    let mut finished: Vec<(i64, Event)> = (0..EVENTS as i64)
        .map(|i| {
            let ts_ms = start_ms + i * 1_000 / RATE;
            let latency_ms = (scenario.latency_ms)(&mut rng);
            let upstream_ms = latency_ms.saturating_sub(1);
            let (tenant, account, key) = keys.choose(&mut rng).unwrap().clone();
            let (prompt_chars, completion_chars) =
                (rng.random_range(50..4_000), rng.random_range(20..2_000));
            let prompt = text(&mut rng, prompt_chars);
            let completion = text(&mut rng, completion_chars);
            let usage = Usage {
                prompt_tokens: prompt.len().div_ceil(4) as u64,
                completion_tokens: completion.len().div_ceil(4) as u64,
                estimated: false,
            };
            let event = Event {
                v: bulwark_core::SCHEMA_VERSION,
                id: EventId::generate(),
                ts: Timestamp::from_unix_millis(ts_ms).unwrap(),
                tenant: Some(tenant),
                account: Some(account),
                key: Some(key),
                body: EventBody::ApiRequest(ApiRequest {
                    client: Client {
                        ip: Some(IpAddr::V4(Ipv4Addr::from_bits(rng.random()))),
                        user_agent: Some((*agents.choose(&mut rng).unwrap()).to_owned()),
                        country: None,
                        asn: None,
                    },
                    endpoint: "chat.completions".to_owned(),
                    model: Some((*models.choose(&mut rng).unwrap()).to_owned()),
                    stream: rng.random_bool(0.5),
                    status: 200,
                    decision: Decision::Allowed,
                    latency_ms: latency_ms as f64 + f64::from(rng.random_range(0..1_000)) / 1e3,
                    upstream_ms: Some(
                        upstream_ms as f64 + f64::from(rng.random_range(0..1_000)) / 1e3,
                    ),
                    usage: Some(usage),
                    input: Some(TextDigest::of(prompt, false)),
                    output: Some(TextDigest::of(completion, false)),
                    method: Some("POST".to_owned()),
                    path: Some("/v1/chat/completions".to_owned()),
                    upstream: Some("openai".to_owned()),
                    error: None,
                    moderation: None,
                }),
            };
            (ts_ms + latency_ms, event)
        })
        .collect();
    finished.sort_by_key(|(at, _)| *at);
    finished.into_iter().map(|(_, event)| event).collect()
}

/// How the events reach the store.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// As the gateway's writer does at [`RATE`] with its default settings: every
    /// [`FLUSH`], what was published meanwhile, in chunks of 1000.
    Gateway,
    /// Back to back in chunks of this size, as fast as the store takes them.
    FlatOut(usize),
}

/// What one run cost.
struct Run {
    cpu_us_per_event: Option<f64>,
    events_per_s: f64,
    file_bytes: u64,
}

async fn run(template: &Path, events: &[Arc<Event>], pace: Pace) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        template.join(SqliteStore::FILE_NAME),
        dir.path().join(SqliteStore::FILE_NAME),
    )
    .unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let size = || std::fs::metadata(store.path()).map_or(0, |m| m.len());
    let size_before = size();
    let cpu_before = process_cpu_time();
    let io = || {
        let t = std::fs::read_to_string("/proc/self/io").unwrap();
        let g = |k: &str| {
            t.lines()
                .find(|l| l.starts_with(k))
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        (g("rchar:"), g("wchar:"), g("syscr:"), g("syscw:"))
    };
    let io_before = io();
    let started = Instant::now();
    let mut inserted = 0;
    match pace {
        Pace::Gateway => {
            let flush = FLUSH;
            let per_flush =
                usize::try_from(RATE * i64::try_from(FLUSH.as_millis()).unwrap() / 1_000).unwrap();
            let mut next = tokio::time::Instant::now();
            for published in events.chunks(per_flush) {
                next += flush;
                tokio::time::sleep_until(next).await;
                for batch in published.chunks(1_000) {
                    inserted += store.append_shared_events(batch).await.unwrap();
                }
            }
        }
        Pace::FlatOut(batch_size) => {
            for batch in events.chunks(batch_size) {
                inserted += store.append_shared_events(batch).await.unwrap();
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(inserted, events.len());
    // The last batch's checkpoint is part of its cost: the checkpoint thread waits 250 ms
    // between two, and waiting for it costs no CPU.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let cpu_us_per_event = cpu_before
        .zip(process_cpu_time())
        .map(|(before, after)| (after - before).as_secs_f64() * 1e6 / events.len() as f64);
    let file_bytes = size() - size_before;
    let io_after = io();
    if std::env::var("X_IO").is_ok() {
        let n = events.len() as u64;
        eprintln!(
            "io per event: read {} B, written {} B, read calls {:.2}, write calls {:.2}",
            (io_after.0 - io_before.0) / n,
            (io_after.1 - io_before.1) / n,
            (io_after.2 - io_before.2) as f64 / n as f64,
            (io_after.3 - io_before.3) as f64 / n as f64
        );
    }
    if std::env::var("X_IO").is_ok() {
        for t in std::fs::read_dir("/proc/self/task").unwrap() {
            let t = t.unwrap().path();
            let comm = std::fs::read_to_string(t.join("comm")).unwrap_or_default();
            let io = std::fs::read_to_string(t.join("io")).unwrap_or_default();
            let g = |k: &str| {
                io.lines().find(|l| l.starts_with(k)).map_or(0, |l| {
                    l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
                })
            };
            if g("rchar:") + g("wchar:") > 10_000_000 {
                eprintln!(
                    "  thread {} rchar {} wchar {} syscr {} syscw {}",
                    comm.trim(),
                    g("rchar:") / events.len() as u64,
                    g("wchar:") / events.len() as u64,
                    g("syscr:") as f64 / events.len() as f64,
                    g("syscw:") as f64 / events.len() as f64
                );
            }
        }
    }
    drop(store);
    drop(dir);
    Run {
        cpu_us_per_event,
        events_per_s: rate(events.len(), elapsed),
        file_bytes,
    }
}

fn report(label: &str, runs: &[Run]) {
    let mut cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_us_per_event).collect();
    let mut rates: Vec<f64> = runs.iter().map(|r| r.events_per_s).collect();
    let file_bytes = runs.last().map_or(0, |r| r.file_bytes);
    let each = cpu
        .iter()
        .map(|us| format!("{us:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "  {label}: {:.1} CPU-us/event (median of {each}), {:.0} events/s wall, \
         {} bytes/event added to the file",
        median(&mut cpu),
        median(&mut rates),
        file_bytes / EVENTS as u64,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark; run it in release"]
async fn throughput() {
    let only = std::env::var("BENCH_ONLY").ok();
    let mut exported = None;
    for scenario in &SCENARIOS {
        if std::env::var("BENCH_SCENARIO").is_ok_and(|v| !scenario.name.contains(v.as_str())) {
            continue;
        }
        let keys = gateway_keys(scenario.keys);
        let events = gateway_events(scenario, &keys);
        let shared: Vec<Arc<Event>> = events.iter().cloned().map(Arc::new).collect();
        let template = prefilled(&keys);
        let bytes: usize = events.iter().map(|e| e.to_json().len()).sum();
        println!(
            "{}: {EVENTS} api.request events of {} bytes on average, after {PREFILL}",
            scenario.name,
            bytes / EVENTS
        );
        let paces: &[Pace] = if scenario.keys == 1 {
            &[
                Pace::Gateway,
                Pace::FlatOut(100),
                Pace::FlatOut(1_000),
                Pace::FlatOut(5_000),
            ]
        } else {
            &[Pace::Gateway]
        };
        for pace in paces {
            let label = match pace {
                Pace::Gateway => format!(
                    "{RATE}/s, written every {} ms in batches of 1000",
                    FLUSH.as_millis()
                ),
                Pace::FlatOut(size) => format!("flat out in batches of {size}"),
            };
            if only
                .as_ref()
                .is_some_and(|only| !format!("{} {label}", scenario.name).contains(only.as_str()))
            {
                continue;
            }
            let mut runs = Vec::new();
            for _ in 0..std::env::var("X_RUNS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(RUNS)
            {
                runs.push(run(template.path(), &shared, *pace).await);
            }
            report(&label, &runs);
        }
        exported.get_or_insert(events);
    }

    let events = exported.unwrap();
    let (_dir, store) = store();
    // As `bulwark events import` appends: every request checked against what is stored.
    let started = Instant::now();
    for batch in events.chunks(1_000) {
        store.append_events(batch).await.unwrap();
    }
    println!(
        "import: {} events in batches of 1000: {:.0} events/s",
        events.len(),
        rate(events.len(), started.elapsed())
    );
    // Pages of the CLI's export and the detectors' warm-up (1000), and of the largest.
    for page in [1_000, 10_000] {
        let started = Instant::now();
        let mut read = 0;
        let mut after = None;
        loop {
            let query = EventQuery {
                since: None,
                until: None,
                after: after.clone(),
                limit: page,
            };
            let rows = store.events_page(&query).await.unwrap();
            let Some(last) = rows.last() else { break };
            after = Some((last.ts, last.id.clone()));
            read += rows.len();
        }
        assert_eq!(read, EVENTS);
        println!(
            "export: {read} events in pages of {page}: {:.0} events/s",
            rate(read, started.elapsed())
        );
    }
}
