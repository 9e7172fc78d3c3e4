/**
 * Clearable dedupe keys (legacy fingerprints): held in memory, with an append-only log table,
 * `dedupe_window`, as their durable copy.
 *
 * Why not the `dedupe_keys` table: a legacy fingerprint is a hash, so every new key lands on a random
 * leaf of that table's B-tree, and two more indexes let an opposite event clear keys. Moving the
 * fingerprints here halved the bytes a legacy ingest writes (14.9 → 6.8 KB per event) and cut the
 * writer's time per event from 52 to 37 µs (BENCHMARKS.md, second pass). The log is a rowid table
 * with no index: each key is one row appended to its last page. The keys live for the legacy dedupe window (seconds), so the
 * in-memory index is small, and the log is trimmed from its front as keys expire.
 *
 * The log is the truth; memory is a cache of it. It is rebuilt by replaying the log (each row may
 * first clear keys, then adds its own) when the store opens, when another connection has written
 * (`PRAGMA data_version`: a CLI re-ingesting quarantine on the same file), and after a rollback
 * (the log inside the transaction has lost the rolled-back rows, memory has not). Expired keys are
 * dropped at most once a second, measured in the store's own time (the deliveries' receivedAt),
 * so a test clock works as the real one does.
 *
 * A clear that removes no live key is not logged: it could not change what a replay finds.
 */
import type { Database, Statement } from 'better-sqlite3';

/** How often (in the deliveries' receivedAt) `begin` drops expired keys. */
const TRIM_INTERVAL_MS = 1000;

export interface WindowKey {
  readonly key: string;
  readonly eventId: number;
  readonly expiresAt: number;
  /** The event type the key belongs to: an opposite event clears keys by type. */
  readonly type: string | null;
}

interface Entry {
  readonly key: string;
  readonly eventId: number;
  readonly expiresAt: number;
  readonly subscriberKey: string;
  readonly scope: string | null;
  readonly type: string | null;
  /** The log row that holds this key: rows before the oldest live key can go. */
  readonly rowId: number;
}

interface LogRow {
  id: number;
  key: string | null;
  event_id: number | null;
  expires_at: number | null;
  subscriber_key: string;
  scope: string | null;
  type: string | null;
  clears: string | null;
}

export class DedupeWindow {
  readonly #append: Statement;
  readonly #replay: Statement<[], LogRow>;
  readonly #trim: Statement<[number]>;
  readonly #trimAll: Statement<[]>;
  readonly #dataVersion: Statement<[], number>;
  /** Live keys in log order (a re-added key moves to the end), so the first is the oldest row. */
  readonly #keys = new Map<string, Entry>();
  /**
   * Each subscriber's live keys, for clears: one entry, or an array when the subscriber has several
   * (most have one, so most need no array).
   */
  readonly #bySubscriber = new Map<string, Entry | Entry[]>();
  /** `data_version` when memory last matched the log; undefined: replay before the next use. */
  #version: number | undefined;
  /** The latest receivedAt seen (`see`), and the time of the last trim. */
  #now = 0;
  #trimmedAt = 0;

