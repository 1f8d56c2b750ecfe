//! The output side's phishing detector: a completion that *is* a phishing message must be
//! caught even when the prompt looked innocent.
//!
//! It is an n-gram model of the scanner's own kind, trained on mail and mail-like text
//! only: Nazario's phishing messages against SpamAssassin's legitimate mail, BIPIA's
//! benign contexts (mail, code, tables) and questions, Self-Instruct's tasks and answers
//! (what completions look like), CyberSecEval's defensive-security prompts and
//! Do-Not-Answer's benign questions (account and security talk that is not phishing).
//! Every email is subject, body and link targets (`email.rs`), never headers or
//! dates: the ham is from 2002–03 and the phishing from 2015 on, and those fields would
//! teach the calendar. Spam is left out (mostly advertising, neither label fits).
//!
//! Splits are the corpus's own (by group), so the detector never trains on a text the
//! tiers calibrate or are tested on. Its output threshold for `cyber/phishing` is chosen
//! on the dev split (precision and false-positive targets, as every threshold), then
//! raised until at most the traffic budget of the development half of ShareGPT first
//! turns is flagged (real text that is not phishing; never trained on).
//!
//! [`evaluate`] reports it by source: phishing_pot (2023–25 honeypot phishing, a corpus
//! it never saw, non-commercial terms: evaluation only) against the test split's
//! negatives, and the false-positive rate on real traffic and defensive prompts; beside
//! it, the output side without the detector (the fused tiers), on the same texts.

use bulwark_core::{Category, Side};
use bulwark_moderation::{Model, ModelError, Normalizer, ScanScratch, Scanner, Scratch};
use serde::Serialize;

use crate::{
    Corpus, Item, Split, TrainConfig, TrainReport, loso::traffic_halves, score, train::Sample,
};

/// Sources of the detector's positives.
pub const POSITIVE_SOURCES: &[&str] = &["email/nazario"];

/// Sources of its negatives.
/// Sources of its negatives (their benign texts only): legitimate mail, and text that
/// looks like what an assistant answers or is asked, security questions included (a
/// completion that explains how to change a password is not phishing).
pub const NEGATIVE_SOURCES: &[&str] = &[
    "email/spamassassin_ham",
    "bipia/context",
    "bipia/question",
    "self_instruct",
    "cyberseceval/frr",
    "do_not_answer",
];

const PHISHING: usize = Category::Phishing.index();

/// The detector's texts of `split`: its positive and negative sources, labelled
/// `cyber/phishing` or benign.
pub fn items(corpus: &Corpus, split: Split) -> Vec<&Item> {
    corpus
        .split(split)
        .filter(|i| {
            let s = i.example.source.as_str();
            POSITIVE_SOURCES.contains(&s)
                || (NEGATIVE_SOURCES.contains(&s) && i.example.labels.is_benign())
        })
        .collect()
}

fn is_positive(item: &Item) -> bool {
    POSITIVE_SOURCES.contains(&item.example.source.as_str())
}

fn samples<'a>(items: &[&'a Item]) -> Vec<Sample<'a>> {
    items
        .iter()
        .map(|i| Sample {
            text: &i.example.text,
            folded: &i.folded,
            labels: if is_positive(i) {
                crate::Labels::of(&[Category::Phishing])
            } else {
                crate::Labels::BENIGN
            },
        })
        .collect()
}

/// Trains the detector on the train split, calibrates it on the dev split and raises its
/// output threshold to `traffic_budget` of ShareGPT's development half.
pub fn train(
    corpus: &Corpus,
    config: &TrainConfig,
    traffic_budget: Option<f64>,
) -> Result<(Model, TrainReport), ModelError> {
    let train_items = items(corpus, Split::Train);
    let dev_items = items(corpus, Split::Dev);
    let (model, report) =
        crate::train::train(config, &samples(&train_items), &samples(&dev_items))?;
    let Some(budget) = traffic_budget else {
        return Ok((model, report));
    };
    let (traffic, _) = traffic_halves(corpus);
    // The detector's calibrated phishing score, highest over the text's pieces: what the
    // scanner uses on the output side (rules aside).
    let normalizer = Normalizer::new();
    let mut scratch = Scratch::new();
    let mut scores: Vec<f32> = traffic
        .iter()
        .map(|i| {
            score::scores(&model, &normalizer, &mut scratch, &i.example.text)
                .get(PHISHING)
                .copied()
                .unwrap_or(0.0)
        })
        .collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    let allowed = (budget * scores.len() as f64).floor() as usize;
    let mut heads = *model.heads();
    if let (Some(&s), Some(head)) = (scores.get(allowed), heads.get_mut(PHISHING)) {
        // Strictly above the first score past the budget: ties stay unflagged.
        head.threshold_output = head.threshold_output.max(s.next_up()).min(1.0);
    }
    Ok((model.with_heads(heads)?, report))
}

