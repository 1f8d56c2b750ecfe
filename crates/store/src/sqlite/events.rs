//! The `events` table: appending batches and reading pages in `(ts, id)` order.
//!
//! An `api.request` row holds its body in the compact form of `compact.rs` and no JSON;
//! every other row (and every row written before schema version 3) holds its JSON line.
//! Reading rebuilds the line of a compact row, the same bytes as were written.

use std::sync::LazyLock;

use bulwark_core::{Event, EventBody};
use rusqlite::{Connection, Row as SqlRow, Statement};

use super::{
    compact::{self, Envelope},
    sql::{self, db_error, immediate, unique_or},
};
use crate::{EventQuery, EventRow, StoreError};

/// The largest page `events_page` returns, whatever the query asks.
pub(super) const MAX_PAGE: usize = 10_000;

const COLUMNS: &str = r#"(id, ts_ms, kind, tenant, account, "key", decision, json, body)"#;

/// The parameters of one row, in the order of [`COLUMNS`].
const PARAMS_PER_ROW: usize = 9;

/// Rows per statement when appending a batch: one statement runs (and opens its cursors
/// on the table and each index) per 32 rows rather than per row. 288 parameters, far
/// below SQLite's limit of 32766.
const ROWS_PER_INSERT: usize = 32;

/// An insert of `rows` rows of values, `OR IGNORE` or not.
fn insert_sql(ignore: bool, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=PARAMS_PER_ROW)
                .map(|n| format!("?{}", row * PARAMS_PER_ROW + n))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let verb = if ignore {
        "INSERT OR IGNORE INTO"
    } else {
        "INSERT INTO"
    };
    format!("{verb} events {COLUMNS} VALUES {}", values.join(", "))
}

static INSERT: LazyLock<String> = LazyLock::new(|| insert_sql(false, 1));
static INSERT_OR_IGNORE: LazyLock<String> = LazyLock::new(|| insert_sql(true, 1));
static INSERT_OR_IGNORE_MANY: LazyLock<String> =
    LazyLock::new(|| insert_sql(true, ROWS_PER_INSERT));

/// Events as they go into their rows: the envelope columns and either a compact body or
/// a JSON line.
///
/// Built before the blocking task starts, because the task needs owned data. That copy is
/// made once, into two buffers that the rows bind slices of (one for text: ids and JSON
/// lines; one for compact bodies): a batch of a thousand events is a few allocations
/// rather than thousands.
#[derive(Debug)]
pub(super) struct NewEvents {
    text: String,
    bodies: Vec<u8>,
    rows: Vec<Row>,
}

/// The columns of one event; text values are spans of [`NewEvents::text`].
#[derive(Debug)]
struct Row {
    id: Span,
    ts_ms: i64,
    kind: &'static str,
    tenant: Option<Span>,
    account: Option<Span>,
    key: Option<Span>,
    decision: Option<&'static str>,
    stored: Stored,
}

/// How the rest of an event is kept.
#[derive(Debug, Clone, Copy)]
enum Stored {
    /// Its JSON line, a span of [`NewEvents::text`].
    Json(Span),
    /// Its compact body, a span of [`NewEvents::bodies`].
    Compact(Span),
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl NewEvents {
    pub(super) fn new<'e>(
        events: impl IntoIterator<Item = &'e Event, IntoIter: ExactSizeIterator>,
    ) -> Result<Self, StoreError> {
        let events = events.into_iter();
        // Room for an api.request's ids (120 bytes) and compact body (about 200), so that
        // the buffers seldom grow; management events' JSON lines are few.
        let mut text = Vec::with_capacity(events.len() * 128);
        let mut bodies = Vec::with_capacity(events.len() * 256);
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            let mut push = |value: &str| {
                let start = text.len();
                text.extend_from_slice(value.as_bytes());
                Span {
                    start,
                    end: text.len(),
                }
            };
            let id = push(event.id.as_str());
            let tenant = event.tenant.as_ref().map(|id| push(id.as_str()));
            let account = event.account.as_ref().map(|id| push(id.as_str()));
            let key = event.key.as_ref().map(|id| push(id.as_str()));
            let start = bodies.len();
            let stored = if compact::encode(event, &mut bodies) {
                Stored::Compact(Span {
                    start,
                    end: bodies.len(),
                })
            } else {
                // The same bytes as `Event::to_json`, written in place.
                let start = text.len();
                event.write_json(&mut text);
                Stored::Json(Span {
                    start,
                    end: text.len(),
                })
            };
            rows.push(Row {
                id,
                ts_ms: event.ts.unix_millis(),
                kind: event.kind().as_str(),
                tenant,
                account,
                key,
                decision: match &event.body {
                    EventBody::ApiRequest(request) => Some(request.decision.as_str()),
                    _ => None,
                },
                stored,
            });
        }
        // Ids and JSON are UTF-8, so this checks once what cannot fail, and lets rows bind
        // `&str` slices.
        let text = String::from_utf8(text)
            .map_err(|err| StoreError::Backend(format!("event text is not UTF-8: {err}")))?;
        Ok(Self { text, bodies, rows })
    }

    /// A batch of one event.
    pub(super) fn one(event: &Event) -> Result<Self, StoreError> {
        Self::new(std::slice::from_ref(event))
    }

    fn text(&self, span: Span) -> &str {
        // Every span was cut from this buffer at the ends of whole strings, so the
        // fallback is never taken.
        self.text.get(span.start..span.end).unwrap_or_default()
    }

    fn body(&self, span: Span) -> &[u8] {
        self.bodies.get(span.start..span.end).unwrap_or_default()
    }

    /// Binds `row` to the parameters after the first `offset` of `stmt`.
    fn bind(&self, stmt: &mut Statement<'_>, row: &Row, offset: usize) -> rusqlite::Result<()> {
        let text = |span: Option<Span>| span.map(|span| self.text(span));
        let (json, body) = match row.stored {
            Stored::Json(span) => (Some(self.text(span)), None),
            Stored::Compact(span) => (None, Some(self.body(span))),
        };
        stmt.raw_bind_parameter(offset + 1, self.text(row.id))?;
        stmt.raw_bind_parameter(offset + 2, row.ts_ms)?;
        stmt.raw_bind_parameter(offset + 3, row.kind)?;
        stmt.raw_bind_parameter(offset + 4, text(row.tenant))?;
        stmt.raw_bind_parameter(offset + 5, text(row.account))?;
        stmt.raw_bind_parameter(offset + 6, text(row.key))?;
        stmt.raw_bind_parameter(offset + 7, row.decision)?;
        stmt.raw_bind_parameter(offset + 8, json)?;
        stmt.raw_bind_parameter(offset + 9, body)
    }
}

