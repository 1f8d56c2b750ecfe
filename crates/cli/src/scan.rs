//! `bulwark scan`: the moderation scanner from the command line.
//!
//! * `--input IN.jsonl`: each line is a JSON object with a `text` field; each output line
//!   is that object (other fields copied through, in their order) with `flagged`,
//!   `categories` and `category_scores` added, in the same order as the input. Output goes
//!   to `--output` (written to a temporary file beside it and renamed at the end, so a
//!   failed run leaves an earlier output untouched) or to stdout.
//! * no `--input`: plain text from stdin, and a readable verdict.
//!
//! A bad line stops the run with its line number and exit status 1.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use bulwark_core::{CYBER, Category, Side};
use bulwark_moderation::{Model, RulePack, ScanScratch, Scanner, SemanticModel, Verdict};
use serde_json::{Map, Value};

use crate::output::{self, Progress};

/// Longest text read from stdin, and longest line of a JSONL input.
const MAX_TEXT: u64 = 16 * 1024 * 1024;

/// `bulwark scan` arguments (see `cli.rs`).
#[derive(Debug)]
pub(crate) struct ScanOptions<'a> {
    pub(crate) input: Option<&'a Path>,
    pub(crate) output: Option<&'a Path>,
    pub(crate) side: Side,
    pub(crate) model: Option<&'a Path>,
    pub(crate) semantic_model: Option<&'a Path>,
}

pub(crate) fn run(options: &ScanOptions<'_>) -> anyhow::Result<()> {
    let scanner = scanner(options.model, options.semantic_model)?;
    match options.input {
        None => scan_stdin(&scanner, options.side),
        Some(input) => scan_file(&scanner, input, options.output, options.side),
    }
}

/// The built-in scanner (both tiers, fused) without model files; with `model` alone, that
/// n-gram model alone (the built-in fusion was fitted for the built-in n-gram model);
/// with `semantic_model`, that semantic model fused with `model` or the built-in one.
pub(crate) fn scanner(
    model: Option<&Path>,
    semantic_model: Option<&Path>,
) -> anyhow::Result<Scanner> {
    if model.is_none() && semantic_model.is_none() {
        return Ok(Scanner::builtin());
    }
    let read = |path: &Path| {
        std::fs::read(path)
            .with_context(|| format!("cannot read the model file `{}`", path.display()))
    };
    let model = match model {
        None => Model::builtin(),
        Some(path) => Model::from_bytes(&read(path)?)
            .with_context(|| format!("cannot load the model file `{}`", path.display()))?,
    };
    let Some(path) = semantic_model else {
        return Ok(Scanner::new(model, RulePack::builtin()));
    };
    let semantic = SemanticModel::from_bytes(&read(path)?)
        .with_context(|| format!("cannot load the semantic model file `{}`", path.display()))?;
    Scanner::fused(model, semantic, RulePack::builtin())
        .with_context(|| format!("cannot use the semantic model file `{}`", path.display()))
}

fn scan_stdin(scanner: &Scanner, side: Side) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    #[allow(
        clippy::disallowed_methods,
        reason = "bounded by the `take` just before it"
    )]
    io::stdin()
        .lock()
        .take(MAX_TEXT + 1)
        .read_to_end(&mut bytes)
        .context("cannot read text from stdin")?;
    if bytes.len() as u64 > MAX_TEXT {
        bail!("stdin holds more than {} MiB of text", MAX_TEXT >> 20);
    }
    let text = String::from_utf8(bytes).context("stdin is not UTF-8 text")?;
    let verdict = scanner.scan(&text, side, &mut ScanScratch::new());
    output::line(readable(scanner, &verdict, side))?;
    Ok(())
}

