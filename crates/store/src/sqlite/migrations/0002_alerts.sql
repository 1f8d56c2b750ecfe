-- Migration 2: alerts raised by the detectors (schema v1, `docs/alerts.md`).
--
-- Like events, an alert keeps its JSON line exactly as written; the other columns copy
-- what is filtered on. Alert ids are derived from the triggering event, the detector and
-- the subject, so `INSERT OR IGNORE` on the primary key makes storing a replayed alert
-- again harmless. Alerts are few (deduplicated per subject and detector), so the two
-- indexes cost nothing that matters: `alerts_by_time` serves `alerts_page` and the
-- export, `alerts_by_subject` the investigation of one key, account, tenant or network.

CREATE TABLE alerts (
    id           TEXT    NOT NULL PRIMARY KEY,
    ts_ms        INTEGER NOT NULL,
    detector     TEXT    NOT NULL,
    subject_type TEXT    NOT NULL,
    subject_id   TEXT    NOT NULL,
    tenant       TEXT,
    account      TEXT,
    "key"        TEXT,
    severity     TEXT    NOT NULL,
    json         TEXT    NOT NULL
) STRICT;

CREATE INDEX alerts_by_time ON alerts (ts_ms, id);
CREATE INDEX alerts_by_subject ON alerts (subject_type, subject_id, ts_ms);
