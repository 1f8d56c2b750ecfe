//! Bulwark's semantic tier: what a pretrained sentence encoder knows about words, at the
//! cost of a table lookup.
//!
//! The encoder (all-MiniLM-L6-v2) is run once, at training time, by `bulwark model
//! distil` (crate `bulwark-training`, feature `encoder`): every vocabulary token gets one
//! vector, the average of what the encoder says about it, reduced and quantised into a
//! [`Table`]. At run time a text is cut into the encoder's own WordPiece tokens
//! ([`WordPiece`]), their rows are averaged over sliding windows ([`Pooling`]) and a
//! linear head per category scores each window ([`SemanticModel`]). Because the heads are
//! linear, each vocabulary row is projected onto them once at load time: scoring is a
//! sum of eight floats per token.
//!
//! * [`wordpiece`] — BERT's uncased basic tokenizer and greedy longest-match WordPiece;
//! * [`model`] — the table, the pooling, the heads and the scorer;
//! * [`words`] — the word pass: one walk over ASCII text whose runs, word starts and
//!   letter count WordPiece and the scanner's other stages share;
//! * `format` — the `.bsm` file (vocabulary, table, heads), validated on load.
//!
//! Pure and synchronous: no I/O beyond parsing bytes the caller read, no global state,
//! no panics reachable from input. It is not the full encoder (that stays in training)
//! and not policy.

mod format;
pub mod model;
pub mod wordpiece;
pub mod words;

pub use crate::{
    model::{
        Fusion, Head, MAX_TOKENS, PoolState, Pooling, Scratch, SemanticError, SemanticModel, Table,
    },
    wordpiece::WordPiece,
    words::{Run, Words},
};
