-- The integration port (issue 8).

-- Small facts an action keeps for the job's later attempts (the remote id it created, the marker it
-- used): a JSON object, merged by each finished attempt.
ALTER TABLE jobs ADD COLUMN facts TEXT NOT NULL DEFAULT '{}';
-- `jobs replay --force-new` makes a new job copying another: this names the original.
ALTER TABLE jobs ADD COLUMN copy_of INTEGER;

-- A shadow attempt (destination mode 'shadow'): the request was built and recorded, never sent.
ALTER TABLE attempts ADD COLUMN is_shadow INTEGER NOT NULL DEFAULT 0;
CREATE INDEX attempts_shadow ON attempts (destination, id) WHERE is_shadow = 1;

-- A once-per-purpose key may be spent only for a while (a rule's `repeatAfterDays`): NULL = for ever.
ALTER TABLE ledger ADD COLUMN expires_at INTEGER;

-- Which integration an event came from: 'kit' for Kit's webhooks and Kit-side syncs; an
-- integration's name for what its sources received (slack, airtable, kajabi, webhook, ...).
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT 'kit';
