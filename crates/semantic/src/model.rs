//! The static embedding table, its pooling and its heads.
//!
//! **Scoring.** A text's tokens are cut into windows of [`Pooling::window_tokens`]
//! tokens starting every [`Pooling::hop_tokens`] (a text no longer than one window is one
//! window). A window's feature vector is the mean of its tokens' rows, except that a
//! window of fewer than [`Pooling::norm_floor`] different tokens is divided by more
//! ([`Pooling::divisor`]): a two-word text cannot reach a high score on two rows, nor a
//! word repeated a hundred times on one. Category `c`'s window logit
//! is `bias_c + w_c · features`; the text's logit is its best window's, and its score
//! `sigmoid(platt_a · logit + platt_b)`.
//!
//! **Why windows.** A short harmful request inside a long benign text dominates its
//! window rather than being averaged away, as in the n-gram model.
//!
//! **Why it is fast.** `w_c · mean(rows)` is `mean(w_c · row)`: at load time every row is
//! projected onto the heads once ([`SemanticModel`] keeps one `[f32; 8]` per vocabulary
//! token), and scoring a window is a sum of those.

use std::{
    fmt,
    sync::{Arc, LazyLock},
};

use bulwark_core::{
    Category, Side,
    script::{is_unmodelled, modelled_pieces},
};

use crate::{
    format,
    wordpiece::{VocabError, WordPiece},
    words::Words,
};

const C: usize = Category::COUNT;

/// The most tokens of one text that are scored (about 64 KiB of English); the rest is
/// left to the n-gram tier, which reads everything.
pub const MAX_TOKENS: usize = 16_384;

/// The widest table any file may hold.
pub const MAX_DIM: usize = 1024;

/// The most windows open at once (`window_tokens / hop_tokens`): a [`PoolState`] keeps
/// one running sum per open window, in a fixed array.
pub const MAX_OVERLAP: usize = 8;

/// The largest [`Pooling::norm_floor`]: a [`PoolState`] remembers up to this many
/// distinct tokens per open window.
pub const MAX_FLOOR: usize = 16;

/// Why a semantic model could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    #[error("invalid semantic model file: {0}")]
    Format(String),
    #[error("invalid vocabulary: {0}")]
    Vocab(#[from] VocabError),
}

/// The token embedding table: one `i8` row per vocabulary token with its own scale.
#[derive(Clone, PartialEq)]
pub struct Table {
    dim: usize,
    scales: Vec<f32>,
    values: Vec<i8>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("rows", &self.rows())
            .field("dim", &self.dim)
            .finish()
    }
}

impl Table {
    /// Quantises float rows (all of width `dim`) to `i8`, one scale per row (its largest
    /// magnitude maps to 127).
    pub fn quantise(rows: &[Vec<f32>], dim: usize) -> Result<Self, SemanticError> {
        if dim == 0 || dim > MAX_DIM {
            return Err(SemanticError::Format(format!("dimension {dim}")));
        }
        let mut scales = Vec::with_capacity(rows.len());
        let mut values = Vec::with_capacity(rows.len() * dim);
        for row in rows {
            if row.len() != dim || row.iter().any(|v| !v.is_finite()) {
                return Err(SemanticError::Format(
                    "a row has the wrong width or a value that is not finite".to_owned(),
                ));
            }
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales.push(scale);
            values.extend(
                row.iter()
                    .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8),
            );
        }
        Self::from_parts(dim, scales, values)
    }

    /// A table from its parts: `values` holds `scales.len()` rows of `dim`.
    pub fn from_parts(
        dim: usize,
        scales: Vec<f32>,
        values: Vec<i8>,
    ) -> Result<Self, SemanticError> {
        if dim == 0 || dim > MAX_DIM {
            return Err(SemanticError::Format(format!("dimension {dim}")));
        }
        if scales.len().checked_mul(dim) != Some(values.len()) {
            return Err(SemanticError::Format(format!(
                "{} values for {} rows of {dim}",
                values.len(),
                scales.len()
            )));
        }
        if scales.iter().any(|s| !s.is_finite() || *s < 0.0) {
            return Err(SemanticError::Format("a row scale is invalid".to_owned()));
        }
        Ok(Self {
            dim,
            scales,
            values,
        })
    }

    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `id` as `(scale, quantised values)`; `None` past the end.
    pub fn row(&self, id: u32) -> Option<(f32, &[i8])> {
        let id = id as usize;
        let start = id.checked_mul(self.dim)?;
        let values = self.values.get(start..start.checked_add(self.dim)?)?;
        Some((*self.scales.get(id)?, values))
    }

    /// Adds `weight ×` row `id` (dequantised) to `acc` (of length `dim`).
    pub fn add_row(&self, id: u32, weight: f32, acc: &mut [f32]) {
        if let Some((scale, values)) = self.row(id) {
            let k = scale * weight;
            for (a, &v) in acc.iter_mut().zip(values) {
                *a += k * f32::from(v);
            }
        }
    }

    pub(crate) fn scales(&self) -> &[f32] {
        &self.scales
    }

    pub(crate) fn values(&self) -> &[i8] {
        &self.values
    }
}

