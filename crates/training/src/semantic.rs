//! Training the semantic tier's heads on a distilled table (`bulwark-semantic`).
//!
//! A text (the normaliser's folded text, as the scanner sees it) is tokenised with the
//! runtime's WordPiece, cut into the runtime's windows, and each window becomes the mean
//! of its rows ([`bulwark_semantic::Pooling`]). One logistic regression per category is
//! fitted on those window vectors with the n-gram trainer's recipe: every window of a
//! text without the category is a negative; for a text with it, the window the current
//! weights score highest is the positive (multiple-instance learning); positives are
//! weighted by √(negatives / positives). Features are standardised while training and the
//! standardisation folded back into the weights, so the file holds plain linear heads.
//! Then Platt scaling and thresholds on the dev split, through the scanner's path (the
//! folded text and every decoded segment, the highest score kept).

use bulwark_core::Category;
use bulwark_moderation::{Normalizer, Scratch};
use bulwark_semantic::{Head, Pooling, SemanticError, SemanticModel};

use crate::{
    calibrate::calibrate_categories,
    prepare::Rng,
    train::{Sample, Targets, sigmoid},
};

const C: usize = Category::COUNT;

/// How to train the heads.
#[derive(Debug, Clone)]
pub struct SemanticConfig {
    pub name: String,
    pub pooling: Pooling,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
    /// Training reads at most this many tokens of a text.
    pub max_tokens: usize,
    pub input: Targets,
    pub output: Targets,
}

impl Default for SemanticConfig {
    fn default() -> Self {
        Self {
            name: "bulwark-semantic-2026.11-1".to_owned(),
            pooling: Pooling::default(),
            epochs: 12,
            learning_rate: 0.05,
            l2: 1e-5,
            seed: 1,
            max_tokens: 768,
            input: Targets {
                precision: 0.95,
                max_fpr: 0.01,
            },
            output: Targets {
                precision: 0.95,
                max_fpr: 0.01,
            },
        }
    }
}

/// What training did.
#[derive(Debug, Clone)]
pub struct SemanticReport {
    pub train_texts: usize,
    pub train_windows: usize,
    pub positives: [usize; C],
}

/// The window vectors of one text, flattened (`windows × dim`).
pub fn window_features(
    model: &SemanticModel,
    tokens: &[u32],
    pooling: Pooling,
    max_tokens: usize,
) -> Vec<f32> {
    let dim = model.table().dim();
    let tokens = tokens
        .get(..tokens.len().min(max_tokens))
        .unwrap_or_default();
    let mut out = Vec::new();
    for window in pooling.windows(tokens.len()) {
        let in_window = tokens.get(window.clone()).unwrap_or_default();
        let weight = 1.0 / pooling.divisor(window.len(), distinct(in_window, pooling));
        let start = out.len();
        out.resize(start + dim, 0.0);
        if let Some(acc) = out.get_mut(start..) {
            for &t in tokens.get(window).unwrap_or_default() {
                model.table().add_row(t, weight, acc);
            }
        }
    }
    out
}

