-- Clearable dedupe keys (legacy fingerprints) move from dedupe_keys to an append-only log that the
-- writer replays into memory (src/store/sqlite/dedupe-window.ts). A hashed key lands on a random
-- leaf of dedupe_keys and its two indexes; a log row lands on the last page of a table with none.
--
-- A row first clears the keys of each type in `clears` for (subscriber_key, scope), then, when
-- `key` is set, adds its own key. Rows before the oldest live key are deleted as keys expire.
CREATE TABLE dedupe_window (
  id             INTEGER PRIMARY KEY,
  key            TEXT,
  event_id       INTEGER,
  expires_at     INTEGER,
  subscriber_key TEXT NOT NULL,
  scope          TEXT,
  type           TEXT,
  clears         TEXT              -- JSON array of types, or null
);

-- Legacy fingerprints written before this migration stored their scope as `param=value`; clears
-- name it `param:value` (dedupeScope).
INSERT INTO dedupe_window (key, event_id, expires_at, subscriber_key, scope, type)
  SELECT key, event_id, expires_at, subscriber_key,
    CASE WHEN scope LIKE '%=%' THEN substr(scope, 1, instr(scope, '=') - 1) || ':' || substr(scope, instr(scope, '=') + 1) ELSE scope END,
    type
  FROM dedupe_keys WHERE subscriber_key IS NOT NULL ORDER BY expires_at;
DELETE FROM dedupe_keys WHERE subscriber_key IS NOT NULL;
DROP INDEX dedupe_keys_subscriber;