/// How tokens are grouped into scored windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pooling {
    pub window_tokens: u16,
    /// Divides `window_tokens`.
    pub hop_tokens: u16,
    /// Windows of fewer tokens are divided by this count instead of their own.
    pub norm_floor: u16,
}

impl Default for Pooling {
    fn default() -> Self {
        Self {
            window_tokens: 64,
            hop_tokens: 32,
            norm_floor: 8,
        }
    }
}

impl Pooling {
    pub fn validate(&self) -> Result<(), String> {
        let (w, h) = (self.window_tokens, self.hop_tokens);
        if w == 0 || h == 0 || h > w || w % h != 0 || w > 4096 || w / h > MAX_OVERLAP as u16 {
            return Err(format!("window {w} / hop {h} invalid"));
        }
        if self.norm_floor == 0 || self.norm_floor > w || usize::from(self.norm_floor) > MAX_FLOOR {
            return Err(format!("norm floor {} invalid", self.norm_floor));
        }
        Ok(())
    }

    /// The windows of a text of `n` tokens, as token ranges (none when `n` is 0). Every
    /// window after the first adds tokens the one before it did not have.
    pub fn windows(&self, n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let w = usize::from(self.window_tokens.max(1));
        let h = usize::from(self.hop_tokens.max(1));
        let mut start = 0usize;
        let mut done = n == 0;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let end = start.saturating_add(w).min(n);
            let range = start..end;
            if end >= n {
                done = true;
            }
            start += h;
            Some(range)
        })
    }

    /// What the summed rows of a window of `n` tokens, `distinct` of them different, are
    /// divided by: `n · floor / min(distinct, floor)`. A window of at least `floor`
    /// different tokens is a plain mean (`n`); a short text of different tokens is divided
    /// by the floor, so two words cannot reach a high score on two rows; and a window of
    /// few different tokens repeated ("hello hello hello …") counts as those few tokens
    /// once each, not as a long text saying the same thing many times over.
    pub fn divisor(&self, n: usize, distinct: usize) -> f32 {
        let floor = usize::from(self.norm_floor.max(1));
        let n = n.max(1);
        let d = distinct.clamp(1, floor).min(n);
        (n * floor) as f32 / d as f32
    }
}

/// One category's linear head over pooled features, with its calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// One weight per table dimension.
    pub weights: Vec<f32>,
    pub bias: f32,
    /// `score = sigmoid(platt_a · logit + platt_b)`; `platt_a > 0`.
    pub platt_a: f32,
    pub platt_b: f32,
    pub threshold_input: f32,
    pub threshold_output: f32,
}

impl Head {
    /// A head that scores nothing (all weights zero, threshold 1).
    pub fn zero(dim: usize) -> Self {
        Self {
            weights: vec![0.0; dim],
            bias: -10.0,
            platt_a: 1.0,
            platt_b: 0.0,
            threshold_input: 1.0,
            threshold_output: 1.0,
        }
    }

