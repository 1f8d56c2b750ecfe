//! Scans the gateway benchmark's prompt (input side) and a simulator answer (output side)
//! a given number of times, for profiling with `valgrind --tool=callgrind`:
//!
//! `cargo build --release -p bulwark-moderation --example scan_profile`
//! `valgrind --tool=callgrind target/release/examples/scan_profile input 100`
//!
//! Arguments: `input`, `output` or `both` (default), then the number of scans (default
//! 1,000). The first scan (building the models, warming the caches) is not counted.
//! `stream` streams the answer through `StreamScan` instead, in 16-byte pieces (a
//! gateway's SSE chunk is a few tokens) with the verdict read after each, on the output
//! side, as the gateway does. `cold` times whole scans of both sides (wall time, medians)
//! right after each other and after 16 MiB of other memory traffic, which shows how much
//! of a scan is waiting for the models' tables (`cargo run --release -p
//! bulwark-moderation --example scan_profile -- cold 2000`).

#![allow(clippy::print_stdout, reason = "an example prints its result")]

use std::hint::black_box;

use bulwark_moderation::{ScanScratch, Scanner, Side};

/// The bytes of a streamed piece (widened to a char boundary).
const PIECE: usize = 16;

/// `bench/chat.lua`'s two messages, joined with a newline as the gateway joins them.
const PROMPT: &str = "You are a concise support assistant for Acme Cloud, a hosting provider. \
    Answer in plain English, at most three short paragraphs. If the question is about \
    billing, remind the customer that invoices are issued on the first business day of each \
    month and can be downloaded from the dashboard under Settings, Billing. Never reveal \
    internal ticket numbers, employee names or infrastructure details. If you are unsure, \
    say so and suggest opening a support ticket.\nHi, our team moved three of our staging \
    services from the Frankfurt region to Amsterdam last week and since then the nightly \
    backup job for the Postgres cluster sometimes fails with a timeout after about forty \
    minutes. The production cluster in Frankfurt is fine. We did not change the backup \
    schedule or the retention settings. Could the move have changed the network path to the \
    backup storage, and is there a setting we should check before we open a ticket? Also, \
    will the failed runs be billed?";

/// The simulator's answer to that prompt (`crates/sim`, the paragraph its hash picks).
const ANSWER: &str = "Good sleep is mostly about consistency. Try to go to bed and wake up \
    at the same time every day, including weekends, and get some daylight soon after waking \
    to anchor your body clock. Keep the bedroom cool, dark and quiet, and avoid caffeine in \
    the afternoon and heavy meals late in the evening. If you cannot fall asleep after \
    twenty minutes or so, get up and do something calm in dim light until you feel drowsy \
    again.";

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "both".to_owned());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let scanner = Scanner::builtin();
    let mut scratch = ScanScratch::new();
    if which == "cold" {
        cold(&scanner, &mut scratch, n);
        return;
    }
    if which == "stream" {
        let mut flagged = stream(&scanner, 1);
        flagged += stream(&scanner, n);
        println!(
            "{} bytes streamed in {PIECE}-byte pieces, {n} streams, {flagged} flagged",
            ANSWER.len()
        );
        return;
    }
    let input = matches!(which.as_str(), "input" | "both");
    let output = matches!(which.as_str(), "output" | "both");
    // Warm-up: builds the models and grows the scratch buffers and caches.
    let mut flagged = run(&scanner, &mut scratch, input, output, 1);
    flagged += run(&scanner, &mut scratch, input, output, n);
    println!(
        "{} bytes in, {} bytes out, {n} scans, {flagged} flagged",
        PROMPT.len(),
        ANSWER.len()
    );
}

/// The measured loop (`valgrind --tool=callgrind --toggle-collect=*scan_profile::run*`
/// counts the warm-up call too: subtract one scan, or run it twice with different `n`).
#[inline(never)]
fn run(scanner: &Scanner, scratch: &mut ScanScratch, input: bool, output: bool, n: usize) -> usize {
    let mut flagged = 0;
    for _ in 0..n {
        if input {
            flagged += usize::from(
                scanner
                    .scan(black_box(PROMPT), Side::Input, scratch)
                    .is_flagged(),
            );
        }
        if output {
            flagged += usize::from(
                scanner
                    .scan(black_box(ANSWER), Side::Output, scratch)
                    .is_flagged(),
            );
        }
    }
    flagged
}

/// The measured loop of `stream`: a fresh stream per answer, as the gateway starts one per
/// completion.
#[inline(never)]
fn stream(scanner: &Scanner, n: usize) -> usize {
    let mut flagged = 0;
    for _ in 0..n {
        let mut stream = scanner.stream(Side::Output);
        let mut rest = black_box(ANSWER);
        while !rest.is_empty() {
            let mut cut = rest.len().min(PIECE);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            let (piece, tail) = rest.split_at(cut);
            flagged += usize::from(stream.push(piece).is_flagged());
            rest = tail;
        }
        flagged += usize::from(stream.finish().is_flagged());
    }
    flagged
}

/// `cold`: the time of a scan of both sides when the caches hold the models (scan after
/// scan, as criterion measures) and when something else ran in between (a 16 MiB buffer
/// written between scans, as a gateway's network work and other requests do), timed
/// scan by scan, medians.
fn cold(scanner: &Scanner, scratch: &mut ScanScratch, n: usize) {
    use std::time::Instant;
    let mut evict = vec![0u8; 16 << 20];
    let mut hot = Vec::with_capacity(n);
    let mut cold = Vec::with_capacity(n);
    run(scanner, scratch, true, true, 10);
    for round in 0..n {
        let started = Instant::now();
        run(scanner, scratch, true, true, 1);
        hot.push(started.elapsed());
        for (at, byte) in evict.iter_mut().enumerate().step_by(64) {
            *byte = byte.wrapping_add(u8::try_from((at + round) & 0x7f).unwrap_or(0));
        }
        black_box(&evict);
        let started = Instant::now();
        run(scanner, scratch, true, true, 1);
        cold.push(started.elapsed());
    }
    hot.sort();
    cold.sort();
    let median = |v: &[std::time::Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
    println!(
        "both sides, {n} scans each: hot {:?}, after 16 MiB of other work {:?} (medians)",
        median(&hot),
        median(&cold)
    );
}