  constructor(db: Database) {
    this.#append = db.prepare(
      'INSERT INTO dedupe_window (key, event_id, expires_at, subscriber_key, scope, type, clears) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.#replay = db.prepare('SELECT * FROM dedupe_window ORDER BY id');
    this.#trim = db.prepare('DELETE FROM dedupe_window WHERE id < ?');
    this.#trimAll = db.prepare('DELETE FROM dedupe_window');
    this.#dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  }

  /**
   * Called at the start of every write transaction, once the write lock is held: replays the log if
   * another connection committed since memory last matched it (or a rollback made memory stale),
   * and drops expired keys when a second has passed since the last time.
   */
  begin(): void {
    const version = this.#dataVersion.get();
    if (version !== this.#version) {
      this.#load();
      this.#version = version;
    }
    if (this.#now - this.#trimmedAt >= TRIM_INTERVAL_MS) this.trim(this.#now);
  }

  /** After a rollback, whole or to a savepoint: memory may hold keys the log no longer has. */
  invalidate(): void {
    this.#version = undefined;
  }

  /** The store's time moves on: an event received at `now` is being committed. */
  see(now: number): void {
    if (now > this.#now) this.#now = now;
  }

  get(key: string): { eventId: number; expiresAt: number } | undefined {
    return this.#keys.get(key);
  }

  /**
   * Clears the live keys of the types in `clears` for the subscriber and scope, then adds `key`
   * (when given) for the same subscriber and scope. Logs one row, or none when there is nothing to
   * remember.
   */
  write(subscriberKey: string, scope: string | null, clears: readonly string[], key: WindowKey | undefined): void {
    const cleared = clears.length === 0 ? clears : this.#clear(subscriberKey, scope, clears);
    if (key === undefined && cleared.length === 0) return;
    const result = this.#append.run(
      key?.key ?? null,
      key?.eventId ?? null,
      key?.expiresAt ?? null,
      subscriberKey,
      scope,
      key?.type ?? null,
      cleared.length === 0 ? null : JSON.stringify(cleared),
    );
    if (key !== undefined) this.#add({ key: key.key, eventId: key.eventId, expiresAt: key.expiresAt, subscriberKey, scope, type: key.type, rowId: Number(result.lastInsertRowid) });
  }

  /**
   * Drops expired keys from memory and the log rows before the oldest live key. Runs inside a
   * write transaction. Returns how many keys expired.
   */
  trim(now: number): number {
    this.#trimmedAt = now;
    let expired = 0;
    for (const entry of this.#keys.values()) {
      if (entry.expiresAt > now) break;
      this.#remove(entry);
      expired++;
    }
    // Keys of different windows (a changed config) can expire out of order: a later live key is
    // found by the next trim, after the earlier ones expire.
    const oldest = this.#keys.values().next();
    if (oldest.done === true) this.#trimAll.run();
    else this.#trim.run(oldest.value.rowId);
    return expired;
  }

  #load(): void {
    this.#keys.clear();
    this.#bySubscriber.clear();
    for (const row of this.#replay.iterate()) {
      if (row.clears !== null) this.#clear(row.subscriber_key, row.scope, JSON.parse(row.clears) as string[]);
      if (row.key !== null && row.event_id !== null && row.expires_at !== null) {
        this.#add({ key: row.key, eventId: row.event_id, expiresAt: row.expires_at, subscriberKey: row.subscriber_key, scope: row.scope, type: row.type, rowId: row.id });
      }
    }
  }

  #add(entry: Entry): void {
    const previous = this.#keys.get(entry.key);
    if (previous !== undefined) this.#remove(previous);
    this.#keys.set(entry.key, entry);
    const others = this.#bySubscriber.get(entry.subscriberKey);
    if (others === undefined) this.#bySubscriber.set(entry.subscriberKey, entry);
    else if (Array.isArray(others)) others.push(entry);
    else this.#bySubscriber.set(entry.subscriberKey, [others, entry]);
  }

  /** Removes the subscriber's keys of this scope and these types; returns the types that had any. */
  #clear(subscriberKey: string, scope: string | null, types: readonly string[]): string[] {
    const held = this.#bySubscriber.get(subscriberKey);
    if (held === undefined) return [];
    const hit = (entry: Entry): boolean => entry.scope === scope && entry.type !== null && types.includes(entry.type);
    const entries = Array.isArray(held) ? held : [held];
    const cleared = entries.filter(hit);
    for (const entry of cleared) this.#remove(entry);
    return types.filter((type) => cleared.some((entry) => entry.type === type));
  }

  #remove(entry: Entry): void {
    this.#keys.delete(entry.key);
    const held = this.#bySubscriber.get(entry.subscriberKey);
    if (held === entry) {
      this.#bySubscriber.delete(entry.subscriberKey);
    } else if (Array.isArray(held)) {
      const rest = held.filter((other) => other !== entry);
      if (rest.length === 0) this.#bySubscriber.delete(entry.subscriberKey);
      else this.#bySubscriber.set(entry.subscriberKey, rest.length === 1 ? rest[0]! : rest);
    }
  }
}
