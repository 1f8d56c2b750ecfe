//! Real traffic by writing system: the share of ShareGPT first turns a scanner flags, per
//! script group and per half of [`traffic_halves`] (thresholds may be chosen on the
//! development half; the evaluation half is the one to report).
//!
//! A text's group: the non-Latin script with the most letters when letters of non-Latin
//! scripts are at least a tenth of its letters ([`bulwark_core::script::Script`]); otherwise
//! Latin, split into English and other languages by a crude function-word count (a Latin
//! text is "other Latin" when it has at least two function words of German, French, Spanish,
//! Portuguese, Italian or Dutch and more of them than English ones). Code, tables and
//! texts without function words count as English. Texts without letters go to `other`.
//! The groups are a measuring aid, not a language detector: the figures per group are what
//! they are for, not the borders between groups.

use std::fmt::Write as _;

use bulwark_core::{
    Category, Side,
    script::{Coverage, Script},
};
use bulwark_moderation::{ScanScratch, Scanner};
use serde::Serialize;

use crate::{Corpus, loso::traffic_halves};

/// The script and language groups, in report order.
pub const GROUPS: [&str; 7] = [
    "latin_english",
    "latin_other",
    "cyrillic",
    "cjk",
    "greek",
    "arabic_hebrew",
    "other",
];

const ENGLISH: &[&str] = &[
    "the", "and", "to", "of", "a", "in", "is", "for", "that", "you", "it", "with", "on", "this",
    "be", "are", "as", "i", "can", "what", "how", "my", "me", "your", "have", "or", "do", "not",
    "please", "an", "from", "by", "about", "if", "we", "will", "would", "should", "give",
];

const OTHER_LATIN: &[&str] = &[
    // German
    "der", "die", "das", "und", "ist", "nicht", "ich", "ein", "eine", "mit", "für", "auf", "sie",
    "wie", "zu", "den", "dem", "bitte", "schreibe", // French
    "le", "la", "les", "et", "est", "une", "des", "du", "je", "pour", "dans", "qui", "que", "avec",
    "sur", "pas", "vous", "moi", // Spanish, Portuguese
    "el", "los", "las", "y", "es", "un", "por", "con", "para", "como", "del", "una", "lo", "não",
    "você", "é", "um", "uma", "em", "os", "se", "mais", "ao", // Italian
    "il", "di", "che", "per", "non", "sono", "della", "gli", // Dutch
    "het", "een", "van", "ik", "niet", "op", "voor", "zijn",
];

/// The group of `text` (one of [`GROUPS`]).
pub fn group_of(text: &str) -> &'static str {
    let mut letters = [0u32; Script::ALL.len()];
    for c in text.chars() {
        if let Some(script) = Script::of(c)
            && let Some(n) = letters.get_mut(script as usize)
        {
            *n += 1;
        }
    }
    let total: u32 = letters.iter().sum();
    if total == 0 {
        return "other";
    }
    let non_latin: u32 = letters.iter().skip(1).sum();
    if non_latin * 10 >= total {
        let mut best = (0u32, Script::Other);
        for script in Script::ALL.into_iter().skip(1) {
            let n = letters.get(script as usize).copied().unwrap_or(0);
            if n > best.0 {
                best = (n, script);
            }
        }
        return match best.1 {
            Script::Latin | Script::Other => "other",
            Script::Greek => "greek",
            Script::Cyrillic => "cyrillic",
            Script::ArabicHebrew => "arabic_hebrew",
            Script::Cjk => "cjk",
        };
    }
    let (mut english, mut other) = (0usize, 0usize);
    for word in text.split_whitespace() {
        let word = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if ENGLISH.contains(&word.as_str()) {
            english += 1;
        } else if OTHER_LATIN.contains(&word.as_str()) {
            other += 1;
        }
    }
    if other >= 2 && other > english {
        "latin_other"
    } else {
        "latin_english"
    }
}

/// One group's figures on one half.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Share {
    pub texts: usize,
    pub flagged: usize,
    /// Texts whose letters the models skip in part (see [`Coverage`]).
    pub partly_unmodelled: usize,
}

impl Share {
    fn percent(&self) -> String {
        if self.texts == 0 {
            "–".to_owned()
        } else {
            format!(
                "{:.1}% ({}/{})",
                100.0 * self.flagged as f64 / self.texts as f64,
                self.flagged,
                self.texts
            )
        }
    }
}

