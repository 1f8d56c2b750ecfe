//! Writing systems, as far as moderation needs them: which script a letter belongs to, in
//! the few groups the models and their reports tell apart.
//!
//! Bulwark's models were trained on licence-clean data whose benign texts are all in Latin
//! script; letters of other scripts occur there in attack and phishing texts only (non-English
//! phishing mail, translated jailbreaks). A model therefore learns "this script" as evidence
//! of abuse, whatever the text says. [`Script::is_modelled`] is the line the scoring tiers
//! draw: they read Latin letters, digits, punctuation and symbols, and skip the letters of
//! the other scripts (see `docs/moderation.md`, "Scripts the models read").

use std::fmt;

/// The script group of a letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Script {
    /// Latin letters, with their accented and extended forms.
    Latin,
    Greek,
    Cyrillic,
    /// Arabic, Hebrew, Syriac and Thaana: the right-to-left scripts.
    ArabicHebrew,
    /// Chinese characters, Japanese kana and Korean Hangul (syllables and jamo).
    Cjk,
    /// Any other script with letters (Devanagari, Thai, Georgian, Armenian, …).
    Other,
}

impl Script {
    pub const ALL: [Self; 6] = [
        Self::Latin,
        Self::Greek,
        Self::Cyrillic,
        Self::ArabicHebrew,
        Self::Cjk,
        Self::Other,
    ];

    /// The script of `c` when it is a letter (Unicode `Alphabetic`); `None` for digits,
    /// punctuation, symbols, emoji, marks and whitespace.
    pub fn of(c: char) -> Option<Self> {
        if c.is_ascii() {
            return c.is_ascii_alphabetic().then_some(Self::Latin);
        }
        if !c.is_alphabetic() {
            return None;
        }
        Some(match u32::from(c) {
            0x00C0..=0x02AF
            | 0x1D00..=0x1DBF
            | 0x1E00..=0x1EFF
            | 0x2C60..=0x2C7F
            | 0xA720..=0xA7FF
            | 0xAB30..=0xAB6F
            | 0xFB00..=0xFB06
            | 0xFF21..=0xFF3A
            | 0xFF41..=0xFF5A => Self::Latin,
            0x0370..=0x03FF | 0x1F00..=0x1FFF => Self::Greek,
            0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Self::Cyrillic,
            0x0590..=0x07BF | 0x0860..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF => {
                Self::ArabicHebrew
            }
            0x1100..=0x11FF
            | 0x2E80..=0x2FDF
            | 0x3005..=0x3007
            | 0x3021..=0x3029
            | 0x3031..=0x303C
            | 0x3040..=0x31FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA960..=0xA97F
            | 0xAC00..=0xD7FF
            | 0xF900..=0xFAFF
            | 0xFF66..=0xFFDC
            | 0x20000..=0x3134F => Self::Cjk,
            _ => Self::Other,
        })
    }

    /// Whether the scoring tiers read letters of this script. Only Latin: the licence-clean
    /// training data has no benign text in any other script, so a model's weights for those
    /// letters say "this script", not "this request" (see the module docs).
    pub fn is_modelled(self) -> bool {
        self == Self::Latin
    }