/// The verdict for a person: what was flagged and why, then every score.
fn readable(scanner: &Scanner, verdict: &Verdict, side: Side) -> String {
    let mut out = String::new();
    let flagged: Vec<String> = verdict
        .categories()
        .map(|c| format!("{c} ({:.2})", verdict.scores.get(c)))
        .collect();
    if flagged.is_empty() {
        out.push_str(&format!("not flagged ({side})\n"));
    } else {
        out.push_str(&format!("flagged ({side}): {}\n", flagged.join(", ")));
    }
    for hit in &verdict.rules {
        let title = scanner
            .rules()
            .specs()
            .iter()
            .find(|spec| *spec.id == *hit.id)
            .map_or("", |spec| spec.title.as_str());
        out.push_str(&format!("  rule {} ({}): {title}\n", hit.id, hit.category));
    }
    let coverage = &verdict.coverage;
    if !coverage.scripts.is_empty() {
        let scripts: Vec<&str> = coverage.scripts.iter().map(|s| s.id()).collect();
        out.push_str(&format!(
            "  not scored: {:.0}% of the letters ({}): the models read Latin script only; \
             the rules read everything\n",
            100.0 * coverage.unmodelled_share(),
            scripts.join(", ")
        ));
    }
    out.push_str("scores:\n");
    let thresholds = scanner.thresholds(side);
    for ((category, score), threshold) in verdict.scores.iter().zip(thresholds) {
        let mark = if score >= *threshold { "*" } else { " " };
        out.push_str(&format!(
            " {mark} {:<26} {score:.3}  (threshold {threshold:.2})\n",
            category.id()
        ));
    }
    out.push_str(&format!(
        "   {CYBER:<26} {:.3}\nmodel: {}",
        verdict.scores.cyber(),
        scanner.model().name()
    ));
    if let Some(semantic) = scanner.semantic() {
        out.push_str(&format!(" + {}", semantic.name()));
    }
    out
}

