//! Hashed features of folded text, computed on the fly: no allocation, no per-feature
//! state, the same code for training and for scoring.
//!
//! Text is cut into **tokens**: maximal runs of ASCII letters and digits and of non-ASCII
//! characters (every byte of a multi-byte UTF-8 character counts as a token byte, so a
//! piece may end anywhere on a character boundary). Letters of the scripts the models do
//! not read (every script but Latin: `bulwark_core::script`) are read as spaces, in
//! training as in scoring: the training data has no benign text in them, so their features
//! could only learn the script. ASCII digits are folded to `0` so that
//! years, amounts and phone numbers do not become features (the email corpora differ in
//! era: see the model card). Only the first [`FeatureConfig::max_token_bytes`] bytes of a
//! token are kept; the rest of a long token (a base64 blob, a run of one letter) adds
//! nothing and costs nothing.
//!
//! Each token yields:
//! * its **unigram**;
//! * the **bigram** of the previous token and this one (when enabled);
//! * the **byte n-grams** of `^token$` for every n in `char_min..=char_max`;
//!
//! except a token equal to the one before it, which yields nothing (a run of one token
//! is evidence once, not once per repetition).
//!
//! A token is hashed with 64-bit FNV-1a (offset basis XOR the model's seed XOR a tag per
//! feature kind); a bigram combines two token hashes; a byte n-gram (n ≤ 8) is its bytes
//! read as one little-endian `u64`, XOR a per-length key. Every feature hash is finished
//! by a multiply–xorshift–multiply mix and the top `bucket_bits` bits pick its bucket. The
//! arithmetic is plain wrapping `u64`, so buckets are the same on every platform.

use bulwark_semantic::Run;

use super::cache::CACHED_TOKEN_BYTES;

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Feature-kind tags, mixed into a feature's hash before finishing it.
const TAG_UNIGRAM: u64 = 0x75;
const TAG_BIGRAM: u64 = 0x62;
const TAG_NGRAM: u64 = 0x6e;

/// Boundary bytes around a token for its byte n-grams (not valid UTF-8 on their own, so
/// they cannot collide with text).
const TOKEN_START: u8 = 0xfe;
const TOKEN_END: u8 = 0xff;

/// The longest token prefix any configuration may keep.
pub(crate) const MAX_TOKEN_BYTES: usize = 64;
/// The longest byte n-gram any configuration may use.
pub(crate) const MAX_NGRAM: u8 = 8;
/// The widest table any configuration may use (2^24 buckets).
pub(crate) const MAX_BUCKET_BITS: u8 = 24;
/// The narrowest table any configuration may use (2^8 buckets).
pub(crate) const MIN_BUCKET_BITS: u8 = 8;
/// The longest window any configuration may use (keeps a window's integer sums far from
/// overflow: 1,024 tokens × 530 features × 127).
pub(crate) const MAX_WINDOW_TOKENS: u16 = 1024;
/// At most this many windows overlap any token (`window_tokens / hop_tokens`).
pub(crate) const MAX_OVERLAP: usize = 8;

/// How text becomes features and features become windows: stored in the model file, so a
/// model is always scored the way it was trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    /// The table has `2^bucket_bits` buckets.
    pub bucket_bits: u8,
    /// Mixed into every hash: a model trained with one seed is meaningless under another.
    pub seed: u64,
    /// Shortest byte n-gram of `^token$`.
    pub char_min: u8,
    /// Longest byte n-gram of `^token$` (`0` with `char_min` `0`: none).
    pub char_max: u8,
    /// Bytes of a token that are kept.
    pub max_token_bytes: u8,
    /// Whether adjacent tokens form bigram features.
    pub bigrams: bool,
    /// Tokens per scoring window.
    pub window_tokens: u16,
    /// Tokens between the starts of two windows; divides `window_tokens`.
    pub hop_tokens: u16,
    /// A window's summed weights are divided by `features^norm_exponent`: `0` scores the
    /// plain sum, `0.5` the L2-normalised mean.
    pub norm_exponent: f32,
    /// Windows with fewer features have their evidence shrunk in proportion (see
    /// [`FeatureConfig::norm`]), so that a two-word text ("hi there") or the first words
    /// of a stream cannot reach a high score on a handful of features.
    pub norm_floor: u16,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            bucket_bits: 18,
            seed: 0x6275_6c77_6172_6b31, // "bulwark1"
            char_min: 3,
            char_max: 5,
            max_token_bytes: 24,
            bigrams: true,
            window_tokens: 32,
            hop_tokens: 16,
            norm_exponent: 0.25,
            norm_floor: 128,
        }
    }
}