    pub(crate) fn validate(&self, dim: usize) -> Result<(), String> {
        let scalars = [
            self.bias,
            self.platt_a,
            self.platt_b,
            self.threshold_input,
            self.threshold_output,
        ];
        if self.weights.len() != dim {
            return Err(format!(
                "{} weights for dimension {dim}",
                self.weights.len()
            ));
        }
        if !scalars.iter().chain(&self.weights).all(|v| v.is_finite()) {
            return Err("a value is not finite".to_owned());
        }
        if self.platt_a <= 0.0 {
            return Err("platt_a must be > 0".to_owned());
        }
        if !(0.0..=1.0).contains(&self.threshold_input)
            || !(0.0..=1.0).contains(&self.threshold_output)
        {
            return Err("thresholds must be within [0, 1]".to_owned());
        }
        Ok(())
    }

    pub fn calibrate(&self, logit: f32) -> f32 {
        sigmoid(self.platt_a * logit + self.platt_b)
    }
}

/// How one category's semantic logit combines with the n-gram model's (trained alongside
/// it): `p = sigmoid(ngram · ngram_logit + semantic · semantic_logit + bias)`, flagged at
/// or above the side's threshold. Fitted on the dev split (see the model card).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    pub ngram: f32,
    pub semantic: f32,
    pub bias: f32,
    pub threshold_input: f32,
    pub threshold_output: f32,
}

impl Fusion {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let all = [
            self.ngram,
            self.semantic,
            self.bias,
            self.threshold_input,
            self.threshold_output,
        ];
        if !all.iter().all(|v| v.is_finite()) {
            return Err("a fusion value is not finite".to_owned());
        }
        if !(0.0..=1.0).contains(&self.threshold_input)
            || !(0.0..=1.0).contains(&self.threshold_output)
        {
            return Err("fusion thresholds must be within [0, 1]".to_owned());
        }
        Ok(())
    }

    /// The fused probability of one category (logits are clamped to ±30 first, so a
    /// text without tokens, whose logit is very negative, stays finite).
    pub fn probability(&self, ngram_logit: f32, semantic_logit: f32) -> f32 {
        let n = ngram_logit.clamp(-30.0, 30.0);
        let s = semantic_logit.clamp(-30.0, 30.0);
        sigmoid(self.ngram * n + self.semantic * s + self.bias)
    }
}

/// Per-text buffers, owned by the caller and reused.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    tokens: Vec<u32>,
    word: String,
    /// The text with its unmodelled letters as spaces, when it has any.
    modelled: String,
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tokens of the last text scored.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

/// Windowed pooling in progress: the running sums of the windows still open (and their
/// first few different tokens, for [`Pooling::divisor`]) and the best closed window's
/// logits, a fixed size (under 1 KiB) whatever is fed. A stream keeps
/// one; [`SemanticModel::feed`] is O(piece) and [`SemanticModel::state_logits`] O(1).
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    /// Tokens fed so far.
    tokens: usize,
    /// Window `k`'s projected sums live in slot `k % overlap`.
    open: [[f32; C]; MAX_OVERLAP],
    /// The first `norm_floor` different tokens of each open window, and their count.
    seen: [[u32; MAX_FLOOR]; MAX_OVERLAP],
    distinct: [u8; MAX_OVERLAP],
    best: Option<[f32; C]>,
}

impl Default for PoolState {
    fn default() -> Self {
        Self {
            tokens: 0,
            open: [[0.0; C]; MAX_OVERLAP],
            seen: [[0; MAX_FLOOR]; MAX_OVERLAP],
            distinct: [0; MAX_OVERLAP],
            best: None,
        }
    }
}

impl PoolState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens fed so far (at most [`MAX_TOKENS`]).
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}

/// The default model, trained by `bulwark model train --config models/train.toml` with
/// the built-in n-gram model of `bulwark-moderation`, whose logits its fusion expects.
static BUILTIN_BYTES: &[u8] = include_bytes!("../models/default.bsm");

static BUILTIN: LazyLock<SemanticModel> = LazyLock::new(|| {
    #[allow(
        clippy::expect_used,
        reason = "the built-in model is a constant of the build, checked by a unit test; \
                  no input reaches this"
    )]
    SemanticModel::from_bytes(BUILTIN_BYTES).expect("the built-in semantic model is valid")
});