/// The output side's figures on one set, with and without the detector.
#[derive(Debug, Clone, Serialize)]
pub struct DetectorSet {
    pub name: String,
    pub positives: usize,
    pub negatives: usize,
    /// `cyber/phishing` flagged on the output side: the scanner with the detector.
    pub with_detector: Rates,
    /// The same scanner without it (the fused tiers and rules).
    pub without: Rates,
    /// Without it, the output phishing threshold raised as the detector's was (to the
    /// traffic budget of ShareGPT's development half): the two at a like false-positive
    /// rate.
    pub without_at_budget: Option<Rates>,
}

/// Recall on positives and false-positive rate on negatives (`cyber/phishing` flagged).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rates {
    pub recall: f64,
    pub fpr: f64,
}

fn rates(scanner: &Scanner, texts: &[(&str, bool)]) -> Rates {
    let mut scratch = ScanScratch::new();
    let (mut tp, mut fp, mut pos, mut neg) = (0usize, 0usize, 0usize, 0usize);
    for (text, positive) in texts {
        let flagged = scanner
            .scan(text, Side::Output, &mut scratch)
            .flagged
            .get(PHISHING)
            .copied()
            .unwrap_or(false);
        if *positive {
            pos += 1;
            tp += usize::from(flagged);
        } else {
            neg += 1;
            fp += usize::from(flagged);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Rates {
        recall: ratio(tp, pos),
        fpr: ratio(fp, neg),
    }
}

/// The detector by source (see the module docs). `without` is the output side's scanner
/// without the detector; the detector is added to it for the other column.
pub fn evaluate(
    corpus: &Corpus,
    detector: &Model,
    without: &Scanner,
    traffic_budget: Option<f64>,
) -> Vec<DetectorSet> {
    let with = without.clone().with_output_phishing(detector.clone());
    let at_budget = traffic_budget.map(|budget| {
        let (traffic, _) = traffic_halves(corpus);
        let mut scratch = ScanScratch::new();
        let mut scores: Vec<f32> = traffic
            .iter()
            .map(|i| {
                without
                    .scan(&i.example.text, Side::Output, &mut scratch)
                    .scores
                    .get(Category::Phishing)
            })
            .collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        let allowed = (budget * scores.len() as f64).floor() as usize;
        let mut thresholds = *without.thresholds(Side::Output);
        if let (Some(&s), Some(t)) = (scores.get(allowed), thresholds.get_mut(PHISHING)) {
            *t = t.max(s.next_up()).min(1.0);
        }
        without.clone().with_thresholds(Side::Output, thresholds)
    });
    let labelled = |items: &[&Item]| -> Vec<(String, bool)> {
        items
            .iter()
            .map(|i| (i.example.text.clone(), is_positive(i)))
            .collect()
    };
    let test = items(corpus, Split::Test);
    let test_negatives: Vec<&Item> = test.iter().copied().filter(|i| !is_positive(i)).collect();
    let of_source = |source: &str| -> Vec<&Item> {
        corpus
            .items
            .iter()
            .filter(|i| i.example.source == source)
            .collect()
    };
    let (_, traffic_eval) = traffic_halves(corpus);
    let mut sets: Vec<(String, Vec<(String, bool)>)> = vec![
        (
            "dev (mail sources)".to_owned(),
            labelled(&items(corpus, Split::Dev)),
        ),
        ("test (mail sources)".to_owned(), labelled(&test)),
    ];
    let mut held_out: Vec<(String, bool)> = of_source("email/phishing_pot")
        .iter()
        .map(|i| (i.example.text.clone(), true))
        .collect();
    held_out.extend(labelled(&test_negatives));
    sets.push((
        "held out: email/phishing_pot + test negatives".to_owned(),
        held_out,
    ));
    sets.push((
        "sharegpt (evaluation half)".to_owned(),
        traffic_eval
            .iter()
            .map(|i| (i.example.text.clone(), false))
            .collect(),
    ));
    sets.push((
        "cyberseceval/frr (test split)".to_owned(),
        of_source("cyberseceval/frr")
            .iter()
            .filter(|i| i.split == Split::Test)
            .map(|i| (i.example.text.clone(), false))
            .collect(),
    ));
    sets.into_iter()
        .map(|(name, texts)| {
            let texts: Vec<(&str, bool)> = texts.iter().map(|(t, y)| (t.as_str(), *y)).collect();
            DetectorSet {
                name,
                positives: texts.iter().filter(|(_, y)| *y).count(),
                negatives: texts.iter().filter(|(_, y)| !*y).count(),
                with_detector: rates(&with, &texts),
                without: rates(without, &texts),
                without_at_budget: at_budget.as_ref().map(|s| rates(s, &texts)),
            }
        })
        .collect()
}
