//! BERT's uncased tokenizer, written for speed: one pass over the text, no allocation per
//! token once the caller's buffers have grown.
//!
//! **Basic tokenisation** (as `BertNormalizer` + `BertPreTokenizer` with lowercasing and
//! accent stripping): NUL, U+FFFD and control characters are dropped; whitespace ends a
//! word; every CJK ideograph and every punctuation character is a word of its own;
//! letters are lowercased, decomposed (NFD) and stripped of combining marks.
//!
//! **WordPiece**: each word is cut greedily into the longest vocabulary piece from its
//! start, then the longest `##` continuation, and so on; a word with a part no piece
//! matches, or longer than [`MAX_WORD_CHARS`], becomes the single `[UNK]` token. No piece
//! is tried that is longer than the vocabulary's longest, which bounds the work per
//! character whatever the input.
//!
//! Punctuation outside ASCII is recognised by code-point ranges (the general punctuation
//! and CJK punctuation blocks, Latin-1's `¡§«¶·»¿`) rather than the full Unicode category
//! table; the parity test against the reference tokenizer (training crate, with the
//! encoder present) measures what that costs.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
};

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

use crate::words::{Run, Words};

/// Words longer than this many characters are `[UNK]` (BERT's `max_input_chars_per_word`).
pub const MAX_WORD_CHARS: usize = 100;

/// The largest vocabulary a table may have.
pub const MAX_VOCAB: usize = 200_000;

/// A small multiplicative hasher for short keys (vocabulary pieces): far cheaper than
/// SipHash, and the keys are the model's own vocabulary, not attacker-chosen.
#[derive(Debug, Default, Clone, Copy)]
pub struct PieceHasher(u64);

impl Hasher for PieceHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(MULTIPLIER);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The same little-endian word as copying `rest` into zeroed bytes, without the
            // call to `memcpy` the compiler makes of such a copy.
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |word, &b| (word << 8) | u64::from(b));
            h = (h.rotate_left(5) ^ word ^ (rest.len() as u64) << 59).wrapping_mul(MULTIPLIER);
        }
        self.0 = h;
    }

    fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(MULTIPLIER);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// Byte classes of the ASCII scan in [`WordPiece::tokenize`].
const ALNUM: u8 = 1;
const UPPER: u8 = 2;
/// Ends a word without joining it: ASCII whitespace or punctuation.
const ENDS: u8 = 4;
/// ASCII punctuation.
const PUNCT: u8 = 8;

