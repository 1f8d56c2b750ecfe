//! The integration tests of `bulwark-detect`, through its public API only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    reason = "tests"
)]

mod detector;
mod ensemble;
mod reference;
mod scorer;
mod usage;