impl FeatureConfig {
    /// Checks the invariants the scorer relies on; the message says which one failed.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_BUCKET_BITS..=MAX_BUCKET_BITS).contains(&self.bucket_bits) {
            return Err(format!(
                "bucket bits {} outside {MIN_BUCKET_BITS}..={MAX_BUCKET_BITS}",
                self.bucket_bits
            ));
        }
        let no_ngrams = self.char_min == 0 && self.char_max == 0;
        if !no_ngrams
            && (self.char_min == 0 || self.char_min > self.char_max || self.char_max > MAX_NGRAM)
        {
            return Err(format!(
                "byte n-gram range {}..={} invalid",
                self.char_min, self.char_max
            ));
        }
        if self.max_token_bytes < 4 || usize::from(self.max_token_bytes) > MAX_TOKEN_BYTES {
            return Err(format!(
                "token prefix of {} bytes outside 4..={MAX_TOKEN_BYTES}",
                self.max_token_bytes
            ));
        }
        if self.hop_tokens == 0
            || self.window_tokens > MAX_WINDOW_TOKENS
            || self.window_tokens < self.hop_tokens
            || !self.window_tokens.is_multiple_of(self.hop_tokens)
            || usize::from(self.window_tokens / self.hop_tokens) > MAX_OVERLAP
        {
            return Err(format!(
                "window of {} tokens with hop {} invalid (at most {MAX_WINDOW_TOKENS} tokens, \
                 the hop must divide the window, at most {MAX_OVERLAP} windows overlapping)",
                self.window_tokens, self.hop_tokens
            ));
        }
        if !(0.0..=1.0).contains(&self.norm_exponent) {
            return Err(format!(
                "norm exponent {} outside 0..=1",
                self.norm_exponent
            ));
        }
        Ok(())
    }

    /// The number of buckets.
    pub fn buckets(&self) -> usize {
        1usize << self.bucket_bits
    }

    /// The divisor of a window with `features` features: `features^norm_exponent`, and
    /// for a window with fewer than `norm_floor` features, `norm_floor^norm_exponent ·
    /// norm_floor / features`: the evidence of a tiny window (the first words of a stream,
    /// "how do i") is shrunk in proportion to how little of it there is. The trainer uses
    /// it too, so that training and scoring normalise alike.
    pub fn norm(&self, features: u32) -> f32 {
        let n = features.max(1) as f32;
        let floor = f32::from(self.norm_floor);
        let power = |x: f32| match self.norm_exponent {
            0.0 => 1.0,
            0.5 => x.sqrt(),
            1.0 => x,
            exponent => x.powf(exponent),
        };
        if n < floor {
            power(floor) * floor / n
        } else {
            power(n)
        }
    }

    /// How many windows overlap each token.
    pub fn overlap(&self) -> usize {
        usize::from(self.window_tokens / self.hop_tokens.max(1)).max(1)
    }

    /// The windows, as token ranges, whose scores count for a text of `tokens` tokens:
    /// every window `[k·hop, k·hop + window)` clipped to the text, keeping the first one
    /// and any other with at least `hop` tokens (a shorter tail window only repeats the
    /// end of the window before it). The streaming scorer considers exactly these.
    pub fn windows(&self, tokens: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let window = usize::from(self.window_tokens);
        let hop = usize::from(self.hop_tokens).max(1);
        (0..tokens.max(1).div_ceil(hop)).filter_map(move |k| {
            let start = k * hop;
            let end = (start + window).min(tokens);
            (k == 0 || end - start >= hop).then_some(start..end)
        })
    }

    /// Extracts the feature buckets of `text`, token by token: `on_token(buckets)` is
    /// called once per token with that token's buckets. For training and tests; the
    /// scorer uses the streaming [`Tokenizer`] directly.
    pub fn tokens(&self, text: &str, mut on_token: impl FnMut(&[u32])) {
        let mut tokenizer = Tokenizer::default();
        let mut buckets = Vec::with_capacity(64);
        let mut emit = |t: &mut Tokenizer| {
            buckets.clear();
            t.features(self, |b| buckets.push(b));
            on_token(&buckets);
        };
        for piece in bulwark_core::script::modelled_pieces(text) {
            for &byte in piece.as_bytes() {
                if tokenizer.push(self, byte) {
                    emit(&mut tokenizer);
                }
            }
        }
        if tokenizer.pending() {
            emit(&mut tokenizer);
        }
    }
}

