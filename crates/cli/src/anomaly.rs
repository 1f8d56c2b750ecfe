//! `bulwark anomaly nab`: our detectors on the Numenta Anomaly Benchmark.
//!
//! Runs the detector with its frozen parameters over every series NAB labels, writes
//! NAB-format result files (`OUT/<detector>/<category>/<detector>_<name>.csv`), scores them
//! with the Rust re-implementation of NAB's scorer (threshold swept per profile, scores
//! normalised against the null and perfect detectors), prints the three profile scores
//! beside NAB's published scoreboard and writes them to `OUT/<detector>_scores.json`.
//!
//! `--detector` picks ours: `bulwark` (the default, [`Ensemble`]) or `univariate` (the
//! first detector, [`Univariate`], kept for comparison). Any other name scores the
//! published results of that NAB detector instead (`DATA/results/NAME/…`), which is how
//! the scorer is checked from the command line.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, bail};
use bulwark_detect::{
    Detector, Ensemble, EnsembleParams, Params, Univariate,
    nab::{self, Benchmark, LabelledSeries},
};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::output::{self, Table};

/// Our best detector's name in result files and reports (the [`Ensemble`]).
const OURS: &str = "bulwark";
/// Our first detector's name (the [`Univariate`] alone).
const FIRST: &str = "univariate";

/// Runs one of our detectors, named as on the command line, over a series.
fn run_ours(name: &str, points: &[nab::DataPoint]) -> Option<(Vec<f64>, usize)> {
    fn go(mut d: impl Detector, points: &[nab::DataPoint]) -> (Vec<f64>, usize) {
        let scores = nab::run_detector(&mut d, points);
        (scores, d.state_bytes())
    }
    match name {
        OURS => Some(go(Ensemble::new(EnsembleParams::FROZEN), points)),
        FIRST => Some(go(Univariate::new(Params::FROZEN), points)),
        _ => None,
    }
}

