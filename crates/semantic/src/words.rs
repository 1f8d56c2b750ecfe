//! The word pass: one walk over a piece of ASCII text whose result every stage that
//! reads words shares, instead of each walking the text on its own.
//!
//! [`Words::scan`] finds, in one left-to-right pass, the runs of ASCII letters and digits
//! (each with its first sixteen bytes as two little-endian words, ready for a table
//! lookup), where each whitespace-separated word starts, how many letters the text has and
//! whether it holds anything that makes the runs an incomplete account of it (an
//! uppercase letter, a control character). The readers:
//!
//! * WordPiece ([`crate::WordPiece::tokenize_words`]): lowercase runs are its words, and
//!   the bytes between them its punctuation and spaces;
//! * the n-gram model of `bulwark-moderation`: in ASCII text its tokens are the runs;
//! * the rule pack's co-occurrence windows: the word starts;
//! * the scanner's coverage: the letter count.
//!
//! Text that is not all ASCII, or longer than [`MAX_WALKED`] bytes, is not walked
//! ([`Words::walked`] is `false`): each reader then takes its own general path (which
//! decodes characters), so the pass's buffers stay small whatever the input.

use crate::wordpiece::le_word;

/// The longest text walked, in bytes: a run takes 40 bytes, so the pass's buffers stay
/// within a few MiB; longer text (rare, and no faster to read this way once the semantic
/// tier has its fill of tokens) takes each reader's general path.
pub const MAX_WALKED: usize = 256 * 1024;

/// Byte classes of the pass.
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const UPPER: u8 = 4;
/// Whitespace as the rule pack counts words: space and `\t` to `\r`.
const SPACE: u8 = 8;
/// An ASCII control character that is not whitespace to WordPiece (`\x0b` included).
const CONTROL: u8 = 16;

const ALNUM: u8 = LETTER | DIGIT;

#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index fails the build"
)]
const CLASSES: [u8; 256] = {
    let mut table = [0_u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_uppercase() {
            LETTER | UPPER
        } else if c.is_ascii_lowercase() {
            LETTER
        } else if c.is_ascii_digit() {
            DIGIT
        } else if c == b' ' || (c >= 0x09 && c <= 0x0d) {
            // `\x0b` is whitespace to the rules but a control to WordPiece.
            if c == 0x0b { SPACE | CONTROL } else { SPACE }
        } else if c < 0x20 || c == 0x7f {
            CONTROL
        } else {
            0
        };
        b += 1;
    }
    table
};

#[inline]
fn class(b: u8) -> u8 {
    CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// A maximal run of ASCII letters and digits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
    /// The run's first eight bytes as a little-endian word, zero-padded.
    pub lo: u64,
    /// Its next eight bytes, the same way.
    pub hi: u64,
    /// Whether it holds a digit.
    pub digit: bool,
}

impl Run {
    /// The run's length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the run is empty (never, as the pass finds them).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// What one pass over a text found (see the module docs); the buffers are reused from one
/// text to the next.
#[derive(Debug, Clone, Default)]
pub struct Words {
    walked: bool,
    len: usize,
    runs: Vec<Run>,
    starts: Vec<usize>,
    letters: usize,
    upper: bool,
    controls: bool,
}

impl Words {
    pub fn new() -> Self {
        Self::default()
    }

    /// Walks `text`, replacing what the last pass found.
    pub fn scan(&mut self, text: &str) {
        self.runs.clear();
        self.starts.clear();
        self.len = text.len();
        self.letters = 0;
        self.upper = false;
        self.controls = false;
        self.walked = text.len() <= MAX_WALKED && text.is_ascii();
        if !self.walked {
            return;
        }
        let bytes = text.as_bytes();
        let (mut seen, mut letters) = (0, 0);
        let mut previous_space = true;
        let mut at = 0;
        while let Some(&b) = bytes.get(at) {
            let c = class(b);
            if c & ALNUM == 0 {
                let space = c & SPACE != 0;
                if previous_space && !space {
                    self.starts.push(at);
                }
                previous_space = space;
                seen |= c;
                at += 1;
                continue;
            }
            if previous_space {
                self.starts.push(at);
            }
            previous_space = false;
            let start = at;
            let mut run = c;
            letters += usize::from(c & LETTER);
            at += 1;
            while let Some(c) = bytes.get(at).map(|&b| class(b)).filter(|c| c & ALNUM != 0) {
                run |= c;
                letters += usize::from(c & LETTER);
                at += 1;
            }
            seen |= run;
            let (lo, hi) = words_at(bytes, start, at);
            self.runs.push(Run {
                start,
                end: at,
                lo,
                hi,
                digit: run & DIGIT != 0,
            });
        }
        self.letters = letters;
        self.upper = seen & UPPER != 0;
        self.controls = seen & CONTROL != 0;
    }

