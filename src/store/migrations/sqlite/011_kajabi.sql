-- Kajabi enrolments (issue 12). Words as in src/store/kajabi-types.ts. Emails are normalised
-- (trimmed, lower case); times are epoch ms; booleans are 0/1.

-- What Kajabi says today about one person's access to one offer on one Kajabi destination, and
-- what kitrelay last made Kit show for it. Rewritten in place on every change: `id` and
-- `created_at` stay from the first write.
CREATE TABLE kajabi_enrolments (
  id                    INTEGER PRIMARY KEY,
  destination           TEXT    NOT NULL,
  email                 TEXT    NOT NULL,
  offer_id              TEXT    NOT NULL,
  offer_title           TEXT,
  status                TEXT    NOT NULL CHECK (status IN ('pending', 'granted', 'refunded', 'deactivated', 'cancelled', 'lapsed')),
  purchase_id           TEXT,
  transaction_id        TEXT,
  refund_transaction_id TEXT,
  contact_id            TEXT,
  customer_id           TEXT,
  kit_subscriber_id     INTEGER,
  amount_in_cents       INTEGER,
  purchased_at          INTEGER,
  settled_at            INTEGER,
  ended_at              INTEGER,
  end_reason            TEXT,
  -- The offer's tag in Kit: 1 present, 0 removed, NULL never written.
  kit_tagged            INTEGER CHECK (kit_tagged IN (0, 1)),
  kit_synced_at         INTEGER,
  is_stop_applied       INTEGER NOT NULL CHECK (is_stop_applied IN (0, 1)),
  changed_by            TEXT    NOT NULL,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL,
  UNIQUE (destination, email, offer_id)
);
-- Listing a destination's enrolments by status (the settlement check's pending ones), in id order.
CREATE INDEX kajabi_enrolments_status ON kajabi_enrolments (destination, status, id);
-- One person across destinations (the dashboard, erasure).
CREATE INDEX kajabi_enrolments_email ON kajabi_enrolments (email);
-- Erasure finds a person by every Kit subscriber id their address had.
CREATE INDEX kajabi_enrolments_kit ON kajabi_enrolments (kit_subscriber_id) WHERE kit_subscriber_id IS NOT NULL;

-- Every correction the reconciliation made (or one made outside a run: `run_id` NULL): the field
-- (`what`), why, and its value before and after as text (NULL: none). Appended, never updated.
CREATE TABLE kajabi_corrections (
  id          INTEGER PRIMARY KEY,
  destination TEXT    NOT NULL,
  run_id      TEXT,
  email       TEXT    NOT NULL,
  offer_id    TEXT    NOT NULL,
  what        TEXT    NOT NULL,
  why         TEXT    NOT NULL,
  before      TEXT,
  after       TEXT,
  at          INTEGER NOT NULL
);
CREATE INDEX kajabi_corrections_destination ON kajabi_corrections (destination, id);
CREATE INDEX kajabi_corrections_run ON kajabi_corrections (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX kajabi_corrections_email ON kajabi_corrections (email, id);