#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index fails the build"
)]
const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_uppercase() {
            ALNUM | UPPER
        } else if c.is_ascii_alphanumeric() {
            ALNUM
        } else if c.is_ascii_punctuation() {
            ENDS | PUNCT
        } else if c.is_ascii_whitespace() {
            ENDS
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

/// FxHash's multiplier.
const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

type Map = HashMap<Box<str>, u32, BuildHasherDefault<PieceHasher>>;

/// Pieces of at most this many bytes are kept inline in [`Pieces`]' table.
const INLINE_PIECE: usize = 16;

/// A vocabulary's pieces (those that start a word, or the `##` ones), for the lookups
/// WordPiece makes several times per word: a piece of up to [`INLINE_PIECE`] bytes sits
/// in an open-addressing table as two little-endian words and its length, so a lookup is
/// a multiply and, mostly, one comparison of two words, with no pointer followed and no
/// call to `memcmp`; longer pieces (and the empty one) live in a map.
#[derive(Debug, Clone)]
struct Pieces {
    /// A power of two of slots, at most half of them full; `len == 0` marks a free one.
    slots: Box<[Slot]>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the slot.
    shift: u32,
    long: Map,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    lo: u64,
    hi: u64,
    len: u32,
    id: u32,
}

impl Pieces {
    /// The table of `pieces`; a piece given twice keeps its first id.
    fn new(pieces: &[(&str, u32)]) -> Self {
        let inline = pieces
            .iter()
            .filter(|(p, _)| (1..=INLINE_PIECE).contains(&p.len()))
            .count();
        let size = (2 * inline).next_power_of_two().max(16);
        let mut table = Self {
            slots: vec![Slot::default(); size].into_boxed_slice(),
            shift: 64 - size.trailing_zeros(),
            long: Map::default(),
        };
        for &(piece, id) in pieces {
            table.insert(piece, id);
        }
        table
    }

    fn insert(&mut self, piece: &str, id: u32) {
        let bytes = piece.as_bytes();
        if !(1..=INLINE_PIECE).contains(&bytes.len()) {
            self.long.entry(piece.into()).or_insert(id);
            return;
        }
        let (lo, hi) = piece_words(bytes);
        let len = bytes.len() as u32;
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(lo, hi, len);
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots.get_mut(i) else {
                return;
            };
            if slot.len == 0 {
                *slot = Slot { lo, hi, len, id };
                return;
            }
            if slot.len == len && slot.lo == lo && slot.hi == hi {
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn slot_of(&self, lo: u64, hi: u64, len: u32) -> usize {
        let h = (lo ^ hi.rotate_left(29).wrapping_mul(MULTIPLIER) ^ u64::from(len))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> self.shift) as usize
    }

    #[inline]
    fn get(&self, piece: &str) -> Option<u32> {
        let bytes = piece.as_bytes();
        if !(1..=INLINE_PIECE).contains(&bytes.len()) {
            return self.long.get(piece).copied();
        }
        let (lo, hi) = piece_words(bytes);
        self.get_inline(lo, hi, bytes.len() as u32)
    }

    /// The id of the inline piece of `len` bytes whose words are `lo` and `hi`.
    #[inline(always)]
    fn get_inline(&self, lo: u64, hi: u64, len: u32) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(lo, hi, len);
        // At most half the slots are full: a free one ends every probe long before this.
        for _ in 0..self.slots.len() {
            let slot = self.slots.get(i)?;
            if slot.len == len && slot.lo == lo && slot.hi == hi {
                return Some(slot.id);
            }
            if slot.len == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }
}

/// The bytes of a piece of at most 16 bytes as two little-endian words, zero-padded.
#[inline]
fn piece_words(bytes: &[u8]) -> (u64, u64) {
    let (lo, hi) = bytes.split_at(bytes.len().min(8));
    (le_word(lo), le_word(hi))
}

/// Up to eight bytes as a little-endian word, zero-padded (without the call to `memcpy`
/// the compiler makes of a copy into a zeroed array).
#[inline]
pub(crate) fn le_word(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<8>() {
        Some(word) => u64::from_le_bytes(*word),
        None => bytes
            .iter()
            .rev()
            .fold(0u64, |word, &b| (word << 8) | u64::from(b)),
    }
}

/// The tokenizer of one vocabulary.
#[derive(Debug, Clone)]
pub struct WordPiece {
    /// Pieces that may start a word.
    starts: Pieces,
    /// `##` pieces, stored without their `##`.
    continues: Pieces,
    /// The id of each ASCII character as a word of its own (`[UNK]` when the vocabulary
    /// lacks it): punctuation, without a lookup.
    ascii_singles: [u32; 128],
    unk: u32,
    /// The longest piece, in bytes.
    max_piece_bytes: usize,
    len: usize,
}

/// Why a vocabulary was refused.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("the vocabulary has no `[UNK]` token")]
    NoUnk,
    #[error("the vocabulary has {0} tokens, more than {MAX_VOCAB}")]
    TooLarge(usize),
    #[error("the vocabulary is empty")]
    Empty,
}

impl WordPiece {
    /// Builds the tokenizer of `tokens` (token id = position). Duplicates keep their
    /// first id, as the reference implementation does.
    pub fn new<S: AsRef<str>>(tokens: &[S]) -> Result<Self, VocabError> {
        if tokens.is_empty() {
            return Err(VocabError::Empty);
        }
        if tokens.len() > MAX_VOCAB {
            return Err(VocabError::TooLarge(tokens.len()));
        }
        let mut starts = Vec::new();
        let mut continues = Vec::new();
        let mut unk = None;
        let mut max_piece_bytes = 1;
        for (id, token) in tokens.iter().enumerate() {
            let token = token.as_ref();
            let id = id as u32;
            if token == "[UNK]" {
                unk = unk.or(Some(id));
            }
            let (map, piece) = match token.strip_prefix("##") {
                Some(rest) if !rest.is_empty() => (&mut continues, rest),
                _ => (&mut starts, token),
            };
            max_piece_bytes = max_piece_bytes.max(piece.len());
            map.push((piece, id));
        }
        let (starts, continues) = (Pieces::new(&starts), Pieces::new(&continues));
        let unk = unk.ok_or(VocabError::NoUnk)?;
        let mut ascii_singles = [unk; 128];
        for (byte, id) in (0u8..).zip(ascii_singles.iter_mut()) {
            let mut buf = [0u8; 4];
            let piece: &str = char::from(byte).encode_utf8(&mut buf);
            *id = starts.get(piece).unwrap_or(unk);
        }
        Ok(Self {
            starts,
            continues,
            ascii_singles,
            unk,
            max_piece_bytes,
            len: tokens.len(),
        })
    }

    /// How many tokens the vocabulary has.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of `[UNK]`.
    pub fn unk(&self) -> u32 {
        self.unk
    }

    /// Appends the token ids of `text` to `out` (no `[CLS]` / `[SEP]`), stopping once
    /// `out` holds `limit` ids. `word` is scratch space.
    ///
    /// ASCII goes byte by byte, and a word of lowercase ASCII letters and digits that
    /// whitespace, punctuation or the end of the text ends (most words of folded text) is
    /// cut straight from `text`, without being copied into `word` first.
    pub fn tokenize(&self, text: &str, out: &mut Vec<u32>, word: &mut String, limit: usize) {
        word.clear();
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(&b) = bytes.get(at) {
            if out.len() >= limit {
                return;
            }
            if class(b) & ALNUM != 0 {
                let mut end = at;
                let mut seen = 0;
                while let Some(&b) = bytes.get(end) {
                    let c = class(b);
                    if c & ALNUM == 0 {
                        break;
                    }
                    seen |= c;
                    end += 1;
                }
                let run = text.get(at..end).unwrap_or_default();
                let next = bytes.get(end).copied();
                let ended = next.is_none_or(|b| class(b) & ENDS != 0);
                at = end;
                if word.is_empty() && ended && seen & UPPER == 0 {
                    self.pieces(run, out);
                    // Punctuation ends the word and is a word of its own, whatever the
                    // limit (the limit is checked between characters, not inside one).
                    if let Some(b) = next.filter(u8::is_ascii_punctuation) {
                        out.push(self.ascii_single(b));
                        at += 1;
                    }
                } else {
                    word.extend(run.bytes().map(|b| char::from(b.to_ascii_lowercase())));
                }
                continue;
            }
            if b.is_ascii() {
                if b.is_ascii_whitespace() {
                    self.flush(word, out);
                } else if b.is_ascii_punctuation() {
                    self.flush(word, out);
                    out.push(self.ascii_single(b));
                }
                // Anything else ASCII is a control character, dropped.
                at += 1;
                continue;
            }
            let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            at += c.len_utf8();
            if c == '\u{fffd}' || c.is_control() {
                continue;
            }
            if c.is_whitespace() {
                self.flush(word, out);
                continue;
            }
            if is_cjk(c) {
                self.flush(word, out);
                self.single(c, out);
                continue;
            }
            for lower in c.to_lowercase() {
                decompose_canonical(lower, |d| {
                    if is_combining_mark(d) {
                        return;
                    }
                    if is_punctuation(d) {
                        self.flush(word, out);
                        self.single(d, out);
                    } else {
                        word.push(d);
                    }
                });
            }
        }
        if out.len() < limit {
            self.flush(word, out);
        }
    }

    /// [`WordPiece::tokenize`] of `text` given the word pass over it (`words`, from
    /// [`Words::scan`] of this very text): the same ids, for lowercase ASCII text without
    /// a control character read from the runs (a run that a space, punctuation or the end
    /// follows is a word; a run's first sixteen bytes are its lookup key), any other text
    /// the general way.
    pub fn tokenize_words(
        &self,
        text: &str,
        words: &Words,
        out: &mut Vec<u32>,
        word: &mut String,
        limit: usize,
    ) {
        if !words.walked(text) || words.has_upper() || words.has_controls() {
            self.tokenize(text, out, word, limit);
            return;
        }
        // Between runs there are only spaces (which end a word, and no word is in
        // progress) and punctuation (a word of its own each); the limit is checked where
        // `tokenize` checks it: before each byte between runs and before each run.
        word.clear();
        let bytes = text.as_bytes();
        let mut at = 0;
        for run in words.runs() {
            while at < run.start {
                if out.len() >= limit {
                    return;
                }
                if let Some(id) = bytes.get(at).and_then(|&b| self.punctuation(b)) {
                    out.push(id);
                }
                at += 1;
            }
            if out.len() >= limit {
                return;
            }
            self.run_pieces(text, run, out);
            at = run.end;
            if let Some(id) = bytes.get(at).and_then(|&b| self.punctuation(b)) {
                out.push(id);
                at += 1;
            }
        }
        while let Some(&b) = bytes.get(at) {
            if out.len() >= limit {
                return;
            }
            if let Some(id) = self.punctuation(b) {
                out.push(id);
            }
            at += 1;
        }
    }

    /// The id of `b` as a word of its own if it is ASCII punctuation.
    #[inline]
    fn punctuation(&self, b: u8) -> Option<u32> {
        (class(b) & PUNCT != 0).then(|| self.ascii_single(b))
    }

    /// [`WordPiece::pieces`] of a lowercase run, looked up by its words when it is short.
    fn run_pieces(&self, text: &str, run: &Run, out: &mut Vec<u32>) {
        let len = run.len();
        if (1..=INLINE_PIECE).contains(&len)
            && let Some(id) = self.starts.get_inline(run.lo, run.hi, len as u32)
        {
            out.push(id);
            return;
        }
        self.pieces(text.get(run.start..run.end).unwrap_or_default(), out);
    }

    /// An ASCII character as a word of its own.
    fn ascii_single(&self, b: u8) -> u32 {
        self.ascii_singles
            .get(usize::from(b))
            .copied()
            .unwrap_or(self.unk)
    }

    /// A one-character word (punctuation, an ideograph).
    fn single(&self, c: char, out: &mut Vec<u32>) {
        let mut buf = [0u8; 4];
        let piece: &str = c.encode_utf8(&mut buf);
        out.push(self.starts.get(piece).unwrap_or(self.unk));
    }

    /// Cuts the word in progress into pieces and clears it.
    fn flush(&self, word: &mut String, out: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        self.pieces(word, out);
        word.clear();
    }

    fn pieces(&self, word: &str, out: &mut Vec<u32>) {
        if word.len() > MAX_WORD_CHARS && word.chars().count() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        if let Some(id) = self.starts.get(word) {
            out.push(id);
            return;
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let map = if start == 0 {
                &self.starts
            } else {
                &self.continues
            };
            let mut end = floor_boundary(word, start.saturating_add(self.max_piece_bytes));
            let mut found = None;
            while end > start {
                if let Some(id) = word.get(start..end).and_then(|p| map.get(p)) {
                    found = Some(id);
                    break;
                }
                end = floor_boundary(word, end - 1);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(first);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The CJK ideograph blocks BERT splits character by character.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// Punctuation: ASCII's, and the non-ASCII blocks that hold most of Unicode's `P*`
/// characters.
fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    matches!(c as u32,
        0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF
        | 0x037E | 0x0387
        | 0x055A..=0x055F
        | 0x0589 | 0x058A
        | 0x05BE | 0x05C0 | 0x05C3 | 0x05C6 | 0x05F3 | 0x05F4
        | 0x0609 | 0x060A | 0x060C | 0x060D | 0x061B | 0x061E | 0x061F
        | 0x066A..=0x066D
        | 0x06D4
        | 0x0964 | 0x0965 | 0x0970
        | 0x0E4F | 0x0E5A | 0x0E5B
        | 0x2010..=0x2027
        | 0x2030..=0x2043
        | 0x2045..=0x2051
        | 0x2053..=0x205E
        | 0x207D | 0x207E | 0x208D | 0x208E
        | 0x2308..=0x230B
        | 0x2329 | 0x232A
        | 0x2768..=0x2775
        | 0x27C5 | 0x27C6
        | 0x27E6..=0x27EF
        | 0x2983..=0x2998
        | 0x29D8..=0x29DB
        | 0x29FC | 0x29FD
        | 0x2CF9..=0x2CFC | 0x2CFE | 0x2CFF
        | 0x2E00..=0x2E2E
        | 0x2E30..=0x2E4F
        | 0x3001..=0x3003
        | 0x3008..=0x3011
        | 0x3014..=0x301F
        | 0x3030 | 0x303D | 0x30A0 | 0x30FB
        | 0xFE10..=0xFE19
        | 0xFE30..=0xFE52
        | 0xFE54..=0xFE61
        | 0xFE63 | 0xFE68 | 0xFE6A | 0xFE6B
        | 0xFF01..=0xFF03
        | 0xFF05..=0xFF0A
        | 0xFF0C..=0xFF0F
        | 0xFF1A | 0xFF1B | 0xFF1F | 0xFF20
        | 0xFF3B..=0xFF3D
        | 0xFF3F | 0xFF5B | 0xFF5D
        | 0xFF5F..=0xFF65)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> WordPiece {
        let tokens = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "un", "##aff", "##able", ",",
            "!", "cafe", "write", "a", "key", "##log", "##ger", "中", "##s", "'",
        ];
        WordPiece::new(&tokens).unwrap()
    }

    fn ids(wp: &WordPiece, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        wp.tokenize(text, &mut out, &mut String::new(), usize::MAX);
        out
    }

    #[test]
    fn greedy_longest_match_with_continuations() {
        let wp = vocab();
        assert_eq!(ids(&wp, "unaffable"), vec![6, 7, 8]);
        assert_eq!(ids(&wp, "Hello, WORLD!"), vec![4, 9, 5, 10]);
        assert_eq!(ids(&wp, "write a keylogger"), vec![12, 13, 14, 15, 16]);
        assert_eq!(ids(&wp, "keys"), vec![14, 18]);
    }

    #[test]
    fn accents_cjk_controls_and_unknowns() {
        let wp = vocab();
        assert_eq!(ids(&wp, "Café"), vec![11]);
        assert_eq!(ids(&wp, "CAFÉ\u{0}\u{7}"), vec![11]);
        assert_eq!(ids(&wp, "hello中world"), vec![4, 17, 5]);
        assert_eq!(ids(&wp, "unzzz hello"), vec![1, 4]);
        assert_eq!(ids(&wp, "hello\u{2019}world"), vec![4, 1, 5]);
        assert_eq!(ids(&wp, &"a".repeat(101)), vec![1]);
        assert!(ids(&wp, "").is_empty());
    }

    #[test]
    fn the_limit_stops_early() {
        let wp = vocab();
        let mut out = Vec::new();
        wp.tokenize("hello world hello world", &mut out, &mut String::new(), 2);
        assert_eq!(out, vec![4, 5]);
    }

    /// The tokenizer as first written, char by char with every word copied: what the
    /// faster one must agree with.
    fn reference(wp: &WordPiece, text: &str, out: &mut Vec<u32>, word: &mut String, limit: usize) {
        word.clear();
        for c in text.chars() {
            if out.len() >= limit {
                return;
            }
            if c.is_ascii() {
                let b = c as u8;
                if b.is_ascii_alphanumeric() {
                    word.push(b.to_ascii_lowercase() as char);
                } else if b.is_ascii_whitespace() {
                    wp.flush(word, out);
                } else if b.is_ascii_punctuation() {
                    wp.flush(word, out);
                    wp.single(c, out);
                } else if b.is_ascii_control() {
                    continue;
                } else {
                    word.push(c);
                }
                continue;
            }
            if c == '\u{fffd}' || c.is_control() {
                continue;
            }
            if c.is_whitespace() {
                wp.flush(word, out);
                continue;
            }
            if is_cjk(c) {
                wp.flush(word, out);
                wp.single(c, out);
                continue;
            }
            for lower in c.to_lowercase() {
                decompose_canonical(lower, |d| {
                    if is_combining_mark(d) {
                        return;
                    }
                    if is_punctuation(d) {
                        wp.flush(word, out);
                        wp.single(d, out);
                    } else {
                        word.push(d);
                    }
                });
            }
        }
        if out.len() < limit {
            wp.flush(word, out);
        }
    }

    /// A deterministic stream of pseudo-random numbers.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn agrees_with_the_reference_on_odd_text() {
        let builtin = crate::SemanticModel::builtin();
        let wps = [vocab(), builtin.tokenizer().clone()];
        let alphabet: Vec<char> = "abcxyzKEYLOGGERunaffable hello World 0123456789 \t\n\r\u{b}\u{c}\u{0}\u{7f}\
             .,!?;:'\"()[]{}<>/\\-_@#$%^&*~`|+= é É ß ﬁ ① Ω ω ж Ж 中 文 \u{37e} \u{301} \u{200b} \u{a0} \
             \u{2019} \u{fffd} 😀 İ ǅ ﬀ ŉ"
            .chars()
            .collect();
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut wa, mut wb) = (String::new(), String::new());
        for round in 0..4000 {
            let len = (next() % 60) as usize;
            let mut text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if round % 50 == 0 {
                text.push_str(&"ab".repeat(70));
            }
            for wp in &wps {
                for limit in [usize::MAX, (next() % 8) as usize] {
                    a.clear();
                    b.clear();
                    wp.tokenize(&text, &mut a, &mut wa, limit);
                    reference(wp, &text, &mut b, &mut wb, limit);
                    assert_eq!(a, b, "{text:?} (limit {limit})");
                }
            }
        }
    }

    #[test]
    fn the_word_pass_gives_the_same_tokens() {
        let builtin = crate::SemanticModel::builtin();
        let wps = [vocab(), builtin.tokenizer().clone()];
        let alphabet: Vec<char> =
            "abcxyzkeyloggerunaffable hello world 0123456789 \t\n\r.,!?;:'\"()-_@#$%/ W\u{b}\u{1}"
                .chars()
                .collect();
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let (mut a, mut b, mut word) = (Vec::new(), Vec::new(), String::new());
        let mut words = Words::new();
        for round in 0..4000 {
            let len = (next() % 80) as usize;
            let mut text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if round % 3 == 0 {
                text.retain(|c| !c.is_ascii_uppercase() && !c.is_ascii_control() || c == ' ');
            }
            if round % 50 == 0 {
                text.push_str(&"ab".repeat(70));
            }
            words.scan(&text);
            for wp in &wps {
                for limit in [usize::MAX, (next() % 12) as usize] {
                    a.clear();
                    b.clear();
                    wp.tokenize_words(&text, &words, &mut a, &mut word, limit);
                    wp.tokenize(&text, &mut b, &mut word, limit);
                    assert_eq!(a, b, "{text:?} (limit {limit})");
                }
            }
        }
    }

    #[test]
    fn a_vocabulary_needs_unk() {
        assert!(matches!(
            WordPiece::new(&["a", "b"]),
            Err(VocabError::NoUnk)
        ));
        assert!(matches!(
            WordPiece::new::<&str>(&[]),
            Err(VocabError::Empty)
        ));
    }
}
