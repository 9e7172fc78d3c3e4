-- Digests and dead-job alerts (issue 9). Words as in src/store/types.ts.

-- A digest window: one rule action's events of one time window, collected at ingest (in the same
-- transaction as the event) instead of a job each, and closed into one job by `closeDigests`. The
-- action's job fields are copied here so the window can be closed whatever the config says then.
CREATE TABLE digest_windows (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  key          TEXT    NOT NULL,              -- `<rule>#<action index>`
  rule         TEXT    NOT NULL,
  destination  TEXT    NOT NULL,
  action       TEXT    NOT NULL,
  params       TEXT    NOT NULL,              -- JSON, the rule action's params
  sub_key      TEXT,
  max_attempts INTEGER NOT NULL,
  window_start INTEGER NOT NULL,
  window_end   INTEGER NOT NULL,
  sent         INTEGER NOT NULL DEFAULT 0,    -- events that went out one by one (under the threshold)
  digested     INTEGER NOT NULL DEFAULT 0,    -- events collected for the digest
  status       TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  closed_at    INTEGER,
  event_id     INTEGER,                       -- the digest event closing made (none when nothing was digested)
  job_id       INTEGER,                       -- and its job
  UNIQUE (key, window_start)
);
CREATE INDEX digest_windows_due ON digest_windows (window_end) WHERE status = 'open';
CREATE INDEX digest_windows_closed ON digest_windows (window_end) WHERE status = 'closed';

-- The events a window collected: each once (the primary key), so its counts are exact.
CREATE TABLE digest_items (
  window_id INTEGER NOT NULL,
  event_id  INTEGER NOT NULL,
  PRIMARY KEY (window_id, event_id)
) WITHOUT ROWID;

-- Jobs that went dead and whose alert is not raised yet: an outbox the trigger fills in the very
-- transaction that makes a job dead, whichever statement does it (a failed attempt, a lost lease,
-- an unreadable payload), so no dead job is ever missed. Raising an alert removes its row in the
-- transaction that commits the alert's event, so none is raised twice.
CREATE TABLE dead_job_alerts (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id     INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TRIGGER jobs_dead_alert AFTER UPDATE OF status ON jobs
  WHEN NEW.status = 'dead' AND OLD.status <> 'dead'
BEGIN
  INSERT INTO dead_job_alerts (job_id, created_at) VALUES (NEW.id, NEW.updated_at);
END;