    /// Whether `text` is the text the last pass walked (all ASCII and not too long): if
    /// not, the pass has nothing to say about it.
    pub fn walked(&self, text: &str) -> bool {
        self.walked && self.len == text.len()
    }

    /// The runs of ASCII letters and digits, in order.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Where each word (a run of bytes other than space and `\t` to `\r`) starts.
    pub fn word_starts(&self) -> &[usize] {
        &self.starts
    }

    /// How many ASCII letters the text has.
    pub fn letters(&self) -> usize {
        self.letters
    }

    /// Whether the text has an uppercase letter.
    pub fn has_upper(&self) -> bool {
        self.upper
    }

    /// Whether the text has an ASCII control character other than WordPiece's whitespace.
    pub fn has_controls(&self) -> bool {
        self.controls
    }
}

/// The bytes `start..end` of `bytes` (at most the first sixteen) as two little-endian
/// words, zero-padded: read as whole words where the text allows, then masked.
#[inline]
fn words_at(bytes: &[u8], start: usize, end: usize) -> (u64, u64) {
    let len = end - start;
    let [lo_mask, hi_mask] = RUN_MASKS.get(len.min(16)).copied().unwrap_or_default();
    match bytes.get(start..start + 16) {
        Some(chunk) => {
            let (lo, hi) = chunk.split_at(8);
            let word = |half: &[u8]| <[u8; 8]>::try_from(half).map_or(0, u64::from_le_bytes);
            (word(lo) & lo_mask, word(hi) & hi_mask)
        }
        None => {
            let run = bytes.get(start..end).unwrap_or_default();
            let (lo, hi) = run.split_at(len.min(8));
            (
                le_word(lo),
                le_word(hi.get(..hi.len().min(8)).unwrap_or_default()),
            )
        }
    }
}

/// Per run length (up to sixteen), the masks that keep its two words to its bytes.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index fails the build"
)]
const RUN_MASKS: [[u64; 2]; 17] = {
    let mut masks = [[0_u64; 2]; 17];
    let mut len: usize = 0;
    while len <= 16 {
        let mut i: usize = 0;
        while i < 2 {
            let valid = len.saturating_sub(8 * i);
            masks[len][i] = if valid >= 8 {
                u64::MAX
            } else {
                (1_u64 << (8 * valid)) - 1
            };
            i += 1;
        }
        len += 1;
    }
    masks
};

#[cfg(test)]
mod tests {
    use super::*;

    fn le(bytes: &[u8]) -> u64 {
        let mut word = [0u8; 8];
        word[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(word)
    }

    #[test]
    fn runs_starts_and_letters() {
        let mut words = Words::new();
        let text = "  hello, world-2024 a_b\tsupercalifragilistic!";
        words.scan(text);
        assert!(words.walked(text));
        let runs: Vec<&str> = words.runs().iter().map(|r| &text[r.start..r.end]).collect();
        assert_eq!(
            runs,
            ["hello", "world", "2024", "a", "b", "supercalifragilistic"]
        );
        let starts: Vec<&str> = words
            .word_starts()
            .iter()
            .map(|&s| &text[s..s + 2])
            .collect();
        assert_eq!(starts, ["he", "wo", "a_", "su"]);
        assert_eq!(words.letters(), 5 + 5 + 1 + 1 + 20);
        for run in words.runs() {
            let bytes = &text.as_bytes()[run.start..run.end];
            assert_eq!(run.lo, le(&bytes[..bytes.len().min(8)]));
            assert_eq!(run.hi, le(&bytes[bytes.len().min(8)..bytes.len().min(16)]));
            assert_eq!(run.digit, bytes.iter().any(u8::is_ascii_digit));
        }
        assert!(!words.has_upper() && !words.has_controls());
        words.scan("Hi\x0bthere\x01");
        assert!(words.has_upper() && words.has_controls());
        assert_eq!(words.word_starts(), [0, 3]);
        words.scan("héllo");
        assert!(!words.walked("héllo") && words.runs().is_empty());
        let long = "ab ".repeat(MAX_WALKED);
        words.scan(&long);
        assert!(!words.walked(&long) && words.runs().is_empty());
        // A run at the very end of the text is read without reading past it.
        words.scan("abcdefghij");
        assert_eq!(words.runs()[0].hi, le(b"ij"));
    }
}
