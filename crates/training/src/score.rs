//! The scanner's scoring path, model only: normalise, then score the folded text and every
//! decoded segment and keep the highest per category — what [`bulwark_moderation::Scanner`]
//! does before it adds the rules. Evaluation and calibration go through here so that
//! their figures are the scanner's.

use bulwark_core::Category;
use bulwark_moderation::{Model, Normalizer, Scratch};

/// The raw logit per category of `text` (very negative when it has no token).
pub fn logits(
    model: &Model,
    normalizer: &Normalizer,
    scratch: &mut Scratch,
    text: &str,
) -> [f32; Category::COUNT] {
    let normalized = normalizer.normalize(text, scratch);
    let mut best = [f32::MIN; Category::COUNT];
    for piece in normalized.texts() {
        let mut state = model.start();
        model.feed(&mut state, piece);
        if let Some(logits) = model.logits(&state) {
            for (b, l) in best.iter_mut().zip(logits) {
                *b = b.max(l);
            }
        }
    }
    best
}

/// The calibrated model score per category of `text`.
pub fn scores(
    model: &Model,
    normalizer: &Normalizer,
    scratch: &mut Scratch,
    text: &str,
) -> [f32; Category::COUNT] {
    let normalized = normalizer.normalize(text, scratch);
    let mut best = [0f32; Category::COUNT];
    for piece in normalized.texts() {
        let mut state = model.start();
        model.feed(&mut state, piece);
        for (b, s) in best.iter_mut().zip(model.scores(&state).0) {
            *b = b.max(s);
        }
    }
    best
}
