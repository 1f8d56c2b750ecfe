//! The trainer: one-vs-rest logistic regression per category over the model's hashed
//! features, scored over the model's windows, fitted by AdaGrad with L2, deterministic
//! for a given seed (one thread, seeded shuffles, fixed summation order).
//!
//! **Windows and multiple-instance learning.** The model scores a text by its best window,
//! so the trainer learns on windows too. Every window of a benign text is a negative (a
//! long benign email teaches that none of its passages is abuse); for a text labelled
//! with a category, the window the current weights score highest is that category's
//! positive, each epoch (its other windows are left out for that category: a jailbreak's
//! closing pleasantries are not the jailbreak).
//!
//! After training, the weights are quantised to `i8` per category and the model is
//! calibrated on the dev split through the scanner's own scoring path
//! ([`crate::score::logits`]): Platt scaling per category, then thresholds per side (see
//! [`Targets`]).

use bulwark_core::Category;
use bulwark_moderation::{FeatureConfig, Head, Model, ModelError, Normalizer, Scratch};

use crate::{calibrate::calibrate_categories, data::Labels, prepare::Rng, score};

const C: usize = Category::COUNT;

/// Precision and false-positive-rate targets a threshold must meet on the dev split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    pub precision: f64,
    pub max_fpr: f64,
}

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The model's name, as its file states it.
    pub name: String,
    pub features: FeatureConfig,
    pub epochs: usize,
    /// AdaGrad's base learning rate.
    pub learning_rate: f32,
    /// L2 penalty per update on the weights an example touches.
    pub l2: f32,
    /// Seeds the example order of every epoch.
    pub seed: u64,
    /// Training reads at most this many tokens of a text (windows past it add little).
    pub max_tokens: usize,
    /// Threshold targets for prompts.
    pub input: Targets,
    /// Threshold targets for completions.
    pub output: Targets,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            name: "bulwark-hashlin-2026.11-1".to_owned(),
            features: FeatureConfig::default(),
            epochs: 8,
            learning_rate: 0.2,
            l2: 1e-6,
            seed: 1,
            max_tokens: 768,
            input: Targets {
                precision: 0.95,
                max_fpr: 0.01,
            },
            // Completions are scored after every streamed piece, so each one gets many
            // chances to cross a threshold: the same targets as prompts, not looser.
            output: Targets {
                precision: 0.95,
                max_fpr: 0.01,
            },
        }
    }
}

/// A training text: as written (what the scanner is given), folded (what the model is
/// fed) and its labels.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub text: &'a str,
    pub folded: &'a str,
    pub labels: Labels,
}

/// A text's features, token by token.
struct Doc {
    buckets: Vec<u32>,
    /// `token_ends[t]` is the end of token `t`'s buckets.
    token_ends: Vec<u32>,
    windows: Vec<(u32, u32)>,
    labels: Labels,
}

impl Doc {
    fn new(config: &FeatureConfig, sample: &Sample<'_>, max_tokens: usize) -> Self {
        let mut buckets = Vec::new();
        let mut token_ends = Vec::new();
        config.tokens(sample.folded, |b| {
            if token_ends.len() < max_tokens {
                buckets.extend_from_slice(b);
                token_ends.push(buckets.len() as u32);
            }
        });
        let windows = config
            .windows(token_ends.len())
            .map(|r| (r.start as u32, r.end as u32))
            .collect();
        Self {
            buckets,
            token_ends,
            windows,
            labels: sample.labels,
        }
    }

    /// The buckets of tokens `start..end`.
    fn span(&self, (start, end): (u32, u32)) -> &[u32] {
        let from = match start {
            0 => 0,
            s => self.token_ends.get(s as usize - 1).copied().unwrap_or(0),
        };
        let to = match end {
            0 => 0,
            e => self.token_ends.get(e as usize - 1).copied().unwrap_or(0),
        };
        self.buckets
            .get(from as usize..to as usize)
            .unwrap_or_default()
    }
}

/// The float model while training.
struct Weights {
    config: FeatureConfig,
    w: Vec<[f32; C]>,
    g: Vec<[f32; C]>,
    bias: [f32; C],
    bias_g: [f32; C],
}

impl Weights {
    fn logits(&self, buckets: &[u32]) -> [f32; C] {
        let mut sums = [0f32; C];
        for &b in buckets {
            if let Some(row) = self.w.get(b as usize) {
                for (s, w) in sums.iter_mut().zip(row) {
                    *s += w;
                }
            }
        }
        let norm = self.config.norm(buckets.len() as u32);
        let mut out = self.bias;
        for (o, s) in out.iter_mut().zip(sums) {
            *o += s / norm;
        }
        out
    }

    /// One AdaGrad step on one window; `grad[c]` is dLoss/dlogit (0 = category skipped).
    fn step(&mut self, buckets: &[u32], grad: [f32; C], lr: f32, l2: f32) {
        let inv_norm = 1.0 / self.config.norm(buckets.len() as u32);
        for &b in buckets {
            let (Some(w), Some(g)) = (self.w.get_mut(b as usize), self.g.get_mut(b as usize))
            else {
                continue;
            };
            for c in 0..C {
                let (Some(d), Some(wc), Some(gc)) = (grad.get(c), w.get_mut(c), g.get_mut(c))
                else {
                    continue;
                };
                if *d == 0.0 {
                    continue;
                }
                let step = d * inv_norm + l2 * *wc;
                *gc += step * step;
                *wc -= lr * step / (gc.sqrt() + 1e-6);
            }
        }
        for ((bias, g), d) in self.bias.iter_mut().zip(&mut self.bias_g).zip(grad) {
            if d != 0.0 {
                *g += d * d;
                *bias -= lr * d / (g.sqrt() + 1e-6);
            }
        }
    }
}

