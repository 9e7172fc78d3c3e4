-- Quarantine keeps one entry per distinct input. Kit retries a delivery for about 41 hours; each
-- retry of a signed batch carried the same bad events, and each added them to quarantine again.
-- `body_hash` is sha256 over system, route and the exact bytes kept; a repeat counts on the first
-- entry instead (`times_received`, `last_received_at`). Entries from before this migration have no
-- hash and are never matched.
ALTER TABLE quarantine ADD COLUMN body_hash TEXT;
ALTER TABLE quarantine ADD COLUMN times_received INTEGER NOT NULL DEFAULT 1;
ALTER TABLE quarantine ADD COLUMN last_received_at INTEGER;
UPDATE quarantine SET last_received_at = received_at;
CREATE INDEX quarantine_body_hash ON quarantine (body_hash);
