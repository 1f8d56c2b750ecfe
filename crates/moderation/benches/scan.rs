//! The whole scanner (normaliser, rules, both model tiers fused, thresholds) on prompts of
//! 100 B, 1 KiB, 16 KiB and 1 MiB, and a completion streamed in 16-byte pieces through
//! `StreamScan`; the same with the n-gram tier alone (`ngram-only/…`), the reference
//! measured in the same run. Targets (issue 3, one core): 1 KiB prompt ≤ 50 µs median;
//! ≥ 50 MB/s on long inputs.
//!
//! `cargo bench -p bulwark-moderation --bench scan`

use std::hint::black_box;

use bulwark_moderation::{Model, RulePack, ScanScratch, Scanner, Side};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Ordinary prompt material: a support question, some code, some prose. Written for this
/// benchmark; repeated and cut to size.
const PROSE: &str = "Hi! Could you help me write a short summary of our quarterly customer \
    meeting? We discussed the new invoice schedule, the migration of the billing database \
    to PostgreSQL, and why the login page was slow last week. Please keep it under two \
    hundred words and use a friendly tone. Also, here is the function that failed: \
    fn total(items: &[Item]) -> u64 { items.iter().map(|i| i.price * i.qty).sum() } \
    It overflows when a customer orders more than four billion widgets, which happened \
    once during the holiday sale. What would be a safer way to write it in Rust? ";

fn text(len: usize) -> String {
    let mut out = String::with_capacity(len + PROSE.len());
    while out.len() < len {
        out.push_str(PROSE);
    }
    let mut end = len;
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    out
}

fn scan(c: &mut Criterion) {
    bench(c, "scan", &Scanner::builtin());
    bench(
        c,
        "ngram-only",
        &Scanner::new(Model::builtin(), RulePack::builtin()),
    );
}

fn bench(c: &mut Criterion, name: &str, scanner: &Scanner) {
    let mut group = c.benchmark_group(name);
    for (name, len) in [
        ("100B", 100),
        ("1KiB", 1024),
        ("16KiB", 16 * 1024),
        ("1MiB", 1024 * 1024),
    ] {
        let input = text(len);
        let mut scratch = ScanScratch::new();
        group.throughput(Throughput::Bytes(len as u64));
        if len >= 1024 * 1024 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("prompt", name), &input, |b, input| {
            b.iter(|| black_box(scanner.scan(black_box(input), Side::Input, &mut scratch)));
        });
    }
    let completion = text(4 * 1024);
    group.throughput(Throughput::Bytes(completion.len() as u64));
    group.bench_function("stream/4KiB in 16 B pieces", |b| {
        b.iter(|| {
            let mut stream = scanner.stream(Side::Output);
            let mut rest = completion.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(16);
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                let (piece, tail) = rest.split_at(cut);
                black_box(stream.push(piece));
                rest = tail;
            }
            black_box(stream.finish().is_flagged())
        });
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
