-- kitrelay's SQLite schema. Words as in src/store/types.ts (event, delivery, job, attempt, ledger…).
-- Times are epoch milliseconds; JSON columns hold JSON text.
--
-- Tables whose rows retention deletes use AUTOINCREMENT so an id is never handed out twice: a job's
-- idempotency key is built from its id, and dedupe keys, audit records and the ledger keep ids of
-- events and jobs that retention has removed. For the same reason there are no foreign keys: those
-- references are by value and outlive what they point at.
--
-- Every secondary index is written at ingest (or at every change of a job's status), so there are
-- only those the hot paths need: the claim query and per-subscriber FIFO, dedupe, retention, and
-- finding a subscriber's records. Operator listings by other filters (type, status alone, time
-- range, destination of an audit record) scan the table newest first and stop at their limit.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- A random id made once per database: job idempotency keys are `<store_id>-<job id>`, so a fresh
-- database never repeats a key a destination has already seen.
INSERT INTO settings (key, value) VALUES ('store_id', lower(hex(randomblob(8))));

CREATE TABLE deliveries (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  system            TEXT    NOT NULL,
  route             TEXT    NOT NULL,
  kit_delivery_id   TEXT,
  received_at       INTEGER NOT NULL,
  body_bytes        INTEGER NOT NULL,
  event_count       INTEGER NOT NULL,
  quarantined_count INTEGER NOT NULL
);
CREATE INDEX deliveries_received_at ON deliveries (received_at);

CREATE TABLE events (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  delivery_id    INTEGER NOT NULL,
  source         TEXT    NOT NULL,
  kit_event_id   TEXT,
  type           TEXT    NOT NULL,
  kit_type       TEXT    NOT NULL,
  scope_param    TEXT,
  scope_value    TEXT,
  subscriber_id  TEXT,
  email          TEXT,            -- lower-cased
  subscriber_key TEXT,
  occurred_at    INTEGER,
  received_at    INTEGER NOT NULL,
  status         TEXT    NOT NULL CHECK (status IN ('accepted', 'duplicate')),
  duplicate_of   INTEGER,
  payload        TEXT,            -- JSON; null once retention removed it
  decisions      TEXT    NOT NULL DEFAULT '[]'
);
-- Retention finds old events (and their deliveries: an event has its delivery's received_at) by time.
CREATE INDEX events_received_at ON events (received_at);
CREATE INDEX events_subscriber_id ON events (subscriber_id) WHERE subscriber_id IS NOT NULL;
CREATE INDEX events_email ON events (email) WHERE email IS NOT NULL;
CREATE INDEX events_duplicates ON events (id) WHERE status = 'duplicate';

-- scope is the DedupeInput's scope string; subscriber_key/type/scope are set for legacy
-- fingerprints only, so an opposite event can clear them.
CREATE TABLE dedupe_keys (
  key            TEXT PRIMARY KEY,
  event_id       INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  subscriber_key TEXT,
  type           TEXT,
  scope          TEXT
) WITHOUT ROWID;
CREATE INDEX dedupe_keys_expires_at ON dedupe_keys (expires_at);
CREATE INDEX dedupe_keys_subscriber ON dedupe_keys (subscriber_key, scope, type) WHERE subscriber_key IS NOT NULL;

CREATE TABLE ledger (
  key        TEXT PRIMARY KEY,
  job_id     INTEGER NOT NULL,
  rule       TEXT    NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id         INTEGER NOT NULL,
  rule             TEXT    NOT NULL,
  destination      TEXT    NOT NULL,
  action           TEXT    NOT NULL,
  params           TEXT    NOT NULL,  -- JSON
  sub_key          TEXT,
  subscriber_key   TEXT,
  subscriber_id    TEXT,
  email            TEXT,              -- lower-cased
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'dead', 'cancelled')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL,
  run_at           INTEGER NOT NULL,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  last_error       TEXT,
  -- No idempotency key column: it is `<store_id>-<id>`, unique by construction (see src/store/rows.ts).
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  replays          INTEGER NOT NULL DEFAULT 0
);
-- The claim query walks a destination's active jobs in id order, and checks per-subscriber FIFO
-- against earlier active jobs of the same subscriber. Both partial indexes stay as small as the
-- backlog, however long the history grows.
CREATE INDEX jobs_active ON jobs (destination, id) WHERE status IN ('pending', 'running');
CREATE INDEX jobs_active_subscriber ON jobs (destination, subscriber_key, id)
  WHERE status IN ('pending', 'running') AND subscriber_key IS NOT NULL;
-- countJobs (metrics, the orphan sweep) and replay by destination and status.
CREATE INDEX jobs_destination_status ON jobs (destination, status);
-- Retention and an event's jobs. A subscriber's jobs are found through events_subscriber_id /
-- events_email (a job never outlives its event).
CREATE INDEX jobs_event ON jobs (event_id);

-- Audit records: append-only. The job context is copied in so a record outlives its job.
CREATE TABLE attempts (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id          INTEGER NOT NULL,
  attempt         INTEGER NOT NULL,
  event_id        INTEGER NOT NULL,
  destination     TEXT    NOT NULL,
  action          TEXT    NOT NULL,
  subscriber_key  TEXT,
  subscriber_id   TEXT,
  email           TEXT,
  worker_id       TEXT    NOT NULL,
  started_at      INTEGER NOT NULL,
  finished_at     INTEGER NOT NULL,
  duration_ms     INTEGER NOT NULL,
  outcome         TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'retry', 'failed', 'unknown')),
  error_class     TEXT,
  error           TEXT,
  request         TEXT,               -- JSON RequestSummary
  response_status INTEGER,
  response_body   TEXT,
  correlation     TEXT    NOT NULL DEFAULT '{}',
  scrubbed_at     INTEGER
);
CREATE INDEX attempts_job ON attempts (job_id);
CREATE INDEX attempts_destination ON attempts (destination, id);
-- Retention's scrub. (A listing by time range scans newest first: no index on started_at alone.)
CREATE INDEX attempts_unscrubbed ON attempts (started_at) WHERE scrubbed_at IS NULL;
CREATE INDEX attempts_subscriber_id ON attempts (subscriber_id) WHERE subscriber_id IS NOT NULL;
CREATE INDEX attempts_email ON attempts (email) WHERE email IS NOT NULL;

CREATE TABLE quarantine (
  id                   INTEGER PRIMARY KEY AUTOINCREMENT,
  delivery_id          INTEGER NOT NULL,
  system               TEXT    NOT NULL,
  route                TEXT    NOT NULL,
  reason               TEXT    NOT NULL,
  detail               TEXT    NOT NULL,
  headers              TEXT    NOT NULL,  -- JSON
  body                 BLOB    NOT NULL,
  received_at          INTEGER NOT NULL,
  status               TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'reingested', 'discarded')),
  resolved_at          INTEGER,
  reingested_event_ids TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX quarantine_status ON quarantine (status, received_at);
CREATE INDEX quarantine_received_at ON quarantine (received_at);
CREATE INDEX quarantine_delivery ON quarantine (delivery_id);

CREATE TABLE destination_state (
  destination        TEXT PRIMARY KEY,
  paused_at          INTEGER,
  paused_reason      TEXT,
  breaker_open_until INTEGER,
  breaker_openings   INTEGER NOT NULL DEFAULT 0,
  updated_at         INTEGER NOT NULL
) WITHOUT ROWID;
