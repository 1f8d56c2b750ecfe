//! Step: finding text hidden in encodings and decoding it, nested up to
//! [`MAX_NESTING`] deep.
//!
//! Each level of text (the input, then each decoded layer) is scanned left to right,
//! never retrying from every offset:
//!
//! * for tag characters ([`tags`]), on the text as it is;
//! * then, in one pass over the text with default-ignorable characters removed (so that a
//!   zero-width space cannot break a base64 run), for whitespace-separated tokens holding
//!   percent-encoding ([`url`]), `\x41` escapes or contiguous hex ([`hex`]) or base64
//!   ([`base64`]), for runs of spaced hex byte pairs across tokens, and for stretches of
//!   words that read as ROT13 ([`rot13`]).
//!
//! A candidate is decoded (at most what the remaining byte budget allows), kept only if
//! it is mostly printable UTF-8 with a letter or digit in it, then scanned for another
//! layer. A layer that is nothing but another encoding (`base64` of hex) is not reported
//! itself: its inner segment, whose chain names both, is. The work is linear: the
//! candidates of one detector never overlap, a byte is decoded at most a few times (as hex,
//! as base64, and once more split at separators when a whole run fails), a rejected
//! candidate costs its length once, and decoded layers are bounded by the budget.

mod base64;
mod hex;
mod rot13;
mod tags;
mod url;

use std::{mem, ops::Range};

use super::{
    Limits,
    fold::{self, WordScratch},
    invisible,
    segment::{Encoding, EncodingChain, MAX_NESTING, Record},
    signals::{Signals, bump},
    words::{Dictionary, Packer},
};

/// Reusable buffers of the decoder.
#[derive(Debug, Default)]
pub(crate) struct DecodeScratch {
    pub(crate) records: Vec<Record>,
    /// The folded texts of the segments, one after the other.
    pub(crate) arena: String,
    /// Decoded bytes of a candidate found at each level.
    raw: [Vec<u8>; MAX_NESTING],
    /// Each level's text without default-ignorable characters.
    views: [String; MAX_NESTING],
    /// Where the input's view lost bytes, to map ranges back to the input.
    holes: Vec<Hole>,
    words: WordScratch,
}

impl DecodeScratch {
    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.arena.clear();
    }

    pub(crate) fn shrink_to(&mut self, bytes: usize) {
        self.arena.shrink_to(bytes);
        self.holes.shrink_to(bytes / 16);
        for raw in &mut self.raw {
            raw.shrink_to(bytes);
        }
        for view in &mut self.views {
            view.shrink_to(bytes);
        }
    }
}

/// At byte `at` of a view, `removed` bytes of the original had been removed before it.
#[derive(Clone, Copy, Debug)]
struct Hole {
    at: usize,
    removed: usize,
}

/// How a candidate is to be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Base64(base64::Alphabet),
    HexDigits,
    HexEscapes,
    HexPairs,
    Url,
    Rot13,
    Tags,
}

impl Form {
    fn encoding(self) -> Encoding {
        match self {
            Self::Base64(_) => Encoding::Base64,
            Self::HexDigits | Self::HexEscapes | Self::HexPairs => Encoding::Hex,
            Self::Url => Encoding::Url,
            Self::Rot13 => Encoding::Rot13,
            Self::Tags => Encoding::Tags,
        }
    }

    /// Decodes `src` into `out`, writing at most `max` bytes; returns whether it stopped
    /// early. On malformed input `out` is left empty.
    fn decode(self, src: &str, out: &mut Vec<u8>, max: usize) -> bool {
        match self {
            Self::Base64(alphabet) => base64::decode(src, alphabet, out, max),
            Self::HexDigits => hex::decode_digits(src.as_bytes(), out, max),
            Self::HexEscapes => hex::decode_escapes(src.as_bytes(), out, max),
            Self::HexPairs => hex::decode_pairs(src.as_bytes(), out, max),
            Self::Url => url::decode(src.as_bytes(), out, max),
            Self::Rot13 => rot13::decode(src.as_bytes(), out, max),
            Self::Tags => tags::decode(src, out, max),
        }
    }
}

/// A run of a level's text that may be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Candidate {
    form: Form,
    range: Range<usize>,
}

