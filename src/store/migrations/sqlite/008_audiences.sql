-- Meta Custom Audiences (issue 10): membership kept in our store, and the proof of what was sent.
-- Words as in src/store/audience-types.ts. An audience is named `<destination>/<audience>`.

-- One row per subscriber an audience has to do with. `row` is what the audience should hold for
-- them now (the hashed match-key row, as JSON; NULL when they should not be in it); `sent_row` is
-- what Meta last confirmed (an acknowledged batch). A row whose two differ is pending: to add (or
-- re-add with new keys), or to remove. A row with both NULL is deleted.
CREATE TABLE audience_members (
  audience      TEXT    NOT NULL,
  subscriber_id INTEGER NOT NULL,
  match_key     TEXT,                    -- the row's identity (its EMAIL hash, else EXTERN_ID…)
  row           TEXT,
  sent_row      TEXT,
  changed_at    INTEGER NOT NULL,
  sent_at       INTEGER,
  PRIMARY KEY (audience, subscriber_id)
) WITHOUT ROWID;
-- The pending difference, read in subscriber order by each run.
CREATE INDEX audience_members_pending ON audience_members (audience, subscriber_id) WHERE row IS NOT sent_row;

-- One sync of one audience: an incremental run, a full replace, or a dry run.
CREATE TABLE audience_runs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  audience    TEXT    NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('sync', 'replace', 'dry_run')),
  status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'held')),
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  -- JSON: the run's numbers and decisions (expected size, adds, removes, drift, guard, match rate).
  stats       TEXT    NOT NULL DEFAULT '{}',
  detail      TEXT
);
CREATE INDEX audience_runs_audience ON audience_runs (audience, id);

-- One request to Meta: its members are written when it is planned, so a batch re-sent after a
-- crash carries the same rows, and one acknowledged is never sent again.
CREATE TABLE audience_batches (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id      INTEGER NOT NULL,
  audience    TEXT    NOT NULL,
  op          TEXT    NOT NULL CHECK (op IN ('add', 'remove', 'replace')),
  session_id  TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  is_last     INTEGER NOT NULL DEFAULT 0,
  size        INTEGER NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('planned', 'acked', 'failed')),
  response    TEXT,                     -- JSON: num_received, num_invalid_entries, invalid_entry_samples…
  error       TEXT,
  created_at  INTEGER NOT NULL,
  acked_at    INTEGER
);
CREATE INDEX audience_batches_run ON audience_batches (run_id, id);

-- What a batch carried, per subscriber: the proof of what was sent (hashes, never addresses).
CREATE TABLE audience_batch_items (
  batch_id      INTEGER NOT NULL,
  subscriber_id INTEGER NOT NULL,
  match_key     TEXT    NOT NULL,
  row           TEXT    NOT NULL,
  PRIMARY KEY (batch_id, subscriber_id)
) WITHOUT ROWID;
-- "What did we send Meta about X?": X's address hashed is the match key of every row about X.
CREATE INDEX audience_batch_items_match_key ON audience_batch_items (match_key);
CREATE INDEX audience_batch_items_subscriber ON audience_batch_items (subscriber_id);
