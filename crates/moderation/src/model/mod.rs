//! The learned model: a linear classifier over hashed word and byte n-grams of the folded
//! text, one weight vector and one calibration per category, scored over sliding windows.
//!
//! **Why windows.** A text's score per category is the highest score of any window of
//! [`FeatureConfig::window_tokens`] tokens (windows start every
//! [`FeatureConfig::hop_tokens`] tokens). A short phishing request inside a long, benign
//! conversation dominates its window instead of being averaged away by the rest, and a
//! long benign text cannot score high merely by being long: no window is longer than
//! `window_tokens`, and training saw every window of long benign texts as a negative.
//!
//! **Streaming.** [`ModelState`] holds only the token in progress (its first bytes), the
//! previous token's hash, one integer accumulator per open window and the best closed
//! window's logits: a few hundred bytes, whatever is fed. [`Model::feed`] is O(piece) and
//! [`Model::scores`] O(1), and feeding a text in pieces gives exactly the scores of feeding
//! it whole, wherever it is cut (the sums are integers, added in the same order).
//!
//! The file format is in `format.rs`; the features and their hash in `features.rs`.

mod cache;
mod features;
mod format;

use std::{
    fmt,
    sync::{Arc, LazyLock},
};

use bulwark_core::{Category, Side, script::modelled_pieces};
use bulwark_semantic::Words;

pub use self::features::FeatureConfig;
use self::{
    cache::{Own, TokenCache},
    features::{Ended, MAX_OVERLAP, Tokenizer, token_run_end},
};
use crate::scan::Scores;

/// Why a model file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid model file: {0}")]
pub struct ModelError(pub String);

/// One category's output layer: how window sums become a calibrated score, and the
/// default thresholds per side.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Head {
    /// Added to every window's logit.
    pub bias: f32,
    /// Multiplies the integer weight sums (the quantisation step of the `i8` weights).
    pub scale: f32,
    /// Platt calibration: `score = sigmoid(platt_a · logit + platt_b)`; `platt_a > 0`.
    pub platt_a: f32,
    /// Platt calibration offset.
    pub platt_b: f32,
    /// The calibrated default threshold for prompts, in [0, 1].
    pub threshold_input: f32,
    /// The calibrated default threshold for completions, in [0, 1].
    pub threshold_output: f32,
}

impl Head {
    fn validate(&self) -> Result<(), String> {
        let finite = [
            self.bias,
            self.scale,
            self.platt_a,
            self.platt_b,
            self.threshold_input,
            self.threshold_output,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !finite {
            return Err("a value is not finite".to_owned());
        }
        if self.scale < 0.0 || self.platt_a <= 0.0 {
            return Err("scale must be ≥ 0 and platt_a > 0".to_owned());
        }
        if !(0.0..=1.0).contains(&self.threshold_input)
            || !(0.0..=1.0).contains(&self.threshold_output)
        {
            return Err("thresholds must be within [0, 1]".to_owned());
        }
        Ok(())
    }

    /// The calibrated score of a raw logit.
    fn calibrate(&self, logit: f32) -> f32 {
        sigmoid(self.platt_a * logit + self.platt_b)
    }
}

/// A trained model, loaded once and shared (`Send + Sync`; clones share the tables).
#[derive(Clone)]
pub struct Model {
    inner: Arc<Inner>,
}

struct Inner {
    /// Process-unique, for the token cache.
    id: u64,
    name: String,
    config: FeatureConfig,
    heads: [Head; Category::COUNT],
    /// One row per bucket, one weight per category.
    weights: Box<[[i8; Category::COUNT]]>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.inner.name)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The default model, trained by `bulwark model train` on the licence-clean part of the
/// shared data (see `docs/model-card.md`).
static BUILTIN_BYTES: &[u8] = include_bytes!("../../models/default.bwm");

static BUILTIN: LazyLock<Model> = LazyLock::new(|| {
    #[allow(
        clippy::expect_used,
        reason = "the built-in model is a constant of the build, checked by a unit test; \
                  no input reaches this"
    )]
    Model::from_bytes(BUILTIN_BYTES).expect("the built-in model is valid")
});

