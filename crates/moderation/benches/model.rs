//! Throughput of the model alone (`start`, `feed`, `scores`) on folded English-like text
//! at 100 B, 1 KiB, 16 KiB and 1 MiB, whole and fed in 64-byte pieces as a stream is, and
//! normaliser + model at 1 KiB (the per-prompt budget: ≤ 50 µs).
//!
//! `cargo bench -p bulwark-moderation --bench model`

use std::hint::black_box;

use bulwark_moderation::{Model, Normalizer, Scratch};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const WORDS: &str = "the of and to in a is that for it as was with be by on not he this are or
    his from at which but have an had they you were their one all we can her has there been if
    more when will would who so no report system network customer quarterly meeting summary
    please write explain security password account invoice schedule department analysis
    recommendation implementation performance between through because";

/// `len` bytes of lowercase English-like words (already folded), deterministic.
fn text(len: usize) -> String {
    let words: Vec<&str> = WORDS.split_ascii_whitespace().collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(
            words
                .get((x % words.len() as u64) as usize)
                .copied()
                .unwrap_or("the"),
        );
        out.push(if x.is_multiple_of(11) { '\n' } else { ' ' });
    }
    out.truncate(len);
    out
}

fn bench(c: &mut Criterion) {
    let model = Model::builtin();
    let mut group = c.benchmark_group("model");
    for (label, len) in [
        ("100B", 100),
        ("1KiB", 1024),
        ("16KiB", 16 << 10),
        ("1MiB", 1 << 20),
    ] {
        let input = text(len);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("whole", label), &input, |b, input| {
            b.iter(|| {
                let mut state = model.start();
                model.feed(&mut state, black_box(input));
                black_box(model.scores(&state))
            });
        });
        // As a stream: 64-byte pieces cut at whitespace, scored after each.
        let pieces: Vec<&str> = input.split_inclusive(' ').collect();
        group.bench_with_input(BenchmarkId::new("stream", label), &pieces, |b, pieces| {
            b.iter(|| {
                let mut state = model.start();
                let mut fed = 0;
                for piece in pieces {
                    model.feed(&mut state, piece);
                    fed += piece.len();
                    if fed >= 64 {
                        fed = 0;
                        black_box(model.scores(&state));
                    }
                }
                black_box(model.scores(&state))
            });
        });
    }
    let input = text(1024);
    let normalizer = Normalizer::new();
    let mut scratch = Scratch::new();
    group.throughput(Throughput::Bytes(1024));
    group.bench_function("normalize+model/1KiB", |b| {
        b.iter(|| {
            let normalized = normalizer.normalize(black_box(&input), &mut scratch);
            let mut state = model.start();
            model.feed(&mut state, normalized.folded());
            black_box(model.scores(&state))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