    /// A stable lower-case name, as reports and JSON output write it.
    pub fn id(self) -> &'static str {
        match self {
            Self::Latin => "latin",
            Self::Greek => "greek",
            Self::Cyrillic => "cyrillic",
            Self::ArabicHebrew => "arabic_hebrew",
            Self::Cjk => "cjk",
            Self::Other => "other",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Whether the scoring tiers skip `c`: a letter of a script they do not read.
#[inline]
pub fn is_unmodelled(c: char) -> bool {
    !c.is_ascii() && Script::of(c).is_some_and(|s| !s.is_modelled())
}

/// `text` as the scoring tiers read it, in pieces: the runs without unmodelled letters as
/// they are, and a single space for each unmodelled letter (so that the words on either
/// side stay apart and nothing of the skipped word is read). Concatenated, the pieces are
/// the text with every unmodelled letter replaced by a space; feeding them one after the
/// other to a tokeniser is feeding it that text. A text without such letters is one piece.
pub fn modelled_pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.is_ascii() {
            return Some(std::mem::take(&mut rest));
        }
        let mut chars = rest.char_indices();
        let (first_at, first) = chars.next()?;
        debug_assert_eq!(first_at, 0);
        if is_unmodelled(first) {
            rest = rest.get(first.len_utf8()..).unwrap_or_default();
            return Some(" ");
        }
        let end = chars
            .find(|&(_, c)| is_unmodelled(c))
            .map_or(rest.len(), |(at, _)| at);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// A set of scripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scripts(u8);

impl Scripts {
    pub const EMPTY: Self = Self(0);

    pub fn insert(&mut self, script: Script) {
        self.0 |= script.bit();
    }

    pub fn contains(self, script: Script) -> bool {
        self.0 & script.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The scripts in the set, in [`Script::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Script> {
        Script::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

/// How much of a text the scoring tiers read: its letters, and those they skipped with
/// their scripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Letters in the text.
    pub letters: u32,
    /// Letters of scripts the tiers do not read ([`is_unmodelled`]).
    pub unmodelled: u32,
    /// The scripts of those letters.
    pub scripts: Scripts,
}

impl Coverage {
    /// Counts the letters of `text` into this coverage.
    pub fn add(&mut self, text: &str) {
        if text.is_ascii() {
            let letters = text.bytes().filter(u8::is_ascii_alphabetic).count();
            self.letters = self
                .letters
                .saturating_add(u32::try_from(letters).unwrap_or(u32::MAX));
            return;
        }
        for c in text.chars() {
            let Some(script) = Script::of(c) else {
                continue;
            };
            self.letters = self.letters.saturating_add(1);
            if !script.is_modelled() {
                self.unmodelled = self.unmodelled.saturating_add(1);
                self.scripts.insert(script);
            }
        }
    }

    /// The share of the letters the tiers skipped (0 for a text without letters).
    pub fn unmodelled_share(&self) -> f32 {
        if self.letters == 0 {
            0.0
        } else {
            self.unmodelled as f32 / self.letters as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_fall_in_their_groups() {
        for (c, script) in [
            ('a', Some(Script::Latin)),
            ('é', Some(Script::Latin)),
            ('ß', Some(Script::Latin)),
            ('ñ', Some(Script::Latin)),
            ('ω', Some(Script::Greek)),
            ('ж', Some(Script::Cyrillic)),
            ('ש', Some(Script::ArabicHebrew)),
            ('ب', Some(Script::ArabicHebrew)),
            ('中', Some(Script::Cjk)),
            ('の', Some(Script::Cjk)),
            ('한', Some(Script::Cjk)),
            ('ᄋ', Some(Script::Cjk)),
            ('क', Some(Script::Other)),
            ('1', None),
            ('，', None),
            ('。', None),
            ('😀', None),
            (' ', None),
        ] {
            assert_eq!(Script::of(c), script, "{c}");
        }
    }

    #[test]
    fn pieces_replace_each_unmodelled_letter_with_a_space() {
        for (text, pieces) in [
            ("plain ascii", vec!["plain ascii"]),
            ("", vec![]),
            ("café crème", vec!["café crème"]),
            ("用英文回答", vec![" "; 5]),
            (
                "mnist데이터 GAN，好",
                vec!["mnist", " ", " ", " ", " GAN，", " "],
            ),
            ("ab ωx", vec!["ab ", " ", "x"]),
        ] {
            let got: Vec<&str> = modelled_pieces(text).collect();
            assert_eq!(got, pieces, "{text}");
            let joined: String = got.concat();
            let replaced: String = text
                .chars()
                .map(|c| if is_unmodelled(c) { ' ' } else { c })
                .collect();
            assert_eq!(joined, replaced);
        }
    }

    #[test]
    fn coverage_counts_letters_and_scripts() {
        let mut coverage = Coverage::default();
        coverage.add("java 程序, привет 42");
        assert_eq!(coverage.letters, 12);
        assert_eq!(coverage.unmodelled, 8);
        assert_eq!(
            coverage.scripts.iter().collect::<Vec<_>>(),
            [Script::Cyrillic, Script::Cjk]
        );
        assert!((coverage.unmodelled_share() - 8.0 / 12.0).abs() < 1e-6);
        assert_eq!(Coverage::default().unmodelled_share(), 0.0);
    }
}