/// Finds and decodes the encoded segments of `input` into `scratch.records` (sorted by
/// position) and `scratch.arena`, counting them in `signals`.
pub(crate) fn decode(
    input: &str,
    limits: &Limits,
    dict: &Dictionary,
    scratch: &mut DecodeScratch,
    signals: &mut Signals,
) {
    let mut decoder = Decoder {
        limits,
        dict,
        marker: rot13::has_marker(input.as_bytes()),
        budget: limits.max_decoded_bytes,
        scratch,
        signals,
    };
    if limits.max_depth > 0 && limits.max_segments > 0 {
        decoder.level(input, 0, None, None);
    }
    let Decoder {
        scratch, signals, ..
    } = decoder;
    scratch
        .records
        .sort_unstable_by_key(|r| (r.range.start, r.range.end, r.encodings.as_slice().len()));
    for record in &scratch.records {
        for kind in Encoding::ALL
            .into_iter()
            .filter(|&k| record.encodings.contains(k))
        {
            signals.encoded_segments.add(kind);
        }
    }
}

struct Decoder<'a> {
    limits: &'a Limits,
    dict: &'a Dictionary,
    /// Whether the input says ROT13 is in play.
    marker: bool,
    /// Decoded bytes still allowed.
    budget: usize,
    scratch: &'a mut DecodeScratch,
    signals: &'a mut Signals,
}

impl Decoder<'_> {
    /// Scans one level of text and returns the length of the longest candidate accepted
    /// in it. `origin` is the input range a decoded level came from.
    fn level(
        &mut self,
        text: &str,
        depth: usize,
        chain: Option<EncodingChain>,
        origin: Option<&Range<usize>>,
    ) -> usize {
        let mut longest = 0;
        let mut accept = |this: &mut Self, view: &str, holes: &[Hole], c: Candidate| {
            let len = c.range.len();
            let accepted = this.try_decode(view, holes, c, depth, chain, origin);
            if accepted {
                longest = longest.max(len);
            }
            accepted
        };

        tags::scan(text, |range| {
            accept(
                self,
                text,
                &[],
                Candidate {
                    form: Form::Tags,
                    range,
                },
            )
        });

        let mut view = self
            .scratch
            .views
            .get_mut(depth)
            .map(mem::take)
            .unwrap_or_default();
        // Only the input's ranges are reported, so only the input's holes are recorded.
        let mut holes = mem::take(&mut self.scratch.holes);
        holes.clear();
        let compacted =
            !text.is_ascii() && compact(text, &mut view, (depth == 0).then_some(&mut holes));
        let view_text: &str = if compacted { &view } else { text };

        // ROT13 of ROT13 is the text itself.
        let rot13_inside = chain.is_some_and(|c| c.innermost() == Encoding::Rot13);
        let rot13 = (!rot13_inside).then(|| {
            let marker = self.marker || (depth > 0 && rot13::has_marker(view_text.as_bytes()));
            (self.dict, rot13::Stretches::new(marker))
        });
        scan_text(view_text, rot13, |c| accept(self, view_text, &holes, c));

        if let Some(slot) = self.scratch.views.get_mut(depth) {
            *slot = view;
        }
        self.scratch.holes = holes;
        longest
    }

    /// Decodes a candidate of `view`, records it and scans what it decodes to; returns
    /// whether it was accepted.
    fn try_decode(
        &mut self,
        view: &str,
        holes: &[Hole],
        candidate: Candidate,
        depth: usize,
        chain: Option<EncodingChain>,
        origin: Option<&Range<usize>>,
    ) -> bool {
        let kind = candidate.form.encoding();
        let Some(encodings) = chain.map_or(Some(EncodingChain::new(kind)), |c| c.then(kind)) else {
            return false;
        };
        let Some(src) = view.get(candidate.range.clone()) else {
            return false;
        };
        let full = self.scratch.records.len() >= self.limits.max_segments
            || self.budget == 0
            || self.scratch.arena.len() >= self.limits.max_decoded_bytes;
        if full {
            bump(&mut self.signals.segments_skipped);
            return false;
        }

        let mut raw = self
            .scratch
            .raw
            .get_mut(depth)
            .map(mem::take)
            .unwrap_or_default();
        raw.clear();
        let truncated = candidate.form.decode(src, &mut raw, self.budget);
        let Some(decoded) = printable_prefix(&raw) else {
            self.put_raw(depth, raw);
            return false;
        };
        self.budget = self.budget.saturating_sub(decoded.len());
        let range = origin
            .cloned()
            .unwrap_or_else(|| map_range(holes, &candidate.range));

        let slot = self.scratch.records.len();
        self.scratch.records.push(Record {
            encodings,
            range: range.clone(),
            text: 0..0,
            truncated,
        });
        let inner = if depth + 1 < self.limits.max_depth.min(MAX_NESTING) {
            self.level(decoded, depth + 1, Some(encodings), Some(&range))
        } else {
            0
        };
        if inner > 0 && inner.saturating_mul(10) >= decoded.len().saturating_mul(9) {
            // The layer is just another encoding: its inner segment reports it (and
            // inherits its truncation).
            if slot < self.scratch.records.len() {
                self.scratch.records.remove(slot);
            }
            for inner in self.scratch.records.iter_mut().skip(slot) {
                inner.truncated |= truncated;
            }
        } else {
            let start = self.scratch.arena.len();
            fold::fold(
                decoded,
                self.dict,
                &mut self.scratch.arena,
                &mut self.scratch.words,
                self.signals,
            );
            let cap = self.limits.max_decoded_bytes.max(start);
            let cut = self.scratch.arena.len() > cap;
            if cut {
                let at = self.scratch.arena.floor_char_boundary(cap);
                self.scratch.arena.truncate(at);
            }
            if let Some(record) = self.scratch.records.get_mut(slot) {
                record.text = start..self.scratch.arena.len();
                record.truncated |= cut;
            }
        }
        self.put_raw(depth, raw);
        true
    }

    fn put_raw(&mut self, depth: usize, raw: Vec<u8>) {
        if let Some(slot) = self.scratch.raw.get_mut(depth) {
            *slot = raw;
        }
    }
}

