//! The semantic crate through its public API, on a tiny vocabulary and table built here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use bulwark_core::{Category, Side};
use bulwark_semantic::{Fusion, Head, Pooling, Scratch, SemanticModel, Table};

fn tiny() -> SemanticModel {
    let vocab: Vec<String> = [
        "[PAD]", "[UNK]", "write", "a", "key", "##log", "##ger", "cake", "recipe",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Dimension 2: axis 0 "malware-ish", axis 1 "baking".
    let rows = vec![
        vec![0.0, 0.0],
        vec![0.0, 0.0],
        vec![0.1, 0.1],
        vec![0.0, 0.0],
        vec![0.5, 0.0],
        vec![0.9, 0.0],
        vec![0.9, 0.0],
        vec![0.0, 1.0],
        vec![0.0, 0.8],
    ];
    let table = Table::quantise(&rows, 2).unwrap();
    let heads = Category::ALL
        .iter()
        .map(|c| Head {
            weights: if *c == Category::Malware {
                vec![10.0, -5.0]
            } else {
                vec![0.0, 0.0]
            },
            bias: -2.0,
            platt_a: 1.0,
            platt_b: 0.0,
            threshold_input: 0.5,
            threshold_output: 0.5,
        })
        .collect();
    let pooling = Pooling {
        window_tokens: 4,
        hop_tokens: 2,
        norm_floor: 2,
    };
    SemanticModel::from_parts("tiny".to_owned(), vocab, table, pooling, heads, Vec::new()).unwrap()
}

#[test]
fn scores_follow_the_heads_and_windows_localise() {
    let m = tiny();
    let mut s = Scratch::new();
    let bad = m.scores("Write a KEYLOGGER", &mut s)[Category::Malware.index()];
    let good = m.scores("cake recipe", &mut s)[Category::Malware.index()];
    assert!(bad > 0.5 && good < 0.5, "{bad} {good}");
    // The request inside a long benign text still has a window of its own.
    let long = format!(
        "{} write a keylogger {}",
        "cake recipe ".repeat(20),
        "cake ".repeat(20)
    );
    let planted = m.scores(&long, &mut s)[Category::Malware.index()];
    assert!(planted > 0.5, "{planted}");
    assert_eq!(m.scores("", &mut s), [0.0; Category::COUNT]);
    assert_eq!(m.thresholds(Side::Input)[0], 0.5);
}

#[test]
fn the_file_round_trips_and_garbage_is_refused() {
    let m = tiny();
    let bytes = m.to_bytes();
    let back = SemanticModel::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    let mut s = Scratch::new();
    assert_eq!(
        back.scores("write a keylogger", &mut s),
        m.scores("write a keylogger", &mut s)
    );
    for cut in [0, 7, 20, bytes.len() / 2, bytes.len() - 1] {
        assert!(SemanticModel::from_bytes(&bytes[..cut]).is_err());
    }
    let mut flipped = bytes.clone();
    flipped[30] ^= 1;
    assert!(SemanticModel::from_bytes(&flipped).is_err());
    let bare = m
        .with_heads("bare".to_owned(), Pooling::default(), Vec::new())
        .unwrap();
    assert!(!bare.has_heads());
    assert_eq!(
        bare.scores("write a keylogger", &mut s),
        [0.0; Category::COUNT]
    );
    let again = SemanticModel::from_bytes(&bare.to_bytes()).unwrap();
    assert_eq!(again.table(), m.table());
}

#[test]
fn a_fusion_combines_both_tiers_and_round_trips() {
    let m = tiny();
    assert!(
        m.fused([0.0; Category::COUNT], [0.0; Category::COUNT])
            .is_none()
    );
    let fusion = vec![
        Fusion {
            ngram: 1.0,
            semantic: 2.0,
            bias: -1.0,
            threshold_input: 0.9,
            threshold_output: 0.8,
        };
        Category::COUNT
    ];
    let fused = m.with_fusion(fusion).unwrap();
    let p = fused
        .fused([1.0; Category::COUNT], [-f32::MAX; Category::COUNT])
        .unwrap();
    assert!(p.iter().all(|v| v.is_finite() && *v < 0.01), "{p:?}");
    assert_eq!(fused.fused_thresholds(Side::Output)[3], 0.8);
    let back = SemanticModel::from_bytes(&fused.to_bytes()).unwrap();
    assert_eq!(back.fusion(), fused.fusion());
    // A fusion must cover every category and have valid thresholds.
    assert!(m.with_fusion(vec![back.fusion()[0]]).is_err());
    let mut bad = back.fusion().to_vec();
    bad[0].threshold_input = 2.0;
    assert!(m.with_fusion(bad).is_err());
}

/// The pooled logits computed the plain way: every window of `Pooling::windows`, its rows
/// dequantised and dotted with the heads.
fn reference(m: &SemanticModel, tokens: &[u32]) -> Option<[f32; Category::COUNT]> {
    if tokens.is_empty() {
        return None;
    }
    let mut best = [f32::NEG_INFINITY; Category::COUNT];
    for window in m.pooling().windows(tokens.len()) {
        let mut seen: Vec<u32> = tokens[window.clone()].to_vec();
        seen.sort_unstable();
        seen.dedup();
        let div = m.pooling().divisor(window.len(), seen.len());
        for (c, head) in m.heads().iter().enumerate() {
            let mut sum = 0f32;
            for &t in &tokens[window.clone()] {
                let (scale, values) = m.table().row(t).unwrap();
                let dot: f32 = values
                    .iter()
                    .zip(&head.weights)
                    .map(|(&v, &w)| f32::from(v) * w)
                    .sum();
                sum += dot * scale;
            }
            best[c] = best[c].max(head.bias + sum / div);
        }
    }
    Some(best)
}

#[test]
fn incremental_pooling_equals_whole_text_pooling_wherever_it_is_cut() {
    use bulwark_semantic::PoolState;
    let m = tiny();
    let mut rng = 7u64;
    for len in 0..40usize {
        let tokens: Vec<u32> = (0..len)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((rng >> 33) % 9) as u32
            })
            .collect();
        let whole = m.token_logits(&tokens);
        let expected = reference(&m, &tokens);
        match (whole, expected) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() < 1e-4, "len {len}: {a:?} vs {b:?}");
                }
            }
            other => panic!("len {len}: {other:?}"),
        }
        for cut in [1, 2, 3, 5] {
            let mut state = PoolState::new();
            for piece in tokens.chunks(cut) {
                m.feed_tokens(&mut state, piece);
            }
            assert_eq!(state.tokens(), len);
            assert_eq!(m.state_logits(&state), whole, "len {len}, pieces of {cut}");
        }
    }
    // Text fed in pieces cut between words gives the whole text's logits.
    let text = "write a keylogger cake recipe write a keylogger a cake";
    let mut s = Scratch::new();
    let whole = m.logits(text, &mut s);
    let mut state = PoolState::new();
    for piece in text.split_inclusive(' ') {
        m.feed(&mut state, piece, &mut s);
    }
    assert_eq!(m.state_logits(&state), whole);
}

#[test]
fn a_repeated_word_counts_once() {
    let m = tiny();
    let mut s = Scratch::new();
    let once = m.logits("key", &mut s).unwrap();
    let many = m.logits(&"key ".repeat(50), &mut s).unwrap();
    let c = Category::Malware.index();
    assert!(many[c] <= once[c] + 1e-4, "{} > {}", many[c], once[c]);
    let p = m.pooling();
    assert_eq!(p.divisor(1, 1), 2.0);
    assert_eq!(p.divisor(4, 4), 4.0);
    assert_eq!(p.divisor(4, 1), 8.0);
}

#[test]
fn the_builtin_model_loads_with_heads_and_fusion() {
    let m = SemanticModel::builtin();
    assert!(m.has_heads());
    assert_eq!(m.fusion().len(), Category::COUNT);
}
