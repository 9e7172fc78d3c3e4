-- `kitrelay store copy` (issue 13): the progress of a copy from a SQLite store into this schema,
-- one row per source table. A row is written in the transaction that commits each batch of the
-- table, so a copy stopped half-way starts again after the last committed batch. `cursor` is the
-- last copied row's position in the source (its rowid, or its primary key as a JSON array);
-- `source_store_id` names the SQLite store the rows came from, so a copy of another store is refused.
CREATE TABLE store_copy (
  table_name      TEXT   PRIMARY KEY,
  source_store_id TEXT   NOT NULL,
  cursor          TEXT,
  rows_copied     BIGINT NOT NULL DEFAULT 0,
  started_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL,
  completed_at    BIGINT
);
