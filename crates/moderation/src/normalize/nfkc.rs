//! Step: Unicode NFKC, preceded by the removal of invisible characters and by a cap on
//! stacked combining marks.
//!
//! NFKC folds compatibility variants to their plain form: fullwidth `ｐａｓｓ`, mathematical
//! `𝐩𝐚𝐬𝐬`, ligatures `ﬁ`, circled and superscript letters, Roman numerals. It needs to
//! buffer and sort each run of combining marks, so an input of four million marks on one
//! base would make it allocate and sort without bound. Like UAX #15's Stream-Safe Text
//! Format, a run is capped at 30 non-starters (counted after compatibility decomposition);
//! the excess is dropped and counted. No writing system stacks more than a handful.
//!
//! Only text that is not ASCII comes here: ASCII is already in NFKC, and the folder keeps
//! it on a fast path.

use std::{iter::Peekable, str::Chars};

use unicode_normalization::{
    UnicodeNormalization,
    char::{canonical_combining_class, decompose_compatible},
};

use super::{
    invisible::{self, Invisible, ZERO_WIDTH_JOINER},
    signals::{Signals, bump},
};

/// The longest run of non-starters kept (UAX #15 stream-safe limit).
pub(crate) const MAX_NON_STARTERS: u32 = 30;

/// What the prefilter removed, added to [`Signals`] by the caller.
#[derive(Debug, Default)]
pub(crate) struct Removed {
    invisible: u32,
    bidi: u32,
    tags: u32,
    marks: u32,
}

impl Removed {
    pub(crate) fn add_to(&self, signals: &mut Signals) {
        let add = |count: &mut u32, n: u32| *count = count.saturating_add(n);
        add(&mut signals.invisible_removed, self.invisible);
        add(&mut signals.bidi_controls_removed, self.bidi);
        add(&mut signals.tag_chars_removed, self.tags);
        add(&mut signals.combining_marks_removed, self.marks);
    }
}

/// Calls `emit` with the NFKC form of `text` after removing invisible characters and
/// capping combining marks, counting what was removed in `removed`.
pub(crate) fn normalize(text: &str, removed: &mut Removed, mut emit: impl FnMut(char)) {
    let filter = Prefilter {
        chars: text.chars().peekable(),
        removed,
        run: 0,
        prev: None,
    };
    for c in filter.nfkc() {
        emit(c);
    }
}

/// Removes invisible characters and caps runs of non-starters.
struct Prefilter<'t, 'r> {
    chars: Peekable<Chars<'t>>,
    removed: &'r mut Removed,
    /// Non-starters since the last starter, after compatibility decomposition.
    run: u32,
    /// The last character let through.
    prev: Option<char>,
}

impl Iterator for Prefilter<'_, '_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        while let Some(c) = self.chars.next() {
            if let Some(kind) = invisible::classify(c) {
                let joins_emoji = c == ZERO_WIDTH_JOINER
                    && self.prev.is_some_and(invisible::is_pictographic)
                    && self
                        .chars
                        .peek()
                        .is_some_and(|&next| invisible::is_pictographic(next));
                if !joins_emoji {
                    bump(match kind {
                        Invisible::Bidi => &mut self.removed.bidi,
                        Invisible::Tag => &mut self.removed.tags,
                        Invisible::Other => &mut self.removed.invisible,
                    });
                    continue;
                }
            }
            let run = if c.is_ascii() {
                0
            } else {
                run_after(self.run, c)
            };
            if run > MAX_NON_STARTERS {
                bump(&mut self.removed.marks);
                continue;
            }
            self.run = run;
            self.prev = Some(c);
            return Some(c);
        }
        None
    }
}

/// The run of trailing non-starters after appending `c` to a run of `run`.
fn run_after(run: u32, c: char) -> u32 {
    let mut run = run;
    decompose_compatible(c, |d| {
        run = if canonical_combining_class(d) == 0 {
            0
        } else {
            run.saturating_add(1)
        };
    });
    run
}

/// Appends the NFKC form of `text` to `out`.
pub(crate) fn nfkc_into(text: &str, out: &mut String) {
    out.extend(text.nfkc());
}

/// Whether `text` is certainly in NFKC (a quick check; `false` may be a false alarm).
pub(crate) fn is_nfkc(text: &str) -> bool {
    unicode_normalization::is_nfkc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (String, Signals) {
        let mut removed = Removed::default();
        let mut out = String::new();
        normalize(text, &mut removed, |c| out.push(c));
        let mut signals = Signals::default();
        removed.add_to(&mut signals);
        (out, signals)
    }

    #[test]
    fn folds_compatibility_forms() {
        assert_eq!(run("ｐａｓｓｗｏｒｄ").0, "password");
        assert_eq!(run("𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝 𝕙𝕒𝕔𝕜").0, "password hack");
        assert_eq!(run("ﬁle ①").0, "file 1");
        assert_eq!(run("e\u{301}").0, "é");
    }

    #[test]
    fn removes_invisibles_before_composing() {
        let (out, signals) = run("pa\u{200b}ss\u{2060}wo\u{feff}rd e\u{200b}\u{301}");
        assert_eq!(out, "password é");
        assert_eq!(signals.invisible_removed, 4);
        let (out, signals) = run("\u{202e}dlrow\u{202c} \u{2066}x\u{2069}");
        assert_eq!(out, "dlrow x");
        assert_eq!(signals.bidi_controls_removed, 4);
    }

    #[test]
    fn keeps_zwj_between_emoji_only() {
        for emoji in [
            "👩\u{200d}💻",
            "👨\u{200d}👩\u{200d}👧",
            "🏳\u{200d}🌈",
            "❤\u{200d}🔥",
        ] {
            assert_eq!(run(emoji).0, emoji);
        }
        assert_eq!(run("❤\u{fe0f}\u{200d}🔥").0, "❤\u{200d}🔥");
        assert_eq!(run("pass\u{200d}word").0, "password");
        assert_eq!(run("👍\u{200d}word").0, "👍word");
    }

    #[test]
    fn caps_stacked_marks() {
        let zalgo: String = std::iter::once('a')
            .chain(std::iter::repeat_n('\u{301}', 1000))
            .collect();
        let (out, signals) = run(&zalgo);
        assert_eq!(out.chars().count(), 30, "á plus 29 marks");
        assert_eq!(signals.combining_marks_removed, 970);
        // Marks in a compatibility decomposition count too (U+0F73 is two non-starters).
        let tibetan: String = std::iter::repeat_n('\u{f73}', 1000).collect();
        let (out, signals) = run(&tibetan);
        assert!(out.chars().count() <= 30);
        assert!(signals.combining_marks_removed >= 985);
    }

    #[test]
    fn keeps_scripts_readable() {
        for text in [
            "Привет, мир",
            "Grüße aus Köln",
            "مرحبا بالعالم",
            "שלום עולם",
            "你好，世界",
            "नमस्ते दुनिया",
            "Tiếng Việt",
        ] {
            let (out, signals) = run(text);
            assert_eq!(signals, Signals::default(), "{text}");
            assert_eq!(
                out.nfc().collect::<String>(),
                text.nfkc().collect::<String>()
            );
        }
    }
}
