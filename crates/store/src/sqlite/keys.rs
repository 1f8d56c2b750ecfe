//! The `keys` table: creation, lookups, status changes and the global `version` counter.
//!
//! Every create and status change sets the key's `version` to `MAX(version) + 1` inside a
//! `BEGIN IMMEDIATE` transaction. The write lock is per database file, so two processes
//! cannot compute the same number, and `version` is `UNIQUE` in case anything else tries.

use bulwark_core::{
    Event, EventBody, KeyHash, KeyId, KeyRecord, KeyStatus, KeyStatusChanged, Timestamp,
};
use rusqlite::{Connection, Row, params, params_from_iter};

use super::{
    events::{self, NewEvents},
    sql::{self, db_error, immediate, unique_or},
};
use crate::{KeyFilter, StatusChange, StatusChangeOutcome, StoreError, StoredKey};

const KEY_COLUMNS: &str = "id, tenant, account, name, prefix, models, rpm, tpm, status, \
    created_at_ms, updated_at_ms, version, hash";

fn key_from_row(row: &Row<'_>) -> Result<StoredKey, StoreError> {
    let models: String = sql::get(row, 5)?;
    let hash: Vec<u8> = sql::get(row, 12)?;
    Ok(StoredKey {
        record: KeyRecord {
            id: sql::parse(row, 0, "keys.id")?,
            tenant: sql::parse(row, 1, "keys.tenant")?,
            account: sql::parse(row, 2, "keys.account")?,
            name: sql::get(row, 3)?,
            prefix: sql::get(row, 4)?,
            models: serde_json::from_str(&models)
                .map_err(|err| sql::corrupt("keys.models", err))?,
            rpm: sql::get(row, 6)?,
            tpm: sql::get(row, 7)?,
            status: sql::parse(row, 8, "keys.status")?,
            created_at: sql::timestamp(row, 9, "keys.created_at_ms")?,
            updated_at: sql::timestamp(row, 10, "keys.updated_at_ms")?,
            version: sql::get(row, 11)?,
        },
        hash: KeyHash(<[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
            sql::corrupt(
                "keys.hash",
                format_args!("expected 32 bytes, found {}", hash.len()),
            )
        })?),
    })
}

/// The version the next change gets. Call inside an immediate transaction.
fn next_version(conn: &Connection) -> Result<u64, StoreError> {
    conn.prepare_cached("SELECT COALESCE(MAX(version), 0) + 1 FROM keys")
        .map_err(db_error)?
        .query_row([], |row| row.get(0))
        .map_err(db_error)
}

/// `NotFound` unless the key's account exists and belongs to the key's tenant.
fn check_account(conn: &Connection, record: &KeyRecord) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT tenant FROM accounts WHERE id = ?1")
        .map_err(db_error)?;
    let owner: Option<String> =
        sql::first(&mut stmt, [record.account.as_str()], |row| sql::get(row, 0))?;
    match owner {
        Some(owner) if owner == record.tenant.as_str() => Ok(()),
        Some(_) => Err(StoreError::NotFound(format!(
            "account `{}` in tenant `{}`",
            record.account, record.tenant
        ))),
        None => Err(StoreError::NotFound(format!(
            "account `{}`",
            record.account
        ))),
    }
}

/// Stores the key and its event in one transaction and returns the record with its
/// assigned version.
pub(super) fn create(
    conn: &mut Connection,
    key: &StoredKey,
    event: &NewEvents,
) -> Result<KeyRecord, StoreError> {
    let record = &key.record;
    let tx = immediate(conn)?;
    check_account(&tx, record)?;
    // Checked before the insert so that the message says which rule was broken.
    if sql::exists(&tx, "SELECT 1 FROM keys WHERE id = ?1", record.id.as_str())? {
        return Err(StoreError::Conflict(format!(
            "key `{}` already exists",
            record.id
        )));
    }
    let hash_taken = tx
        .prepare_cached("SELECT 1 FROM keys WHERE hash = ?1")
        .map_err(db_error)?
        .exists([&key.hash.0])
        .map_err(db_error)?;
    if hash_taken {
        return Err(StoreError::Conflict(format!(
            "key `{}` has the same secret hash as an existing key",
            record.id
        )));
    }
    let models = serde_json::to_string(&record.models).map_err(|err| {
        StoreError::Backend(format!(
            "cannot encode the models of `{}`: {err}",
            record.id
        ))
    })?;
    let version = next_version(&tx)?;
    tx.prepare_cached(
        "INSERT INTO keys (id, tenant, account, name, prefix, models, rpm, tpm, status, hash,
                           created_at_ms, updated_at_ms, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .map_err(db_error)?
    .execute(params![
        record.id.as_str(),
        record.tenant.as_str(),
        record.account.as_str(),
        record.name,
        record.prefix,
        models,
        record.rpm,
        record.tpm,
        record.status.as_str(),
        &key.hash.0,
        record.created_at.unix_millis(),
        record.updated_at.unix_millis(),
        version,
    ])
    .map_err(|err| {
        unique_or(err, || {
            format!("key `{}` conflicts with a stored key", record.id)
        })
    })?;
    events::insert(&tx, event)?;
    tx.commit().map_err(db_error)?;
    Ok(KeyRecord {
        version,
        ..record.clone()
    })
}

pub(super) fn get(conn: &Connection, id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"))
        .map_err(db_error)?;
    sql::first(&mut stmt, [id.as_str()], key_from_row)
}

pub(super) fn by_hash(conn: &Connection, hash: &KeyHash) -> Result<Option<StoredKey>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = ?1"))
        .map_err(db_error)?;
    sql::first(&mut stmt, [&hash.0], key_from_row)
}

