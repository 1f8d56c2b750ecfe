//! Scores the univariate detector on a subset of NAB — the tool used to choose its
//! parameters on the `artificial*` series only (see `docs/anomaly.md`).
//!
//! `cargo run --release -p bulwark-detect --example nab_subset -- NAB_DIR PREFIX [name=value …]`
//! e.g. `… ../shared/data/nab artificial max_order=4`. The score is normalised within the
//! subset (its own null and perfect detectors).

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a developer's tool, not part of the library"
)]

use std::{collections::BTreeMap, fs, path::Path};

use bulwark_detect::{
    Params, Univariate,
    nab::{self, Benchmark, LabelledSeries, Windows},
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(&args[0]);
    let prefix = args.get(1).cloned().unwrap_or_default();
    let mut params = Params::FROZEN;
    for arg in args.iter().skip(2) {
        let (k, v) = arg.split_once('=').expect("name=value");
        let n = || v.parse::<usize>().unwrap();
        let f = || v.parse::<f64>().unwrap();
        match k {
            "grid_warmup" => params.grid_warmup = n(),
            "levels" => params.levels = v.parse().unwrap(),
            "max_levels" => params.max_levels = v.parse().unwrap(),
            "max_order" => params.max_order = n(),
            "slots" => params.slots = n(),
            "season_orders" => params.season_orders = n(),
            "history" => params.history = n(),
            "extreme_tolerance" => params.extreme_tolerance = f(),
            "extreme_score" => params.extreme_score = f(),
            "short_window" => params.short_window = n(),
            "likelihood_skip" => params.likelihood_skip = n(),
            "likelihood_min_samples" => params.likelihood_min_samples = n(),
            "likelihood_horizon" => params.likelihood_horizon = n(),
            other => panic!("unknown parameter `{other}`"),
        }
    }
    let all =
        nab::parse_windows(&fs::read_to_string(dir.join("labels/combined_windows.json")).unwrap())
            .unwrap();
    let profiles =
        nab::parse_profiles(&fs::read_to_string(dir.join("config/profiles.json")).unwrap())
            .unwrap();
    let chosen: BTreeMap<String, Vec<_>> = all
        .series()
        .filter(|s| s.starts_with(&prefix))
        .map(|s| (s.to_owned(), all.get(s).unwrap().to_vec()))
        .collect();
    let windows = Windows::new(chosen);
    let series: Vec<LabelledSeries> = windows
        .series()
        .map(|name| {
            let points =
                nab::parse_data_csv(&fs::read_to_string(dir.join("data").join(name)).unwrap())
                    .unwrap();
            let scores = nab::run_detector(&mut Univariate::new(params), &points);
            if std::env::var("DEBUG").is_ok_and(|d| name.contains(&d)) {
                let mut d = Univariate::new(params);
                for (i, p) in points.iter().enumerate() {
                    let a = bulwark_detect::Detector::observe(
                        &mut d,
                        bulwark_detect::Point {
                            time: p.timestamp,
                            value: p.value,
                        },
                    );
                    let e = a.explanation;
                    if i % 24 == 0 || a.score > 0.3 || std::env::var("ALL").is_ok() {
                        println!(
                            "{i:5} {} {:8.2} score {:.3} nov {:.3} tail {:.2e} ext {}",
                            bulwark_detect::format_nab_time(p.timestamp),
                            p.value,
                            a.score,
                            e.novelty,
                            e.tail_probability,
                            e.new_extreme
                        );
                    }
                }
            }
            let times: Vec<_> = points.iter().map(|p| p.timestamp).collect();
            LabelledSeries::new(name, &times, &scores, windows.get(name).unwrap()).unwrap()
        })
        .collect();
    let benchmark = Benchmark::new(series, windows.count());
    for profile in &profiles {
        let result = benchmark.evaluate(profile, None);
        println!(
            "{:>18} {:7.2}  threshold {:.4}  tp {} fp {}",
            profile.name, result.normalised, result.threshold, result.counts.tp, result.counts.fp
        );
        if profile.name == "standard" {
            let (rows, _) = benchmark.score_at(&profile.costs, result.threshold);
            for row in rows {
                println!(
                    "    {:>50} {:7.3}  fp {}",
                    row.name, row.score, row.counts.fp
                );
            }
        }
    }
}
