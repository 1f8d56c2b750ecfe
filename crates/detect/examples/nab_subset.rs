//! Scores a detector on a subset of NAB — the tool used to choose parameters on the
//! tuning subset only (see `docs/anomaly.md`).
//!
//! `cargo run --release -p bulwark-detect --example nab_subset -- NAB_DIR PREFIXES [name=value …]`
//! e.g. `… ../shared/data/nab artificial,realAWSCloudwatch max_order=4`. PREFIXES is a
//! comma-separated list of series-name prefixes (empty: every series). The score is
//! normalised within the subset (its own null and perfect detectors); a line per category
//! gives its raw standard score, windows caught and false positives. `detector=univariate`
//! runs the first detector instead of the ensemble; `name=value` sets a parameter of the
//! fine channel (or of `Univariate`), `c.name=value` one of the coarse channel. `VERBOSE=1`
//! prints every series and the first detection in each window; `DEBUG=NAME` traces the
//! series whose name contains NAME.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    reason = "a developer's tool, not part of the library"
)]

use std::{collections::BTreeMap, fs, path::Path};

use bulwark_detect::{
    Anomaly, Combine, Detector, Ensemble, EnsembleParams, Point, Univariate,
    nab::{self, Benchmark, LabelledSeries, Place, Windows},
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(&args[0]);
    let prefixes: Vec<String> = args
        .get(1)
        .cloned()
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut ensemble = EnsembleParams::FROZEN;
    let mut detector = String::from("ensemble");
    for arg in args.iter().skip(2) {
        let (k, v) = arg.split_once('=').expect("name=value");
        let (params, k) = match k.strip_prefix("c.") {
            Some(k) => (&mut ensemble.coarse, k),
            None => (&mut ensemble.fine, k),
        };
        let n = || v.parse::<usize>().unwrap();
        let f = || v.parse::<f64>().unwrap();
        match k {
            "detector" => detector = v.to_owned(),
            "rest" => ensemble.rest = n(),
            "report" => ensemble.report = f(),
            "damp" => ensemble.damp = f(),
            "rest_minutes" => ensemble.rest_time = v.parse::<i64>().unwrap() * 60_000_000,
            "coarse_penalty" => ensemble.coarse_penalty = f(),
            "combine" => {
                ensemble.combine = match v {
                    "larger" => Combine::Larger,
                    "bonferroni" => Combine::Bonferroni,
                    other => panic!("unknown combination `{other}`"),
                }
            }
            "block" => ensemble.blocks[0] = n(),
            "block2" => ensemble.blocks[1] = n(),
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
    let make = || -> Box<dyn Detector> {
        match detector.as_str() {
            "univariate" => Box::new(Univariate::new(ensemble.fine)),
            "ensemble" => Box::new(Ensemble::new(ensemble)),
            other => panic!("unknown detector `{other}`"),
        }
    };
    let all =
        nab::parse_windows(&fs::read_to_string(dir.join("labels/combined_windows.json")).unwrap())
            .unwrap();
    let profiles =
        nab::parse_profiles(&fs::read_to_string(dir.join("config/profiles.json")).unwrap())
            .unwrap();
    let chosen: BTreeMap<String, Vec<_>> = all
        .series()
        .filter(|s| prefixes.iter().any(|p| s.starts_with(p.as_str())))
        .map(|s| (s.to_owned(), all.get(s).unwrap().to_vec()))
        .collect();
    let windows = Windows::new(chosen);
    let debug = std::env::var("DEBUG").ok();
    let series: Vec<LabelledSeries> = windows
        .series()
        .map(|name| {
            let points =
                nab::parse_data_csv(&fs::read_to_string(dir.join("data").join(name)).unwrap())
                    .unwrap();
            let mut d = make();
            let trace = debug.as_ref().is_some_and(|d| name.contains(d.as_str()));
            let scores: Vec<f64> = points
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let a = d.observe(Point {
                        time: p.timestamp,
                        value: p.value,
                    });
                    if trace {
                        print_point(i, p.timestamp, &a);
                    }
                    a.score
                })
                .collect();
            let times: Vec<_> = points.iter().map(|p| p.timestamp).collect();
            LabelledSeries::new(name, &times, &scores, windows.get(name).unwrap()).unwrap()
        })
        .collect();
    let benchmark = Benchmark::new(series, windows.count());
    let verbose = std::env::var("VERBOSE").is_ok();
    for profile in &profiles {
        let result = benchmark.evaluate(profile, None);
        println!(
            "{:>18} {:7.2}  threshold {:.4}  tp {} fp {}",
            profile.name, result.normalised, result.threshold, result.counts.tp, result.counts.fp
        );
        if profile.name != "standard" {
            continue;
        }
        let (rows, _) = benchmark.score_at(&profile.costs, result.threshold);
        // category → (score, windows caught, windows, false positives)
        let mut categories: BTreeMap<&str, (f64, usize, usize, usize)> = BTreeMap::new();
        for (row, s) in rows.iter().zip(benchmark.series()) {
            let category = row.name.split('/').next().unwrap_or_default();
            let entry = categories.entry(category).or_default();
            entry.0 += row.score;
            entry.3 += row.counts.fp;
            let mut caught: BTreeMap<usize, Option<usize>> = BTreeMap::new();
            let mut starts: BTreeMap<usize, usize> = BTreeMap::new();
            for (i, (place, score)) in s.places().zip(s.anomaly_scores()).enumerate() {
                if let Place::Window(w) = place {
                    starts.entry(w).or_insert(i);
                    let slot = caught.entry(w).or_insert(None);
                    if slot.is_none() && score >= result.threshold {
                        *slot = Some(i - starts[&w]);
                    }
                }
            }
            entry.1 += caught.values().filter(|c| c.is_some()).count();
            entry.2 += caught.len();
            if verbose {
                println!(
                    "    {:>56} {:7.3}  fp {:2}  windows {:?}",
                    row.name,
                    row.score,
                    row.counts.fp,
                    caught.values().collect::<Vec<_>>()
                );
            }
        }
        for (category, (score, hit, total, fp)) in &categories {
            println!("    {category:>24} {score:8.3}  windows {hit:3}/{total:3}  fp {fp:4}");
        }
    }
}

fn print_point(i: usize, time: i64, a: &Anomaly) {
    let e = a.explanation;
    if i.is_multiple_of(24) || a.score > 0.3 || std::env::var("ALL").is_ok() {
        println!(
            "{i:5} {} {:10.3} exp {:10.3} dev {:6.2} score {:.3} nov {:.3} tail {:.2e} ext {}",
            bulwark_detect::format_nab_time(time),
            e.observed,
            e.expected,
            e.deviation,
            a.score,
            e.novelty,
            e.tail_probability,
            e.new_extreme
        );
    }
}
