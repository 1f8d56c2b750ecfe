//! Integration tests of the normaliser, through the public API only.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod adversarial;
mod common;
mod decoding;
mod folding;
mod properties;
mod verdicts;
