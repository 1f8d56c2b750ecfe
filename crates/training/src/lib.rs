//! Training and evaluation of Bulwark's moderation model (`bulwark model train|eval`).
//!
//! * [`data`] reads the shared data directory's corpora (and labelled JSONL files) into
//!   labelled [`Example`]s, keeping only licence-clean sources for training;
//! * [`prepare`] folds, deduplicates and splits them deterministically ([`Corpus`]);
//! * [`train`] fits the model (one-vs-rest logistic regression over the scanner's own
//!   windows and features), quantises and calibrates it;
//! * [`eval`] measures a model through the scanner's scoring path: on the test split, on
//!   sources it never saw, on planted requests, and per held-out source after retraining;
//! * [`scenarios`] scores hand-written attack requests beside their defensive counterparts
//!   (`models/scenarios/`) and counts each rule's hits on benign reference sets;
//! * [`scripts`] splits the share of real traffic flagged by script and language group.
//!
//! Unlike the moderation crate this one does file I/O; the gateway never links it.

pub mod calibrate;
pub mod card;
pub mod cascade;
pub mod data;
#[cfg(feature = "encoder")]
pub mod distil;
pub mod email;
#[cfg(feature = "encoder")]
pub mod encoder;
pub mod encoder_files;
pub mod eval;
pub mod labels;
pub mod loso;
pub mod metrics;
pub mod misclassified;
pub mod pca;
pub mod phishing;
pub mod plan;
pub mod prepare;
pub mod scenarios;
pub mod score;
pub mod scripts;
pub mod semantic;
pub mod train;

pub use crate::{
    data::{DataError, Example, Labels, Licence},
    prepare::{Corpus, Item, Split},
    train::{TrainConfig, TrainReport},
};

use bulwark_moderation::{Model, ModelError};
use bulwark_semantic::{SemanticError, SemanticModel};

use crate::{
    prepare::Rng,
    semantic::{SemanticConfig, SemanticReport},
    train::Sample,
};

/// Sources whose texts are requests (short prompts), as opposed to documents: these are
/// the ones planted into long benign texts.
fn is_request_source(source: &str) -> bool {
    !source.starts_with("email/")
        && !source.starts_with("bipia/")
        && source != "jailbreak_llms"
        && !source.starts_with("jailbreak_llms/")
}

/// Words of benign context around a planted request.
pub const PLANT_CONTEXT_WORDS: usize = 200;

/// Short requests of `items` planted into benign contexts drawn from `hosts`.
pub fn planted(items: &[&Item], hosts: &[&Item], seed: u64) -> Vec<(String, Labels)> {
    let short: Vec<&Item> = items
        .iter()
        .copied()
        .filter(|i| {
            !i.example.labels.is_benign()
                && is_request_source(&i.example.source)
                && i.folded.split_whitespace().count() <= 40
        })
        .collect();
    prepare::plant(&short, hosts, PLANT_CONTEXT_WORDS, &mut Rng::new(seed))
}

/// The training and dev texts of a corpus without some sources, with short harmful
/// requests planted into long benign texts of the same split (see [`prepare::plant`]).
#[derive(Debug)]
pub struct Folds<'c> {
    pub train_items: Vec<&'c Item>,
    pub dev_items: Vec<&'c Item>,
    train_planted: Vec<(String, Labels)>,
    dev_planted: Vec<(String, Labels)>,
}

impl<'c> Folds<'c> {
    /// Leaves out every example from `exclude` sources (the by-source hold-out).
    pub fn new(corpus: &'c Corpus, seed: u64, exclude: &[&str]) -> Self {
        let keep = |i: &&Item| !exclude.iter().any(|s| of_source(&i.example.source, s));
        let train_items: Vec<&Item> = corpus.split(Split::Train).filter(keep).collect();
        let dev_items: Vec<&Item> = corpus.split(Split::Dev).filter(keep).collect();
        let train_planted = planted(&train_items, &benign(&train_items), seed);
        let dev_planted = planted(&dev_items, &benign(&dev_items), seed ^ 0xdead);
        Self {
            train_items,
            dev_items,
            train_planted,
            dev_planted,
        }
    }

    pub fn train(&self) -> Vec<Sample<'_>> {
        self.train_items
            .iter()
            .map(|i| sample(i))
            .chain(self.train_planted.iter().map(planted_sample))
            .collect()
    }

    pub fn dev(&self) -> Vec<Sample<'_>> {
        self.dev_items
            .iter()
            .map(|i| sample(i))
            .chain(self.dev_planted.iter().map(planted_sample))
            .collect()
    }
}

/// Trains a model on `corpus`'s train split (calibrated on its dev split), leaving out
/// every example from `exclude` sources (the by-source hold-out). Short harmful requests
/// are also planted into long benign training texts (see [`prepare::plant`]).
pub fn fit(
    corpus: &Corpus,
    config: &TrainConfig,
    exclude: &[&str],
) -> Result<(Model, TrainReport), ModelError> {
    let folds = Folds::new(corpus, config.seed, exclude);
    train::train(config, &folds.train(), &folds.dev())
}

/// Trains semantic heads over `base`'s table, as [`fit`] trains the n-gram model.
pub fn fit_semantic(
    corpus: &Corpus,
    base: &SemanticModel,
    config: &SemanticConfig,
    exclude: &[&str],
) -> Result<(SemanticModel, SemanticReport), SemanticError> {
    let folds = Folds::new(corpus, config.seed, exclude);
    semantic::train(base, config, &folds.train(), &folds.dev())
}

/// Whether an example of `source` belongs to `wanted`: the same source, or one of its
/// parts (`jailbreak_llms` holds `jailbreak_llms/discord`, …).
pub fn of_source(source: &str, wanted: &str) -> bool {
    source == wanted
        || source
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn benign<'a>(items: &[&'a Item]) -> Vec<&'a Item> {
    items
        .iter()
        .copied()
        .filter(|i| i.example.labels.is_benign())
        .collect()
}

fn sample(item: &Item) -> Sample<'_> {
    Sample {
        text: &item.example.text,
        folded: &item.folded,
        labels: item.example.labels,
    }
}

fn planted_sample((text, labels): &(String, Labels)) -> Sample<'_> {
    Sample {
        text,
        folded: text,
        labels: *labels,
    }
}
