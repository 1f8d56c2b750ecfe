//! [`Store`] on one SQLite file in WAL mode, shared by the server and the CLI.
//!
//! rusqlite is synchronous, so every operation runs on tokio's blocking pool and never on
//! a runtime thread. Writes go through one connection behind a mutex, each as a short
//! `BEGIN IMMEDIATE` transaction (another process waits for the file's write lock, up to
//! the busy timeout). Reads use a small pool of their own connections: in WAL mode they
//! see every committed write, from this process or another, and never wait for a writer,
//! so a key lookup does not queue behind an event batch. A thread of its own copies the
//! WAL back into the database file, so that no write waits for that either.
//!
//! Code map: `schema` opens connections and migrates, `pool` lends reader connections,
//! `checkpoint` runs the WAL checkpoints, `accounts`, `keys`, `events` and `alerts` hold
//! the SQL of their tables (`compact` the compact form of an `api.request` event, `blocks`
//! the blocks of them that `request_blocks` rows hold), `sql` maps
//! errors and decodes rows.

mod accounts;
mod alerts;
mod blocks;
mod checkpoint;
mod compact;
mod events;
mod keys;
mod pool;
mod schema;
mod sql;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use bulwark_core::{
    Account, AccountId, Alert, Event, KeyHash, KeyId, KeyRecord, Tenant, TenantId, Timestamp,
};
use parking_lot::Mutex;
use rusqlite::Connection;

use self::{checkpoint::Checkpointer, events::NewEvents, pool::Readers, schema::Role};
use crate::{
    AlertQuery, AlertRow, EventQuery, EventRow, KeyFilter, StatusChange, StatusChangeOutcome,
    Store, StoreError, StoredKey,
};

/// The SQLite store. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Readers,
    checkpointer: Checkpointer,
}

impl SqliteStore {
    /// The database file's name inside the data directory.
    pub const FILE_NAME: &'static str = "bulwark.db";

    /// Opens (or creates) `data_dir/bulwark.db`, creating the directory if needed (mode
    /// 0700 on unix), and migrates the schema. Blocking: call it at startup, or from a
    /// blocking thread.
    ///
    /// Fails with `Backend` when a newer build has already migrated the database further.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_dir(data_dir)?;
        let path = data_dir.join(Self::FILE_NAME);
        let mut writer = schema::open_connection(&path, Role::Writer)?;
        schema::migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                readers: Readers::new(path.clone()),
                checkpointer: Checkpointer::start(path.clone())?,
                path,
                writer: Mutex::new(writer),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `op` on the writer connection, on a blocking thread.
    async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        // If the caller stops waiting, the operation still finishes (or rolls back) as a
        // whole: a transaction is never cut in half.
        tokio::task::spawn_blocking(move || {
            inner.checkpointer.write(|| op(&mut inner.writer.lock()))
        })
        .await
        .map_err(|err| StoreError::Backend(format!("store task failed: {err}")))?
    }

    /// Runs `op` on a pooled reader connection, on a blocking thread.
    async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.readers.with(op))
            .await
            .map_err(|err| StoreError::Backend(format!("store task failed: {err}")))?
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("idle_readers", &self.inner.readers.idle())
            .finish_non_exhaustive()
    }
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        // The database holds key hashes and request metadata: for this user only.
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|err| {
        StoreError::Backend(format!(
            "cannot create data directory `{}`: {err}",
            dir.display()
        ))
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(sql::db_error)
        })
        .await
    }

    async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |conn| accounts::create_tenant(conn, &tenant))
            .await
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let id = id.clone();
        self.read(move |conn| accounts::get_tenant(conn, &id)).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(accounts::list_tenants).await
    }

    async fn create_account(&self, account: &Account, event: &Event) -> Result<(), StoreError> {
        let account = account.clone();
        let event = NewEvents::one(event)?;
        self.write(move |conn| accounts::create_account(conn, &account, &event))
            .await
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let id = id.clone();
        self.read(move |conn| accounts::get_account(conn, &id))
            .await
    }

    async fn list_accounts(&self, tenant: Option<&TenantId>) -> Result<Vec<Account>, StoreError> {
        let tenant = tenant.cloned();
        self.read(move |conn| accounts::list_accounts(conn, tenant.as_ref()))
            .await
    }

    async fn create_key(&self, key: &StoredKey, event: &Event) -> Result<KeyRecord, StoreError> {
        let key = key.clone();
        let event = NewEvents::one(event)?;
        self.write(move |conn| keys::create(conn, &key, &event))
            .await
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let id = id.clone();
        self.read(move |conn| Ok(keys::get(conn, &id)?.map(|key| key.record)))
            .await
    }

    async fn list_keys(&self, filter: &KeyFilter) -> Result<Vec<KeyRecord>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| keys::list(conn, &filter)).await
    }

    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, StoreError> {
        let hash = *hash;
        self.read(move |conn| keys::by_hash(conn, &hash)).await
    }

    async fn set_key_status(
        &self,
        change: &StatusChange,
    ) -> Result<StatusChangeOutcome, StoreError> {
        let change = change.clone();
        self.write(move |conn| keys::set_status(conn, &change))
            .await
    }

    async fn keys_changed_since(
        &self,
        version: u64,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError> {
        self.read(move |conn| keys::changed_since(conn, version, limit))
            .await
    }

    async fn key_version(&self) -> Result<u64, StoreError> {
        self.read(keys::max_version).await
    }

    async fn append_events(&self, events: &[Event]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        // Encoded here because the blocking task needs owned data: the rows' values are
        // that copy, made once.
        let rows = NewEvents::new(events)?;
        self.write(move |conn| events::append(conn, &rows, events::Check::Stored))
            .await
    }

    async fn append_shared_events(&self, events: &[Arc<Event>]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let rows = NewEvents::new(events.iter().map(|event| &**event))?;
        self.write(move |conn| events::append(conn, &rows, events::Check::Batch))
            .await
    }

    async fn events_page(&self, query: &EventQuery) -> Result<Vec<EventRow>, StoreError> {
        let query = query.clone();
        self.read(move |conn| events::page(conn, &query)).await
    }

    async fn prune_events(&self, before: Timestamp, limit: usize) -> Result<usize, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        self.write(move |conn| events::prune(conn, before, limit))
            .await
    }

    async fn append_alerts(&self, alerts: &[Alert]) -> Result<usize, StoreError> {
        if alerts.is_empty() {
            return Ok(0);
        }
        let rows = alerts::NewAlerts::new(alerts);
        self.write(move |conn| alerts::append(conn, &rows)).await
    }

    async fn alerts_page(&self, query: &AlertQuery) -> Result<Vec<AlertRow>, StoreError> {
        let query = query.clone();
        self.read(move |conn| alerts::page(conn, &query)).await
    }
}
