//! Builds the built-in rule pack, then the whole scanner, and prints how long each took
//! and the process's resident size after each (from `/proc/self/status`, Linux only):
//!
//! `cargo run --release -p bulwark-moderation --example pack_memory`

#![allow(clippy::print_stdout, reason = "an example prints its result")]

use std::time::Instant;

use bulwark_moderation::{RulePack, Scanner};

/// `VmRSS` and `VmHWM` in KiB, when the kernel tells.
fn resident() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
    };
    format!("rss {} peak {}", field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    println!("start: {}", resident());
    let started = Instant::now();
    let pack = RulePack::builtin();
    println!(
        "rule pack ({} rules) built in {:.3} s: {}",
        pack.len(),
        started.elapsed().as_secs_f64(),
        resident()
    );
    let started = Instant::now();
    let scanner = Scanner::builtin();
    println!(
        "scanner ({} rules) built in {:.3} s: {}",
        scanner.rules().len(),
        started.elapsed().as_secs_f64(),
        resident()
    );
}
