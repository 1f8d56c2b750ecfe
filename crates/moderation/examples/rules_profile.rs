//! Normalises the texts of a JSONL file (one object with a `text` field a line), up to a
//! number of bytes, and matches the built-in rules on them, for profiling the normaliser
//! and the rules with `valgrind --tool=callgrind --toggle-collect='*rules_profile::run*'`:
//!
//! `cargo run --release -p bulwark-moderation --example rules_profile -- texts.jsonl 1000000`
//!
//! Arguments: the file, then how many bytes of text to take (default 1,000,000), then
//! `rules` to time the rules alone (the normaliser's output is prepared first).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its result"
)]

use std::io::{BufRead, BufReader};

use bulwark_moderation::{Normalizer, RulePack, RuleScratch, Scratch, Side};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: rules_profile TEXTS.jsonl [BYTES] [rules]");
        std::process::exit(2);
    };
    let budget: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rules_only = args.next().as_deref() == Some("rules");
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) => {
            eprintln!("cannot open `{path}`: {err}");
            std::process::exit(1);
        }
    };
    let mut texts = Vec::new();
    let mut total = 0;
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        let Some(text) = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_owned))
        else {
            continue;
        };
        total += text.len();
        texts.push(text);
        if total >= budget {
            break;
        }
    }
    let pack = RulePack::builtin();
    let normalizer = Normalizer::new();
    let hits = if rules_only {
        let mut scratch = Scratch::new();
        let pieces: Vec<Vec<String>> = texts
            .iter()
            .map(|text| {
                let normalized = normalizer.normalize(text, &mut scratch);
                normalized.texts().map(str::to_owned).collect()
            })
            .collect();
        run_rules(&pack, &pieces)
    } else {
        run(&pack, &normalizer, &texts)
    };
    println!("{} texts, {total} bytes, {hits} rule hits", texts.len());
}

/// The measured loop: the normaliser and the rules on every text.
#[inline(never)]
fn run(pack: &RulePack, normalizer: &Normalizer, texts: &[String]) -> usize {
    let mut scratch = Scratch::new();
    let mut rules = RuleScratch::default();
    let mut hits = Vec::new();
    for text in texts {
        let normalized = normalizer.normalize(text, &mut scratch);
        for piece in normalized.texts() {
            pack.find(piece, Side::Input, &mut rules, &mut hits);
        }
    }
    hits.len()
}

/// The measured loop for the rules alone, on normalised pieces.
#[inline(never)]
fn run_rules(pack: &RulePack, texts: &[Vec<String>]) -> usize {
    let mut rules = RuleScratch::default();
    let mut hits = Vec::new();
    for pieces in texts {
        for piece in pieces {
            pack.find(piece, Side::Input, &mut rules, &mut hits);
        }
    }
    hits.len()
}
