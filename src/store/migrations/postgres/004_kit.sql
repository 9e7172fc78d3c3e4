-- The Kit side of the store (sqlite 002_kit.sql, table for table): the subscriber mirror, sync
-- checkpoints, the shared rate budget and webhook registrations. Words as in
-- src/store/kit-types.ts. Times are epoch milliseconds; JSON columns hold JSON text. Retention
-- never touches these tables: the mirror is current state, not history.

-- The subscriber mirror. kit_id is Kit's subscriber id. A row first seen through a tag_added
-- event without its subscriber object has email '' and state 'unknown' until a subscriber change
-- or a snapshot fills them in.
CREATE TABLE subscribers (
  kit_id     BIGINT PRIMARY KEY,
  email      TEXT   NOT NULL,               -- lower-cased
  first_name TEXT,
  state      TEXT   NOT NULL,
  fields     TEXT   NOT NULL DEFAULT '{}',  -- JSON object of custom field values
  created_at BIGINT,                        -- Kit's created_at
  updated_at BIGINT NOT NULL,               -- when kitrelay last changed the row
  source     TEXT   NOT NULL CHECK (source IN ('webhook', 'backfill', 'reconcile'))
);
-- Not unique: a subscriber who changed address can briefly share it with a stale row.
CREATE INDEX subscribers_email ON subscribers (email);

CREATE TABLE subscriber_tags (
  kit_id    BIGINT NOT NULL,
  tag_id    BIGINT NOT NULL,
  tag_name  TEXT,
  tagged_at BIGINT,
  PRIMARY KEY (kit_id, tag_id)
);
CREATE INDEX subscriber_tags_tag ON subscriber_tags (tag_id);

CREATE TABLE sync_checkpoints (
  name         TEXT   PRIMARY KEY,
  cursor       TEXT,
  data         TEXT   NOT NULL DEFAULT '{}',  -- JSON
  started_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  completed_at BIGINT
);

-- The rate budget: a sliding-window log, one row per request spent, per credential. Rows leave as
-- the window passes them, so a credential never holds more than its limit. Spenders of one
-- credential take a transaction-level advisory lock first (src/store/postgres/kit.ts).
CREATE TABLE rate_budget_log (
  credential TEXT   NOT NULL,
  at         BIGINT NOT NULL
);
CREATE INDEX rate_budget_log_credential ON rate_budget_log (credential, at);

-- After Kit answers 429: nobody spends from the credential until `until`.
CREATE TABLE rate_budget_blocks (
  credential TEXT   PRIMARY KEY,
  until      BIGINT NOT NULL
);

CREATE TABLE webhook_registrations (
  system     TEXT   NOT NULL CHECK (system IN ('legacy', 'signed')),
  kit_id     BIGINT NOT NULL,
  route      TEXT   NOT NULL,
  url        TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (system, kit_id)
);
