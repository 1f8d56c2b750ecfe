//! Throughput of the univariate detector (points per second on one core), on a
//! deterministic noisy daily cycle with a level shift, as in NAB's 5-minute series.

#![allow(missing_docs, reason = "criterion's macros")]

use std::hint::black_box;

use bulwark_detect::{Detector, Point, Univariate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn series(n: usize) -> Vec<Point> {
    let mut state: u64 = 7;
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            #[allow(clippy::cast_precision_loss, reason = "synthetic data")]
            let noise = (state >> 33) as f64 / f64::from(u32::MAX) - 0.5;
            #[allow(clippy::cast_precision_loss, reason = "synthetic data")]
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            let shift = if i > n / 2 { 30.0 } else { 0.0 };
            Point {
                time: i64::try_from(i).unwrap_or(i64::MAX) * 300_000_000,
                value: 50.0 + 20.0 * phase.sin() + 5.0 * noise + shift,
            }
        })
        .collect()
}

fn throughput(c: &mut Criterion) {
    let points = series(20_000);
    let mut group = c.benchmark_group("univariate");
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("observe_20k_points", |b| {
        b.iter(|| {
            let mut detector = Univariate::default();
            let mut sum = 0.0;
            for p in &points {
                sum += detector.observe(black_box(*p)).score;
            }
            black_box(sum)
        });
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