/// The output side's phishing detector: an n-gram model trained on mail only (phishing
/// against legitimate messages) by `bulwark model train --config models/train.toml`
/// (`[output_phishing]`); only its `cyber/phishing` head is used (see `Scanner`).
static BUILTIN_PHISHING_BYTES: &[u8] = include_bytes!("../../models/output_phishing.bwm");

static BUILTIN_PHISHING: LazyLock<Model> = LazyLock::new(|| {
    #[allow(
        clippy::expect_used,
        reason = "the built-in model is a constant of the build, checked by a unit test; \
                  no input reaches this"
    )]
    Model::from_bytes(BUILTIN_PHISHING_BYTES).expect("the built-in phishing detector is valid")
});

/// A token just ended: what its end gave and its key in the token cache.
struct Token {
    ended: Option<Ended>,
    key: cache::Key,
    len: usize,
}

/// Integer weight sums of one window.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    sums: [i32; Category::COUNT],
    features: u32,
}

/// Per-text (or per-stream) state: what has been fed so far, in bounded size.
#[derive(Debug, Clone, Default)]
pub struct ModelState {
    tokenizer: Tokenizer,
    /// Tokens completed so far.
    tokens: u64,
    /// Open windows: window `k` lives in slot `k % overlap`.
    windows: [Window; MAX_OVERLAP],
    /// The highest logit per category of any closed window.
    best: Option<[f32; Category::COUNT]>,
}

impl Model {
    /// The model built into the binary (parsed once, then shared).
    pub fn builtin() -> Self {
        BUILTIN.clone()
    }

    /// The output side's phishing detector built into the binary.
    pub fn builtin_output_phishing() -> Self {
        BUILTIN_PHISHING.clone()
    }