/// The longest valid UTF-8 prefix of `raw` (a sequence cut at the end is dropped), if it is
/// mostly printable — at most one character in ten a control or U+FFFD — and has a letter
/// or a digit (a layer of hex digits may be all digits).
fn printable_prefix(raw: &[u8]) -> Option<&str> {
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(raw.get(..e.valid_up_to()).unwrap_or(&[])).ok()?
        }
        Err(_) => return None,
    };
    let (mut chars, mut bad, mut alphanumeric) = (0_usize, 0_usize, 0_usize);
    for c in text.chars() {
        chars += 1;
        if c.is_alphanumeric() {
            alphanumeric += 1;
        } else if (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffd}' {
            bad += 1;
        }
    }
    (alphanumeric > 0 && bad.saturating_mul(10) <= chars).then_some(text)
}

/// Writes `text` without its default-ignorable characters to `view`, recording where bytes
/// were removed in `holes` if given; returns whether anything was removed.
fn compact(text: &str, view: &mut String, mut holes: Option<&mut Vec<Hole>>) -> bool {
    view.clear();
    let mut removed = 0;
    let mut kept_from = 0;
    // Default-ignorable characters are never ASCII: runs of ASCII are skipped bytewise.
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(skip) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|b| !b.is_ascii()))
    {
        i += skip;
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        if invisible::is_default_ignorable(c) {
            view.push_str(text.get(kept_from..i).unwrap_or(""));
            removed += c.len_utf8();
            kept_from = i + c.len_utf8();
            if let Some(holes) = holes.as_deref_mut() {
                holes.push(Hole {
                    at: view.len(),
                    removed,
                });
            }
        }
        i += c.len_utf8();
    }
    if removed == 0 {
        return false;
    }
    view.push_str(text.get(kept_from..).unwrap_or(""));
    true
}

/// Maps a range of the input's view back to the input.
fn map_range(holes: &[Hole], range: &Range<usize>) -> Range<usize> {
    let shift = |pos: usize, inclusive: bool| {
        let n = holes.partition_point(|h| if inclusive { h.at <= pos } else { h.at < pos });
        pos + n
            .checked_sub(1)
            .and_then(|i| holes.get(i))
            .map_or(0, |h| h.removed)
    };
    shift(range.start, true)..shift(range.end, false)
}

/// Byte classes of [`scan_text`]: ASCII whitespace (as `u8::is_ascii_whitespace`), ASCII
/// letters, and the punctuation that ends a ROT13 stretch.
const SPACE: u8 = 1;
const LETTER: u8 = 2;
const STOP: u8 = 4;