/// How many different tokens `tokens` has, counted up to the pooling's floor (all that
/// [`Pooling::divisor`] needs), as the runtime counts them.
fn distinct(tokens: &[u32], pooling: Pooling) -> usize {
    let floor = usize::from(pooling.norm_floor);
    let mut seen: Vec<u32> = Vec::with_capacity(floor);
    for &t in tokens {
        if seen.len() >= floor {
            break;
        }
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    seen.len()
}

struct Doc {
    windows: Vec<f32>,
    labels: crate::Labels,
}

/// Trains heads for `base`'s table on `train` and calibrates them on `dev`.
pub fn train(
    base: &SemanticModel,
    config: &SemanticConfig,
    train: &[Sample<'_>],
    dev: &[Sample<'_>],
) -> Result<(SemanticModel, SemanticReport), SemanticError> {
    config.pooling.validate().map_err(SemanticError::Format)?;
    let dim = base.table().dim();
    let mut scratch = bulwark_semantic::Scratch::new();
    let docs: Vec<Doc> = train
        .iter()
        .map(|s| {
            let tokens = base.tokenize(s.folded, &mut scratch);
            Doc {
                windows: window_features(base, tokens, config.pooling, config.max_tokens),
                labels: s.labels,
            }
        })
        .filter(|d| !d.windows.is_empty())
        .collect();
    // Standardisation.
    let mut mean = vec![0f64; dim];
    let mut square = vec![0f64; dim];
    let mut n = 0f64;
    for doc in &docs {
        for window in doc.windows.chunks_exact(dim) {
            n += 1.0;
            for ((m, q), v) in mean.iter_mut().zip(&mut square).zip(window) {
                *m += f64::from(*v);
                *q += f64::from(*v) * f64::from(*v);
            }
        }
    }
    let n = n.max(1.0);
    let mu: Vec<f32> = mean.iter().map(|m| (m / n) as f32).collect();
    let sd: Vec<f32> = mean
        .iter()
        .zip(&square)
        .map(|(m, q)| ((q / n - (m / n) * (m / n)).max(0.0).sqrt() as f32).max(1e-6))
        .collect();
    let standard = |window: &[f32], out: &mut Vec<f32>| {
        out.clear();
        out.extend(
            window
                .iter()
                .zip(&mu)
                .zip(&sd)
                .map(|((v, m), s)| (v - m) / s),
        );
    };

    let positives: [usize; C] =
        Category::ALL.map(|c| docs.iter().filter(|d| d.labels.contains(c)).count());
    let negatives: [usize; C] = Category::ALL.map(|c| {
        docs.iter()
            .filter(|d| !d.labels.contains(c))
            .map(|d| d.windows.len() / dim)
            .sum()
    });
    let mut class_weight = [1f32; C];
    for ((w, p), q) in class_weight.iter_mut().zip(positives).zip(negatives) {
        *w = (q as f32 / p.max(1) as f32).sqrt().clamp(1.0, 30.0);
    }

    let mut w = vec![0f32; C * dim];
    let mut g = vec![0f32; C * dim];
    let mut bias = [0f32; C];
    let mut bias_g = [0f32; C];
    let logit = |w: &[f32], bias: &[f32; C], c: usize, x: &[f32]| -> f32 {
        let row = w.get(c * dim..(c + 1) * dim).unwrap_or_default();
        bias.get(c).copied().unwrap_or(0.0) + row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>()
    };
    let mut rng = Rng::new(config.seed);
    let mut order: Vec<usize> = (0..docs.len()).collect();
    let mut x = Vec::with_capacity(dim);
    for _ in 0..config.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let Some(doc) = docs.get(i) else { continue };
            let mut chosen = [usize::MAX; C];
            if !doc.labels.is_benign() {
                let mut best = [f32::NEG_INFINITY; C];
                for (k, window) in doc.windows.chunks_exact(dim).enumerate() {
                    standard(window, &mut x);
                    for (c, category) in Category::ALL.into_iter().enumerate() {
                        if !doc.labels.contains(category) {
                            continue;
                        }
                        let l = logit(&w, &bias, c, &x);
                        if let (Some(b), Some(ch)) = (best.get_mut(c), chosen.get_mut(c))
                            && l > *b
                        {
                            *b = l;
                            *ch = k;
                        }
                    }
                }
            }
            for (k, window) in doc.windows.chunks_exact(dim).enumerate() {
                standard(window, &mut x);
                for (c, category) in Category::ALL.into_iter().enumerate() {
                    let p = sigmoid(logit(&w, &bias, c, &x));
                    let d = if !doc.labels.contains(category) {
                        p
                    } else if chosen.get(c) == Some(&k) {
                        (p - 1.0) * class_weight.get(c).copied().unwrap_or(1.0)
                    } else {
                        continue;
                    };
                    let (Some(row), Some(grow)) = (
                        w.get_mut(c * dim..(c + 1) * dim),
                        g.get_mut(c * dim..(c + 1) * dim),
                    ) else {
                        continue;
                    };
                    for ((wj, gj), xj) in row.iter_mut().zip(grow.iter_mut()).zip(&x) {
                        let step = d * xj + config.l2 * *wj;
                        *gj += step * step;
                        *wj -= config.learning_rate * step / (gj.sqrt() + 1e-6);
                    }
                    if let (Some(b), Some(bg)) = (bias.get_mut(c), bias_g.get_mut(c)) {
                        *bg += d * d;
                        *b -= config.learning_rate * d / (bg.sqrt() + 1e-6);
                    }
                }
            }
        }
    }
    // Fold the standardisation into plain heads.
    let heads: Vec<Head> = (0..C)
        .map(|c| {
            let row = w.get(c * dim..(c + 1) * dim).unwrap_or_default();
            let weights: Vec<f32> = row.iter().zip(&sd).map(|(w, s)| w / s).collect();
            let shift: f32 = weights.iter().zip(&mu).map(|(w, m)| w * m).sum();
            Head {
                weights,
                bias: bias.get(c).copied().unwrap_or(0.0) - shift,
                platt_a: 1.0,
                platt_b: 0.0,
                threshold_input: 0.5,
                threshold_output: 0.5,
            }
        })
        .collect();
    let raw = base.with_heads(config.name.clone(), config.pooling, heads)?;

    // Calibrate on dev through the scanner's path.
    let normalizer = Normalizer::new();
    let mut norm_scratch = Scratch::new();
    let dev_logits: Vec<[f32; C]> = dev
        .iter()
        .map(|s| logits(&raw, &normalizer, &mut norm_scratch, &mut scratch, s.text))
        .collect();
    let mut heads = raw.heads().to_vec();
    let labels: Vec<crate::Labels> = dev.iter().map(|s| s.labels).collect();
    let calibrations =
        calibrate_categories(&dev_logits, &labels, -30.0, config.input, config.output);
    for (head, k) in heads.iter_mut().zip(calibrations) {
        head.platt_a = k.platt_a;
        head.platt_b = k.platt_b;
        head.threshold_input = k.threshold_input;
        head.threshold_output = k.threshold_output;
    }
    let model = raw.with_heads(config.name.clone(), config.pooling, heads)?;
    let report = SemanticReport {
        train_texts: docs.len(),
        train_windows: docs.iter().map(|d| d.windows.len() / dim).sum(),
        positives,
    };
    Ok((model, report))
}

/// The raw semantic logit per category of `text` through the scanner's path: the
/// highest over the folded text and every decoded segment (-30 when nothing has a token).
pub fn logits(
    model: &SemanticModel,
    normalizer: &Normalizer,
    scratch: &mut Scratch,
    semantic: &mut bulwark_semantic::Scratch,
    text: &str,
) -> [f32; C] {
    let normalized = normalizer.normalize(text, scratch);
    let mut best = [-30f32; C];
    for piece in normalized.texts() {
        if let Some(l) = model.logits(piece, semantic) {
            for (b, v) in best.iter_mut().zip(l) {
                *b = b.max(v);
            }
        }
    }
    best
}

/// The calibrated scores of `text` through the scanner's path.
pub fn scores(
    model: &SemanticModel,
    normalizer: &Normalizer,
    scratch: &mut Scratch,
    semantic: &mut bulwark_semantic::Scratch,
    text: &str,
) -> [f32; C] {
    let l = logits(model, normalizer, scratch, semantic, text);
    let mut out = [0f32; C];
    for ((o, l), head) in out.iter_mut().zip(l).zip(model.heads()) {
        *o = head.calibrate(l);
    }
    out
}