    /// Parses a model file (see `format.rs`); never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let parsed = format::parse(bytes)?;
        Self::from_parts(parsed.name, parsed.config, parsed.heads, parsed.weights)
    }

    /// Builds a model from its parts (the trainer's way in), validating them as a file
    /// would be: `weights` has one row per bucket.
    pub fn from_parts(
        name: String,
        config: FeatureConfig,
        heads: [Head; Category::COUNT],
        weights: Vec<[i8; Category::COUNT]>,
    ) -> Result<Self, ModelError> {
        config.validate().map_err(ModelError)?;
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(ModelError(format!("bad name `{}`", name.escape_debug())));
        }
        for (head, category) in heads.iter().zip(Category::ALL) {
            head.validate()
                .map_err(|m| ModelError(format!("`{category}`: {m}")))?;
        }
        if weights.len() != config.buckets() {
            return Err(ModelError(format!(
                "{} weight rows for {} buckets",
                weights.len(),
                config.buckets()
            )));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                id: cache::next_model_id(),
                name,
                config,
                heads,
                weights: weights.into_boxed_slice(),
            }),
        })
    }

    /// The model file's bytes: `Model::from_bytes(&m.to_bytes())` is `m` again.
    pub fn to_bytes(&self) -> Vec<u8> {
        let inner = &*self.inner;
        format::write(&inner.name, &inner.config, &inner.heads, &inner.weights)
    }

    /// The model's name and version, as its file states it.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How the model turns text into features and windows.
    pub fn config(&self) -> &FeatureConfig {
        &self.inner.config
    }

    /// The per-category output layers (bias, quantisation scale, calibration, thresholds).
    pub fn heads(&self) -> &[Head; Category::COUNT] {
        &self.inner.heads
    }

    /// A copy of this model with other heads (the trainer calibrates a model this way).
    pub fn with_heads(&self, heads: [Head; Category::COUNT]) -> Result<Self, ModelError> {
        for (head, category) in heads.iter().zip(Category::ALL) {
            head.validate()
                .map_err(|m| ModelError(format!("`{category}`: {m}")))?;
        }
        let inner = &*self.inner;
        Ok(Self {
            inner: Arc::new(Inner {
                id: cache::next_model_id(),
                name: inner.name.clone(),
                config: inner.config,
                heads,
                weights: inner.weights.clone(),
            }),
        })
    }

    /// The calibrated default threshold per category for `side`.
    pub fn thresholds(&self, side: Side) -> [f32; Category::COUNT] {
        self.inner.heads.map(|head| match side {
            Side::Input => head.threshold_input,
            Side::Output => head.threshold_output,
        })
    }

    /// Fresh state for a new text.
    pub fn start(&self) -> ModelState {
        ModelState::default()
    }

    /// Feeds the next piece of folded text. Feeding `a` then `b` gives exactly the scores
    /// of feeding `a + b`, wherever the text is cut. Letters of scripts the models do not
    /// read ([`bulwark_core::script::is_unmodelled`]) are read as spaces: they end the
    /// token before them and add nothing.
    pub fn feed(&self, state: &mut ModelState, folded: &str) {
        self.feed_shared(state, None, folded, None);
    }

    /// [`Model::feed`] given the word pass over `folded` ([`Words::scan`] of this very
    /// text): in ASCII text the tokens are the pass's runs, taken without walking the text
    /// again. The same result.
    pub fn feed_words(&self, state: &mut ModelState, folded: &str, words: &Words) {
        self.feed_shared(state, None, folded, Some(words));
    }

    /// Feeds the same folded text to `state` under this model and to `other_state` under
    /// `other`, cutting it into tokens and hashing each token once for both (the output
    /// side's phishing detector reads every piece the n-gram model reads, with the same
    /// feature settings), from the word pass over it when given. Exactly what feeding each
    /// on its own gives; models that cut text differently, or states fed differently
    /// before, are fed one after the other.
    pub fn feed_both(
        &self,
        state: &mut ModelState,
        other: &Model,
        other_state: &mut ModelState,
        folded: &str,
        words: Option<&Words>,
    ) {
        if self.inner.config == other.inner.config
            && state.tokenizer.same_as(&other_state.tokenizer)
        {
            self.feed_shared(state, Some((other, other_state)), folded, words);
        } else {
            self.feed_shared(state, None, folded, words);
            other.feed_shared(other_state, None, folded, words);
        }
    }

    /// Feeds `folded` to `state` and, when given, to a second model's state that has been
    /// fed the same text so far under the same feature settings: the tokens are cut by
    /// `state`'s tokenizer, a run of token bytes at a time (the word pass's runs, when it
    /// is given and the text is ASCII), and the second tokenizer is brought level with it
    /// at the end.
    fn feed_shared(
        &self,
        state: &mut ModelState,
        mut other: Option<(&Model, &mut ModelState)>,
        folded: &str,
        words: Option<&Words>,
    ) {
        let config = &self.inner.config;
        let words = words.filter(|w| w.walked(folded));
        TokenCache::with(|mut cache| {
            let mut end_token = |state: &mut ModelState| {
                let other = other.as_mut().map(|(model, state)| (*model, &mut **state));
                self.end_token_shared(state, other, cache.as_deref_mut());
            };
            if let Some(words) = words {
                // ASCII text: the tokens are the runs of letters and digits, and a byte
                // between them ends the token before it.
                let bytes = folded.as_bytes();
                let runs = words.runs();
                if state.tokenizer.pending()
                    && !bytes.is_empty()
                    && runs.first().is_none_or(|run| run.start > 0)
                {
                    end_token(state);
                }
                for run in runs {
                    state.tokenizer.extend_run(config, bytes, run);
                    if run.end < bytes.len() {
                        end_token(state);
                    }
                }
                return;
            }
            // Letters of scripts the model does not read are spaces to it (see
            // `bulwark_core::script`); most text has none and is fed as it is.
            for piece in modelled_pieces(folded) {
                let bytes = piece.as_bytes();
                let mut at = 0;
                while at < bytes.len() {
                    let end = token_run_end(bytes, at);
                    if end > at {
                        state
                            .tokenizer
                            .extend(config, bytes.get(at..end).unwrap_or_default());
                    }
                    // The byte at `end`, if any, is not a token byte: it ends the token.
                    if end >= bytes.len() {
                        break;
                    }
                    if state.tokenizer.pending() {
                        end_token(state);
                    }
                    at = end + 1;
                }
            }
        });
        if let Some((_, other_state)) = other {
            other_state.tokenizer = state.tokenizer;
        }
    }

    /// The calibrated scores of everything fed so far (all zero before any token).
    pub fn scores(&self, state: &ModelState) -> Scores {
        self.logits(state)
            .map_or_else(Scores::default, |logits| self.calibrate(logits))
    }

    /// The calibrated scores of raw logits (as [`Model::logits`] gives them).
    pub fn calibrate(&self, logits: [f32; Category::COUNT]) -> Scores {
        let mut scores = Scores::default();
        for ((score, head), logit) in scores.0.iter_mut().zip(&self.inner.heads).zip(logits) {
            *score = head.calibrate(logit);
        }
        scores
    }

    /// The raw (uncalibrated) logit per category of everything fed so far: the highest of
    /// any window. `None` before any token. For calibration and evaluation.
    pub fn logits(&self, state: &ModelState) -> Option<[f32; Category::COUNT]> {
        let mut state = state.clone();
        if state.tokenizer.pending() {
            TokenCache::with(|cache| self.end_token(&mut state, cache));
        }
        if state.tokens == 0 {
            return None;
        }
        let config = &self.inner.config;
        let hop = u64::from(config.hop_tokens);
        let overlap = config.overlap() as u64;
        let last = (state.tokens - 1) / hop;
        let mut best = state.best;
        for k in last.saturating_sub(overlap - 1)..=last {
            let in_window = (state.tokens - k * hop).min(u64::from(config.window_tokens));
            if k != 0 && in_window < hop {
                continue;
            }
            if let Some(window) = state.windows.get((k % overlap) as usize) {
                let logits = self.window_logits(window);
                best = Some(best.map_or(logits, |b| max_each(b, logits)));
            }
        }
        best
    }

    /// Ends the token in progress: closes the window that ends before it, opens the one
    /// that starts with it, and adds its features to every open window.
    fn end_token(&self, state: &mut ModelState, cache: Option<&mut TokenCache>) {
        self.end_token_shared(state, None, cache);
    }

    /// [`Model::end_token`] for `state` and, when given, for a second model's state fed the
    /// same text: the token is hashed and keyed once, its evidence looked up per model.
    fn end_token_shared(
        &self,
        state: &mut ModelState,
        other: Option<(&Model, &mut ModelState)>,
        mut cache: Option<&mut TokenCache>,
    ) {
        let ModelState {
            tokenizer,
            tokens,
            windows,
            best,
        } = state;
        let len = tokenizer.token().len();
        let key = cache::key(tokenizer.head(), len);
        // A cached token brings its unigram hash along: it is not hashed again.
        let cached = cache
            .as_deref()
            .and_then(|cache| cache.get(self.inner.id, &key, len));
        let unigram = match cached {
            Some((unigram, _)) => unigram,
            None => tokenizer.unigram(&self.inner.config),
        };
        let ended = tokenizer.end_with(&self.inner.config, unigram);
        let token = Token { ended, key, len };
        let own = self.own(tokenizer, &token, cached, cache.as_deref_mut());
        self.add_token(tokens, windows, best, own);
        if let Some((model, other)) = other {
            let cached = cache
                .as_deref()
                .and_then(|cache| cache.get(model.inner.id, &key, len));
            let own = model.own(tokenizer, &token, cached, cache);
            model.add_token(&mut other.tokens, &mut other.windows, &mut other.best, own);
        }
        tokenizer.reset();
    }

    /// The evidence of the token `tokenizer` has just ended (`token.ended` is `None` when
    /// it repeats the token before and adds nothing): its own features' weights, cached
    /// (`cached`, or computed and then cached), and its bigram's.
    #[inline(always)]
    fn own(
        &self,
        tokenizer: &mut Tokenizer,
        token: &Token,
        cached: Option<(u64, Own)>,
        cache: Option<&mut TokenCache>,
    ) -> Own {
        let Some(ended) = token.ended else {
            return Own::default();
        };
        let mut own = match cached {
            Some((_, own)) => own,
            None => {
                let own = self.own_features(tokenizer, ended.unigram);
                if let Some(cache) = cache {
                    cache.insert(self.inner.id, token.key, token.len, ended.unigram, own);
                }
                own
            }
        };
        if let Some(bigram) = ended.bigram {
            self.add_bucket(&mut own, bigram);
        }
        own
    }

    /// The weights of the features the ended token has on its own (unigram and byte
    /// n-grams), computed: what the token cache keeps. Out of line, so that the hot path
    /// of a cached token stays small.
    #[inline(never)]
    fn own_features(&self, tokenizer: &mut Tokenizer, unigram: u64) -> Own {
        let mut own = Own::default();
        tokenizer.own_features(&self.inner.config, unigram, |bucket| {
            self.add_bucket(&mut own, bucket);
        });
        own
    }

    /// Adds one feature's weights to `own`.
    #[inline]
    fn add_bucket(&self, own: &mut Own, bucket: u32) {
        own.features += 1;
        if let Some(row) = self.inner.weights.get(bucket as usize) {
            for (sum, &w) in own.sums.iter_mut().zip(row) {
                *sum += i32::from(w);
            }
        }
    }

    /// Counts one more token with evidence `own`: closes the window that ends before it,
    /// opens the one that starts with it, and adds `own` to every open window.
    #[inline(always)]
    fn add_token(
        &self,
        tokens: &mut u64,
        windows: &mut [Window; MAX_OVERLAP],
        best: &mut Option<[f32; Category::COUNT]>,
        own: Own,
    ) {
        let config = &self.inner.config;
        let hop = u64::from(config.hop_tokens);
        let overlap = config.overlap() as u64;
        if tokens.is_multiple_of(hop) {
            let k = *tokens / hop;
            if let Some(slot) = windows.get_mut((k % overlap) as usize) {
                if k >= overlap {
                    let logits = self.window_logits(slot);
                    *best = Some(best.map_or(logits, |b| max_each(b, logits)));
                }
                *slot = Window::default();
            }
        }
        let Own { sums, features } = own;
        for window in windows.iter_mut().take(overlap as usize) {
            window.features += features;
            for (total, sum) in window.sums.iter_mut().zip(sums) {
                *total += sum;
            }
        }
        *tokens += 1;
    }

    /// The raw logit per category of one window.
    fn window_logits(&self, window: &Window) -> [f32; Category::COUNT] {
        let inner = &*self.inner;
        let norm = inner.config.norm(window.features);
        let mut out = [0.0; Category::COUNT];
        for ((logit, head), &sum) in out.iter_mut().zip(&inner.heads).zip(&window.sums) {
            *logit = head.bias + head.scale * sum as f32 / norm;
        }
        out
    }
}

fn max_each(a: [f32; Category::COUNT], b: [f32; Category::COUNT]) -> [f32; Category::COUNT] {
    let mut out = a;
    for (o, v) in out.iter_mut().zip(b) {
        *o = o.max(v);
    }
    out
}

/// The logistic function.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests;
