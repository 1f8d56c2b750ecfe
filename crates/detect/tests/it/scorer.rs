//! The scorer on a tiny hand-made corpus (`tests/fixtures/nab_tiny`), whose scores were
//! worked out by hand from NAB's rules: runs everywhere, no dataset needed.
//!
//! Series `synth/a.csv`, 20 points, probation ⌊0.15·20⌋ = 3, one window over points 8–11
//! (width 4); detections at 9 (score 0.9), 15 (0.8) and 5 (0.7). Series `synth/b.csv`,
//! no window; 0.95 at point 10, 1.0 at point 1 (probationary, never counted).
//!
//! * point 9: σ̃(−(11 − 9 + 1)/4) / σ̃(−1) = 0.954046/0.986614 = 0.966989 (× tpWeight)
//! * point 15: 4 points past the window of width 4: σ̃(4/3) = −0.997458 (× fpWeight)
//! * points 5 (a) and 10 (b): no preceding window: −1 (× fpWeight)

use std::{fs, path::Path};

use bulwark_detect::nab::{
    self, Benchmark, LabelledSeries, Place, Profile, probationary_length, scaled_sigmoid,
};

const TP9: f64 = 0.966_989_087_800_060_5;
const FP15: f64 = -0.997_457_967_473_837_3;

fn fixture() -> (Benchmark, Vec<Profile>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nab_tiny");
    let read = |p: &str| fs::read_to_string(dir.join(p)).unwrap();
    let windows = nab::parse_windows(&read("labels/combined_windows.json")).unwrap();
    let profiles = nab::parse_profiles(&read("config/profiles.json")).unwrap();
    let series = windows
        .series()
        .map(|name| {
            let file = name.strip_prefix("synth/").unwrap();
            let results =
                nab::parse_results_csv(&read(&format!("results/tiny/synth/tiny_{file}"))).unwrap();
            LabelledSeries::new(
                name,
                &results.timestamps,
                &results.anomaly_scores,
                windows.get(name).unwrap(),
            )
            .unwrap()
        })
        .collect();
    (Benchmark::new(series, windows.count()), profiles)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn the_sigmoid_and_the_probationary_period_follow_nab() {
    assert!(close(scaled_sigmoid(-1.0), 0.986_614_298_151_430_3));
    assert!(close(scaled_sigmoid(0.0), 0.0));
    assert!(close(scaled_sigmoid(-0.5), 0.848_283_639_957_512_9));
    assert_eq!(scaled_sigmoid(3.01), -1.0);
    assert_eq!(probationary_length(20), 3);
    assert_eq!(probationary_length(4032), 604);
    assert_eq!(probationary_length(22_695), 750);
}

#[test]
fn profiles_come_in_scoreboard_order() {
    let (_, profiles) = fixture();
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
    );
    assert!(close(profiles[1].costs.fp_weight, 0.22));
    assert!(close(profiles[2].costs.fn_weight, 2.0));
}

#[test]
fn points_are_placed_relative_to_windows_and_probation() {
    let (benchmark, _) = fixture();
    let a = &benchmark.series()[0];
    assert_eq!(a.name(), "synth/a.csv");
    let places: Vec<Place> = a.places().collect();
    assert_eq!(places[2], Place::Probation);
    assert_eq!(places[3], Place::Outside);
    assert_eq!(places[8], Place::Window(0));
    assert_eq!(places[11], Place::Window(0));
    assert_eq!(places[12], Place::Outside);
    let labels: Vec<bool> = a.labels().collect();
    assert_eq!(labels.iter().filter(|l| **l).count(), 4);
}

#[test]
fn earliest_detection_and_weighted_false_positives_give_the_hand_computed_score() {
    let (benchmark, profiles) = fixture();
    let standard = &profiles[0].costs;
    let (rows, total) = benchmark.score_at(standard, 0.75);
    assert!(close(rows[0].score, TP9 + 0.11 * FP15), "{}", rows[0].score);
    assert!(close(rows[1].score, -0.11), "{}", rows[1].score);
    assert!(
        close(total.score, 0.747_268_711_377_938_5),
        "{}",
        total.score
    );
    assert_eq!((total.counts.tp, total.counts.fp), (1, 2));
    assert_eq!(total.counts.fn_, 3, "three undetected window points");
    assert_eq!(
        total.counts.tp + total.counts.tn + total.counts.fp + total.counts.fn_,
        34
    );

    // A second, later detection in the window changes nothing; only the earliest counts.
    let low_fn = &profiles[2].costs;
    let (rows, _) = benchmark.score_at(low_fn, 0.0);
    let every_point = rows[0].score;
    // At threshold 0 everything is a detection: the window is worth its left edge (1.0),
    // and every post-probation point outside it is a false positive.
    assert!(every_point < 1.0);
}

