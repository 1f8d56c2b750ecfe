//! Integration tests of the simulated upstream over real HTTP, through its public API only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests: a failed lookup is a failed test"
)]

mod chat;
mod completions;
mod embeddings;
mod failures;
mod files;
mod models;
mod request_log;
mod responses;
mod support;