/// A loaded semantic model (`Send + Sync`; clones share everything).
#[derive(Clone)]
pub struct SemanticModel {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    vocab: Vec<String>,
    tokenizer: WordPiece,
    table: Table,
    pooling: Pooling,
    heads: Vec<Head>,
    fusion: Vec<Fusion>,
    /// Row `v` projected onto every head: `w_c · row_v`.
    projected: Vec<[f32; C]>,
}

impl fmt::Debug for SemanticModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemanticModel")
            .field("name", &self.inner.name)
            .field("table", &self.inner.table)
            .field("pooling", &self.inner.pooling)
            .finish_non_exhaustive()
    }
}

impl SemanticModel {
    /// The model built into the binary (parsed once, then shared).
    pub fn builtin() -> Self {
        BUILTIN.clone()
    }

    /// Builds a model; `heads` is one per category in [`Category::ALL`] order, or empty
    /// for a bare table (what distillation writes).
    pub fn from_parts(
        name: String,
        vocab: Vec<String>,
        table: Table,
        pooling: Pooling,
        heads: Vec<Head>,
        fusion: Vec<Fusion>,
    ) -> Result<Self, SemanticError> {
        let bad = |m: String| SemanticError::Format(m);
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(bad(format!("bad name `{}`", name.escape_debug())));
        }
        if vocab.len() != table.rows() {
            return Err(bad(format!(
                "{} vocabulary tokens for {} rows",
                vocab.len(),
                table.rows()
            )));
        }
        if vocab.iter().any(|t| t.is_empty() || t.contains('\n')) {
            return Err(bad("an empty or multi-line vocabulary token".to_owned()));
        }
        pooling.validate().map_err(bad)?;
        if !heads.is_empty() && heads.len() != C {
            return Err(bad(format!("{} heads for {C} categories", heads.len())));
        }
        for (head, category) in heads.iter().zip(Category::ALL) {
            head.validate(table.dim())
                .map_err(|m| bad(format!("`{category}`: {m}")))?;
        }
        if !fusion.is_empty() && (fusion.len() != C || heads.is_empty()) {
            return Err(bad(format!(
                "{} fusion rows for {C} categories",
                fusion.len()
            )));
        }
        for (f, category) in fusion.iter().zip(Category::ALL) {
            f.validate()
                .map_err(|m| bad(format!("`{category}`: {m}")))?;
        }
        let tokenizer = WordPiece::new(&vocab)?;
        let projected = project(&table, &heads);
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                vocab,
                tokenizer,
                table,
                pooling,
                heads,
                fusion,
                projected,
            }),
        })
    }

    /// Parses a `.bsm` file; never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SemanticError> {
        let parsed = format::parse(bytes)?;
        Self::from_parts(
            parsed.name,
            parsed.vocab,
            parsed.table,
            parsed.pooling,
            parsed.heads,
            parsed.fusion,
        )
    }

    /// The file's bytes: `from_bytes(&m.to_bytes())` is `m` again.
    pub fn to_bytes(&self) -> Vec<u8> {
        let i = &*self.inner;
        format::write(&i.name, &i.vocab, &i.table, i.pooling, &i.heads, &i.fusion)
    }

    /// The same table and vocabulary with other pooling and heads (and no fusion).
    pub fn with_heads(
        &self,
        name: String,
        pooling: Pooling,
        heads: Vec<Head>,
    ) -> Result<Self, SemanticError> {
        let i = &*self.inner;
        Self::from_parts(
            name,
            i.vocab.clone(),
            i.table.clone(),
            pooling,
            heads,
            Vec::new(),
        )
    }

    /// The same model with a fusion (one per category, or none).
    pub fn with_fusion(&self, fusion: Vec<Fusion>) -> Result<Self, SemanticError> {
        let i = &*self.inner;
        Self::from_parts(
            i.name.clone(),
            i.vocab.clone(),
            i.table.clone(),
            i.pooling,
            i.heads.clone(),
            fusion,
        )
    }

    /// How this tier combines with the n-gram tier (empty: not fitted).
    pub fn fusion(&self) -> &[Fusion] {
        &self.inner.fusion
    }

    /// The fused probability per category of a text whose n-gram logits (the n-gram
    /// model's best window, as `Model::logits` gives) and semantic logits ([`Self::logits`])
    /// are known; `None` without a fusion.
    pub fn fused(&self, ngram_logits: [f32; C], semantic_logits: [f32; C]) -> Option<[f32; C]> {
        if self.inner.fusion.is_empty() {
            return None;
        }
        let mut out = [0f32; C];
        for (((o, f), n), s) in out
            .iter_mut()
            .zip(&self.inner.fusion)
            .zip(ngram_logits)
            .zip(semantic_logits)
        {
            *o = f.probability(n, s);
        }
        Some(out)
    }

    /// The fused thresholds for `side` (1 without a fusion).
    pub fn fused_thresholds(&self, side: Side) -> [f32; C] {
        let mut out = [1f32; C];
        for (o, f) in out.iter_mut().zip(&self.inner.fusion) {
            *o = match side {
                Side::Input => f.threshold_input,
                Side::Output => f.threshold_output,
            };
        }
        out
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn vocab(&self) -> &[String] {
        &self.inner.vocab
    }

    pub fn tokenizer(&self) -> &WordPiece {
        &self.inner.tokenizer
    }

    pub fn table(&self) -> &Table {
        &self.inner.table
    }

    pub fn pooling(&self) -> Pooling {
        self.inner.pooling
    }

    /// The heads (empty for a bare table).
    pub fn heads(&self) -> &[Head] {
        &self.inner.heads
    }

    /// Whether the model has heads (can score).
    pub fn has_heads(&self) -> bool {
        !self.inner.heads.is_empty()
    }

    /// Tokenises `text` into `scratch` (at most [`MAX_TOKENS`]) and returns the tokens, as
    /// the tier reads them: without the letters of scripts the models do not read (see
    /// `tokenize_modelled`; [`SemanticModel::tokenizer`] is the plain WordPiece).
    pub fn tokenize<'s>(&self, text: &str, scratch: &'s mut Scratch) -> &'s [u32] {
        scratch.tokens.clear();
        self.tokenize_modelled(text, scratch, MAX_TOKENS);
        &scratch.tokens
    }

    /// Appends the tokens of `text` as the tier reads it: letters of scripts the models do
    /// not read ([`bulwark_core::script::is_unmodelled`]) are spaces, so neither they nor the
    /// `[UNK]`s they would become are pooled. The training data has no benign text in those
    /// scripts: pooled, their rows taught the heads the script, not the request.
    fn tokenize_modelled(&self, text: &str, scratch: &mut Scratch, limit: usize) {
        let Scratch {
            tokens,
            word,
            modelled,
        } = scratch;
        let text = if text.is_ascii() || !text.chars().any(is_unmodelled) {
            text
        } else {
            modelled.clear();
            modelled.extend(modelled_pieces(text));
            modelled.as_str()
        };
        self.inner.tokenizer.tokenize(text, tokens, word, limit);
    }

    /// The raw logit per category of `text`: its best window's. `None` when it has no
    /// token or the model has no heads.
    pub fn logits(&self, text: &str, scratch: &mut Scratch) -> Option<[f32; C]> {
        if !self.has_heads() {
            return None;
        }
        self.tokenize(text, scratch);
        self.token_logits(&scratch.tokens)
    }

    /// The raw logits of an already tokenised text (at most [`MAX_TOKENS`] of it): what
    /// feeding `tokens` to a fresh [`PoolState`] gives.
    pub fn token_logits(&self, tokens: &[u32]) -> Option<[f32; C]> {
        let mut state = PoolState::default();
        self.feed_tokens(&mut state, tokens);
        self.state_logits(&state)
    }

    /// Tokenises the next piece of a text that arrives in pieces and adds its tokens to
    /// `state` (up to [`MAX_TOKENS`] in all). Pieces should end between words (the
    /// scanner cuts streams at whitespace): a word cut in two is tokenised as two.
    pub fn feed(&self, state: &mut PoolState, text: &str, scratch: &mut Scratch) {
        let room = MAX_TOKENS.saturating_sub(state.tokens);
        if room == 0 || !self.has_heads() {
            return;
        }
        scratch.tokens.clear();
        self.tokenize_modelled(text, scratch, room);
        self.feed_tokens(state, &scratch.tokens);
    }

    /// [`SemanticModel::feed`] given the word pass over `text` ([`Words::scan`] of this
    /// very text): the same tokens, cut from the pass's runs where the text allows.
    pub fn feed_words(
        &self,
        state: &mut PoolState,
        text: &str,
        words: &Words,
        scratch: &mut Scratch,
    ) {
        let room = MAX_TOKENS.saturating_sub(state.tokens);
        if room == 0 || !self.has_heads() {
            return;
        }
        scratch.tokens.clear();
        if words.walked(text) {
            // ASCII text has no letter of a script the models do not read.
            self.inner.tokenizer.tokenize_words(
                text,
                words,
                &mut scratch.tokens,
                &mut scratch.word,
                room,
            );
        } else {
            self.tokenize_modelled(text, scratch, room);
        }
        self.feed_tokens(state, &scratch.tokens);
    }

    /// Adds tokens to `state` (up to [`MAX_TOKENS`] in all): each one's projection goes
    /// into every open window; a window that fills up is scored and closed. Exactly the
    /// sums of scoring the whole token sequence at once, wherever it is cut.
    pub fn feed_tokens(&self, state: &mut PoolState, tokens: &[u32]) {
        let inner = &*self.inner;
        if inner.heads.is_empty() {
            return;
        }
        let room = MAX_TOKENS.saturating_sub(state.tokens);
        let tokens = tokens.get(..tokens.len().min(room)).unwrap_or_default();
        let w = usize::from(inner.pooling.window_tokens.max(1));
        let h = usize::from(inner.pooling.hop_tokens.max(1));
        let overlap = (w / h).clamp(1, MAX_OVERLAP);
        let floor = usize::from(inner.pooling.norm_floor).clamp(1, MAX_FLOOR);
        for &t in tokens {
            let at = state.tokens;
            if at.is_multiple_of(h) {
                let slot = (at / h) % overlap;
                if let Some(sums) = state.open.get_mut(slot) {
                    *sums = [0.0; C];
                }
                if let Some(d) = state.distinct.get_mut(slot) {
                    *d = 0;
                }
            }
            let projected = inner.projected.get(t as usize);
            for ((sums, seen), d) in state
                .open
                .iter_mut()
                .zip(state.seen.iter_mut())
                .zip(state.distinct.iter_mut())
                .take(overlap)
            {
                if let Some(p) = projected {
                    for (s, v) in sums.iter_mut().zip(p) {
                        *s += v;
                    }
                }
                let count = usize::from(*d);
                if count < floor
                    && !seen.get(..count).unwrap_or_default().contains(&t)
                    && let Some(slot) = seen.get_mut(count)
                {
                    *slot = t;
                    *d += 1;
                }
            }
            state.tokens = at + 1;
            // The window that this token fills is scored and closed.
            if state.tokens >= w && (state.tokens - w).is_multiple_of(h) {
                let k = (state.tokens - w) / h;
                if let (Some(sums), Some(&d)) =
                    (state.open.get(k % overlap), state.distinct.get(k % overlap))
                {
                    let div = inner.pooling.divisor(w, usize::from(d));
                    let logits = window_logits(&inner.heads, sums, div);
                    state.best = Some(state.best.map_or(logits, |b| max_each(b, logits)));
                }
            }
        }
    }

    /// The raw logit per category of everything fed to `state`: its best window's, as
    /// [`Pooling::windows`] cuts the tokens. `None` before any token or without heads.
    pub fn state_logits(&self, state: &PoolState) -> Option<[f32; C]> {
        let inner = &*self.inner;
        let n = state.tokens;
        if n == 0 || inner.heads.is_empty() {
            return None;
        }
        let w = usize::from(inner.pooling.window_tokens.max(1));
        let h = usize::from(inner.pooling.hop_tokens.max(1));
        let overlap = (w / h).clamp(1, MAX_OVERLAP);
        let mut best = state.best;
        // Windows still open (started, not yet full); a window counts when it is the first
        // or when the one before it did not already reach the end (see `Pooling::windows`).
        let last = (n - 1) / h;
        let first = (n + 1).saturating_sub(w).div_ceil(h);
        for k in first..=last {
            let start = k * h;
            let len = n - start;
            if len >= w || (k > 0 && (k - 1) * h + w >= n) {
                continue;
            }
            if let (Some(sums), Some(&d)) =
                (state.open.get(k % overlap), state.distinct.get(k % overlap))
            {
                let div = inner.pooling.divisor(len, usize::from(d));
                let logits = window_logits(&inner.heads, sums, div);
                best = Some(best.map_or(logits, |b| max_each(b, logits)));
            }
        }
        best
    }

    /// The calibrated score per category of `text` (all zero without tokens or heads).
    pub fn scores(&self, text: &str, scratch: &mut Scratch) -> [f32; C] {
        let mut out = [0f32; C];
        if let Some(logits) = self.logits(text, scratch) {
            for ((o, l), head) in out.iter_mut().zip(logits).zip(&self.inner.heads) {
                *o = head.calibrate(l);
            }
        }
        out
    }

    /// The calibrated default threshold per category for `side` (1 without heads).
    pub fn thresholds(&self, side: Side) -> [f32; C] {
        let mut out = [1f32; C];
        for (o, head) in out.iter_mut().zip(&self.inner.heads) {
            *o = match side {
                Side::Input => head.threshold_input,
                Side::Output => head.threshold_output,
            };
        }
        out
    }
}

