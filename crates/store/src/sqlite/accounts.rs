//! The `tenants` and `accounts` tables.

use bulwark_core::{Account, AccountId, Tenant, TenantId};
use rusqlite::{Connection, Row, params};

use super::{
    events::{self, NewEvents},
    sql::{self, db_error, immediate, unique_or},
};
use crate::StoreError;

const TENANT_COLUMNS: &str = "id, name, created_at_ms";

fn tenant_from_row(row: &Row<'_>) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: sql::parse(row, 0, "tenants.id")?,
        name: sql::get(row, 1)?,
        created_at: sql::timestamp(row, 2, "tenants.created_at_ms")?,
    })
}

pub(super) fn create_tenant(conn: &Connection, tenant: &Tenant) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO tenants (id, name, created_at_ms) VALUES (?1, ?2, ?3)")
        .map_err(db_error)?
        .execute(params![
            tenant.id.as_str(),
            tenant.name,
            tenant.created_at.unix_millis()
        ])
        .map_err(|err| unique_or(err, || format!("tenant `{}` already exists", tenant.id)))?;
    Ok(())
}

pub(super) fn get_tenant(conn: &Connection, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"
        ))
        .map_err(db_error)?;
    sql::first(&mut stmt, [id.as_str()], tenant_from_row)
}

pub(super) fn list_tenants(conn: &Connection) -> Result<Vec<Tenant>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY created_at_ms, id"
        ))
        .map_err(db_error)?;
    sql::collect(&mut stmt, [], tenant_from_row)
}

const ACCOUNT_COLUMNS: &str = "id, tenant, name, verification, created_at_ms";

fn account_from_row(row: &Row<'_>) -> Result<Account, StoreError> {
    Ok(Account {
        id: sql::parse(row, 0, "accounts.id")?,
        tenant: sql::parse(row, 1, "accounts.tenant")?,
        name: sql::get(row, 2)?,
        verification: sql::parse(row, 3, "accounts.verification")?,
        created_at: sql::timestamp(row, 4, "accounts.created_at_ms")?,
    })
}

/// Stores the account and its event in one transaction; `NotFound` for an unknown tenant.
pub(super) fn create_account(
    conn: &mut Connection,
    account: &Account,
    event: &NewEvents,
) -> Result<(), StoreError> {
    let tx = immediate(conn)?;
    if !sql::exists(
        &tx,
        "SELECT 1 FROM tenants WHERE id = ?1",
        account.tenant.as_str(),
    )? {
        return Err(StoreError::NotFound(format!("tenant `{}`", account.tenant)));
    }
    tx.prepare_cached(
        "INSERT INTO accounts (id, tenant, name, verification, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(db_error)?
    .execute(params![
        account.id.as_str(),
        account.tenant.as_str(),
        account.name,
        account.verification.as_str(),
        account.created_at.unix_millis(),
    ])
    .map_err(|err| unique_or(err, || format!("account `{}` already exists", account.id)))?;
    events::insert(&tx, event)?;
    tx.commit().map_err(db_error)
}

pub(super) fn get_account(
    conn: &Connection,
    id: &AccountId,
) -> Result<Option<Account>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
        ))
        .map_err(db_error)?;
    sql::first(&mut stmt, [id.as_str()], account_from_row)
}

pub(super) fn list_accounts(
    conn: &Connection,
    tenant: Option<&TenantId>,
) -> Result<Vec<Account>, StoreError> {
    match tenant {
        Some(tenant) => {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE tenant = ?1
                     ORDER BY created_at_ms, id"
                ))
                .map_err(db_error)?;
            sql::collect(&mut stmt, [tenant.as_str()], account_from_row)
        }
        None => {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at_ms, id"
                ))
                .map_err(db_error)?;
            sql::collect(&mut stmt, [], account_from_row)
        }
    }
}
