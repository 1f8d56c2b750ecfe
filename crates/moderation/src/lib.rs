//! Bulwark's content moderation: everything that decides whether a prompt, a completion or
//! a line of a fine-tuning file is abuse.
//!
//! For now it holds the **normaliser**, the step that runs before every classification: it
//! undoes the obfuscation that jailbreaks hide behind (invisible characters, look-alike
//! letters, leetspeak, base64 and other encodings) and reports how much it had to undo.
//! The scanner, the taxonomy and the model will be added beside it.
//!
//! The crate is pure and synchronous: no I/O, no async, no global state. Tables are built
//! once and shared; hot-path buffers belong to the caller and are reused. It is not for
//! transport, policy or enforcement, which live in the gateway.

mod normalize;

pub use crate::normalize::{
    Encoding, EncodingChain, EncodingCounts, Limits, MAX_NESTING, Normalized, Normalizer, Scratch,
    Segment, Signals,
};
