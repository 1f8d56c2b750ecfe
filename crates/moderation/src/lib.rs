//! Bulwark's content moderation: everything that decides whether a prompt, a completion or
//! a line of a fine-tuning file is abuse.
//!
//! * the **normaliser** ([`Normalizer`]) undoes the obfuscation that jailbreaks hide behind
//!   (invisible characters, look-alike letters, leetspeak, base64 and other encodings) and
//!   reports how much it had to undo;
//! * the **rule pack** ([`RulePack`]) holds reviewed, high-precision signals, each with an
//!   id and references;
//! * the **model** ([`Model`]) is a linear classifier over hashed n-grams, trained by
//!   `bulwark model train`;
//! * the **semantic tier** ([`SemanticModel`], crate `bulwark-semantic`, which knows
//!   nothing of this one) pools a distilled sentence encoder's token vectors; its fusion
//!   combines its logits with the model's;
//! * the **scanner** ([`Scanner`]) runs them all on a whole text or, incrementally, on a
//!   stream ([`StreamScan`]), and turns scores into a [`Verdict`] with per-side thresholds.
//!
//! The crate is pure and synchronous: no I/O, no async, no global state. Tables are built
//! once and shared; hot-path buffers belong to the caller and are reused. It is not for
//! transport, policy or enforcement, which live in the gateway.

mod model;
mod normalize;
mod rules;
mod scan;

pub use bulwark_core::{Category, Side};
pub use bulwark_semantic::{SemanticError, SemanticModel};

pub use crate::{
    model::{FeatureConfig, Head, Model, ModelError, ModelState},
    normalize::{
        Encoding, EncodingChain, EncodingCounts, Limits, MAX_NESTING, Normalized, Normalizer,
        Scratch, Segment, Signals,
    },
    rules::{RuleError, RuleHit, RulePack, RuleScratch, RuleSpec, RuleStream},
    scan::{ScanScratch, Scanner, Scores, StreamScan, Thresholds, Verdict},
};
