use std::sync::Arc;

use async_trait::async_trait;
use bulwark_core::{
    Account, AccountId, Alert, AlertId, Event, EventId, KeyHash, KeyId, KeyRecord, KeyStatus,
    Tenant, TenantId, Timestamp,
};

use crate::StoreError;

/// A key record together with the keyed hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub record: KeyRecord,
    pub hash: KeyHash,
}

/// Which keys to list; `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    pub tenant: Option<TenantId>,
    pub account: Option<AccountId>,
    pub status: Option<KeyStatus>,
}

/// A requested key status change.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub key: KeyId,
    pub to: KeyStatus,
    pub reason: Option<String>,
    /// Who asks: `cli`, `admin_api`, later a detector or case id.
    pub actor: String,
}

/// What a status change did.
#[derive(Debug, Clone)]
pub struct StatusChangeOutcome {
    /// The key after the change (with its new `version`).
    pub record: KeyRecord,
    /// The `key.status_changed` event that was stored with the change, or `None` when the
    /// key already had the requested status (nothing changed, nothing recorded).
    pub event: Option<Event>,
}

/// A time window of stored records (events, alerts), read page by page in `(ts, id)`
/// order.
#[derive(Debug, Clone)]
pub struct PageQuery<Id> {
    /// Inclusive lower bound on `ts`.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on `ts`.
    pub until: Option<Timestamp>,
    /// Resume after this `(ts, id)` (the last row of the previous page).
    pub after: Option<(Timestamp, Id)>,
    /// Page size; implementations may cap it.
    pub limit: usize,
}

/// One stored record: its sort key and its JSON line exactly as it was written (a
/// compact event row rebuilds the same bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRow<Id> {
    pub ts: Timestamp,
    pub id: Id,
    pub json: String,
}

/// A window of stored events.
pub type EventQuery = PageQuery<EventId>;
/// One stored event.
pub type EventRow = PageRow<EventId>;
/// A window of stored alerts.
pub type AlertQuery = PageQuery<AlertId>;
/// One stored alert.
pub type AlertRow = PageRow<AlertId>;

/// Persistent state. Every method is safe to call concurrently from many tasks and from
/// several processes sharing one database (the CLI while the server runs).
///
/// Management changes (`create_account`, `create_key`, `set_key_status`) store their event
/// in the same transaction as the change: the audit trail cannot miss a change that
/// happened, whatever happens to the in-process bus.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError>;
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Stores an account and its `account.created` event. `NotFound` if the tenant is
    /// unknown.
    async fn create_account(&self, account: &Account, event: &Event) -> Result<(), StoreError>;
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    async fn list_accounts(&self, tenant: Option<&TenantId>) -> Result<Vec<Account>, StoreError>;

    /// Stores a key and its `key.created` event; assigns and returns the key's `version`
    /// (the `version` passed in is ignored). `NotFound` if the account is unknown or does
    /// not belong to the key's tenant; `Conflict` if the id or hash exists.
    async fn create_key(&self, key: &StoredKey, event: &Event) -> Result<KeyRecord, StoreError>;
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;
    async fn list_keys(&self, filter: &KeyFilter) -> Result<Vec<KeyRecord>, StoreError>;
    /// The key whose secret hashes to `hash`, if any.
    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, StoreError>;
    /// Changes a key's status, bumping its `version` and storing a `key.status_changed`
    /// event in the same transaction. `InvalidTransition` for a revoked key.
    async fn set_key_status(
        &self,
        change: &StatusChange,
    ) -> Result<StatusChangeOutcome, StoreError>;
    /// Keys whose `version` is greater than `version`, in version order, at most `limit`.
    /// The gateway's key cache polls this to learn of changes made by any process.
    async fn keys_changed_since(
        &self,
        version: u64,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError>;
    /// The highest key `version` (0 when there are no keys).
    async fn key_version(&self) -> Result<u64, StoreError>;

    /// Appends events; an event already stored is skipped (so re-importing a file, or a
    /// management event that was both stored and published, is harmless). An event is
    /// the same as a stored one when it has its id (an `api.request` event: its id and
    /// its `ts`, which is how every export of it reads). Returns how many were new.
    async fn append_events(&self, events: &[Event]) -> Result<usize, StoreError>;
    /// [`Store::append_events`] for the bus's events, shared with its other consumers:
    /// the same rows, without copying each event first. Its `api.request` events are
    /// fresh (made by this process, never appended before), so they are checked only
    /// against each other, not against what is stored; every other kind is checked as
    /// [`Store::append_events`] checks it.
    async fn append_shared_events(&self, events: &[Arc<Event>]) -> Result<usize, StoreError>;
    /// One page of stored events in `(ts, id)` order.
    async fn events_page(&self, query: &EventQuery) -> Result<Vec<EventRow>, StoreError>;
    /// Deletes about `limit` `api.request` events stamped before `before`, oldest first,
    /// and returns how many: fewer than `limit` only when none are left (an implementation
    /// that deletes in blocks may go past `limit` by part of a block). Management events (`account.created`, `key.*`) are the audit
    /// trail of the directory and are never pruned. Callers delete in bounded batches so
    /// that event appends interleave with a large prune.
    async fn prune_events(&self, before: Timestamp, limit: usize) -> Result<usize, StoreError>;

    /// Appends alerts; an alert whose id is already stored is skipped (alert ids are
    /// derived from what raised them, so a replay stores each alert once). Returns how
    /// many were new.
    async fn append_alerts(&self, alerts: &[Alert]) -> Result<usize, StoreError>;
    /// One page of stored alerts in `(ts, id)` order.
    async fn alerts_page(&self, query: &AlertQuery) -> Result<Vec<AlertRow>, StoreError>;
}