pub(super) fn list(conn: &Connection, filter: &KeyFilter) -> Result<Vec<KeyRecord>, StoreError> {
    // One statement per combination of filters (eight at most, all cached), so that each
    // can use its index.
    let mut clauses = Vec::with_capacity(3);
    let mut args = Vec::with_capacity(3);
    if let Some(tenant) = &filter.tenant {
        clauses.push("tenant = ?");
        args.push(tenant.as_str());
    }
    if let Some(account) = &filter.account {
        clauses.push("account = ?");
        args.push(account.as_str());
    }
    if let Some(status) = filter.status {
        clauses.push("status = ?");
        args.push(status.as_str());
    }
    let condition = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM keys {condition} ORDER BY created_at_ms, id"
        ))
        .map_err(db_error)?;
    sql::collect(&mut stmt, params_from_iter(args), |row| {
        key_from_row(row).map(|key| key.record)
    })
}

/// Applies a status change with its event in one transaction (see [`crate::Store::set_key_status`]).
pub(super) fn set_status(
    conn: &mut Connection,
    change: &StatusChange,
) -> Result<StatusChangeOutcome, StoreError> {
    let tx = immediate(conn)?;
    let Some(StoredKey { record, .. }) = get(&tx, &change.key)? else {
        return Err(StoreError::NotFound(format!("key `{}`", change.key)));
    };
    let from = record.status;
    if from == change.to {
        return Ok(StatusChangeOutcome {
            record,
            event: None,
        });
    }
    if from == KeyStatus::Revoked {
        return Err(StoreError::InvalidTransition {
            key: change.key.to_string(),
            from,
            to: change.to,
        });
    }
    let event = Event::new(
        Some(record.tenant.clone()),
        Some(record.account.clone()),
        Some(record.id.clone()),
        EventBody::KeyStatusChanged(KeyStatusChanged {
            from,
            to: change.to,
            reason: change.reason.clone(),
            actor: change.actor.clone(),
        }),
    );
    // The record and its event tell the same time.
    let updated_at: Timestamp = event.ts;
    let version = next_version(&tx)?;
    tx.prepare_cached(
        "UPDATE keys SET status = ?2, updated_at_ms = ?3, version = ?4 WHERE id = ?1",
    )
    .map_err(db_error)?
    .execute(params![
        record.id.as_str(),
        change.to.as_str(),
        updated_at.unix_millis(),
        version
    ])
    .map_err(db_error)?;
    events::insert(&tx, &NewEvents::one(&event)?)?;
    tx.commit().map_err(db_error)?;
    Ok(StatusChangeOutcome {
        record: KeyRecord {
            status: change.to,
            updated_at,
            version,
            ..record
        },
        event: Some(event),
    })
}

pub(super) fn changed_since(
    conn: &Connection,
    version: u64,
    limit: usize,
) -> Result<Vec<StoredKey>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE version > ?1 ORDER BY version LIMIT ?2"
        ))
        .map_err(db_error)?;
    sql::collect(
        &mut stmt,
        params![sql::to_i64(version), sql::to_i64(limit)],
        key_from_row,
    )
}

pub(super) fn max_version(conn: &Connection) -> Result<u64, StoreError> {
    conn.prepare_cached("SELECT COALESCE(MAX(version), 0) FROM keys")
        .map_err(db_error)?
        .query_row([], |row| row.get(0))
        .map_err(db_error)
}