/// Every row projected onto every head.
fn project(table: &Table, heads: &[Head]) -> Vec<[f32; C]> {
    if heads.is_empty() {
        return Vec::new();
    }
    let dim = table.dim();
    let mut out = Vec::with_capacity(table.rows());
    for (scale, values) in table.scales().iter().zip(table.values().chunks_exact(dim)) {
        let mut p = [0f32; C];
        for (pc, head) in p.iter_mut().zip(heads) {
            let dot: f32 = values
                .iter()
                .zip(&head.weights)
                .map(|(&v, &w)| f32::from(v) * w)
                .sum();
            *pc = dot * scale;
        }
        out.push(p);
    }
    out
}

/// The raw logit per category of one window of projected `sums` divided by `div`.
fn window_logits(heads: &[Head], sums: &[f32; C], div: f32) -> [f32; C] {
    let mut out = [f32::NEG_INFINITY; C];
    for ((o, s), head) in out.iter_mut().zip(sums).zip(heads) {
        *o = head.bias + s / div;
    }
    out
}

fn max_each(a: [f32; C], b: [f32; C]) -> [f32; C] {
    let mut out = a;
    for (o, v) in out.iter_mut().zip(b) {
        *o = o.max(v);
    }
    out
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_token_once_started() {
        let p = Pooling {
            window_tokens: 4,
            hop_tokens: 2,
            norm_floor: 1,
        };
        let w: Vec<_> = p.windows(0).collect();
        assert!(w.is_empty());
        assert_eq!(p.windows(3).collect::<Vec<_>>(), vec![0..3]);
        assert_eq!(p.windows(4).collect::<Vec<_>>(), vec![0..4]);
        assert_eq!(p.windows(5).collect::<Vec<_>>(), vec![0..4, 2..5]);
        assert_eq!(p.windows(8).collect::<Vec<_>>(), vec![0..4, 2..6, 4..8]);
    }

    #[test]
    fn quantised_rows_round_trip_closely() {
        let rows = vec![vec![0.5, -1.0, 0.25], vec![0.0, 0.0, 0.0]];
        let t = Table::quantise(&rows, 3).unwrap();
        let (scale, v) = t.row(0).unwrap();
        assert!((scale * f32::from(v[1]) + 1.0).abs() < 1e-6);
        assert!(t.row(2).is_none());
        let mut acc = vec![0.0; 3];
        t.add_row(0, 2.0, &mut acc);
        assert!((acc[0] - 1.0).abs() < 0.01);
    }
}
