//! Integration tests for the gateway: a real simulated upstream and a real gateway on
//! ports chosen at run time, exercised over HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod harness;

mod admin;
mod detection;
mod errors;
mod events;
mod moderation;
mod proxying;
mod ratelimit;
mod robustness;
mod shutdown;
mod streaming;
