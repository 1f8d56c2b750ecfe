//! Stored events: appending batches, reading pages in `(ts, id)` order, pruning.
//!
//! `api.request` events go into blocks (`blocks.rs`, the `request_blocks` table), each
//! event in the compact form of `compact.rs`; every other event keeps a row of the
//! `events` table with its JSON line, as do requests stored before schema version 4 (in
//! compact form, or before version 3 as JSON). A page merges the two in `(ts, id)` order;
//! reading rebuilds a compact event's line, the same bytes as were written.

use std::sync::LazyLock;

use bulwark_core::{Event, EventBody};
use rusqlite::{Connection, Row as SqlRow, Statement};

use super::{
    blocks::{self, Entry, Triple},
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

    /// The events that keep a row of their own (their JSON line).
    fn json_rows(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|row| matches!(row.stored, Stored::Json(_)))
    }

    /// The events that go into blocks (their compact body), in batch order.
    fn block_entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.rows.iter().filter_map(|row| match row.stored {
            Stored::Json(_) => None,
            Stored::Compact(body) => Some(Entry {
                ts_ms: row.ts_ms,
                id: self.text(row.id),
                envelope: Triple {
                    tenant: row.tenant.map(|span| self.text(span)),
                    account: row.account.map(|span| self.text(span)),
                    key: row.key.map(|span| self.text(span)),
                },
                body: self.body(body),
            }),
        })
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

/// Which stored events an append checks its `api.request` events against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Every stored event: the table by id, and the blocks of each second the batch
    /// touches (an import, which may hold what is already stored).
    Stored,
    /// Only the batch itself: the events are fresh (made by this process and never
    /// appended before), as the bus's are. Checking them against the blocks would read
    /// every block of the current second for every batch.
    Batch,
}

/// Stores management events inside the caller's transaction; their ids must be new.
pub(super) fn insert(conn: &Connection, events: &NewEvents) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&INSERT).map_err(db_error)?;
    for row in events.json_rows() {
        events
            .bind(&mut stmt, row, 0)
            .and_then(|()| stmt.raw_execute())
            .map_err(|err| {
                unique_or(err, || {
                    format!("event `{}` already exists", events.text(row.id))
                })
            })?;
    }
    append_blocks(conn, events, Check::Batch)?;
    Ok(())
}

/// Appends a batch in one transaction, skipping ids already stored (as `check` says) or
/// repeated in the batch; returns how many were new.
pub(super) fn append(
    conn: &mut Connection,
    events: &NewEvents,
    check: Check,
) -> Result<usize, StoreError> {
    let tx = immediate(conn)?;
    let inserted = append_rows(&tx, events)? + append_blocks(&tx, events, check)?;
    tx.commit().map_err(db_error)?;
    Ok(inserted)
}

/// Inserts the events that keep a row of their own (with `OR IGNORE`).
fn append_rows(tx: &Connection, events: &NewEvents) -> Result<usize, StoreError> {
    let rows: Vec<&Row> = events.json_rows().collect();
    let mut inserted = 0;
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
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
    Ok(inserted)
}

const INSERT_BLOCK: &str = "INSERT INTO request_blocks (second, min_ts_ms, max_ts_ms, events, body)
    VALUES (?1, ?2, ?3, ?4, ?5)";

const BLOCKS_OF_SECOND: &str =
    "SELECT min_ts_ms, max_ts_ms, body FROM request_blocks WHERE second = ?1";

const ID_IN_TABLE: &str = "SELECT 1 FROM events WHERE id = ?1";

/// Writes the batch's compact events as blocks, one per second they were stamped in;
/// returns how many were new.
fn append_blocks(tx: &Connection, events: &NewEvents, check: Check) -> Result<usize, StoreError> {
    let mut entries: Vec<Entry<'_>> = events.block_entries().collect();
    if entries.is_empty() {
        return Ok(0);
    }
    entries.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    entries.dedup_by(|a, b| a.sort_key() == b.sort_key());
    if check == Check::Stored {
        entries = unstored(tx, entries)?;
    }
    let mut stmt = tx.prepare_cached(INSERT_BLOCK).map_err(db_error)?;
    let mut body = Vec::new();
    for block in entries.chunk_by(|a, b| blocks::second_of(a.ts_ms) == blocks::second_of(b.ts_ms)) {
        let (Some(first), Some(last)) = (block.first(), block.last()) else {
            continue;
        };
        body.clear();
        blocks::encode(block, &mut body);
        stmt.execute(rusqlite::params![
            blocks::second_of(first.ts_ms),
            first.ts_ms,
            last.ts_ms,
            sql::to_i64(block.len()),
            body,
        ])
        .map_err(db_error)?;
    }
    Ok(entries.len())
}