/// Whether `byte` belongs to a token.
#[inline]
fn is_token_byte(byte: u8) -> bool {
    TOKEN_BYTES.get(usize::from(byte)).copied().unwrap_or(false)
}

/// [`is_token_byte`] by table: ASCII letters and digits and every byte of a multi-byte
/// character.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index fails the build"
)]
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric() || b >= 0x80;
        b += 1;
    }
    table
};

/// Where the run of token bytes starting at `at` ends (`at` itself if none starts there).
#[inline]
pub(crate) fn token_run_end(bytes: &[u8], at: usize) -> usize {
    let mut end = at;
    while bytes.get(end).is_some_and(|&b| is_token_byte(b)) {
        end += 1;
    }
    end
}

/// The streaming tokeniser: the current token's kept prefix and the previous token's
/// hash. Fixed size whatever it is fed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokenizer {
    /// `^token$` as n-grams see it: the start mark, the kept bytes, then (once the token
    /// ends) the end mark; eight spare bytes let every n-gram be read as one `u64`.
    buf: [u8; MAX_TOKEN_BYTES + 2 + 8],
    len: u8,
    /// Whether the current token has started (it may have more bytes than `len`).
    open: bool,
    /// The previous token's unigram hash, for bigrams.
    prev: Option<u64>,
}

impl Default for Tokenizer {
    fn default() -> Self {
        let mut buf = [0; MAX_TOKEN_BYTES + 2 + 8];
        buf[0] = TOKEN_START;
        Self {
            buf,
            len: 0,
            open: false,
            prev: None,
        }
    }
}

impl Tokenizer {
    /// Takes one byte. Returns `true` when that byte ended a token: the caller then calls
    /// [`Tokenizer::features`] (which also resets the token).
    #[inline]
    pub(crate) fn push(&mut self, config: &FeatureConfig, byte: u8) -> bool {
        if is_token_byte(byte) {
            self.open = true;
            if self.len < config.max_token_bytes
                && let Some(slot) = self.buf.get_mut(usize::from(self.len) + 1)
            {
                *slot = if byte.is_ascii_digit() { b'0' } else { byte };
                self.len += 1;
            }
            false
        } else {
            self.open
        }
    }

    /// Takes a run of token bytes (as [`token_run_end`] finds them): what
    /// [`Tokenizer::push`] does byte by byte, a run at a time.
    #[inline]
    pub(crate) fn extend(&mut self, config: &FeatureConfig, run: &[u8]) {
        self.open = true;
        let len = usize::from(self.len);
        let take = run
            .len()
            .min(usize::from(config.max_token_bytes).saturating_sub(len));
        if let Some(slots) = self.buf.get_mut(len + 1..len + 1 + take) {
            for (slot, &byte) in slots.iter_mut().zip(run) {
                *slot = if byte.is_ascii_digit() { b'0' } else { byte };
            }
            self.len += take as u8;
        }
    }

    /// [`Tokenizer::extend`] with a run of the word pass: a run of up to sixteen bytes
    /// without a digit is written as its two words at once (the bytes past its end land
    /// beyond the token, where nothing reads them).
    #[inline]
    pub(crate) fn extend_run(&mut self, config: &FeatureConfig, text: &[u8], run: &Run) {
        let len = usize::from(self.len);
        let bytes = text.get(run.start..run.end).unwrap_or_default();
        if !run.digit
            && bytes.len() <= 16
            && let Some(slots) = self.buf.get_mut(len + 1..len + 17)
        {
            let (lo, hi) = slots.split_at_mut(8);
            lo.copy_from_slice(&run.lo.to_le_bytes());
            hi.copy_from_slice(&run.hi.to_le_bytes());
            self.open = true;
            let take = bytes
                .len()
                .min(usize::from(config.max_token_bytes).saturating_sub(len));
            self.len += take as u8;
            return;
        }
        self.extend(config, bytes);
    }

    /// Whether a token is in progress (the text so far ends inside it).
    pub(crate) fn pending(&self) -> bool {
        self.open
    }

