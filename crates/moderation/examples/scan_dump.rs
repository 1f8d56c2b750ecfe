//! Prints, for every text of a JSONL file (one object with a `text` field a line), what
//! the built-in scanner makes of it, exactly: each score's bits, the flags and the rules
//! fired, for a whole scan and for two streamed deliveries, on both sides; the raw logits
//! of each tier on the folded text; and a hash of the normaliser's output. Two builds
//! that print the same lines give the same verdicts (an A/B check for speed work):
//!
//! `cargo run --release -p bulwark-moderation --example scan_dump -- texts.jsonl > a.txt`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its result"
)]

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader},
};

use bulwark_moderation::{
    Model, Normalizer, ScanScratch, Scanner, Scratch, SemanticModel, Side, Verdict,
};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: scan_dump TEXTS.jsonl");
        std::process::exit(2);
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) => {
            eprintln!("cannot open `{path}`: {err}");
            std::process::exit(1);
        }
    };
    let scanner = Scanner::builtin();
    let model = Model::builtin();
    let phishing = Model::builtin_output_phishing();
    let semantic = SemanticModel::builtin();
    let normalizer = Normalizer::new();
    let mut scratch = ScanScratch::new();
    let mut norm = Scratch::new();
    let mut sem = bulwark_semantic::Scratch::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let Ok(line) = line else { break };
        let text = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let mut out = format!("{number}");
        let normalized = normalizer.normalize(&text, &mut norm);
        let mut h = Fnv::default();
        for piece in normalized.texts() {
            h.add(piece.as_bytes());
            h.add(&[0xff]);
        }
        let _ = write!(out, " norm={:016x}", h.0);
        let folded = normalized.folded();
        let mut state = model.start();
        model.feed(&mut state, folded);
        let _ = write!(out, " ngram={}", logits(model.logits(&state)));
        let mut state = phishing.start();
        phishing.feed(&mut state, folded);
        let _ = write!(out, " phish={}", logits(phishing.logits(&state)));
        let _ = write!(out, " sem={}", logits(semantic.logits(folded, &mut sem)));
        for side in [Side::Input, Side::Output] {
            let whole = scanner.scan(&text, side, &mut scratch);
            let _ = write!(out, " {side:?}:whole={}", verdict(&whole));
            let mut stream = scanner.stream(side);
            for word in text.split_inclusive(' ') {
                stream.push(word);
            }
            let _ = write!(out, " words={}", verdict(stream.finish()));
            let mut stream = scanner.stream(side);
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(13);
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                let (piece, tail) = rest.split_at(cut);
                stream.push(piece);
                rest = tail;
            }
            let _ = write!(out, " bytes={}", verdict(stream.finish()));
        }
        println!("{out}");
    }
}

fn logits(logits: Option<[f32; bulwark_moderation::Category::COUNT]>) -> String {
    logits.map_or_else(
        || "none".to_owned(),
        |l| {
            l.iter()
                .map(|v| format!("{:08x}", v.to_bits()))
                .collect::<Vec<_>>()
                .join(",")
        },
    )
}

fn verdict(verdict: &Verdict) -> String {
    let scores: Vec<String> = verdict
        .scores
        .0
        .iter()
        .map(|s| format!("{:08x}", s.to_bits()))
        .collect();
    let flags: String = verdict
        .flagged
        .iter()
        .map(|&f| if f { '1' } else { '0' })
        .collect();
    let rules: Vec<&str> = verdict.rules.iter().map(|r| &*r.id).collect();
    format!("{}|{flags}|{}", scores.join(","), rules.join("+"))
}

#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