/// `entries` (sorted) without those already stored: in the table under their id, or in a
/// block of their second under their id and time.
///
/// Each second's blocks are read once and their events looked up among the batch's of
/// that second, not the other way round: an import's batch holds a few dozen events of a
/// second whose blocks may hold thousands.
fn unstored<'a>(tx: &Connection, entries: Vec<Entry<'a>>) -> Result<Vec<Entry<'a>>, StoreError> {
    let mut in_table = tx.prepare_cached(ID_IN_TABLE).map_err(db_error)?;
    let mut of_second = tx.prepare_cached(BLOCKS_OF_SECOND).map_err(db_error)?;
    let mut fresh = Vec::with_capacity(entries.len());
    for group in entries.chunk_by(|a, b| blocks::second_of(a.ts_ms) == blocks::second_of(b.ts_ms)) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        // The group is sorted: each stored event is looked up by binary search.
        let mut stored = vec![false; group.len()];
        let mut rows = of_second
            .query([blocks::second_of(first.ts_ms)])
            .map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let (min_ts, max_ts): (i64, i64) = (sql::get(row, 0)?, sql::get(row, 1)?);
            if max_ts < first.ts_ms || min_ts > last.ts_ms {
                continue;
            }
            let block: &[u8] = row
                .get_ref(2)
                .and_then(|value| value.as_blob().map_err(Into::into))
                .map_err(db_error)?;
            for old in blocks::decode(block).map_err(|err| sql::corrupt(BLOCK_COLUMN, err))? {
                if let Ok(at) =
                    group.binary_search_by(|entry| entry.sort_key().cmp(&old.sort_key()))
                    && let Some(flag) = stored.get_mut(at)
                {
                    *flag = true;
                }
            }
        }
        for (entry, stored) in group.iter().zip(stored) {
            if !stored && !in_table.exists([entry.id]).map_err(db_error)? {
                fresh.push(*entry);
            }
        }
    }
    Ok(fresh)
}

// The oldest requests first, found on the `(ts_ms, id)` index; management events are
// skipped (and stay). Only rows written before request blocks existed, or whose time the
// compact form cannot hold, are requests in the table.
const PRUNE: &str = "DELETE FROM events WHERE rowid IN (
    SELECT rowid FROM events
    WHERE ts_ms < ?1 AND kind = 'api.request'
    ORDER BY ts_ms
    LIMIT ?2)";

// The blocks holding an event before `?2`, oldest second first.
const OLD_BLOCKS: &str = "SELECT rowid, max_ts_ms, events FROM request_blocks
    WHERE second <= ?1 AND min_ts_ms < ?2
    ORDER BY second
    LIMIT ?3";

const BLOCK_BODY: &str = "SELECT body FROM request_blocks WHERE rowid = ?1";

const DELETE_BLOCK: &str = "DELETE FROM request_blocks WHERE rowid = ?1";

const UPDATE_BLOCK: &str =
    "UPDATE request_blocks SET min_ts_ms = ?2, events = ?3, body = ?4 WHERE rowid = ?1";

