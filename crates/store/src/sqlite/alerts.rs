//! The `alerts` table: appending alerts and reading pages in `(ts, id)` order.

use bulwark_core::Alert;
use rusqlite::{Connection, params};

use super::sql::{self, db_error, immediate};
use crate::{AlertQuery, AlertRow, StoreError};

/// The largest page `alerts_page` returns, whatever the query asks.
const MAX_PAGE: usize = 10_000;

const INSERT_OR_IGNORE: &str = r#"INSERT OR IGNORE INTO alerts
    (id, ts_ms, detector, subject_type, subject_id, tenant, account, "key", severity, json)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"#;

/// Alerts as they go into their rows (owned: the blocking task needs them).
#[derive(Debug)]
pub(super) struct NewAlerts(Vec<(Alert, String)>);

impl NewAlerts {
    pub(super) fn new(alerts: &[Alert]) -> Self {
        Self(alerts.iter().map(|a| (a.clone(), a.to_json())).collect())
    }
}

/// Appends alerts in one transaction, skipping ids already stored; returns how many were
/// new.
pub(super) fn append(conn: &mut Connection, alerts: &NewAlerts) -> Result<usize, StoreError> {
    let tx = immediate(conn)?;
    let mut inserted = 0;
    {
        let mut stmt = tx.prepare_cached(INSERT_OR_IGNORE).map_err(db_error)?;
        for (alert, json) in &alerts.0 {
            inserted += stmt
                .execute(params![
                    alert.id.as_str(),
                    alert.ts.unix_millis(),
                    alert.detector,
                    alert.subject.kind.as_str(),
                    alert.subject.id,
                    alert.related.tenant.as_ref().map(|t| t.as_str()),
                    alert.related.account.as_ref().map(|a| a.as_str()),
                    alert.related.key.as_ref().map(|k| k.as_str()),
                    alert.severity.as_str(),
                    json,
                ])
                .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(inserted)
}

const PAGE: &str = "SELECT ts_ms, id, json FROM alerts
    WHERE (ts_ms, id) > (?1, ?2) AND ts_ms < ?3
    ORDER BY ts_ms, id
    LIMIT ?4";

/// One page of alerts in `(ts, id)` order.
pub(super) fn page(conn: &Connection, query: &AlertQuery) -> Result<Vec<AlertRow>, StoreError> {
    sql::page(conn, PAGE, "alerts", query, MAX_PAGE, |row| {
        sql::get(row, 2)
    })
}
