//! Throughput of the normaliser on English prose and on the same prose obfuscated (leet,
//! homoglyphs, zero-width characters, base64 and ROT13), at 100 B, 1 KiB, 16 KiB and 1 MiB.
//!
//! `cargo bench -p bulwark-moderation --bench normalize`

use std::hint::black_box;

use base64::Engine as _;
use bulwark_moderation::{Normalizer, Scratch};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const WORDS: &str = "the of and to in a is that for it as was with be by on not he this are or
    his from at which but have an had they you were their one all we can her has there been if
    more when will would who so no report system network customer quarterly meeting summary
    please write explain security password account invoice schedule department analysis
    recommendation implementation performance between through because";

/// A deterministic stream of pseudo-random numbers (xorshift) and words.
struct Rng(u64, Vec<&'static str>);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % (n.max(1) as u64)).unwrap_or(0)
    }

    fn new(seed: u64) -> Self {
        Self(seed, WORDS.split_ascii_whitespace().collect())
    }

    fn word(&mut self) -> &'static str {
        let i = self.below(self.1.len());
        self.1.get(i).copied().unwrap_or("the")
    }
}

/// One English-like sentence.
fn sentence(rng: &mut Rng) -> String {
    let len = 8 + rng.below(9);
    let mut out = String::new();
    for i in 0..len {
        let word = rng.word();
        if i == 0 {
            let mut chars = word.chars();
            out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            out.push_str(chars.as_str());
        } else {
            out.push(' ');
            out.push_str(word);
            if rng.below(10) == 0 && i + 1 < len {
                out.push(',');
            }
        }
    }
    out.push_str(". ");
    out
}

/// English prose of exactly `size` bytes.
fn prose(size: usize) -> String {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(size + 200);
    while out.len() < size {
        out.push_str(&sentence(&mut rng));
        if rng.below(6) == 0 {
            out.push('\n');
        }
    }
    truncate(out, size)
}

/// The same kind of prose with an obfuscation in every sentence: leetspeak, Cyrillic
/// look-alikes, zero-width spaces, and every few sentences a base64 or ROT13 sentence.
fn obfuscated(size: usize) -> String {
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    let mut out = String::with_capacity(size + 400);
    let mut n = 0;
    while out.len() < size {
        let s = sentence(&mut rng);
        let s = match n % 6 {
            0 => s
                .replace("password", "p4ssw0rd")
                .replace("security", "s3cur1ty"),
            1 => s.replace('a', "а"),
            2 => s.replace("e ", "e\u{200b} "),
            3 => format!(
                "{} ",
                base64::engine::general_purpose::STANDARD.encode(s.trim())
            ),
            4 => s.chars().map(rot13).collect(),
            _ => s.replace("o", "ο"),
        };
        out.push_str(&s);
        n += 1;
    }
    truncate(out, size)
}

fn rot13(c: char) -> char {
    match c {
        'a'..='m' | 'A'..='M' => char::from_u32(u32::from(c) + 13).unwrap_or(c),
        'n'..='z' | 'N'..='Z' => char::from_u32(u32::from(c) - 13).unwrap_or(c),
        _ => c,
    }
}

fn truncate(mut text: String, size: usize) -> String {
    let at = text.floor_char_boundary(size);
    text.truncate(at);
    text
}

fn bench(c: &mut Criterion) {
    let normalizer = Normalizer::new();
    let mut group = c.benchmark_group("normalize");
    for (name, size) in [
        ("100B", 100),
        ("1KiB", 1 << 10),
        ("16KiB", 16 << 10),
        ("1MiB", 1 << 20),
    ] {
        for (kind, input) in [("prose", prose(size)), ("obfuscated", obfuscated(size))] {
            let mut scratch = Scratch::with_capacity(input.len());
            group.throughput(Throughput::Bytes(input.len() as u64));
            group.bench_with_input(BenchmarkId::new(kind, name), &input, |b, input| {
                b.iter(|| {
                    let out = normalizer.normalize(black_box(input), &mut scratch);
                    black_box((out.folded().len(), out.segments().len()));
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
