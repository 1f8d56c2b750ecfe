//! The univariate detector through the `Detector` trait.

use bulwark_detect::{Detector, Params, Point, Univariate};

pub(crate) const FIVE_MINUTES: i64 = 300_000_000;

/// A deterministic "noisy" daily cycle: a linear congruential generator, no randomness.
pub(crate) fn series(n: usize) -> Vec<Point> {
    let mut state: u64 = 42;
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let noise = (state >> 33) as f64 / f64::from(u32::MAX) - 0.5;
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            Point {
                time: i as i64 * FIVE_MINUTES,
                value: 50.0 + 20.0 * phase.sin() + 4.0 * noise,
            }
        })
        .collect()
}

/// The scores of a fresh `detector` over `points`.
pub(crate) fn scores_of(mut detector: impl Detector, points: &[Point]) -> Vec<f64> {
    points.iter().map(|p| detector.observe(*p).score).collect()
}

fn run(points: &[Point]) -> Vec<f64> {
    scores_of(Univariate::default(), points)
}

#[test]
fn the_same_points_give_the_same_scores() {
    let points = series(3000);
    assert_eq!(run(&points), run(&points));
}

#[test]
fn scores_are_in_the_unit_interval_and_a_clean_cycle_stays_quiet() {
    let points = series(4000);
    let scores = run(&points);
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let late_alarms = scores.iter().skip(2000).filter(|s| **s >= 0.5).count();
    assert!(late_alarms <= 2, "{late_alarms} alarms on a learnt cycle");
}

#[test]
fn a_level_shift_is_flagged_quickly_and_explained() {
    let mut points = series(4000);
    for p in points.iter_mut().skip(3000) {
        p.value += 60.0;
    }
    let mut d = Univariate::default();
    let mut first = None;
    for (i, p) in points.iter().enumerate() {
        let a = d.observe(*p);
        if i >= 3000 && a.score >= 0.5 && first.is_none() {
            first = Some((i, a));
        }
    }
    let (at, anomaly) = first.expect("the shift is flagged");
    assert!(at < 3010, "flagged only at {at}");
    let e = anomaly.explanation;
    assert_eq!(e.observed, points[at].value);
    assert!(e.observed - e.expected > 40.0, "{e:?}");
    assert!(e.deviation > 3.0, "{e:?}");
    assert!(!e.learning);
}

#[test]
fn nothing_is_flagged_while_learning_and_non_finite_values_do_not_panic() {
    let mut d = Univariate::default();
    for i in 0..50 {
        let a = d.observe(Point {
            time: i * FIVE_MINUTES,
            value: 1.0,
        });
        assert!(a.explanation.learning);
        assert_eq!(a.score, 0.0);
    }
    for v in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300, -1e300, 0.0] {
        let a = d.observe(Point { time: 0, value: v });
        assert!(!a.score.is_nan() || v.is_nan());
    }
}

#[test]
fn state_is_bounded_whatever_the_series_length() {
    let mut d = Univariate::new(Params::FROZEN);
    let points = series(20_000);
    for p in &points[..1000] {
        d.observe(*p);
    }
    let early = d.state_bytes();
    for p in &points[1000..] {
        d.observe(*p);
    }
    assert_eq!(d.state_bytes(), early);
    assert!(early < 32 * 1024, "{early} bytes");
}
