//! Option (b), the full encoder as a cascade stage: what one call costs, and how much
//! benign traffic the fast tier would send it.
//!
//! The fast tier is sure when a text's fused probability is far from every threshold;
//! the texts in `[low, threshold)` for some category are the unsure ones a second stage
//! would re-read. [`band_share`] counts them; [`latency`] times the encoder on the
//! texts it would get.

use bulwark_core::Category;

#[cfg(feature = "encoder")]
use crate::encoder::{Encoder, EncoderError};
use crate::loso::{Scorer, Systems};

/// Timing of the full encoder on some texts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    pub max_tokens: usize,
    pub mean_tokens: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
}

/// Embeds each text alone (batch of one, as a cascade call would) `repeats` times and
/// reports the median and 90th percentile per call.
#[cfg(feature = "encoder")]
pub fn latency(
    encoder: &Encoder,
    texts: &[&str],
    max_tokens: usize,
    repeats: usize,
) -> Result<Latency, EncoderError> {
    let mut times: Vec<f64> = Vec::with_capacity(texts.len() * repeats);
    let mut tokens = 0usize;
    for text in texts {
        tokens += encoder
            .reference_ids(text)?
            .len()
            .min(max_tokens.saturating_sub(2))
            + 2;
        // One warm-up call, then the timed ones.
        encoder.sentences(&[text], max_tokens)?;
        for _ in 0..repeats {
            let started = std::time::Instant::now();
            encoder.sentences(&[text], max_tokens)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(Latency {
        max_tokens,
        mean_tokens: tokens as f64 / texts.len().max(1) as f64,
        median_ms: at(0.5),
        p90_ms: at(0.9),
    })
}

/// The share of `texts` the fused fast tier is unsure about: for some category, a fused
/// probability at or above `low` but below its threshold (and none flagged outright).
pub fn band_share(systems: &Systems, texts: &[&str], low: f32) -> f64 {
    let Some(fusion) = &systems.fusion else {
        return 0.0;
    };
    let thresholds = systems
        .thresholds
        .get(4)
        .copied()
        .unwrap_or([1.0; Category::COUNT]);
    let mut scorer = Scorer::new(systems);
    let mut unsure = 0usize;
    for text in texts {
        let features = scorer.features(text);
        let flagged = scorer.flags(4, &features).iter().any(|f| *f);
        let in_band = fusion
            .iter()
            .zip(thresholds)
            .enumerate()
            .any(|(c, (fu, t))| {
                let p = crate::loso::fused(fu, &features, c);
                p >= low && p < t
            });
        unsure += usize::from(in_band && !flagged);
    }
    unsure as f64 / texts.len().max(1) as f64
}
