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
CREATE INDEX events_by_account ON events (account, ts_ms);