#[derive(Debug, Args)]
pub(crate) struct AnomalyCmd {
    #[command(subcommand)]
    pub(crate) action: AnomalyAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AnomalyAction {
    /// Run our detector over the Numenta Anomaly Benchmark and score it.
    Nab(NabArgs),
}

#[derive(Debug, Args)]
pub(crate) struct NabArgs {
    /// The NAB folder (with `data/`, `labels/`, `config/`, `results/`)
    #[arg(long, value_name = "DIR")]
    pub(crate) data: PathBuf,
    /// Where result files and scores are written
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// `bulwark` runs our best detector (two time scales, reported at onset),
    /// `univariate` our first one; the name of a NAB detector with published per-series
    /// results (`numenta`, `windowedGaussian`) scores those instead
    #[arg(long, value_name = "NAME", default_value = OURS)]
    pub(crate) detector: String,
}

pub(crate) fn run(cmd: AnomalyCmd) -> anyhow::Result<()> {
    match cmd.action {
        AnomalyAction::Nab(args) => nab_run(&args),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

fn nab_run(args: &NabArgs) -> anyhow::Result<()> {
    let dir = &args.data;
    let labels = dir.join("labels/combined_windows.json");
    if !labels.is_file() {
        bail!(
            "NAB data not found at `{}` (expected `labels/combined_windows.json`, `config/` and `data/` there)",
            dir.display()
        );
    }
    let windows = nab::parse_windows(&read(&labels)?).context("labels/combined_windows.json")?;
    let profiles = nab::parse_profiles(&read(&dir.join("config/profiles.json"))?)
        .context("config/profiles.json")?;
    let board_path = dir.join("results/final_results.json");
    let scoreboard = if board_path.is_file() {
        nab::parse_scoreboard(&read(&board_path)?).context("results/final_results.json")?
    } else {
        Default::default()
    };
    let detector = args.detector.as_str();
    let ours = detector == OURS || detector == FIRST;
    if !ours && !dir.join("results").join(detector).is_dir() {
        bail!(
            "unknown detector `{detector}`: `{OURS}` and `{FIRST}` run ours; other names need published results in `{}`",
            dir.join("results").join(detector).display()
        );
    }

    let started = Instant::now();
    let mut detector_time = std::time::Duration::ZERO;
    let mut points_total = 0_usize;
    let mut state_bytes = 0_usize;
    let mut series = Vec::new();
    for name in windows.series() {
        let (category, file) = name
            .split_once('/')
            .with_context(|| format!("series `{name}` is not `category/file.csv`"))?;
        let result_name = format!("{detector}_{file}");
        let (timestamps, values, scores) = if ours {
            let path = dir.join("data").join(name);
            let points = nab::parse_data_csv(&read(&path)?)
                .with_context(|| format!("`{}`", path.display()))?;
            let t = Instant::now();
            let (scores, bytes) =
                run_ours(detector, &points).with_context(|| format!("no detector `{detector}`"))?;
            detector_time += t.elapsed();
            state_bytes = state_bytes.max(bytes);
            points_total += points.len();
            (
                points.iter().map(|p| p.timestamp).collect::<Vec<_>>(),
                points.iter().map(|p| p.value).collect::<Vec<_>>(),
                scores,
            )
        } else {
            let path = dir
                .join("results")
                .join(detector)
                .join(category)
                .join(&result_name);
            let results = nab::parse_results_csv(&read(&path)?)
                .with_context(|| format!("`{}`", path.display()))?;
            (results.timestamps, results.values, results.anomaly_scores)
        };
        let labelled = LabelledSeries::new(
            name,
            &timestamps,
            &scores,
            windows.get(name).unwrap_or_default(),
        )?;
        let out_dir = args.out.join(detector).join(category);
        fs::create_dir_all(&out_dir)
            .with_context(|| format!("cannot create `{}`", out_dir.display()))?;
        let out_path = out_dir.join(&result_name);
        fs::write(
            &out_path,
            nab::results_csv(&timestamps, &values, &scores, labelled.labels()),
        )
        .with_context(|| format!("cannot write `{}`", out_path.display()))?;
        series.push(labelled);
    }
    let benchmark = Benchmark::new(series, windows.count());

    let mut table = Table::new(&[
        "detector",
        "standard",
        "reward_low_FP_rate",
        "reward_low_FN_rate",
    ]);
    let mut ours_json = serde_json::Map::new();
    let mut cells = vec![format!("{detector} (this run)")];
    for profile in &profiles {
        let result = benchmark.evaluate(profile, None);
        cells.push(format!("{:.1}", result.normalised));
        ours_json.insert(
            profile.name.clone(),
            json!({
                "score": result.normalised,
                "threshold": result.threshold,
                "raw": result.raw,
                "null": result.null,
                "perfect": result.perfect,
                "tp": result.counts.tp,
                "fp": result.counts.fp,
                "fn": result.counts.fn_,
                "tn": result.counts.tn,
            }),
        );
        // NAB's per-file table for this profile, at the optimised threshold.
        let (rows, total) = benchmark.score_at(&profile.costs, result.threshold);
        let mut csv =
            String::from("Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count\n");
        for row in rows.iter() {
            let c = row.counts;
            csv.push_str(&format!(
                "{detector},{},{},{},{},{},{},{},{},{}\n",
                profile.name,
                row.name,
                result.threshold,
                row.score,
                c.tp,
                c.tn,
                c.fp,
                c.fn_,
                c.tp + c.tn + c.fp + c.fn_
            ));
        }
        let c = total.counts;
        csv.push_str(&format!(
            "Totals,,,,{},{},{},{},{},{}\n",
            total.score,
            c.tp,
            c.tn,
            c.fp,
            c.fn_,
            c.tp + c.tn + c.fp + c.fn_
        ));
        let path = args
            .out
            .join(detector)
            .join(format!("{detector}_{}_scores.csv", profile.name));
        fs::write(&path, csv).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    table.row(cells);
    let mut published: Vec<(&String, &std::collections::BTreeMap<String, f64>)> =
        scoreboard.iter().collect();
    published.sort_by(|a, b| {
        let s =
            |m: &std::collections::BTreeMap<String, f64>| m.get("standard").copied().unwrap_or(0.0);
        s(b.1).total_cmp(&s(a.1))
    });
    for (name, scores) in &published {
        let mut cells = vec![(*name).clone()];
        for profile in &profiles {
            cells.push(output::or_dash(
                scores.get(&profile.name).map(|s| format!("{s:.1}")),
            ));
        }
        table.row(cells);
    }
    let elapsed = started.elapsed();

    let report = json!({
        "detector": detector,
        "series": benchmark.series().len(),
        "points": points_total,
        "scores": ours_json,
        "seconds": elapsed.as_secs_f64(),
        "detector_seconds": detector_time.as_secs_f64(),
        "state_bytes_per_series": state_bytes,
        "scoreboard": scoreboard,
    });
    let json_path = args.out.join(format!("{detector}_scores.json"));
    fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write `{}`", json_path.display()))?;

    table.print("")?;
    if ours {
        #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
        let rate = points_total as f64 / detector_time.as_secs_f64().max(1e-9);
        output::note(format_args!(
            "{} series, {points_total} points in {:.2} s ({:.2} s in the detector, {rate:.0} points/s); state {state_bytes} bytes per series",
            benchmark.series().len(),
            elapsed.as_secs_f64(),
            detector_time.as_secs_f64(),
        ));
    }
    output::note(format_args!(
        "result files under `{}`, scores in `{}`",
        args.out.join(detector).display(),
        json_path.display()
    ));
    Ok(())
}