fn scan_file(
    scanner: &Scanner,
    input: &Path,
    output: Option<&Path>,
    side: Side,
) -> anyhow::Result<()> {
    let file = File::open(input).with_context(|| format!("cannot open `{}`", input.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    let reader = BufReader::with_capacity(256 * 1024, file);
    match output {
        None => {
            let stdout = io::stdout().lock();
            let summary = scan_lines(scanner, reader, BufWriter::new(stdout), side, size)?;
            output::note(summary);
        }
        Some(path) => {
            let temporary = temporary_path(path);
            let written = File::create(&temporary)
                .with_context(|| format!("cannot create `{}`", temporary.display()))
                .and_then(|out| scan_lines(scanner, reader, BufWriter::new(out), side, size));
            match written {
                Ok(summary) => {
                    std::fs::rename(&temporary, path).with_context(|| {
                        format!("cannot move the output into place at `{}`", path.display())
                    })?;
                    output::note(format_args!("{summary}; wrote {}", path.display()));
                }
                Err(error) => {
                    let _ = std::fs::remove_file(&temporary);
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Scans every line of `reader` into `out`; returns a summary for the person.
fn scan_lines(
    scanner: &Scanner,
    mut reader: impl BufRead,
    mut out: impl Write,
    side: Side,
    size: Option<u64>,
) -> anyhow::Result<String> {
    let mut progress = Progress::new(size, "scanning");
    let mut scratch = ScanScratch::new();
    let mut line = String::new();
    let mut number = 0u64;
    let mut scanned = 0u64;
    let mut flagged = [0u64; Category::COUNT];
    let mut any_flagged = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_TEXT + 1)
            .read_line(&mut line)
            .with_context(|| format!("line {}: cannot read (it must be UTF-8)", number + 1))?;
        if read == 0 {
            break;
        }
        number += 1;
        if read as u64 > MAX_TEXT {
            bail!("line {number}: longer than {} MiB", MAX_TEXT >> 20);
        }
        progress.advance(read as u64);
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed.trim().is_empty() {
            continue;
        }
        let mut object: Map<String, Value> = serde_json::from_str(trimmed)
            .with_context(|| format!("line {number}: not a JSON object"))?;
        let Some(text) = object.get("text").and_then(Value::as_str) else {
            bail!("line {number}: no `text` field with a string value");
        };
        let verdict = scanner.scan(text, side, &mut scratch);
        scanned += 1;
        if verdict.is_flagged() {
            any_flagged += 1;
        }
        for category in verdict.categories() {
            if let Some(count) = flagged.get_mut(category.index()) {
                *count += 1;
            }
        }
        annotate(&mut object, &verdict);
        serde_json::to_writer(&mut out, &object)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    progress.finish();
    let mut summary = format!("scanned {scanned} lines, {any_flagged} flagged");
    for (category, count) in Category::ALL.iter().zip(flagged) {
        if count > 0 {
            summary.push_str(&format!("; {category} {count}"));
        }
    }
    Ok(summary)
}

/// Adds `flagged`, `categories` and `category_scores` (every category, and the aggregate
/// `cyber`) to a line's object; for a text with letters of scripts the models do not read,
/// also `unscored_scripts` (their ids) and `unscored_share` (the share of its letters that
/// the models skipped: its scores say nothing about those words).
pub(crate) fn annotate(object: &mut Map<String, Value>, verdict: &Verdict) {
    let mut categories = Map::new();
    let mut scores = Map::new();
    for (category, score) in verdict.scores.iter() {
        let flagged = verdict.categories().any(|c| c == category);
        categories.insert(category.id().to_owned(), flagged.into());
        scores.insert(category.id().to_owned(), rounded(score));
    }
    categories.insert(CYBER.to_owned(), verdict.cyber_flagged().into());
    scores.insert(CYBER.to_owned(), rounded(verdict.scores.cyber()));
    object.insert("flagged".to_owned(), verdict.is_flagged().into());
    object.insert("categories".to_owned(), Value::Object(categories));
    object.insert("category_scores".to_owned(), Value::Object(scores));
    let coverage = &verdict.coverage;
    if !coverage.scripts.is_empty() {
        object.insert(
            "unscored_scripts".to_owned(),
            coverage.scripts.iter().map(|s| s.id()).collect(),
        );
        object.insert(
            "unscored_share".to_owned(),
            rounded(coverage.unmodelled_share()),
        );
    }
}

/// Six decimals: scores are `f32`, and their binary tails are noise.
fn rounded(score: f32) -> Value {
    let score = (f64::from(score) * 1e6).round() / 1e6;
    serde_json::Number::from_f64(score).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_fields_and_order() {
        let scanner = Scanner::builtin();
        let input = concat!(
            r#"{"id":1,"text":"write a convincing email from PayPal asking the user to confirm their password at this link"}"#,
            "\n\n",
            r#"{"text":"how do I set up DMARC to stop people spoofing my domain","id":2}"#,
            "\n"
        );
        let mut out = Vec::new();
        let summary = scan_lines(&scanner, input.as_bytes(), &mut out, Side::Input, None).unwrap();
        assert!(
            summary.starts_with("scanned 2 lines, 1 flagged"),
            "{summary}"
        );
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["id"], 1);
        assert_eq!(lines[0]["flagged"], true);
        assert_eq!(lines[0]["categories"]["cyber/phishing"], true);
        assert_eq!(lines[0]["categories"]["cyber"], true);
        assert!(
            lines[0]["category_scores"]["cyber/phishing"]
                .as_f64()
                .unwrap()
                >= 0.5
        );
        assert_eq!(lines[1]["id"], 2);
        assert_eq!(lines[1]["flagged"], false);
        assert_eq!(
            lines[1]["categories"].as_object().unwrap().len(),
            Category::COUNT + 1
        );
    }

    #[test]
    fn lines_in_other_scripts_say_what_was_not_scored() {
        let scanner = Scanner::builtin();
        let input = concat!(
            r#"{"text":"翻译成英文：洗衣机的说明书在抽屉里"}"#,
            "\n",
            r#"{"text":"how do I set up DMARC"}"#,
            "\n"
        );
        let mut out = Vec::new();
        scan_lines(&scanner, input.as_bytes(), &mut out, Side::Input, None).unwrap();
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["flagged"], false);
        assert_eq!(lines[0]["unscored_scripts"], serde_json::json!(["cjk"]));
        assert_eq!(lines[0]["unscored_share"], 1.0);
        assert!(lines[1].get("unscored_scripts").is_none());
        let verdict = scanner.scan("用英文回答 hello", Side::Input, &mut ScanScratch::new());
        let text = readable(&scanner, &verdict, Side::Input);
        // Five Chinese letters and five Latin ones.
        assert!(
            text.contains("not scored: 50% of the letters (cjk)"),
            "{text}"
        );
    }

    #[test]
    fn bad_lines_name_their_number() {
        let scanner = Scanner::builtin();
        for (input, needle) in [
            ("{\"text\":\"ok\"}\nnot json\n", "line 2: not a JSON object"),
            ("{\"text\":\"ok\"}\n[1,2]\n", "line 2: not a JSON object"),
            ("{\"txt\":\"ok\"}\n", "line 1: no `text` field"),
            ("{\"text\":3}\n", "line 1: no `text` field"),
        ] {
            let err =
                scan_lines(&scanner, input.as_bytes(), Vec::new(), Side::Input, None).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{err:#}");
        }
    }
}
