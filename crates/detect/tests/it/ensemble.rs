//! The ensemble detector through the `Detector` trait: spikes and broken cycles are
//! flagged once and explained, a learnt cycle stays quiet, state is bounded.

use bulwark_detect::{Detector, Ensemble, EnsembleParams, Point};

use crate::detector::{FIVE_MINUTES, scores_of, series};

fn scores(points: &[Point]) -> Vec<f64> {
    scores_of(Ensemble::default(), points)
}

#[test]
fn replays_are_identical_and_scores_stay_in_the_unit_interval() {
    let points = series(5000);
    let first = scores(&points);
    assert_eq!(first, scores(&points));
    assert!(first.iter().all(|s| (0.0..=1.0).contains(s)));
}

#[test]
fn a_learnt_cycle_stays_quiet() {
    let scores = scores(&series(8000));
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let late_alarms = scores.iter().skip(3000).filter(|s| **s >= 0.5).count();
    assert!(late_alarms <= 2, "{late_alarms} alarms on a learnt cycle");
}

#[test]
fn a_spike_is_flagged_at_once_and_explained() {
    let mut points = series(6000);
    points[5000].value += 100.0;
    let mut d = Ensemble::default();
    let answers: Vec<_> = points.iter().map(|p| d.observe(*p)).collect();
    let spike = answers[5000];
    assert!(spike.score >= 0.5, "{spike:?}");
    let e = spike.explanation;
    assert_eq!(e.observed, points[5000].value);
    assert!(e.observed - e.expected > 80.0, "{e:?}");
    assert!(e.deviation > 3.0, "{e:?}");
    assert!(!e.learning);
}

#[test]
fn a_flattened_day_is_caught_by_the_coarse_channel() {
    // A day of the cycle replaced by its mean: no single point is unusual, the shape is.
    let mut points = series(8000);
    for p in points.iter_mut().skip(6000).take(288) {
        p.value = 50.0;
    }
    let s = scores(&points);
    let caught = s.iter().skip(6000).take(288).position(|s| *s >= 0.5);
    assert!(caught.is_some(), "the flattened day is missed");
    let fine_only = {
        let mut d = Ensemble::new(EnsembleParams {
            blocks: [0, 0],
            ..EnsembleParams::FROZEN
        });
        points
            .iter()
            .map(|p| d.observe(*p).score)
            .collect::<Vec<_>>()
    };
    let fine_caught = fine_only
        .iter()
        .skip(6000)
        .take(288)
        .position(|s| *s >= 0.5);
    assert!(
        fine_caught.is_none_or(|f| caught.is_some_and(|c| c <= f)),
        "the coarse channel should not be later than the fine one"
    );
}

#[test]
fn after_a_report_the_detector_rests() {
    let mut points = series(6000);
    points[5000].value += 100.0;
    points[5010].value += 100.0;
    let s = scores(&points);
    assert!(s[5000] >= 0.5);
    let params = EnsembleParams::FROZEN;
    assert!(s[5010] <= params.damp, "{}", s[5010]);
    assert!(
        s.iter()
            .skip(5001)
            .take(params.rest)
            .all(|s| *s < params.report),
        "a report inside the rest period"
    );
}

#[test]
fn state_is_bounded_whatever_the_series_length() {
    let mut d = Ensemble::default();
    let points = series(30_000);
    for p in &points[..2000] {
        d.observe(*p);
    }
    let early = d.state_bytes();
    for p in &points[2000..] {
        d.observe(*p);
    }
    assert_eq!(d.state_bytes(), early);
    assert!(early < 64 * 1024, "{early} bytes");
    for v in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300, -1e300] {
        let a = d.observe(Point {
            time: 30_000 * FIVE_MINUTES,
            value: v,
        });
        assert!(!a.score.is_nan() || v.is_nan());
    }
}