    /// Whether `other` has been fed the same text under the same settings as far as
    /// tokens go: the same token in progress and the same token before it.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.len == other.len
            && self.open == other.open
            && self.prev == other.prev
            && self.token() == other.token()
    }

    /// Emits the current token's feature buckets and starts the next token.
    #[inline]
    pub(crate) fn features(&mut self, config: &FeatureConfig, mut emit: impl FnMut(u32)) {
        // In the order training has always seen them: unigram, bigram, byte n-grams.
        if let Some(ended) = self.end(config) {
            emit(bucket(config, ended.unigram));
            if let Some(bigram) = ended.bigram {
                emit(bigram);
            }
            self.ngrams(config, &mut emit);
        }
        self.reset();
    }

    /// Ends the current token: its unigram hash and its bigram with the token before, or
    /// `None` when it repeats the token before it. A token that repeats the one before it
    /// adds no evidence: "word word word …" would otherwise add the same weights once per
    /// repetition, and a run of one token could reach any score. It still counts as a
    /// token (for windows), and the run's first token keeps its features.
    ///
    /// The token's bytes stay readable ([`Tokenizer::token`], [`Tokenizer::own_features`])
    /// until [`Tokenizer::reset`].
    #[inline]
    pub(crate) fn end(&mut self, config: &FeatureConfig) -> Option<Ended> {
        let unigram = self.unigram(config);
        self.end_with(config, unigram)
    }

    /// The current token's unigram hash (before finishing into a bucket).
    #[inline]
    pub(crate) fn unigram(&self, config: &FeatureConfig) -> u64 {
        fnv(FNV_OFFSET ^ config.seed ^ TAG_UNIGRAM, self.token())
    }

    /// [`Tokenizer::end`] of a token whose unigram hash is known (a cached token's).
    #[inline]
    pub(crate) fn end_with(&mut self, config: &FeatureConfig, unigram: u64) -> Option<Ended> {
        if self.prev == Some(unigram) {
            return None;
        }
        let bigram = match self.prev {
            Some(prev) if config.bigrams => {
                Some(bucket(config, prev.rotate_left(23) ^ unigram ^ TAG_BIGRAM))
            }
            _ => None,
        };
        self.prev = Some(unigram);
        Some(Ended { unigram, bigram })
    }

    /// The kept bytes of the current token (digits folded).
    #[inline]
    pub(crate) fn token(&self) -> &[u8] {
        self.buf.get(1..=usize::from(self.len)).unwrap_or_default()
    }

    /// The first [`CACHED_TOKEN_BYTES`] bytes the token buffer holds after the start
    /// mark: the token's kept bytes, then whatever earlier tokens left there.
    #[inline]
    pub(crate) fn head(&self) -> &[u8; CACHED_TOKEN_BYTES] {
        const { assert!(CACHED_TOKEN_BYTES < MAX_TOKEN_BYTES + 2 + 8) };
        self.buf
            .first_chunk::<{ CACHED_TOKEN_BYTES + 1 }>()
            .and_then(|head| head.last_chunk::<CACHED_TOKEN_BYTES>())
            .unwrap_or(&[0; CACHED_TOKEN_BYTES])
    }

    /// Emits the features that depend on the current token alone: its unigram (`unigram`
    /// is [`Ended::unigram`]) and its byte n-grams; not the bigram, which depends on the
    /// token before.
    #[inline]
    pub(crate) fn own_features(
        &mut self,
        config: &FeatureConfig,
        unigram: u64,
        mut emit: impl FnMut(u32),
    ) {
        emit(bucket(config, unigram));
        self.ngrams(config, emit);
    }

    /// Emits the byte n-grams of `^token$`.
    #[inline]
    fn ngrams(&mut self, config: &FeatureConfig, mut emit: impl FnMut(u32)) {
        let len = usize::from(self.len);
        let seed = FNV_OFFSET ^ config.seed;
        if config.char_max == 0 {
            return;
        }
        if let Some(end) = self.buf.get_mut(len + 1) {
            *end = TOKEN_END;
        }
        let padded = len + 2;
        let (lo, hi) = (
            usize::from(config.char_min).max(1),
            usize::from(config.char_max).min(8),
        );
        let base = seed ^ TAG_NGRAM;
        for start in 0..padded.saturating_sub(lo - 1) {
            // The n-grams starting here, read as one little-endian word and masked.
            let word = self
                .buf
                .get(start..start + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_le_bytes);
            for n in lo..=hi.min(padded - start) {
                let gram = word & (u64::MAX >> (64 - 8 * n));
                emit(bucket(
                    config,
                    gram ^ base.wrapping_add(n as u64).wrapping_mul(FNV_PRIME),
                ));
            }
        }
        if let Some(end) = self.buf.get_mut(len + 1) {
            *end = 0;
        }
    }

    /// Forgets the current token (not the previous one's hash): the next byte starts a
    /// new token.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.len = 0;
        self.open = false;
    }
}