/// What training did, for the summary.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub train_texts: usize,
    pub train_windows: usize,
    pub positives: [usize; C],
    pub dev_texts: usize,
    /// Share of quantised weights that are not zero.
    pub nonzero_weights: f64,
}

/// Trains, quantises and calibrates a model.
pub fn train(
    config: &TrainConfig,
    train: &[Sample<'_>],
    dev: &[Sample<'_>],
) -> Result<(Model, TrainReport), ModelError> {
    let features = config.features;
    features.validate().map_err(ModelError)?;
    let docs: Vec<Doc> = train
        .iter()
        .map(|s| Doc::new(&features, s, config.max_tokens))
        .collect();

    // Class weights: positives are few (one window per text) and negatives many (every
    // window of every other text): weigh positives by the square root of the imbalance.
    let positives: [usize; C] =
        Category::ALL.map(|category| docs.iter().filter(|d| d.labels.contains(category)).count());
    let negatives: [usize; C] = Category::ALL.map(|category| {
        docs.iter()
            .filter(|d| !d.labels.contains(category))
            .map(|d| d.windows.len())
            .sum()
    });
    let mut class_weight = [1f32; C];
    for ((w, p), n) in class_weight.iter_mut().zip(positives).zip(negatives) {
        *w = (n as f32 / p.max(1) as f32).sqrt().clamp(1.0, 30.0);
    }

    let mut weights = Weights {
        config: features,
        w: vec![[0.0; C]; features.buckets()],
        g: vec![[0.0; C]; features.buckets()],
        bias: [0.0; C],
        bias_g: [0.0; C],
    };
    let mut rng = Rng::new(config.seed);
    let mut order: Vec<usize> = (0..docs.len()).collect();
    for _ in 0..config.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let Some(doc) = docs.get(i) else { continue };
            // The positive window per positive category: the highest-scoring one now.
            let mut chosen = [usize::MAX; C];
            if !doc.labels.is_benign() {
                let mut best = [f32::NEG_INFINITY; C];
                for (k, &window) in doc.windows.iter().enumerate() {
                    let logits = weights.logits(doc.span(window));
                    for c in 0..C {
                        if let (Some(l), Some(b), Some(ch)) =
                            (logits.get(c), best.get_mut(c), chosen.get_mut(c))
                            && *l > *b
                        {
                            *b = *l;
                            *ch = k;
                        }
                    }
                }
            }
            for (k, &window) in doc.windows.iter().enumerate() {
                let span = doc.span(window);
                let logits = weights.logits(span);
                let mut grad = [0f32; C];
                for (c, category) in Category::ALL.into_iter().enumerate() {
                    let (Some(g), Some(l)) = (grad.get_mut(c), logits.get(c)) else {
                        continue;
                    };
                    let p = sigmoid(*l);
                    if !doc.labels.contains(category) {
                        *g = p;
                    } else if chosen.get(c) == Some(&k) {
                        *g = (p - 1.0) * class_weight.get(c).copied().unwrap_or(1.0);
                    }
                }
                weights.step(span, grad, config.learning_rate, config.l2);
            }
        }
    }

    // Quantise: one scale per category, the largest weight maps to ±127. (Clipping at a
    // high percentile instead changed no dev figure: the table is robust to the step.)
    let mut max_abs = [0f32; C];
    for row in &weights.w {
        for (m, w) in max_abs.iter_mut().zip(row) {
            *m = m.max(w.abs());
        }
    }
    let scale: [f32; C] = max_abs.map(|m| if m > 0.0 { m / 127.0 } else { 1.0 });
    let mut nonzero = 0usize;
    let quantised: Vec<[i8; C]> = weights
        .w
        .iter()
        .map(|row| {
            let mut q = [0i8; C];
            for ((q, w), s) in q.iter_mut().zip(row).zip(scale) {
                *q = (w / s).round().clamp(-127.0, 127.0) as i8;
                nonzero += usize::from(*q != 0);
            }
            q
        })
        .collect();
    let heads: [Head; C] = std::array::from_fn(|c| Head {
        bias: weights.bias.get(c).copied().unwrap_or(0.0),
        scale: scale.get(c).copied().unwrap_or(1.0),
        platt_a: 1.0,
        platt_b: 0.0,
        threshold_input: 0.5,
        threshold_output: 0.5,
    });
    let raw = Model::from_parts(config.name.clone(), features, heads, quantised)?;

    // Calibrate on dev through the scanner's scoring path.
    let normalizer = Normalizer::new();
    let mut scratch = Scratch::new();
    let dev_logits: Vec<[f32; C]> = dev
        .iter()
        .map(|s| score::logits(&raw, &normalizer, &mut scratch, s.text))
        .collect();
    let mut heads = *raw.heads();
    let labels: Vec<crate::Labels> = dev.iter().map(|s| s.labels).collect();
    let calibrations = calibrate_categories(&dev_logits, &labels, 0.0, config.input, config.output);
    for (head, k) in heads.iter_mut().zip(calibrations) {
        head.platt_a = k.platt_a;
        head.platt_b = k.platt_b;
        head.threshold_input = k.threshold_input;
        head.threshold_output = k.threshold_output;
    }
    let model = raw.with_heads(heads)?;
    let report = TrainReport {
        train_texts: docs.len(),
        train_windows: docs.iter().map(|d| d.windows.len()).sum(),
        positives,
        dev_texts: dev.len(),
        nonzero_weights: nonzero as f64 / (features.buckets() * C) as f64,
    };
    Ok((model, report))
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
