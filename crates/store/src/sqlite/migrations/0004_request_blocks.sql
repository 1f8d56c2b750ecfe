-- Migration 4: `api.request` events in blocks (`src/sqlite/blocks.rs`): a row holds the
-- events of one appended batch stamped in the same second, sorted by `(ts_ms, id)`, each
-- with its envelope and compact body. The `events` table keeps management events, the
-- requests stored before this migration and those whose time the compact form cannot
-- hold; reading merges the two in `(ts_ms, id)` order.
--
-- Measured with `examples/append.rs` (the gateway benchmark's request, batches of 300):
-- a row per request cost about 4.3 µs of process CPU and 1.4 KB written per event
-- whatever the table's indexes, and with a thousand active keys three times that, a page
-- of `events_by_key` per key per batch. SQLite's work is per row and per page touched;
-- a block pays it once for all its events.
--
-- * `second` (`ts_ms` divided by 1,000, rounded down) is what a page seeks on: it reads
--   the blocks of one second after another, so a block never needs reading for a page
--   outside its second, however late its events were appended.
-- * `min_ts_ms`, `max_ts_ms` and `events` let retention delete whole blocks without
--   reading them, and rewrite only the one that straddles the cut.
-- * There is no index by key: nothing reads one key's requests yet. When something does,
--   a table of (key, block) pairs, a row per key per block, is the index that costs a
--   batch no more than a row per key it holds.

CREATE TABLE request_blocks (
    second    INTEGER NOT NULL,
    min_ts_ms INTEGER NOT NULL,
    max_ts_ms INTEGER NOT NULL,
    events    INTEGER NOT NULL CHECK (events > 0),
    body      BLOB    NOT NULL
) STRICT;

CREATE INDEX request_blocks_by_second ON request_blocks (second);