/// Stores management events inside the caller's transaction; their ids must be new.
pub(super) fn insert(conn: &Connection, events: &NewEvents) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&INSERT).map_err(db_error)?;
    for row in &events.rows {
        events
            .bind(&mut stmt, row, 0)
            .and_then(|()| stmt.raw_execute())
            .map_err(|err| {
                unique_or(err, || {
                    format!("event `{}` already exists", events.text(row.id))
                })
            })?;
    }
    Ok(())
}

/// Appends a batch in one transaction, skipping ids already stored (or repeated in the
/// batch); returns how many were new.
pub(super) fn append(conn: &mut Connection, events: &NewEvents) -> Result<usize, StoreError> {
    let tx = immediate(conn)?;
    let mut inserted = 0;
    let mut chunks = events.rows.chunks_exact(ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let mut stmt = tx
            .prepare_cached(&INSERT_OR_IGNORE_MANY)
            .map_err(db_error)?;
        for chunk in &mut chunks {
            for (n, row) in chunk.iter().enumerate() {
                events
                    .bind(&mut stmt, row, n * PARAMS_PER_ROW)
                    .map_err(db_error)?;
            }
            // Counts the rows inserted, not those ignored.
            inserted += stmt.raw_execute().map_err(db_error)?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut stmt = tx.prepare_cached(&INSERT_OR_IGNORE).map_err(db_error)?;
        for row in chunks.remainder() {
            events.bind(&mut stmt, row, 0).map_err(db_error)?;
            inserted += stmt.raw_execute().map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(inserted)
}

// The oldest requests first, found on the `(ts_ms, id)` index; management events are
// skipped (and stay).
const PRUNE: &str = "DELETE FROM events WHERE rowid IN (
    SELECT rowid FROM events
    WHERE ts_ms < ?1 AND kind = 'api.request'
    ORDER BY ts_ms
    LIMIT ?2)";

/// Deletes up to `limit` `api.request` events before `before`, in one transaction.
pub(super) fn prune(
    conn: &mut Connection,
    before: bulwark_core::Timestamp,
    limit: usize,
) -> Result<usize, StoreError> {
    let tx = immediate(conn)?;
    let deleted = tx
        .prepare_cached(PRUNE)
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![before.unix_millis(), sql::to_i64(limit)])
        })
        .map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    Ok(deleted)
}

// One range on the `(ts_ms, id)` index: `since` and `after` are folded into a single
// lower bound before the query (see `lower_bound`), so every page is a seek, not a scan
// from the start of the window.
const PAGE: &str = r#"SELECT ts_ms, id, json, tenant, account, "key", body FROM events
    WHERE (ts_ms, id) > (?1, ?2) AND ts_ms < ?3
    ORDER BY ts_ms, id
    LIMIT ?4"#;

/// One page of events in `(ts, id)` order.
pub(super) fn page(conn: &Connection, query: &EventQuery) -> Result<Vec<EventRow>, StoreError> {
    sql::page(conn, PAGE, "events", query, MAX_PAGE, json_line)
}

/// The JSON line of a row of [`PAGE`]: stored, or rebuilt from the compact body.
fn json_line(row: &SqlRow<'_>) -> Result<String, StoreError> {
    if let Some(json) = sql::get::<Option<String>>(row, 2)? {
        return Ok(json);
    }
    let body: Vec<u8> = sql::get::<Option<Vec<u8>>>(row, 6)?
        .ok_or_else(|| sql::corrupt("events.body", "a row with neither JSON nor a body"))?;
    let envelope = Envelope {
        id: sql::parse(row, 1, "events.id")?,
        ts: sql::timestamp(row, 0, "events.ts_ms")?,
        tenant: sql::parse_opt(row, 3, "events.tenant")?,
        account: sql::parse_opt(row, 4, "events.account")?,
        key: sql::parse_opt(row, 5, "events.key")?,
    };
    let event = compact::decode(envelope, &body).map_err(|err| sql::corrupt("events.body", err))?;
    Ok(event.to_json())
}

#[cfg(test)]
mod tests {
    use bulwark_core::{EventId, Timestamp};
    use rusqlite::params;

    use super::{super::sql::lower_bound, *};

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

    /// Asserts that `sql`, with `params`, is a search on `events_by_time` and sorts
    /// nothing.
    fn assert_walks_the_time_index(sql: &str, params: impl rusqlite::Params) {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(params, |row| row.get(3))
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

    #[test]
    fn pages_seek_on_the_time_index() {
        assert_walks_the_time_index(PAGE, params![0, "", 10, 10]);
    }

    #[test]
    fn pruning_walks_the_time_index() {
        assert_walks_the_time_index(PRUNE, params![10, 10]);
    }
}
