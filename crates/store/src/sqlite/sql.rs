//! Error mapping and row decoding shared by the table modules.
//!
//! Rows are decoded column by column into `StoreError`s: a value that SQLite returns but
//! that is not what this crate wrote (a bad id, an unknown status, a wrong-sized hash) is
//! `Corrupt`, never a panic.

use std::{fmt::Display, str::FromStr};

use bulwark_core::Timestamp;
use rusqlite::{
    Connection, ErrorCode, Params, Row, Statement, Transaction, TransactionBehavior, ffi,
    types::FromSql,
};

use crate::StoreError;

/// Maps a rusqlite error that has no better meaning at the call site.
pub(super) fn db_error(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(message.clone().unwrap_or_else(|| failure.to_string()))
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(err.to_string()),
        _ => StoreError::Backend(err.to_string()),
    }
}

/// Maps the error of an insert: a uniqueness violation becomes `Conflict(what())`, anything
/// else goes through [`db_error`].
pub(super) fn unique_or(err: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict(what())
    } else {
        db_error(err)
    }
}

fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Starts a write transaction that takes the database's write lock at once.
///
/// A deferred transaction that reads and then writes can fail with `SQLITE_BUSY` without
/// waiting when another process wrote in between; an immediate one waits for the lock (up
/// to the busy timeout) before reading, so what it reads is still true when it writes.
pub(super) fn immediate(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)
}

/// Whether `sql` (which selects anything, with `?1` bound to `arg`) returns a row.
pub(super) fn exists(conn: &Connection, sql: &str, arg: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    stmt.exists([arg]).map_err(db_error)
}

