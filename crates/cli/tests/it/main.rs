//! End-to-end tests of the `bulwark` binary: every test runs the real executable in a
//! temporary directory, as an operator or a script would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    reason = "tests"
)]

mod config;
mod events;
mod management;
mod python;
mod replay;
mod scan;
mod serve;
mod support;