/// A token that ended and was not a repetition of the one before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    /// The token's unigram hash (before finishing into a bucket).
    pub(crate) unigram: u64,
    /// The bucket of its bigram with the token before, when there is one.
    pub(crate) bigram: Option<u32>,
}

/// The bucket of a feature hash under `config`.
#[inline]
fn bucket(config: &FeatureConfig, h: u64) -> u32 {
    (mix(h) >> (64 - u32::from(config.bucket_bits))) as u32
}

/// 64-bit FNV-1a of `bytes` from `basis`.
#[inline]
fn fnv(basis: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(basis, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// A multiply–xorshift–multiply finaliser (the first half of MurmurHash3's `fmix64`, then
/// a multiply): spreads every input bit over the high bits the bucket is taken from.
#[inline]
fn mix(mut h: u64) -> u64 {
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 32;
    h.wrapping_mul(0xc4ce_b9fe_1a85_ec53)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(config: &FeatureConfig, text: &str) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        config.tokens(text, |b| out.push(b.to_vec()));
        out
    }

    #[test]
    fn tokens_split_on_punctuation_and_fold_digits() {
        let config = FeatureConfig::default();
        let a = collect(&config, "call me, now: 2002!");
        let b = collect(&config, "call me now 1999");
        assert_eq!(a.len(), 4);
        assert_eq!(a, b, "digits fold to 0 and punctuation separates");
    }

    #[test]
    fn feature_counts_follow_the_config() {
        let config = FeatureConfig::default();
        // "^abcdef$" has 8 bytes: 6 trigrams + 5 four-grams + 4 five-grams, + 1 unigram.
        let tokens = collect(&config, "abcdef");
        assert_eq!(tokens[0].len(), 16);
        // The second token adds a bigram.
        let tokens = collect(&config, "abcdef ghijkl");
        assert_eq!(tokens[1].len(), 17);
        // A token repeating the one before it is still a token, with no features; the
        // run ends at the next different token.
        let tokens = collect(&config, "abcdef abcdef abcdef ghijkl abcdef");
        let counts: Vec<usize> = tokens.iter().map(Vec::len).collect();
        assert_eq!(counts, [16, 0, 0, 17, 17]);
        // A one-byte token: "^a$" has one trigram and no longer n-grams.
        assert_eq!(collect(&config, "a")[0].len(), 2);
    }

    #[test]
    fn buckets_are_stable_across_platforms() {
        // Pinned values: a change here invalidates every trained model.
        let config = FeatureConfig::default();
        let tokens = collect(&config, "phishing email");
        assert_eq!(tokens[0][0], 233_187, "unigram bucket of `phishing`");
        assert!(
            tokens
                .iter()
                .flatten()
                .all(|&b| (b as usize) < config.buckets())
        );
    }

    #[test]
    fn long_tokens_keep_only_their_prefix() {
        let config = FeatureConfig::default();
        let long = "a".repeat(10_000);
        let capped = "a".repeat(usize::from(config.max_token_bytes));
        assert_eq!(collect(&config, &long), collect(&config, &capped));
    }

    #[test]
    fn windows_cover_the_text_and_drop_short_tails() {
        let config = FeatureConfig {
            window_tokens: 4,
            hop_tokens: 2,
            ..FeatureConfig::default()
        };
        let w: Vec<_> = config.windows(0).collect();
        assert_eq!(w, vec![0..0]);
        let w: Vec<_> = config.windows(3).collect();
        assert_eq!(w, vec![0..3]);
        let w: Vec<_> = config.windows(7).collect();
        assert_eq!(w, vec![0..4, 2..6, 4..7]);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let ok = FeatureConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            FeatureConfig {
                bucket_bits: 30,
                ..ok
            },
            FeatureConfig {
                char_min: 4,
                char_max: 3,
                ..ok
            },
            FeatureConfig { char_max: 9, ..ok },
            FeatureConfig {
                max_token_bytes: 200,
                ..ok
            },
            FeatureConfig {
                hop_tokens: 0,
                ..ok
            },
            FeatureConfig {
                window_tokens: 50,
                hop_tokens: 16,
                ..ok
            },
            FeatureConfig {
                window_tokens: 160,
                hop_tokens: 16,
                ..ok
            },
            FeatureConfig {
                norm_exponent: f32::NAN,
                ..ok
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
