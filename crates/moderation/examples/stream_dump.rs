//! Prints, for every text of a JSONL file (one object with a `text` field a line), what a
//! stream of it shows the gateway after *every* push, on both sides and for several piece
//! sizes: a hash of the sequence of verdicts (each score's bits, the flags, the rules
//! fired, the coverage) and of `checked()` after each push, then the final verdict in
//! full. Two builds that print the same lines show the gateway the same verdicts (an A/B
//! check for speed work on `StreamScan`, finer than `scan_dump`'s two deliveries):
//!
//! `cargo run --release -p bulwark-moderation --example stream_dump -- texts.jsonl 1,3,16 > a.txt`
//!
//! The second argument lists the piece sizes in bytes (default `1,3,7,16`); a piece is
//! widened to the next char boundary, as a gateway's SSE chunk always ends on one.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints its result"
)]

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader},
};

use bulwark_moderation::{Scanner, Side, Verdict};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: stream_dump TEXTS.jsonl [SIZES, e.g. 1,3,16]");
        std::process::exit(2);
    };
    let sizes: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1,3,7,16".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) => {
            eprintln!("cannot open `{path}`: {err}");
            std::process::exit(1);
        }
    };
    let scanner = Scanner::builtin();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let Ok(line) = line else { break };
        let text = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let mut out = format!("{number}");
        for side in [Side::Input, Side::Output] {
            for &size in &sizes {
                let (pushes, last) = stream(&scanner, &text, side, size);
                let _ = write!(out, " {side:?}/{size}={pushes:016x}:{}", verdict(&last));
            }
        }
        println!("{out}");
    }
}

/// Streams `text` in pieces of `size` bytes: the hash of what every push showed, and the
/// verdict `finish` gives.
fn stream(scanner: &Scanner, text: &str, side: Side, size: usize) -> (u64, Verdict) {
    let mut stream = scanner.stream(side);
    let mut hash = Fnv::default();
    // Only a changed verdict is hashed in full (formatting each one would dominate the
    // run); `checked()` is hashed every push, so the hash still pins the whole sequence.
    let mut shown = Verdict::default();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(size);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        let now = stream.push(piece);
        if *now != shown {
            shown = now.clone();
            hash.add(verdict(&shown).as_bytes());
        }
        hash.add(&stream.checked().to_le_bytes());
        rest = tail;
    }
    let last = stream.finish().clone();
    hash.add(verdict(&last).as_bytes());
    hash.add(&stream.checked().to_le_bytes());
    (hash.0, last)
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
    format!(
        "{}|{flags}|{}|{:?}",
        scores.join(","),
        rules.join("+"),
        verdict.coverage
    )
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
