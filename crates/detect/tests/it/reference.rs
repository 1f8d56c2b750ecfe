//! The scorer against NAB's published results: fed the full outputs of the `numenta` and
//! `windowedGaussian` detectors, it must give the scoreboard's numbers. Needs the NAB data
//! (`$NAB_DATA_DIR`, else `../shared/data/nab` beside the repository); skipped with a
//! message when it is absent, as in a fresh clone.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use bulwark_detect::nab::{self, Benchmark, LabelledSeries, Profile, Windows};

fn nab_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NAB_DATA_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nab"),
        PathBuf::from,
    );
    if dir.join("labels/combined_windows.json").is_file() {
        Some(dir)
    } else {
        println!(
            "skipped: NAB data not found at {} (set NAB_DATA_DIR to the NAB folder)",
            dir.display()
        );
        None
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Nab {
    dir: PathBuf,
    windows: Windows,
    profiles: Vec<Profile>,
    thresholds: BTreeMap<String, BTreeMap<String, f64>>,
    scoreboard: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Nab {
    fn load(dir: PathBuf) -> Self {
        Self {
            windows: nab::parse_windows(&read(&dir.join("labels/combined_windows.json"))).unwrap(),
            profiles: nab::parse_profiles(&read(&dir.join("config/profiles.json"))).unwrap(),
            thresholds: nab::parse_thresholds(&read(&dir.join("config/thresholds.json"))).unwrap(),
            scoreboard: nab::parse_scoreboard(&read(&dir.join("results/final_results.json")))
                .unwrap(),
            dir,
        }
    }

    fn benchmark(&self, detector: &str) -> Benchmark {
        let series = self
            .windows
            .series()
            .map(|name| {
                let (category, file) = name.split_once('/').unwrap();
                let path = self
                    .dir
                    .join("results")
                    .join(detector)
                    .join(category)
                    .join(format!("{detector}_{file}"));
                let results = nab::parse_results_csv(&read(&path)).unwrap();
                LabelledSeries::new(
                    name,
                    &results.timestamps,
                    &results.anomaly_scores,
                    self.windows.get(name).unwrap(),
                )
                .unwrap()
            })
            .collect();
        Benchmark::new(series, self.windows.count())
    }
}

/// Per-file rows of `<detector>_<profile>_scores.csv`: file → (score, tp, tn, fp, fn).
fn published_rows(path: &Path) -> BTreeMap<String, (f64, usize, usize, usize, usize)> {
    read(path)
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("Totals"))
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let n = |i: usize| f[i].parse::<usize>().unwrap();
            (
                f[2].to_owned(),
                (f[4].parse().unwrap(), n(5), n(6), n(7), n(8)),
            )
        })
        .collect()
}

#[test]
fn the_scorer_reproduces_the_published_scores_of_numenta_and_windowed_gaussian() {
    let Some(dir) = nab_dir() else { return };
    let nab = Nab::load(dir);
    assert_eq!(nab.windows.series().count(), 58);
    assert_eq!(nab.windows.count(), 116);
    for detector in ["numenta", "windowedGaussian"] {
        let benchmark = nab.benchmark(detector);
        for profile in &nab.profiles {
            let threshold = nab.thresholds[detector][&profile.name];
            let ours = benchmark.evaluate(profile, Some(threshold));
            let published = nab.scoreboard[detector][&profile.name];
            println!(
                "{detector:>16} {:>18}: ours {:.6} published {published:.6}",
                profile.name, ours.normalised
            );
            assert!(
                (ours.normalised - published).abs() < 1e-9,
                "{detector} {}: {} != {published}",
                profile.name,
                ours.normalised
            );
            // The scoreboard prints one decimal: 70.1 and 39.6 on the standard profile.
            if profile.name == "standard" {
                let expected = if detector == "numenta" {
                    "70.1"
                } else {
                    "39.6"
                };
                assert_eq!(format!("{:.1}", ours.normalised), expected);
            }

            // Every file's row of the published score table.
            let rows = published_rows(
                &nab.dir
                    .join("results")
                    .join(detector)
                    .join(format!("{detector}_{}_scores.csv", profile.name)),
            );
            let (ours_rows, _) = benchmark.score_at(&profile.costs, threshold);
            assert_eq!(ours_rows.len(), rows.len());
            for row in &ours_rows {
                let (score, tp, tn, fp, fn_) = rows[row.name.as_str()];
                assert!(
                    (row.score - score).abs() < 1e-9,
                    "{detector} {} {}: {} != {score}",
                    profile.name,
                    row.name,
                    row.score
                );
                assert_eq!(
                    (row.counts.tp, row.counts.tn, row.counts.fp, row.counts.fn_),
                    (tp, tn, fp, fn_),
                    "{detector} {} {}",
                    profile.name,
                    row.name
                );
            }

            // NAB v1.1 sweeps every threshold: never worse than the published threshold.
            let best = benchmark.evaluate(profile, None);
            println!(
                "{detector:>16} {:>18}: swept optimum {:.6} at {}",
                profile.name, best.normalised, best.threshold
            );
            assert!(best.normalised >= ours.normalised - 1e-9);
        }
    }
}
