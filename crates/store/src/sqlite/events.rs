//! The `events` table: appending batches and reading pages in `(ts, id)` order.

use bulwark_core::{Event, EventBody, Timestamp};
use rusqlite::{Connection, Statement, params};

use super::sql::{self, db_error, immediate, unique_or};
use crate::{EventQuery, EventRow, StoreError};

/// The largest page `events_page` returns, whatever the query asks.
pub(super) const MAX_PAGE: usize = 10_000;

const INSERT: &str = r#"INSERT INTO events (id, ts_ms, kind, tenant, account, "key", decision, json)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"#;

const INSERT_OR_IGNORE: &str = r#"INSERT OR IGNORE INTO events
    (id, ts_ms, kind, tenant, account, "key", decision, json)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"#;

/// An event as it goes into its row: the JSON line and the envelope columns.
///
/// Built before the blocking task starts (the task needs owned data, and serializing is
/// the copy it needs anyway).
#[derive(Debug)]
pub(super) struct NewEvent {
    id: String,
    ts_ms: i64,
    kind: &'static str,
    tenant: Option<String>,
    account: Option<String>,
    key: Option<String>,
    decision: Option<&'static str>,
    json: String,
}

impl NewEvent {
    pub(super) fn new(event: &Event) -> Result<Self, StoreError> {
        let json = event.to_json();
        if json.is_empty() {
            return Err(StoreError::Backend(format!(
                "event `{}` could not be serialized",
                event.id
            )));
        }
        Ok(Self {
            id: event.id.as_str().to_owned(),
            ts_ms: event.ts.unix_millis(),
            kind: event.kind().as_str(),
            tenant: event.tenant.as_ref().map(|id| id.as_str().to_owned()),
            account: event.account.as_ref().map(|id| id.as_str().to_owned()),
            key: event.key.as_ref().map(|id| id.as_str().to_owned()),
            decision: match &event.body {
                EventBody::ApiRequest(request) => Some(request.decision.as_str()),
                _ => None,
            },
            json,
        })
    }

    fn execute(&self, stmt: &mut Statement<'_>) -> rusqlite::Result<usize> {
        stmt.execute(params![
            self.id,
            self.ts_ms,
            self.kind,
            self.tenant,
            self.account,
            self.key,
            self.decision,
            self.json,
        ])
    }
}

/// Stores a management event inside the caller's transaction; its id must be new.
pub(super) fn insert(conn: &Connection, event: &NewEvent) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(INSERT).map_err(db_error)?;
    event
        .execute(&mut stmt)
        .map_err(|err| unique_or(err, || format!("event `{}` already exists", event.id)))?;
    Ok(())
}

/// Appends a batch in one transaction, skipping ids already stored; returns how many were
/// new.
pub(super) fn append(conn: &mut Connection, events: &[NewEvent]) -> Result<usize, StoreError> {
    let tx = immediate(conn)?;
    let mut inserted = 0;
    {
        let mut stmt = tx.prepare_cached(INSERT_OR_IGNORE).map_err(db_error)?;
        for event in events {
            inserted += event.execute(&mut stmt).map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(inserted)
}

// One range on the `(ts_ms, id)` index: `since` and `after` are folded into a single
// lower bound before the query (see `lower_bound`), so every page is a seek, not a scan
// from the start of the window.
const PAGE: &str = "SELECT ts_ms, id, json FROM events
    WHERE (ts_ms, id) > (?1, ?2) AND ts_ms < ?3
    ORDER BY ts_ms, id
    LIMIT ?4";

/// One page of events in `(ts, id)` order.
pub(super) fn page(conn: &Connection, query: &EventQuery) -> Result<Vec<EventRow>, StoreError> {
    let limit = query.limit.min(MAX_PAGE);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (after_ms, after_id) = lower_bound(query);
    let until_ms = query.until.map_or(i64::MAX, Timestamp::unix_millis);
    let mut stmt = conn.prepare_cached(PAGE).map_err(db_error)?;
    sql::collect(
        &mut stmt,
        params![after_ms, after_id, until_ms, sql::to_i64(limit)],
        |row| {
            Ok(EventRow {
                ts: sql::timestamp(row, 0, "events.ts_ms")?,
                id: sql::parse(row, 1, "events.id")?,
                json: sql::get(row, 2)?,
            })
        },
    )
}

/// The exclusive `(ts_ms, id)` lower bound that means both `ts >= since` and
/// `(ts, id) > after`.
///
/// `ts >= since` is `(ts, id) > (since, "")` because no id is empty; the tighter of the
/// two tuples is the bound.
fn lower_bound(query: &EventQuery) -> (i64, &str) {
    let since = query
        .since
        .map_or((i64::MIN, ""), |since| (since.unix_millis(), ""));
    match &query.after {
        Some((ts, id)) => since.max((ts.unix_millis(), id.as_str())),
        None => since,
    }
}

#[cfg(test)]
mod tests {
    use bulwark_core::EventId;

    use super::*;

    fn query(since: Option<i64>, after: Option<(i64, &str)>) -> EventQuery {
        EventQuery {
            since: since.map(|ms| Timestamp::from_unix_millis(ms).unwrap()),
            until: None,
            after: after.map(|(ms, id)| {
                (
                    Timestamp::from_unix_millis(ms).unwrap(),
                    EventId::parse(id).unwrap(),
                )
            }),
            limit: 10,
        }
    }

    #[test]
    fn lower_bound_is_the_tighter_of_since_and_after() {
        assert_eq!(lower_bound(&query(None, None)), (i64::MIN, ""));
        assert_eq!(lower_bound(&query(Some(5), None)), (5, ""));
        assert_eq!(lower_bound(&query(None, Some((3, "evt_a")))), (3, "evt_a"));
        assert_eq!(lower_bound(&query(Some(5), Some((3, "evt_a")))), (5, ""));
        assert_eq!(
            lower_bound(&query(Some(5), Some((5, "evt_a")))),
            (5, "evt_a")
        );
        assert_eq!(
            lower_bound(&query(Some(5), Some((9, "evt_a")))),
            (9, "evt_a")
        );
    }

    #[test]
    fn pages_seek_on_the_time_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {PAGE}"))
            .unwrap()
            .query_map(params![0, "", 10, 10], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("SEARCH events USING INDEX events_by_time"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
