-- Durable schedules (issue 8): recurring work (retention, Kit recovery, integrations' scheduled
-- syncs) as rows every process sharing the file agrees on, instead of per-process timers. Words as
-- in src/store/schedule-types.ts. Times are epoch milliseconds; JSON columns hold JSON text.

-- One row per schedule a process has registered. A lease (lease_owner, lease_expires_at, run_id)
-- is set while a run is under way: a process claims a schedule only when its lease is free or
-- expired, in a write transaction, so two processes never run the same schedule at once.
CREATE TABLE schedules (
  name                 TEXT    PRIMARY KEY,
  cron                 TEXT    NOT NULL,
  timezone             TEXT,                          -- IANA name; NULL = UTC
  next_run_at          INTEGER NOT NULL,              -- the next cron slot not yet run
  retry_at             INTEGER,                       -- a failed run's retry, when before the next slot
  attempt              INTEGER NOT NULL DEFAULT 0,    -- the attempt number of the latest run (1 + its retries)
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  lease_owner          TEXT,
  lease_expires_at     INTEGER,
  run_id               INTEGER,                       -- the run holding the lease
  updated_at           INTEGER NOT NULL
) WITHOUT ROWID;

-- The run history: one row per run, kept until retention trims it (newest first by id).
CREATE TABLE schedule_runs (
  id              INTEGER PRIMARY KEY,
  schedule        TEXT    NOT NULL,
  trigger         TEXT    NOT NULL CHECK (trigger IN ('cron', 'missed', 'manual', 'retry')),
  attempt         INTEGER NOT NULL,
  scheduled_for   INTEGER,                            -- the slot or retry time it ran for; NULL for manual runs
  status          TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
  owner           TEXT    NOT NULL,
  started_at      INTEGER NOT NULL,
  finished_at     INTEGER,
  progress        TEXT,                               -- JSON { done?, total?, message?, at }
  counts          TEXT,                               -- JSON object of numbers
  changes         TEXT,                               -- JSON array, bounded (see changes_omitted)
  changes_omitted INTEGER NOT NULL DEFAULT 0,
  summary         TEXT,
  error           TEXT
);
CREATE INDEX schedule_runs_schedule ON schedule_runs (schedule, id);
