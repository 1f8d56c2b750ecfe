-- Migration 1: tenants, accounts, keys and events.
--
-- Times are unix milliseconds. Ids are the prefixed text ids of bulwark-core. STRICT
-- tables make SQLite refuse a value of the wrong type instead of storing it.

CREATE TABLE tenants (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE accounts (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant        TEXT    NOT NULL REFERENCES tenants (id),
    name          TEXT,
    verification  TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    -- Lets keys reference (account, tenant) so that a key cannot name an account of
    -- another tenant, whatever the code above does.
    UNIQUE (id, tenant)
) STRICT;

CREATE INDEX accounts_by_tenant ON accounts (tenant, created_at_ms, id);

CREATE TABLE keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant        TEXT    NOT NULL REFERENCES tenants (id),
    account       TEXT    NOT NULL,
    name          TEXT,
    prefix        TEXT    NOT NULL,
    -- JSON array of model-name patterns; `[]` allows every model.
    models        TEXT    NOT NULL,
    rpm           INTEGER,
    tpm           INTEGER,
    status        TEXT    NOT NULL,
    hash          BLOB    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    -- Global change counter: MAX(version) + 1 on every create and status change.
    version       INTEGER NOT NULL UNIQUE,
    FOREIGN KEY (account, tenant) REFERENCES accounts (id, tenant)
) STRICT;

CREATE INDEX keys_by_account ON keys (account, created_at_ms, id);
CREATE INDEX keys_by_tenant ON keys (tenant, created_at_ms, id);

-- Events keep their JSON line exactly as written; the other columns are copies of the
-- envelope for filtering. No foreign keys: imported events may name objects this
-- database never had.
--
-- Appending events is the hot path (a row per API request), so every b-tree here is paid
-- for on every request: an insert, and a page written to the WAL and copied back by the
-- checkpoint per batch. (Measured: the `(account, ts_ms)` index cost 20-25% of an append,
-- `events_by_key` with a thousand active keys about half of it.)
--
-- * The table keeps its rowid, so rows are appended in arrival order and its pages fill
--   up one after the other. Clustering it on `(ts_ms, id)` (WITHOUT ROWID) saves an index
--   but measured 1.5-2x slower: requests end out of start order, so 1 KB rows land inside
--   pages that are already full, and rows that long need pages of 16 KiB not to overflow.
-- * `id`, the primary key, makes appends idempotent (`INSERT OR IGNORE`).
-- * `events_by_time` serves `events_page`: a seek on `(ts_ms, id)`.
-- * `events_by_key` serves detectors and case tools that follow a key over time.
-- * An account's requests are those of its keys, so they are found through
--   `keys_by_account` and then `events_by_key`, key by key; a full `(account, ts_ms)`
--   index would cost every request and answer nothing that cannot be answered that way.
--   `events_by_account` holds only the account's events that no key carries (sign-up and
--   other management events: a handful per account, none per request). If a query ever
--   needs one range over all of an account's events, a later migration can add the full
--   index.

CREATE TABLE events (
    id       TEXT    NOT NULL PRIMARY KEY,
    ts_ms    INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    tenant   TEXT,
    account  TEXT,
    "key"    TEXT,
    decision TEXT,
    json     TEXT    NOT NULL
) STRICT;

CREATE INDEX events_by_time ON events (ts_ms, id);
CREATE INDEX events_by_key ON events ("key", ts_ms);
CREATE INDEX events_by_account ON events (account, ts_ms)
    WHERE "key" IS NULL AND account IS NOT NULL;