#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index fails the build"
)]
const CLASSES: [u8; 256] = {
    let mut table = [0_u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_whitespace() {
            SPACE
        } else if c.is_ascii_alphabetic() {
            LETTER
        } else if rot13::Stretches::is_boundary(c) {
            STOP
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

/// Finds the candidates of a level in one pass: percent-encoding, hex escapes, hex digits
/// and base64 inside whitespace-separated tokens, spaced hex pairs across tokens, and —
/// when `rot13` is given — ROT13 stretches, from the words inside the tokens. Each byte is
/// classified once, by table; a word's letters are packed for the ROT13 lookup as they
/// are passed.
fn scan_text(
    text: &str,
    mut rot13: Option<(&Dictionary, rot13::Stretches)>,
    mut found: impl FnMut(Candidate) -> bool,
) {
    let bytes = text.as_bytes();
    let mut pairs = hex::Pairs::default();
    let mut i = 0;
    loop {
        while let Some(&b) = bytes.get(i).filter(|&&b| class(b) & SPACE != 0) {
            if let Some((dict, stretches)) = rot13.as_mut().filter(|_| b == b'\n')
                && let Some(range) = stretches.boundary(bytes, dict)
            {
                found(Candidate {
                    form: Form::Rot13,
                    range,
                });
            }
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        match rot13.as_mut() {
            Some((dict, stretches)) => {
                while let Some(&b) = bytes.get(i) {
                    let c = class(b);
                    if c & SPACE != 0 {
                        break;
                    }
                    if c & LETTER != 0 {
                        let word = i;
                        let mut key = 0_u64;
                        while let Some(&b) = bytes.get(i).filter(|&&b| class(b) & LETTER != 0) {
                            key = (key << 5) | u64::from(b & 31);
                            i += 1;
                        }
                        let key = Packer::key_of_letters(key, i - word);
                        if let Some(range) = stretches.word(word..i, key, bytes, dict) {
                            found(Candidate {
                                form: Form::Rot13,
                                range,
                            });
                        }
                        continue;
                    }
                    if c & STOP != 0
                        && let Some(range) = stretches.boundary(bytes, dict)
                    {
                        found(Candidate {
                            form: Form::Rot13,
                            range,
                        });
                    }
                    i += 1;
                }
            }
            None => {
                while bytes.get(i).is_some_and(|&b| class(b) & SPACE == 0) {
                    i += 1;
                }
            }
        }
        let token = bytes.get(start..i).unwrap_or(&[]);
        if let Some(range) = pairs.token(start..i, token) {
            found(Candidate {
                form: Form::HexPairs,
                range,
            });
        }
        scan_token(token, start, &mut found);
    }
    if let Some(range) = pairs.finish() {
        found(Candidate {
            form: Form::HexPairs,
            range,
        });
    }
    if let Some(range) = rot13
        .as_mut()
        .and_then(|(dict, stretches)| stretches.boundary(bytes, dict))
    {
        found(Candidate {
            form: Form::Rot13,
            range,
        });
    }
}

fn scan_token(token: &[u8], offset: usize, found: &mut impl FnMut(Candidate) -> bool) {
    if token.len() < url::MIN_TOKEN {
        return;
    }
    if url::escapes(token) >= url::MIN_ESCAPES
        && found(Candidate {
            form: Form::Url,
            range: offset..offset + token.len(),
        })
    {
        return;
    }
    // Four `\xHH` escapes and a base64 or hex run each take sixteen bytes at least: a
    // shorter token (most words) holds neither.
    if token.len() < hex::MIN_ESCAPES * 4 && token.len() < base64::MIN_LEN {
        return;
    }
    let mut j = 0;
    while j < token.len() {
        let b = token.get(j).copied().unwrap_or(0);
        if b == b'\\' {
            let (end, count) = hex::escape_run(token, j);
            if count >= hex::MIN_ESCAPES {
                found(Candidate {
                    form: Form::HexEscapes,
                    range: offset + j..offset + end,
                });
                j = end;
            } else {
                j += 1;
            }
        } else if base64::is_alphabet(b) {
            let end = base64::run_end(token, j);
            try_run(token, j..end, offset, found);
            j = end.max(j + 1);
        } else {
            j += 1;
        }
    }
}

/// Tries a run of base64-alphabet characters as hex, then as base64, then piece by piece
/// between separators (`/+-_`) — for a run glued to a path or a `-`-joined name.
fn try_run(
    token: &[u8],
    run: Range<usize>,
    offset: usize,
    found: &mut impl FnMut(Candidate) -> bool,
) {
    let Some(bytes) = token.get(run.clone()) else {
        return;
    };
    if base64::body_len(bytes) < base64::MIN_LEN {
        return;
    }
    if try_whole(bytes, run.start + offset, found) {
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if base64::is_separator(b) {
            if let Some(piece) = bytes.get(start..i) {
                try_whole(piece, run.start + offset + start, found);
            }
            start = i + 1;
        }
    }
    if start > 0
        && let Some(piece) = bytes.get(start..)
    {
        try_whole(piece, run.start + offset + start, found);
    }
}

fn try_whole(bytes: &[u8], at: usize, found: &mut impl FnMut(Candidate) -> bool) -> bool {
    if base64::body_len(bytes) < base64::MIN_LEN {
        return false;
    }
    if let Some(digits) = hex::digits(bytes) {
        let range = at + digits.start..at + digits.end;
        if found(Candidate {
            form: Form::HexDigits,
            range,
        }) {
            return true;
        }
    }
    base64::plausible(bytes).is_some_and(|alphabet| {
        found(Candidate {
            form: Form::Base64(alphabet),
            range: at..at + bytes.len(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(text: &str) -> Vec<(Form, &str)> {
        let mut out = Vec::new();
        scan_text(text, None, |c| {
            out.push((c.form, &text[c.range]));
            false
        });
        out
    }

    #[test]
    fn finds_token_candidates() {
        assert_eq!(
            candidates("say SGVsbG8gd29ybGQgaGVsbG8= now"),
            [(
                Form::Base64(base64::Alphabet::Standard),
                "SGVsbG8gd29ybGQgaGVsbG8="
            )]
        );
        assert_eq!(
            candidates("x=aGVsbG8_d29ybGQ-aGVsbG8"),
            [(
                Form::Base64(base64::Alphabet::UrlSafe),
                "aGVsbG8_d29ybGQ-aGVsbG8"
            )]
        );
        assert_eq!(
            candidates("0x68656c6c6f20776f726c64"),
            [
                (Form::HexDigits, "68656c6c6f20776f726c64"),
                (
                    Form::Base64(base64::Alphabet::Standard),
                    "0x68656c6c6f20776f726c64"
                )
            ]
        );
        assert_eq!(
            candidates(r"run \x69\x67\x6e\x6f\x72\x65 it"),
            [(Form::HexEscapes, r"\x69\x67\x6e\x6f\x72\x65")]
        );
        assert_eq!(
            candidates("go %69%67%6E%6F%72%65 x"),
            [(Form::Url, "%69%67%6E%6F%72%65")]
        );
        assert_eq!(
            candidates("68 65 6c 6c 6f 20 77 6f 72 6c 64 ok"),
            [(Form::HexPairs, "68 65 6c 6c 6f 20 77 6f 72 6c 64")]
        );
        assert!(candidates("plain english text, internationalization and 2024-01-01").is_empty());
    }

    #[test]
    fn retries_pieces_of_a_failed_run() {
        let text = "https://example.com/SGVsbG8gd29ybGQgaGVsbG8/x";
        let found = candidates(text);
        assert!(
            found.contains(&(
                Form::Base64(base64::Alphabet::Standard),
                "SGVsbG8gd29ybGQgaGVsbG8"
            )),
            "{found:?}"
        );
    }

    #[test]
    fn printable_prefix_rules() {
        assert_eq!(printable_prefix(b"hello world"), Some("hello world"));
        assert_eq!(
            printable_prefix(b"hello \xe2\x82"),
            Some("hello "),
            "a sequence cut at the end"
        );
        assert_eq!(printable_prefix(b"hel\xfflo"), None);
        assert_eq!(printable_prefix(b"\x01\x02\x03abc"), None);
        assert_eq!(
            printable_prefix(b"12345678"),
            Some("12345678"),
            "a layer of hex digits"
        );
        assert_eq!(printable_prefix(b"  ...  "), None, "nothing alphanumeric");
        assert_eq!(printable_prefix("привет".as_bytes()), Some("привет"));
    }

    #[test]
    fn compaction_maps_back() {
        let text = "ab\u{200b}cd\u{200b}\u{200b}ef";
        let mut view = String::new();
        let mut holes = Vec::new();
        assert!(compact(text, &mut view, Some(&mut holes)));
        assert_eq!(view, "abcdef");
        assert_eq!(map_range(&holes, &(0..6)), 0..text.len());
        assert_eq!(map_range(&holes, &(2..4)), 5..7);
        assert_eq!(&text[map_range(&holes, &(4..6))], "ef");
    }
}
