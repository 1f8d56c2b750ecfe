//! Distilling the encoder into a static token table (`bulwark model distil`).
//!
//! 1. **Each token alone.** Every vocabulary token is run through the encoder as
//!    `[CLS] token [SEP]`; its output state is the token's first vector. This covers the
//!    whole vocabulary, including tokens no corpus text has.
//! 2. **Tokens in context.** A sample of benign training texts is run through the encoder;
//!    every position's output state is added to its token's sum. A token's vector is then
//!    the average of what the encoder says about it where it occurs, with the solo vector
//!    counted as `context_prior` extra occurrences (so a token seen once is not defined by
//!    one sentence). Only benign texts are used: the table then owes nothing to any
//!    labelled positive source, and the by-source hold-outs stay clean.
//! 3. **Reduction.** The vectors are centred and projected onto their top `dim` principal
//!    components ([`crate::pca`]).
//! 4. **Frequency weighting.** Each row is multiplied by `a / (a + p(token))`, `p` the
//!    token's share of all tokens in the benign training texts (smooth inverse frequency):
//!    in a mean of rows, "the" and "," should weigh little.
//! 5. **Quantisation** to `i8` with one scale per row.

use bulwark_semantic::{Pooling, SemanticModel, Table, WordPiece};

use crate::{
    encoder::{Encoder, EncoderError, HIDDEN},
    pca::Pca,
    prepare::Rng,
};

/// How to distil.
#[derive(Debug, Clone)]
pub struct DistilConfig {
    pub name: String,
    /// Width of the table after PCA.
    pub dim: usize,
    /// Benign texts run through the encoder for contextual averages (0: solo vectors only).
    pub context_texts: usize,
    /// Tokens of each context text that are read.
    pub max_tokens: usize,
    /// The solo vector counts as this many occurrences.
    pub context_prior: f32,
    /// Smooth-inverse-frequency constant `a`.
    pub sif: f32,
    /// Picks the context texts.
    pub seed: u64,
}

impl Default for DistilConfig {
    fn default() -> Self {
        Self {
            name: "bulwark-minilm-static-1".to_owned(),
            dim: 256,
            context_texts: 1500,
            max_tokens: 128,
            context_prior: 2.0,
            sif: 1e-3,
            seed: 1,
        }
    }
}

/// What distillation did, for the summary.
#[derive(Debug, Clone)]
pub struct DistilReport {
    pub context_positions: usize,
    pub tokens_seen_in_context: usize,
    pub explained_variance: f64,
}

/// Distils `encoder` into a table (a [`SemanticModel`] without heads). `benign` are the
/// benign training texts (context and frequencies); `progress(done, total)` is called
/// after every batch.
pub fn distil(
    encoder: &Encoder,
    benign: &[&str],
    config: &DistilConfig,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<(SemanticModel, DistilReport), EncoderError> {
    let vocab = encoder.vocab();
    let rows = vocab.len();
    // 1. Solo vectors.
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(rows);
    const SOLO_BATCH: usize = 512;
    for start in (0..rows).step_by(SOLO_BATCH) {
        let end = (start + SOLO_BATCH).min(rows);
        let batch: Vec<Vec<u32>> = (start..end)
            .map(|id| encoder.with_specials(&[id as u32], 3))
            .collect();
        for states in encoder.hidden(&batch)? {
            vectors.push(states.get(HIDDEN..2 * HIDDEN).unwrap_or_default().to_vec());
        }
        progress("tokens alone", end, rows);
    }
    // 2. Contextual sums over a seeded sample of benign texts, batched by length.
    let mut order: Vec<usize> = (0..benign.len()).collect();
    Rng::new(config.seed).shuffle(&mut order);
    let mut sequences: Vec<Vec<u32>> = Vec::with_capacity(config.context_texts);
    for &i in order.iter().take(config.context_texts) {
        let ids = encoder.reference_ids(benign.get(i).copied().unwrap_or_default())?;
        if !ids.is_empty() {
            sequences.push(encoder.with_specials(&ids, config.max_tokens));
        }
    }
    sequences.sort_by_key(Vec::len);
    let mut sums = vec![0f32; rows * HIDDEN];
    let mut counts = vec![0u32; rows];
    let mut positions = 0usize;
    const CONTEXT_BATCH: usize = 16;
    let total = sequences.len();
    for (b, batch) in sequences.chunks(CONTEXT_BATCH).enumerate() {
        let states = encoder.hidden(batch)?;
        for (seq, flat) in batch.iter().zip(&states) {
            let inner = seq.len().saturating_sub(1);
            for (k, &id) in seq.iter().enumerate().take(inner).skip(1) {
                let (Some(state), Some(sum), Some(count)) = (
                    flat.get(k * HIDDEN..(k + 1) * HIDDEN),
                    sums.get_mut(id as usize * HIDDEN..(id as usize + 1) * HIDDEN),
                    counts.get_mut(id as usize),
                ) else {
                    continue;
                };
                for (s, v) in sum.iter_mut().zip(state) {
                    *s += v;
                }
                *count += 1;
                positions += 1;
            }
        }
        progress(
            "tokens in context",
            ((b + 1) * CONTEXT_BATCH).min(total),
            total,
        );
    }
    let mut seen = 0usize;
    for (id, vector) in vectors.iter_mut().enumerate() {
        let n = counts.get(id).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        seen += 1;
        let Some(sum) = sums.get(id * HIDDEN..(id + 1) * HIDDEN) else {
            continue;
        };
        let k = config.context_prior;
        let denominator = n as f32 + k;
        for (v, s) in vector.iter_mut().zip(sum) {
            *v = (s + k * *v) / denominator;
        }
    }
    // 3. PCA.
    progress("principal components", 0, 1);
    let pca = Pca::fit(&vectors, config.dim);
    progress("principal components", 1, 1);
    // 4. Frequency weights from the benign texts, tokenised as the runtime will.
    let tokenizer = WordPiece::new(vocab).map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    let mut frequency = vec![0u64; rows];
    let mut all = 0u64;
    let mut ids = Vec::new();
    let mut word = String::new();
    for text in benign {
        ids.clear();
        tokenizer.tokenize(text, &mut ids, &mut word, usize::MAX);
        for &id in &ids {
            if let Some(f) = frequency.get_mut(id as usize) {
                *f += 1;
                all += 1;
            }
        }
    }
    let reduced: Vec<Vec<f32>> = vectors
        .iter()
        .zip(&frequency)
        .map(|(v, &f)| {
            let p = f as f32 / all.max(1) as f32;
            let weight = config.sif / (config.sif + p);
            pca.project(v).into_iter().map(|x| x * weight).collect()
        })
        .collect();
    // 5. Quantise.
    let table =
        Table::quantise(&reduced, config.dim).map_err(|e| EncoderError::Config(e.to_string()))?;
    let model = SemanticModel::from_parts(
        config.name.clone(),
        vocab.to_vec(),
        table,
        Pooling::default(),
        Vec::new(),
        Vec::new(),
    )
    .map_err(|e| EncoderError::Config(e.to_string()))?;
    Ok((
        model,
        DistilReport {
            context_positions: positions,
            tokens_seen_in_context: seen,
            explained_variance: pca.explained(),
        },
    ))
}