/// Runs a query and decodes every row.
pub(super) fn collect<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(params).map_err(db_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a query and decodes its first row, if any.
pub(super) fn first<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut rows = stmt.query(params).map_err(db_error)?;
    match rows.next().map_err(db_error)? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

/// A column as a plain SQL value.
pub(super) fn get<T: FromSql>(row: &Row<'_>, idx: usize) -> Result<T, StoreError> {
    row.get(idx).map_err(db_error)
}

/// A text column parsed with `FromStr` (ids, enums); `column` names it in the error.
pub(super) fn parse<T>(row: &Row<'_>, idx: usize, column: &str) -> Result<T, StoreError>
where
    T: FromStr<Err: Display>,
{
    let text: String = get(row, idx)?;
    text.parse().map_err(|err| corrupt(column, err))
}

/// A nullable text column parsed with `FromStr`.
pub(super) fn parse_opt<T>(row: &Row<'_>, idx: usize, column: &str) -> Result<Option<T>, StoreError>
where
    T: FromStr<Err: Display>,
{
    let text: Option<String> = get(row, idx)?;
    text.map(|text| text.parse().map_err(|err| corrupt(column, err)))
        .transpose()
}

/// A unix-milliseconds column as a timestamp.
pub(super) fn timestamp(row: &Row<'_>, idx: usize, column: &str) -> Result<Timestamp, StoreError> {
    from_millis(get(row, idx)?, column)
}

/// Unix milliseconds as a timestamp, `Corrupt` when out of range.
pub(super) fn from_millis(millis: i64, column: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_millis(millis)
        .ok_or_else(|| corrupt(column, format_args!("{millis} is not a representable time")))
}

pub(super) fn corrupt(column: &str, err: impl Display) -> StoreError {
    StoreError::Corrupt(format!("`{column}`: {err}"))
}

/// The exclusive `(ts_ms, id)` lower bound of a page that means both `ts >= since` and
/// `(ts, id) > after`.
///
/// `ts >= since` is `(ts, id) > (since, "")` because no id is empty; the tighter of the
/// two tuples is the bound.
pub(super) fn lower_bound<Id: AsRef<str>>(query: &crate::PageQuery<Id>) -> (i64, &str) {
    let since = query
        .since
        .map_or((i64::MIN, ""), |since| (since.unix_millis(), ""));
    match &query.after {
        Some((ts, id)) => since.max((ts.unix_millis(), id.as_ref())),
        None => since,
    }
}

/// One page of a table with `ts_ms` and `id` columns, in `(ts, id)` order: `sql` selects
/// those two first with `(ts_ms, id) > (?1, ?2) AND ts_ms < ?3 … LIMIT ?4`, and `json`
/// gives a row's JSON line from what else it selects; `table` names the columns in errors.
pub(super) fn page<Id>(
    conn: &Connection,
    sql: &str,
    table: &str,
    query: &crate::PageQuery<Id>,
    max_page: usize,
    json: impl Fn(&Row<'_>) -> Result<String, StoreError>,
) -> Result<Vec<crate::PageRow<Id>>, StoreError>
where
    Id: AsRef<str> + FromStr<Err: Display>,
{
    let limit = query.limit.min(max_page);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (after_ms, after_id) = lower_bound(query);
    let until_ms = query.until.map_or(i64::MAX, Timestamp::unix_millis);
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    let (ts_column, id_column) = (format!("{table}.ts_ms"), format!("{table}.id"));
    collect(
        &mut stmt,
        rusqlite::params![after_ms, after_id, until_ms, to_i64(limit)],
        |row| {
            Ok(crate::PageRow {
                ts: timestamp(row, 0, &ts_column)?,
                id: parse(row, 1, &id_column)?,
                json: json(row)?,
            })
        },
    )
}

/// A count or limit for SQLite, which has only signed integers.
pub(super) fn to_i64(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id TEXT PRIMARY KEY, u TEXT UNIQUE, n INTEGER NOT NULL, s TEXT);
             INSERT INTO t VALUES ('a', 'x', 1, 'active');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn unique_violations_become_the_given_conflict() {
        let conn = conn();
        let err = conn
            .execute("INSERT INTO t VALUES ('a', 'y', 1, NULL)", [])
            .unwrap_err();
        assert!(
            matches!(unique_or(err, || "dup id".into()), StoreError::Conflict(m) if m == "dup id")
        );
        let err = conn
            .execute("INSERT INTO t VALUES ('b', 'x', 1, NULL)", [])
            .unwrap_err();
        assert!(
            matches!(unique_or(err, || "dup u".into()), StoreError::Conflict(m) if m == "dup u")
        );
    }

    #[test]
    fn other_constraints_are_conflicts_with_sqlites_message() {
        let conn = conn();
        let err = conn
            .execute("INSERT INTO t VALUES ('b', 'y', NULL, NULL)", [])
            .unwrap_err();
        let mapped = unique_or(err, || "unused".into());
        assert!(
            matches!(&mapped, StoreError::Conflict(m) if m.contains("NOT NULL")),
            "{mapped}"
        );
    }

    #[test]
    fn syntax_errors_are_backend_errors() {
        let err = conn()
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .unwrap_err();
        assert!(matches!(db_error(err), StoreError::Backend(m) if m.contains("nowhere")));
    }

    #[test]
    fn bad_values_are_corrupt_not_panics() {
        let conn = conn();
        let mut stmt = conn.prepare("SELECT id, n, s FROM t").unwrap();
        let status = first(&mut stmt, [], |row| {
            parse::<bulwark_core::KeyStatus>(row, 2, "t.s")
        })
        .unwrap();
        assert_eq!(status, Some(bulwark_core::KeyStatus::Active));
        let err = first(&mut stmt, [], |row| {
            parse::<bulwark_core::KeyId>(row, 0, "t.id")
        })
        .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.starts_with("`t.id`: invalid key id")),
            "{err}"
        );
        let err = first(&mut stmt, [], |row| get::<Vec<u8>>(row, 1)).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        let err = from_millis(i64::MAX, "t.n").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }

    #[test]
    fn limits_saturate() {
        assert_eq!(to_i64(usize::MAX), i64::MAX);
        assert_eq!(to_i64(u64::MAX), i64::MAX);
        assert_eq!(to_i64(7_usize), 7);
    }
}
