//! Integration tests of the SQLite store: real database files in temporary directories,
//! through the public API only.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod alerts;
mod bench;
mod common;
mod corrupt;
mod entities;
mod events;
mod keys;
mod processes;
mod schema;
