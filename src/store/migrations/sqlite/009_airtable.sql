-- Airtable syncs (issue 11). Words as in src/store/airtable-types.ts. A sync is named
-- `<destination>/<sync>`.

-- What kitrelay last wrote for one subscriber in one sync: the record and its content hash
-- (`marked` for a row kept with its "left" checkbox checked). No row: kitrelay holds no record.
CREATE TABLE airtable_records (
  sync       TEXT    NOT NULL,
  kit_id     INTEGER NOT NULL,
  record_id  TEXT    NOT NULL,
  hash       TEXT    NOT NULL,
  written_at INTEGER NOT NULL,
  PRIMARY KEY (sync, kit_id)
) WITHOUT ROWID;

-- Calls per destination and calendar month (UTC, `2026-01`), counted on every request.
CREATE TABLE airtable_calls (
  destination TEXT    NOT NULL,
  month       TEXT    NOT NULL,
  calls       INTEGER NOT NULL DEFAULT 0,
  warned_at   INTEGER,
  PRIMARY KEY (destination, month)
) WITHOUT ROWID;

-- Requests sent under a key (`base:<app…>`, `token:<hash>`) in the last window, for every
-- process sharing the store; pruned as they leave the window.
CREATE TABLE airtable_rate_log (
  key TEXT    NOT NULL,
  at  INTEGER NOT NULL
);
CREATE INDEX airtable_rate_log_key ON airtable_rate_log (key, at);

-- After a 429: nothing under the key until `until`.
CREATE TABLE airtable_rate_blocks (
  key   TEXT    PRIMARY KEY,
  until INTEGER NOT NULL
) WITHOUT ROWID;
