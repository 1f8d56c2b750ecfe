//! Who is calling: tenants, accounts and API keys.
//!
//! - [`Pepper`] and [`KeyHasher`]: API key secrets are shown once and stored only as
//!   HMAC-SHA-256 under a server-side pepper that lives in the data directory, not in the
//!   database.
//! - [`Directory`]: the operations the CLI and the admin API share (create tenants,
//!   accounts and keys; suspend, resume, revoke), so both enforce the same rules and
//!   record the same events.
//! - [`KeyCache`]: the gateway's in-memory view of keys, kept fresh by following the
//!   store's change feed, so a status change made by any process reaches every request
//!   path within one poll interval without a database read per request.
//!
//! Verification tiers and OIDC identities will live here too. Not here: authorization
//! decisions (the policy crate) and HTTP (the gateway).

mod cache;
mod directory;
mod secret;

pub use crate::{
    cache::{CacheStats, KeyCache},
    directory::{CreatedKey, Directory, DirectoryError, NewAccount, NewKey},
    secret::{KeyHasher, KeySecret, MAX_PRESENTED_KEY_LEN, Pepper, PepperError, SECRET_PREFIX},
};
