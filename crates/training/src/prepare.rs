//! From examples to a corpus: every text folded by the scanner's own normaliser,
//! exact duplicates (after folding) merged, each example put in a deterministic split.
//!
//! **Splits.** An example's split is a hash of its group under a fixed seed: 70% train,
//! 15% dev (calibration, thresholds, choices), 15% test (reported figures only). The group
//! is the text itself, except for jailbreaks (their first twelve words, so that variants
//! of one template stay together: [`crate::data::template_group_of`]), the paragraphs of
//! an email (the email's) and planted BIPIA attacks (the attack's). Examples whose licence forbids training are
//! [`Split::EvalOnly`], whatever their hash.

use std::collections::BTreeMap;

use bulwark_moderation::{Normalizer, Scratch};

use crate::data::{Example, Labels, Licence};

/// The seed of the split hash. Fixed: changing it reshuffles train, dev and test, and the
/// model card's figures would no longer match.
pub const SPLIT_SEED: u64 = 0x7370_6c69_7431; // "split1"

/// Where an example is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    Train,
    Dev,
    Test,
    /// A source the shipped model may not learn from: evaluation only.
    EvalOnly,
}

/// One example, folded and placed.
#[derive(Debug, Clone)]
pub struct Item {
    pub example: Example,
    /// The normaliser's folded text, as the scanner feeds it to the model.
    pub folded: String,
    pub split: Split,
}

/// All examples, deduplicated, folded and split.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub items: Vec<Item>,
    /// Examples dropped as exact duplicates (after folding) of an earlier one.
    pub duplicates: usize,
}

impl Corpus {
    /// Folds, deduplicates and splits `examples`. The first copy of a duplicated text
    /// stays, with the union of every copy's labels (a harmful request in two corpora may
    /// be mapped to different categories).
    pub fn build(examples: Vec<Example>) -> Self {
        let normalizer = Normalizer::new();
        let mut scratch = Scratch::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut items: Vec<Item> = Vec::with_capacity(examples.len());
        let mut duplicates = 0;
        for example in examples {
            let folded = normalizer
                .normalize(&example.text, &mut scratch)
                .folded()
                .to_owned();
            let key = folded.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Some(&first) = seen.get(&key) {
                duplicates += 1;
                if let Some(item) = items.get_mut(first) {
                    item.example.labels = item.example.labels.union(example.labels);
                }
                continue;
            }
            seen.insert(key, items.len());
            let split = match example.licence {
                Licence::EvalOnly => Split::EvalOnly,
                Licence::Train => split_of(&example.group),
            };
            items.push(Item {
                example,
                folded,
                split,
            });
        }
        Self { items, duplicates }
    }

    pub fn split(&self, split: Split) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(move |i| i.split == split)
    }
}

/// The split of a group: FNV-1a of the group under [`SPLIT_SEED`], modulo 100.
pub fn split_of(group: &str) -> Split {
    match fnv1a(SPLIT_SEED, group.as_bytes()) % 100 {
        0..70 => Split::Train,
        70..85 => Split::Dev,
        _ => Split::Test,
    }
}

pub(crate) fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A small deterministic generator (SplitMix64): the trainer's only randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Plants `short` harmful texts inside long benign ones: a short request hidden in a long
/// benign conversation must still be found. Each planted text keeps the labels of what was
/// planted; contexts are benign `hosts` glued together to about `words` words, the request
/// at a random word position. Built from training items only.
pub fn plant(
    short: &[&Item],
    hosts: &[&Item],
    words: usize,
    rng: &mut Rng,
) -> Vec<(String, Labels)> {
    let mut out = Vec::with_capacity(short.len());
    if hosts.is_empty() {
        return out;
    }
    for item in short {
        let mut context: Vec<&str> = Vec::with_capacity(words);
        while context.len() < words {
            let host = hosts
                .get(rng.below(hosts.len()))
                .map_or("", |h| h.folded.as_str());
            context.extend(host.split_whitespace().take(words - context.len()));
            if host.split_whitespace().next().is_none() {
                break;
            }
        }
        let at = rng.below(context.len() + 1);
        let (before, after) = context.split_at(at);
        out.push((
            format!("{} {} {}", before.join(" "), item.folded, after.join(" ")),
            item.example.labels,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Licence;
    use bulwark_core::Category;

    fn example(text: &str, labels: Labels, licence: Licence) -> Example {
        Example {
            text: text.to_owned(),
            labels,
            source: "test".to_owned(),
            licence,
            group: crate::data::group_of(text),
        }
    }

    #[test]
    fn duplicates_after_folding_merge_their_labels() {
        let a = Labels::of(&[Category::Illicit]);
        let b = Labels::of(&[Category::Malware]);
        let corpus = Corpus::build(vec![
            example("Write a nasty VIRUS", a, Licence::Train),
            example("write a  nasty virus", b, Licence::Train),
            example("something else", Labels::BENIGN, Licence::EvalOnly),
        ]);
        assert_eq!(corpus.items.len(), 2);
        assert_eq!(corpus.duplicates, 1);
        assert_eq!(corpus.items[0].example.labels, a.union(b));
        assert_eq!(corpus.items[1].split, Split::EvalOnly);
    }

    #[test]
    fn splits_are_deterministic_and_roughly_proportioned() {
        let mut counts = BTreeMap::new();
        for i in 0..10_000 {
            *counts.entry(split_of(&format!("group {i}"))).or_insert(0) += 1;
        }
        assert_eq!(split_of("same group"), split_of("same group"));
        let train = counts[&Split::Train];
        assert!((6_600..7_400).contains(&train), "{counts:?}");
        assert!(counts[&Split::Dev] > 1_200 && counts[&Split::Test] > 1_200);
    }

    #[test]
    fn rng_is_reproducible() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut xs: Vec<u32> = (0..50).collect();
        let mut ys = xs.clone();
        a.shuffle(&mut xs);
        b.shuffle(&mut ys);
        assert_eq!(xs, ys);
        assert_ne!(xs, (0..50).collect::<Vec<_>>());
    }
}
