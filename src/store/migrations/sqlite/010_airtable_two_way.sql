-- Airtable two-way syncs: changes made in Airtable flow back to Kit. Words as in
-- src/store/airtable-types.ts. A sync is named `<destination>/<sync>`.

-- The synced values of each record: field name → the value both sides last agreed on, a JSON
-- object (an empty cell is absent). Rows written before this migration have none: `{}`.
ALTER TABLE airtable_records ADD COLUMN synced TEXT NOT NULL DEFAULT '{}';
-- Airtable's changes name records, not subscribers: find the state by record id.
CREATE INDEX airtable_records_record ON airtable_records (sync, record_id);

-- Records Airtable reported changed, one row per record until applied: `changed_at` is the
-- latest change seen, `is_destroyed` (0/1) whether that latest change deleted the row.
CREATE TABLE airtable_changes (
  sync         TEXT    NOT NULL,
  record_id    TEXT    NOT NULL,
  changed_at   INTEGER NOT NULL,
  is_destroyed INTEGER NOT NULL,
  PRIMARY KEY (sync, record_id)
) WITHOUT ROWID;
-- The quiet ones first.
CREATE INDEX airtable_changes_quiet ON airtable_changes (sync, changed_at);

-- Rows deleted in Airtable, waiting for (or decided by) an operator. Kept once decided, as the
-- history of what was approved and why.
CREATE TABLE airtable_deletes (
  id          INTEGER PRIMARY KEY,
  sync        TEXT    NOT NULL,
  kit_id      INTEGER NOT NULL,
  record_id   TEXT    NOT NULL,
  email       TEXT,
  detected_by TEXT    NOT NULL,
  detected_at INTEGER NOT NULL,
  status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
  decided_at  INTEGER,
  note        TEXT
);
-- At most one pending request per sync and subscriber.
CREATE UNIQUE INDEX airtable_deletes_pending ON airtable_deletes (sync, kit_id) WHERE status = 'pending';
CREATE INDEX airtable_deletes_sync ON airtable_deletes (sync, id);
CREATE INDEX airtable_deletes_kit ON airtable_deletes (kit_id, id);

-- Fields changed on both sides and what was decided. Values are JSON text as the Airtable field
-- holds them; NULL: empty. `winner` is NULL while `held` (policy `manual`, for an operator).
CREATE TABLE airtable_decisions (
  id             INTEGER PRIMARY KEY,
  sync           TEXT    NOT NULL,
  kit_id         INTEGER NOT NULL,
  record_id      TEXT    NOT NULL,
  field          TEXT    NOT NULL,
  kit_value      TEXT,
  airtable_value TEXT,
  synced_value   TEXT,
  policy         TEXT    NOT NULL CHECK (policy IN ('kit-wins', 'airtable-wins', 'newest-wins', 'manual')),
  status         TEXT    NOT NULL CHECK (status IN ('held', 'decided', 'resolved')),
  winner         TEXT    CHECK (winner IN ('kit', 'airtable')),
  detected_at    INTEGER NOT NULL,
  decided_at     INTEGER,
  note           TEXT,
  CHECK ((status = 'held') = (winner IS NULL))
);
-- The held conflicts, asked for by subscriber on every write.
CREATE INDEX airtable_decisions_held ON airtable_decisions (sync, kit_id) WHERE status = 'held';
CREATE INDEX airtable_decisions_sync ON airtable_decisions (sync, id);
CREATE INDEX airtable_decisions_kit ON airtable_decisions (kit_id, id);
