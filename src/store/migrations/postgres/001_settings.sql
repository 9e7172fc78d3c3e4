-- kitrelay's PostgreSQL schema (issue 13): the same tables and columns as the SQLite schema
-- (src/store/migrations/sqlite/), types translated: INTEGER ids and epoch-ms times are BIGINT,
-- AUTOINCREMENT ids are BIGINT GENERATED ALWAYS AS IDENTITY, JSON text stays TEXT (written and
-- read as SQLite's is), booleans kept as SQLite's 0/1 integers stay SMALLINT. One file per area.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- A random id made once per database: job idempotency keys are `<store_id>-<job id>`, so a fresh
-- database never repeats a key a destination has already seen.
INSERT INTO settings (key, value) VALUES ('store_id', substr(md5(random()::text || clock_timestamp()::text), 1, 16));
