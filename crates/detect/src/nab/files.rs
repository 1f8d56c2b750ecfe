//! NAB's file formats, parsed from and written to text.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::Deserialize;

use crate::{
    nab::{CostMatrix, NabError, Profile, Windows},
    time::{Micros, format_nab_time, parse_nab_time},
};

/// One row of a data file (`timestamp,value`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataPoint {
    /// Event time.
    pub timestamp: Micros,
    /// The value.
    pub value: f64,
}

/// A detector's results file (`timestamp,value,anomaly_score,…,label,…`); columns are
/// found by name, so NAB's own files (with `raw_score` and `S(t)_…` columns) parse too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultsFile {
    /// Event times.
    pub timestamps: Vec<Micros>,
    /// The series' values.
    pub values: Vec<f64>,
    /// The detector's anomaly scores.
    pub anomaly_scores: Vec<f64>,
}

/// `labels/combined_windows.json`: `{"dir/file.csv": [["start", "end"], …], …}`.
pub fn parse_windows(json: &str) -> Result<Windows, NabError> {
    let raw: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(json).map_err(|e| json_error("label windows", &e))?;
    let mut by_series = BTreeMap::new();
    for (series, windows) in raw {
        let mut parsed = Vec::with_capacity(windows.len());
        for (start, end) in windows {
            let time = |text: &str| {
                parse_nab_time(text).ok_or_else(|| NabError::Json {
                    what: "label windows",
                    message: format!("`{text}` in `{series}` is not a time"),
                })
            };
            parsed.push((time(&start)?, time(&end)?));
        }
        by_series.insert(series, parsed);
    }
    Ok(Windows::new(by_series))
}

/// `config/profiles.json`, in the scoreboard's order: `standard`, `reward_low_FP_rate`,
/// `reward_low_FN_rate`, then any others by name.
pub fn parse_profiles(json: &str) -> Result<Vec<Profile>, NabError> {
    #[derive(Deserialize)]
    struct RawProfile {
        #[serde(rename = "CostMatrix")]
        costs: RawCosts,
    }
    #[derive(Deserialize)]
    struct RawCosts {
        #[serde(rename = "tpWeight")]
        tp: f64,
        #[serde(rename = "fpWeight")]
        fp: f64,
        #[serde(rename = "fnWeight")]
        fn_: f64,
    }
    let raw: BTreeMap<String, RawProfile> =
        serde_json::from_str(json).map_err(|e| json_error("profiles", &e))?;
    let mut profiles: Vec<Profile> = raw
        .into_iter()
        .map(|(name, p)| Profile {
            name,
            costs: CostMatrix {
                tp_weight: p.costs.tp,
                fp_weight: p.costs.fp,
                fn_weight: p.costs.fn_,
            },
        })
        .collect();
    const ORDER: [&str; 3] = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];
    profiles.sort_by_key(|p| {
        (
            ORDER
                .iter()
                .position(|o| *o == p.name)
                .unwrap_or(ORDER.len()),
            p.name.clone(),
        )
    });
    Ok(profiles)
}

/// `config/thresholds.json`: detector → profile → threshold.
pub fn parse_thresholds(json: &str) -> Result<BTreeMap<String, BTreeMap<String, f64>>, NabError> {
    #[derive(Deserialize)]
    struct Entry {
        threshold: f64,
    }
    let raw: BTreeMap<String, BTreeMap<String, Entry>> =
        serde_json::from_str(json).map_err(|e| json_error("thresholds", &e))?;
    Ok(raw
        .into_iter()
        .map(|(detector, profiles)| {
            (
                detector,
                profiles
                    .into_iter()
                    .map(|(profile, e)| (profile, e.threshold))
                    .collect(),
            )
        })
        .collect())
}

/// `results/final_results.json`, the published scoreboard: detector → profile →
/// normalised score.
pub fn parse_scoreboard(json: &str) -> Result<BTreeMap<String, BTreeMap<String, f64>>, NabError> {
    serde_json::from_str(json).map_err(|e| json_error("scoreboard", &e))
}

/// A data file: a `timestamp,value` header, then one row per point.
pub fn parse_data_csv(text: &str) -> Result<Vec<DataPoint>, NabError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h).unwrap_or_default();
    let columns = Columns::new(header, &["timestamp", "value"])?;
    let mut points = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        points.push(DataPoint {
            timestamp: columns.time(&fields, 0, i)?,
            value: columns.number(&fields, 1, i)?,
        });
    }
    Ok(points)
}

/// A detector's results file.
pub fn parse_results_csv(text: &str) -> Result<ResultsFile, NabError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h).unwrap_or_default();
    let columns = Columns::new(header, &["timestamp", "value", "anomaly_score"])?;
    let mut file = ResultsFile::default();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        file.timestamps.push(columns.time(&fields, 0, i)?);
        file.values.push(columns.number(&fields, 1, i)?);
        file.anomaly_scores.push(columns.number(&fields, 2, i)?);
    }
    Ok(file)
}

/// A results file as NAB's detectors write it: `timestamp,value,anomaly_score,label`.
/// Rows are taken up to the shortest of the inputs.
pub fn results_csv(
    timestamps: &[Micros],
    values: &[f64],
    anomaly_scores: &[f64],
    labels: impl IntoIterator<Item = bool>,
) -> String {
    let mut out = String::with_capacity(timestamps.len() * 48);
    out.push_str("timestamp,value,anomaly_score,label\n");
    for (((t, v), s), l) in timestamps
        .iter()
        .zip(values)
        .zip(anomaly_scores)
        .zip(labels)
    {
        let _ = writeln!(out, "{},{v},{s},{}", format_nab_time(*t), u8::from(l));
    }
    out
}

/// The positions of the wanted columns in a CSV header.
struct Columns(Vec<usize>);

impl Columns {
    fn new(header: &str, wanted: &[&str]) -> Result<Self, NabError> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let mut positions = Vec::with_capacity(wanted.len());
        for want in wanted {
            let at = names
                .iter()
                .position(|n| n == want)
                .ok_or_else(|| NabError::Csv {
                    line: 1,
                    message: format!("no `{want}` column in the header `{header}`"),
                })?;
            positions.push(at);
        }
        Ok(Self(positions))
    }

    fn field<'a>(
        &self,
        fields: &[&'a str],
        column: usize,
        line: usize,
    ) -> Result<&'a str, NabError> {
        self.0
            .get(column)
            .and_then(|&at| fields.get(at))
            .map(|f| f.trim())
            .ok_or_else(|| NabError::Csv {
                line: line + 1,
                message: "too few fields".to_owned(),
            })
    }

    fn time(&self, fields: &[&str], column: usize, line: usize) -> Result<Micros, NabError> {
        let text = self.field(fields, column, line)?;
        parse_nab_time(text).ok_or_else(|| NabError::Csv {
            line: line + 1,
            message: format!("`{text}` is not a time such as `2014-04-10 07:15:00`"),
        })
    }

    fn number(&self, fields: &[&str], column: usize, line: usize) -> Result<f64, NabError> {
        let text = self.field(fields, column, line)?;
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| NabError::Csv {
                line: line + 1,
                message: format!("`{text}` is not a finite number"),
            })
    }
}

fn json_error(what: &'static str, error: &serde_json::Error) -> NabError {
    NabError::Json {
        what,
        message: error.to_string(),
    }
}
