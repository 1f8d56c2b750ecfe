//! Tokenising and scoring a 1 KiB prompt with a table of the shipped shape (30,522 rows):
//! the built-in model when present, otherwise a synthetic one with the same shape.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench"
)]

use std::hint::black_box;

use bulwark_core::Category;
use bulwark_semantic::{Head, Pooling, Scratch, SemanticModel, Table};
use criterion::{Criterion, criterion_group, criterion_main};

fn model() -> SemanticModel {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/default.bsm");
    if let Ok(bytes) = std::fs::read(path)
        && let Ok(m) = SemanticModel::from_bytes(&bytes)
        && m.has_heads()
    {
        return m;
    }
    // Synthetic: letters and pairs of letters as words, "##" pairs as continuations.
    let mut vocab: Vec<String> = vec!["[PAD]".into(), "[UNK]".into()];
    let letters: Vec<char> = ('a'..='z').collect();
    for a in &letters {
        vocab.push(a.to_string());
        vocab.push(format!("##{a}"));
        for b in &letters {
            vocab.push(format!("{a}{b}"));
            vocab.push(format!("##{a}{b}"));
        }
    }
    for p in ".,!?;:'\"()".chars() {
        vocab.push(p.to_string());
    }
    let dim = 256;
    let rows: Vec<Vec<f32>> = (0..vocab.len())
        .map(|i| {
            (0..dim)
                .map(|d| ((i * 31 + d * 7) % 13) as f32 - 6.0)
                .collect()
        })
        .collect();
    let table = Table::quantise(&rows, dim).unwrap();
    let heads = (0..Category::COUNT)
        .map(|_| Head {
            weights: vec![0.01; dim],
            ..Head::zero(dim)
        })
        .collect();
    SemanticModel::from_parts(
        "synthetic".into(),
        vocab,
        table,
        Pooling::default(),
        heads,
        Vec::new(),
    )
    .unwrap()
}

fn prompt_1k() -> String {
    let base = "Could you help me write a short, friendly email to my team about the \
                quarterly planning meeting? Mention the agenda, the room change and ask \
                everyone to bring their laptop and a list of open questions. ";
    base.repeat(8).chars().take(1024).collect()
}

fn bench(c: &mut Criterion) {
    let m = model();
    let text = prompt_1k();
    let mut scratch = Scratch::new();
    c.bench_function("semantic/tokenize 1 KiB", |b| {
        b.iter(|| black_box(m.tokenize(black_box(&text), &mut scratch).len()))
    });
    c.bench_function("semantic/score 1 KiB", |b| {
        b.iter(|| black_box(m.scores(black_box(&text), &mut scratch)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