/// Deletes `api.request` events before `before`, in one transaction: up to `limit` rows
/// of the table, then whole blocks, oldest first, until `limit` events are gone (the last
/// block may take the count past `limit`); a block that also holds later events is
/// rewritten without the old ones. Returns how many were deleted.
pub(super) fn prune(
    conn: &mut Connection,
    before: bulwark_core::Timestamp,
    limit: usize,
) -> Result<usize, StoreError> {
    let before = before.unix_millis();
    let tx = immediate(conn)?;
    let mut deleted = tx
        .prepare_cached(PRUNE)
        .and_then(|mut stmt| stmt.execute(rusqlite::params![before, sql::to_i64(limit)]))
        .map_err(db_error)?;
    if deleted < limit {
        deleted += prune_blocks(&tx, before, limit - deleted)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(deleted)
}

fn prune_blocks(tx: &Connection, before: i64, limit: usize) -> Result<usize, StoreError> {
    // Every block holds at least one event, so `limit` blocks are always enough.
    let old: Vec<(i64, i64, i64)> = {
        let mut stmt = tx.prepare_cached(OLD_BLOCKS).map_err(db_error)?;
        let last_second = blocks::second_of(before.saturating_sub(1));
        sql::collect(
            &mut stmt,
            rusqlite::params![last_second, before, sql::to_i64(limit)],
            |row| Ok((sql::get(row, 0)?, sql::get(row, 1)?, sql::get(row, 2)?)),
        )?
    };
    let mut deleted = 0;
    for (rowid, max_ts_ms, events) in old {
        if deleted >= limit {
            break;
        }
        if max_ts_ms < before {
            tx.prepare_cached(DELETE_BLOCK)
                .and_then(|mut stmt| stmt.execute([rowid]))
                .map_err(db_error)?;
            deleted += usize::try_from(events).unwrap_or(0);
            continue;
        }
        // A block of the second of `before` that also holds later events.
        let body: Vec<u8> = tx
            .prepare_cached(BLOCK_BODY)
            .and_then(|mut stmt| stmt.query_row([rowid], |row| row.get(0)))
            .map_err(db_error)?;
        let entries = blocks::decode(&body).map_err(|err| sql::corrupt(BLOCK_COLUMN, err))?;
        let kept: Vec<Entry<'_>> = entries
            .iter()
            .copied()
            .filter(|entry| entry.ts_ms >= before)
            .collect();
        let Some(first) = kept.first() else {
            continue;
        };
        let mut rewritten = Vec::with_capacity(body.len());
        blocks::encode(&kept, &mut rewritten);
        tx.prepare_cached(UPDATE_BLOCK)
            .and_then(|mut stmt| {
                stmt.execute(rusqlite::params![
                    rowid,
                    first.ts_ms,
                    sql::to_i64(kept.len()),
                    rewritten
                ])
            })
            .map_err(db_error)?;
        deleted += entries.len() - kept.len();
    }
    Ok(deleted)
}

// One range on the `(ts_ms, id)` index: `since` and `after` are folded into a single
// lower bound before the query (see `lower_bound`), so every page is a seek, not a scan
// from the start of the window.
const PAGE: &str = r#"SELECT ts_ms, id, json, tenant, account, "key", body FROM events
    WHERE (ts_ms, id) > (?1, ?2) AND ts_ms < ?3
    ORDER BY ts_ms, id
    LIMIT ?4"#;

// The blocks of the seconds from `?1` to `?2`, a second at a time.
const BLOCKS_BETWEEN: &str = "SELECT second, min_ts_ms, max_ts_ms, body FROM request_blocks
    WHERE second BETWEEN ?1 AND ?2
    ORDER BY second";

/// The column blocks' errors name.
const BLOCK_COLUMN: &str = "request_blocks.body";

/// One page of events in `(ts, id)` order: the table's rows and the blocks' events merged.
pub(super) fn page(conn: &Connection, query: &EventQuery) -> Result<Vec<EventRow>, StoreError> {
    let limit = query.limit.min(MAX_PAGE);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sql::page(conn, PAGE, "events", query, MAX_PAGE, json_line)?;
    let (after_ms, after_id) = sql::lower_bound(query);
    let until_ms = query
        .until
        .map_or(i64::MAX, bulwark_core::Timestamp::unix_millis);
    let bodies = blocks_from(conn, (after_ms, after_id), until_ms, limit)?;
    let mut entries = Vec::new();
    for body in &bodies {
        let block = blocks::decode(body).map_err(|err| sql::corrupt(BLOCK_COLUMN, err))?;
        entries.extend(
            block
                .into_iter()
                .filter(|entry| entry.sort_key() > (after_ms, after_id) && entry.ts_ms < until_ms),
        );
    }
    entries.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    entries.truncate(limit);

    // Merge the two sorted runs.
    let mut page = Vec::with_capacity(limit.min(rows.len() + entries.len()));
    let mut rows = rows.into_iter().peekable();
    let mut entries = entries.into_iter().peekable();
    while page.len() < limit {
        let take_row = match (rows.peek(), entries.peek()) {
            (Some(row), Some(entry)) => (row.ts.unix_millis(), row.id.as_str()) < entry.sort_key(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_row {
            rows.next()
        } else {
            entries.next().map(|entry| block_row(&entry)).transpose()?
        };
        page.extend(next);
    }
    Ok(page)
}

/// The blocks that can hold the first `limit` events after `lower` and before `until_ms`:
/// those of each second from `lower`'s on, until a second ends with `limit` such events
/// found (every later second's events come after all of them).
fn blocks_from(
    conn: &Connection,
    lower: (i64, &str),
    until_ms: i64,
    limit: usize,
) -> Result<Vec<Vec<u8>>, StoreError> {
    if until_ms <= lower.0 {
        return Ok(Vec::new());
    }
    let (first, last) = (
        blocks::second_of(lower.0),
        blocks::second_of(until_ms.saturating_sub(1)),
    );
    let mut stmt = conn.prepare_cached(BLOCKS_BETWEEN).map_err(db_error)?;
    let mut rows = stmt.query([first, last]).map_err(db_error)?;
    let mut bodies = Vec::new();
    let (mut found, mut second) = (0, None);
    while let Some(row) = rows.next().map_err(db_error)? {
        let this: i64 = sql::get(row, 0)?;
        if second != Some(this) && found >= limit {
            break;
        }
        second = Some(this);
        // A block wholly before the page (the earlier part of a second that the previous
        // page ended in) or after it is not read.
        let (min_ts, max_ts): (i64, i64) = (sql::get(row, 1)?, sql::get(row, 2)?);
        if max_ts < lower.0 || min_ts >= until_ms {
            continue;
        }
        let body: Vec<u8> = sql::get(row, 3)?;
        found += blocks::decode(&body)
            .map_err(|err| sql::corrupt(BLOCK_COLUMN, err))?
            .iter()
            .filter(|entry| entry.sort_key() > lower && entry.ts_ms < until_ms)
            .count();
        bodies.push(body);
    }
    Ok(bodies)
}

/// The page row of a block's event: its line rebuilt from the compact body.
fn block_row(entry: &Entry<'_>) -> Result<EventRow, StoreError> {
    let corrupt = |err: &dyn std::fmt::Display| sql::corrupt(BLOCK_COLUMN, err);
    fn parse<T: std::str::FromStr<Err: std::fmt::Display>>(
        text: Option<&str>,
    ) -> Result<Option<T>, StoreError> {
        text.map(|text| text.parse().map_err(|err| sql::corrupt(BLOCK_COLUMN, err)))
            .transpose()
    }
    let envelope = Envelope {
        id: entry.id.parse().map_err(|err| corrupt(&err))?,
        ts: sql::from_millis(entry.ts_ms, BLOCK_COLUMN)?,
        tenant: parse(entry.envelope.tenant)?,
        account: parse(entry.envelope.account)?,
        key: parse(entry.envelope.key)?,
    };
    let event = compact::decode(envelope, entry.body).map_err(|err| corrupt(&err))?;
    Ok(EventRow {
        ts: event.ts,
        json: event.to_json(),
        id: event.id,
    })
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

    /// Asserts that `sql`, with `params`, searches `table` on `index` and sorts nothing.
    fn assert_walks(sql: &str, params: impl rusqlite::Params, table: &str, index: &str) {
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
            plan.contains(&format!("SEARCH {table} USING INDEX {index}")),
            "{sql}: {plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
    }

    #[test]
    fn pages_seek_on_the_time_index() {
        assert_walks(PAGE, params![0, "", 10, 10], "events", "events_by_time");
    }

    #[test]
    fn pruning_walks_the_time_index() {
        assert_walks(PRUNE, params![10, 10], "events", "events_by_time");
    }

    #[test]
    fn blocks_are_found_by_second_and_never_sorted() {
        let by_second = |sql, params| {
            assert_walks(sql, params, "request_blocks", "request_blocks_by_second");
        };
        by_second(BLOCKS_BETWEEN, params![1, 2]);
        by_second(BLOCKS_OF_SECOND, params![1]);
        by_second(OLD_BLOCKS, params![1, 2, 3]);
    }
}
