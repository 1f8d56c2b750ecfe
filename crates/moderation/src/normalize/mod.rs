//! The normaliser: what every classifier sees instead of the raw text.
//!
//! [`Normalizer::normalize`] turns any text into
//!
//! * the **folded text**: invisible characters removed, NFKC, look-alikes folded to ASCII,
//!   lowercased, leetspeak folded, whitespace collapsed ([`fold`], with the steps in
//!   [`invisible`], [`nfkc`], [`confusable`], [`leet`]);
//! * the **decoded segments**: base64, hex, percent-encoding, ROT13 and tag characters
//!   found in the text, unwrapped up to three deep, each folded the same way ([`decode`]);
//! * the **signals**: how much of each it had to undo.
//!
//! Work is linear in the input and memory bounded by a small multiple of it: there is no
//! backtracking, stacked combining marks are capped before NFKC, and at most
//! [`Limits::max_segments`] segments and [`Limits::max_decoded_bytes`] decoded bytes are
//! produced whatever the input holds. The folded text is at most 11 times as long as the
//! input (NFKC's worst case, U+FDFA, is 3 bytes that become 33), and usually shorter.

mod confusable;
mod decode;
mod fold;
mod invisible;
mod leet;
mod nfkc;
mod segment;
mod signals;
mod words;

use self::{decode::DecodeScratch, fold::WordScratch, segment::Record, words::Dictionary};
pub use self::{
    segment::{Encoding, EncodingChain, MAX_NESTING, Segment},
    signals::{EncodingCounts, Signals},
};

/// Bounds on the decoding work done for one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most segments reported; encoded runs past it are counted in
    /// [`Signals::segments_skipped`] and not decoded.
    pub max_segments: usize,
    /// Most bytes decoded from the input, all layers together; it also bounds the total
    /// length of the segments' folded texts.
    pub max_decoded_bytes: usize,
    /// Most encodings unwrapped one inside another, at most [`MAX_NESTING`]; 0 turns
    /// decoding off.
    pub max_depth: usize,
}

impl Limits {
    /// 32 segments, 256 KiB of decoded text, three layers deep.
    pub const DEFAULT: Self = Self {
        max_segments: 32,
        max_decoded_bytes: 256 * 1024,
        max_depth: MAX_NESTING,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Normalises text for classification. Build one (it holds the word tables) and share it:
/// it is `Send + Sync`, and each call takes the caller's [`Scratch`].
#[derive(Debug)]
pub struct Normalizer {
    limits: Limits,
    dict: Dictionary,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Normalizer {
    /// A normaliser with [`Limits::DEFAULT`].
    pub fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    /// A normaliser with the given limits (`max_depth` is clamped to [`MAX_NESTING`]).
    pub fn with_limits(limits: Limits) -> Self {
        let limits = Limits {
            max_depth: limits.max_depth.min(MAX_NESTING),
            ..limits
        };
        Self {
            limits,
            dict: Dictionary::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Normalises `input` using (and overwriting) `scratch`; the result borrows from it.
    ///
    /// Never fails and never panics: odd input yields odd but bounded output, and the
    /// oddity shows in the [`Signals`].
    pub fn normalize<'s>(&self, input: &str, scratch: &'s mut Scratch) -> Normalized<'s> {
        scratch.folded.clear();
        scratch.decode.clear();
        let mut signals = Signals::default();
        fold::fold(
            input,
            &self.dict,
            &mut scratch.folded,
            &mut scratch.words,
            &mut signals,
        );
        decode::decode(
            input,
            &self.limits,
            &self.dict,
            &mut scratch.decode,
            &mut signals,
        );
        Normalized {
            folded: &scratch.folded,
            records: &scratch.decode.records,
            arena: &scratch.decode.arena,
            signals,
        }
    }
}

/// Buffers reused from one [`Normalizer::normalize`] call to the next, so that a server
/// normalising request after request does not allocate once its buffers have grown.
#[derive(Debug, Default)]
pub struct Scratch {
    folded: String,
    words: WordScratch,
    decode: DecodeScratch,
}

impl Scratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers ready for inputs of about `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            folded: String::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Gives back memory beyond about `bytes` per buffer, after an unusually large input.
    pub fn shrink_to(&mut self, bytes: usize) {
        self.folded.shrink_to(bytes);
        self.decode.shrink_to(bytes);
    }

    /// The folded text's buffer, the one that grows with the input.
    #[cfg(test)]
    pub(crate) fn folded_capacity(&self) -> usize {
        self.folded.capacity()
    }
}

/// The result of normalising one input; it borrows the [`Scratch`] it was written to.
#[derive(Clone, Debug)]
pub struct Normalized<'s> {
    folded: &'s str,
    records: &'s [Record],
    arena: &'s str,
    signals: Signals,
}

impl<'s> Normalized<'s> {
    /// The folded surface text.
    pub fn folded(&self) -> &'s str {
        self.folded
    }

    /// The decoded segments, ordered by where they start in the input.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment<'s>> + '_ {
        self.records.iter().map(|r| r.view(self.arena))
    }

    /// The folded text, then each segment's text: everything a classifier should scan.
    pub fn texts(&self) -> impl Iterator<Item = &'s str> + '_ {
        std::iter::once(self.folded).chain(self.segments().map(|s| s.text))
    }

    /// What the normaliser had to undo.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn normalizer_is_shareable() {
        assert_send_sync::<Normalizer>();
        assert_send_sync::<Scratch>();
    }

    #[test]
    fn scratch_is_reused() {
        let normalizer = Normalizer::new();
        let mut scratch = Scratch::new();
        let first = normalizer.normalize("SGVsbG8gd29ybGQsIGhlbGxvIQ== and more", &mut scratch);
        assert_eq!(first.segments().len(), 1);
        let second = normalizer.normalize("plain", &mut scratch);
        assert_eq!(second.folded(), "plain");
        assert_eq!(second.segments().len(), 0);
        assert!(!second.signals().any());
    }

    #[test]
    fn depth_is_clamped_and_zero_turns_decoding_off() {
        let big = Normalizer::with_limits(Limits {
            max_depth: 99,
            ..Limits::DEFAULT
        });
        assert_eq!(big.limits().max_depth, MAX_NESTING);
        let off = Normalizer::with_limits(Limits {
            max_depth: 0,
            ..Limits::DEFAULT
        });
        let mut scratch = Scratch::new();
        let out = off.normalize("SGVsbG8gd29ybGQsIGhlbGxvIQ==", &mut scratch);
        assert_eq!(out.segments().len(), 0);
    }
}