/// One flagged text, for review.
#[derive(Debug, Clone, Serialize)]
pub struct Flagged {
    pub group: &'static str,
    pub half: &'static str,
    pub categories: Vec<(&'static str, f32)>,
    pub text: String,
}

/// The figures per group: `(group, development half, evaluation half)`, then every text
/// flagged outside `latin_english`.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptReport {
    pub groups: Vec<(&'static str, Share, Share)>,
    pub flagged: Vec<Flagged>,
}

/// Scans both halves of ShareGPT first turns with `scanner` (input side).
pub fn traffic(scanner: &Scanner, corpus: &Corpus) -> ScriptReport {
    let (dev, eval) = traffic_halves(corpus);
    let mut shares = [[Share::default(); 2]; GROUPS.len()];
    let mut flagged = Vec::new();
    let mut scratch = ScanScratch::new();
    for (h, (half, items)) in [("development", dev), ("evaluation", eval)]
        .into_iter()
        .enumerate()
    {
        for item in items {
            let text = item.example.text.as_str();
            let group = group_of(text);
            let verdict = scanner.scan(text, Side::Input, &mut scratch);
            let mut coverage = Coverage::default();
            coverage.add(text);
            let Some(share) = GROUPS
                .iter()
                .position(|g| *g == group)
                .and_then(|g| shares.get_mut(g))
                .and_then(|s| s.get_mut(h))
            else {
                continue;
            };
            share.texts += 1;
            if coverage.unmodelled > 0 {
                share.partly_unmodelled += 1;
            }
            if verdict.is_flagged() {
                share.flagged += 1;
                if group != "latin_english" {
                    flagged.push(Flagged {
                        group,
                        half,
                        categories: verdict
                            .categories()
                            .map(|c: Category| (c.id(), verdict.scores.get(c)))
                            .collect(),
                        text: text.chars().take(100).collect(),
                    });
                }
            }
        }
    }
    ScriptReport {
        groups: GROUPS
            .iter()
            .zip(shares)
            .map(|(g, [d, e])| (*g, d, e))
            .collect(),
        flagged,
    }
}

impl ScriptReport {
    /// The figures per group as a Markdown table, with a total row.
    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "| group | development half: flagged | evaluation half: flagged | \
             texts with letters the models skip (dev / eval) |\n|---|---|---|---|\n",
        );
        let mut total = [Share::default(); 2];
        for (group, dev, eval) in &self.groups {
            for (t, s) in total.iter_mut().zip([dev, eval]) {
                t.texts += s.texts;
                t.flagged += s.flagged;
                t.partly_unmodelled += s.partly_unmodelled;
            }
            let _ = writeln!(
                md,
                "| {group} | {} | {} | {} / {} |",
                dev.percent(),
                eval.percent(),
                dev.partly_unmodelled,
                eval.partly_unmodelled
            );
        }
        let [dev, eval] = total;
        let _ = writeln!(
            md,
            "| all | {} | {} | {} / {} |",
            dev.percent(),
            eval.percent(),
            dev.partly_unmodelled,
            eval.partly_unmodelled
        );
        md
    }

    /// The flagged texts outside Latin-English, one a line, for a person to look at.
    pub fn review(&self) -> String {
        let mut text = String::new();
        for f in &self.flagged {
            let categories: Vec<String> = f
                .categories
                .iter()
                .map(|(c, s)| format!("{c} {s:.3}"))
                .collect();
            let _ = writeln!(
                text,
                "sharegpt {} half, {}: flagged {}: {:?}",
                f.half,
                f.group,
                categories.join(", "),
                f.text
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_fall_in_their_groups() {
        for (text, group) in [
            (
                "how do i filter two power bi tables by the same slicer",
                "latin_english",
            ),
            ("fn main() { println!(\"x\") }", "latin_english"),
            (
                "Schreibe eine Zeile Code, die Elon Musk beeindruckt und nicht langweilt",
                "latin_other",
            ),
            (
                "Haz un contrato de arrendamiento conforme a la ley",
                "latin_other",
            ),
            ("翻译成英文：某班共有学生48人", "cjk"),
            ("Javascript beginner 과정 프로그램 3개 만들어줘", "cjk"),
            ("Напиши письмо", "cyrillic"),
            ("Γράψε ένα email", "greek"),
            ("שלום עולם", "arabic_hebrew"),
            ("नमस्ते दुनिया", "other"),
            ("1234 !!", "other"),
        ] {
            assert_eq!(group_of(text), group, "{text}");
        }
    }
}
