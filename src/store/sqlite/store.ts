/**
 * The SQLite store's async face. Every call made in one event-loop turn joins one batch, sent to
 * the writer thread as one message; the writer commits the batch's writes in one transaction, so
 * many concurrent webhook requests share one fsync (see core.ts). Batches are posted as they form;
 * the writer runs every batch that waits for it as one, so while it commits, the calls made
 * meanwhile gather into the next group.
 *
 * Back-pressure: at most `maxWriteBacklog` commitDelivery calls wait to commit; beyond that they
 * fail at once with StoreUnavailableError, and ingest answers 503 with Retry-After. Infrastructure
 * faults (I/O, disk full, a lock held past busy_timeout) fail writes the same way; if the writer
 * thread dies, every pending and later call does, and `ping()` with them.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Store } from '../types.js';
import { SqliteStoreClient } from './client.js';
import type { WriterOptions } from './protocol.js';

export interface SqliteStoreOptions {
  /** The database file; created and migrated if new. */
  readonly path: string;
  /** commitDelivery calls that may wait to commit before more are refused. @default 10_000 */
  readonly maxWriteBacklog?: number;
  /** How long a write waits for another process's lock (a CLI) before it fails. @default 5000 */
  readonly busyTimeoutMs?: number;
  /** The write-ahead log's bound (config `store.walLimitBytes`). @default 67_108_864 */
  readonly walLimitBytes?: number;
}

export interface SqliteStoreStats {
  /** Batches sent to the writer thread (one per event-loop turn with calls; waiting ones share a transaction). */
  readonly batches: number;
  /** Calls carried by those batches. */
  readonly calls: number;
  /** commitDelivery calls queued or in flight, not yet committed. */
  readonly writeBacklog: number;
  /** The write-ahead log file's size now (0 when there is none). */
  readonly walBytes: number;
}

export interface SqliteStore extends Store {
  readonly dialect: 'sqlite';
  readonly path: string;
  /** An online backup to `destPath`: a consistent copy, taken while writes go on. */
  backup(destPath: string): Promise<void>;
  stats(): SqliteStoreStats;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const writer = startWriter({ path: options.path, busyTimeoutMs: options.busyTimeoutMs ?? 5000, walLimitBytes: options.walLimitBytes ?? 67_108_864 });
  return SqliteStoreClient.attach(writer, { path: options.path, maxWriteBacklog: options.maxWriteBacklog ?? 10_000 });
}

/**
 * Starts the writer thread: writer.js when built; when run from source, the bundle of writer.ts
 * the test run built (test/global-setup.ts) if KITRELAY_WRITER_BUNDLE names one, else writer.ts
 * through tsx.
 */
export function startWriter(options: WriterOptions): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const bundle = process.env.KITRELAY_WRITER_BUNDLE;
    if (bundle) return new Worker(pathToFileURL(bundle), { workerData: options, execArgv: [] });
    // Node 20 ignores `execArgv: ['--import', 'tsx']` for workers (nodejs/node#47747), so the
    // thread registers tsx's hooks itself before it imports writer.ts.
    const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
    const writer = JSON.stringify(new URL('./writer.ts', import.meta.url).href);
    const bootstrap = `import(${tsx}).then((api) => { api.register(); return import(${writer}); });`;
    // No inherited flags: a parent's own `--import tsx` would register the hooks a second time.
    return new Worker(bootstrap, { eval: true, workerData: options, execArgv: [] });
  }
  return new Worker(new URL('./writer.js', import.meta.url), { workerData: options });
}
