use bulwark_core::KeyStatus;

/// Why a store operation failed. A missing row is `Ok(None)` on lookups; these are the
/// failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A referenced object does not exist (`what` names it, e.g. "tenant `ten_…`").
    #[error("{0} not found")]
    NotFound(String),
    /// The object already exists, or a uniqueness rule was broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A key status change that the lifecycle forbids (revocation is final).
    #[error("key `{key}` is {from} and cannot become {to}")]
    InvalidTransition {
        key: String,
        from: KeyStatus,
        to: KeyStatus,
    },
    /// Stored data that cannot be read back (a bug or a hand-edited database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database itself failed (I/O, locking, a closed connection).
    #[error("database error: {0}")]
    Backend(String),
}