#[test]
fn the_sweep_lists_every_threshold_and_the_optimum_is_its_best_row() {
    let (benchmark, profiles) = fixture();
    let expected = [
        (
            "standard",
            [
                -1.0,
                -1.11,
                0.856_989_087_800_060_6,
                0.747_268_711_377_938_5,
                0.637_268_711_377_938_5,
            ],
        ),
        (
            "reward_low_FP_rate",
            [
                -1.0,
                -1.22,
                0.746_989_087_800_060_6,
                0.527_548_334_955_816_3,
                0.307_548_334_955_816_35,
            ],
        ),
        (
            "reward_low_FN_rate",
            [
                -2.0,
                -2.11,
                0.856_989_087_800_060_6,
                0.747_268_711_377_938_5,
                0.637_268_711_377_938_5,
            ],
        ),
    ];
    for (profile, (name, scores)) in profiles.iter().zip(expected) {
        assert_eq!(profile.name, name);
        let rows = benchmark.sweep(&profile.costs);
        let thresholds: Vec<f64> = rows.iter().map(|r| r.threshold).collect();
        assert_eq!(thresholds, [1.1, 0.95, 0.9, 0.8, 0.7, 0.0], "{name}");
        for (row, want) in rows.iter().zip(scores) {
            assert!(
                close(row.score, want),
                "{name} at {}: {} != {want}",
                row.threshold,
                row.score
            );
        }
        let best = benchmark.optimise(&profile.costs);
        assert_eq!(best.threshold, 0.9, "{name}");
        assert!(close(best.score, scores[2]));

        // Normalised: null misses the one window (−fnWeight), perfect is one tpWeight.
        let result = benchmark.evaluate(profile, None);
        let fn_weight = -scores[0];
        assert!(close(result.null, -fn_weight));
        assert!(close(result.perfect, 1.0));
        let want = 100.0 * (scores[2] + fn_weight) / (1.0 + fn_weight);
        assert!(
            close(result.normalised, want),
            "{name}: {} != {want}",
            result.normalised
        );
    }
    // The standard profile, by hand: 100 × (0.856989 + 1)/2.
    let standard = benchmark.evaluate(&profiles[0], None);
    assert_eq!(format!("{:.3}", standard.normalised), "92.849");
    // A given threshold between two scores behaves as the next score above it.
    let at = benchmark.evaluate(&profiles[0], Some(0.85));
    assert!(close(at.raw, 0.856_989_087_800_060_6));
}

#[test]
fn misaligned_windows_and_mismatched_lengths_are_errors() {
    let t = [0, 300_000_000, 600_000_000];
    let err = LabelledSeries::new("x.csv", &t, &[0.0; 3], &[(1, 600_000_000)]).unwrap_err();
    assert!(
        err.to_string().contains("not a timestamp of `x.csv`"),
        "{err}"
    );
    let err = LabelledSeries::new("x.csv", &t, &[0.0; 2], &[]).unwrap_err();
    assert!(
        err.to_string().contains("3 timestamps but 2 scores"),
        "{err}"
    );
    let err = LabelledSeries::new("x.csv", &t, &[0.0, f64::NAN, 0.0], &[]).unwrap_err();
    assert!(err.to_string().contains("not a number"), "{err}");
    let err = nab::parse_data_csv("timestamp,value\n2014-01-01 00:00:00,abc\n").unwrap_err();
    assert!(err.to_string().starts_with("line 2:"), "{err}");
}

#[test]
fn results_files_round_trip() {
    let times =
        [nab::parse_data_csv("timestamp,value\n2014-01-01 00:05:00,1.5\n").unwrap()[0].timestamp];
    let text = nab::results_csv(&times, &[1.5], &[0.25], [true]);
    assert_eq!(
        text,
        "timestamp,value,anomaly_score,label\n2014-01-01 00:05:00,1.5,0.25,1\n"
    );
    let back = nab::parse_results_csv(&text).unwrap();
    assert_eq!(back.anomaly_scores, [0.25]);
}
