//! Bulwark's persistent state: tenants, accounts, API keys (as keyed hashes), events and alerts,
//! behind the [`Store`] trait.
//!
//! [`SqliteStore`] (embedded, WAL mode) is the default; a PostgreSQL implementation will
//! sit beside it behind the same trait. No code outside this crate writes SQL. This crate
//! holds no business rules beyond integrity (a key's revocation is final, an account needs
//! its tenant); minting secrets, hashing them and deciding who may change what is the
//! identity crate's job.

mod error;
mod retention;
mod sqlite;
mod store;

pub use crate::{
    error::StoreError,
    retention::{PRUNE_BATCH, Retention, prune_before},
    sqlite::SqliteStore,
    store::{
        AlertQuery, AlertRow, EventQuery, EventRow, KeyFilter, PageQuery, PageRow, StatusChange,
        StatusChangeOutcome, Store, StoredKey,
    },
};
