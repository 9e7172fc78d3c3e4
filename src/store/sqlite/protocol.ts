/**
 * The messages between the async store (store.ts, on the event loop) and the writer thread
 * (writer.ts, which owns the one SQLite connection). Values cross the thread boundary by structured
 * clone, so Buffers arrive as Uint8Array and errors travel as plain data.
 */
import type { Store } from '../types.js';

/** The Store methods the writer runs: all but the lifecycle ones the proxy handles itself. */
export type OpName = Exclude<keyof Store, 'dialect' | 'close'>;

/** The synchronous shape of every operation, as the core implements it. */
export type SyncOps = {
  [K in OpName]: (...args: Parameters<Store[K]>) => Awaited<ReturnType<Store[K]>>;
};

/**
 * Operations that write. In a batch they run in one transaction, each inside its own savepoint;
 * the others (reads) run after the commit, outside any transaction.
 */
export const WRITE_OPS: ReadonlySet<OpName> = new Set<OpName>([
  'commitDelivery',
  'discardQuarantine',
  'claimJobs',
  'extendLeases',
  'finishAttempt',
  'releaseJobs',
  'replayJob',
  'replayJobs',
  'cancelJob',
  'pauseDestination',
  'resumeDestination',
  'setBreaker',
  'purge',
  'initSetting',
  'setSetting',
  'upsertSubscribers',
  'saveCheckpoint',
  // A write so the check and the spend share the write lock: two processes sharing the file can
  // never both take the last slot.
  'takeRateBudget',
  'blockRateBudget',
  'saveWebhookRegistration',
  'deleteWebhookRegistration',
]);

export interface Call {
  readonly op: OpName;
  readonly args: readonly unknown[];
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** SQLite's extended result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT_UNIQUE`…) when it has one. */
  readonly code?: string;
  /** An infrastructure fault (I/O, disk full, lock timeout): the caller sees StoreUnavailableError. */
  readonly isUnavailable: boolean;
}

export type CallResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: SerializedError };

export interface WriterOptions {
  readonly path: string;
  readonly busyTimeoutMs: number;
}

export type ToWriter =
  | { readonly kind: 'batch'; readonly calls: readonly Call[] }
  | { readonly kind: 'backup'; readonly id: number; readonly destPath: string }
  | { readonly kind: 'close' };

export type FromWriter =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly error: SerializedError }
  /** The results of one or more batches, in the order they were posted (the writer ran them as one). */
  | { readonly kind: 'batch'; readonly results: readonly (readonly CallResult[])[] }
  | { readonly kind: 'backup'; readonly id: number; readonly error?: SerializedError }
  | { readonly kind: 'closed' };

/**
 * SQLite result codes that mean the database cannot take writes now, rather than that one
 * operation was wrong: ingest answers 503 for these and Kit retries later.
 */
const UNAVAILABLE_CODES = ['SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_NOMEM', 'SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_PROTOCOL'];

export function isUnavailableCode(code: string | undefined): boolean {
  return code !== undefined && UNAVAILABLE_CODES.some((prefix) => code === prefix || code.startsWith(`${prefix}_`));
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const sqliteCode = typeof code === 'string' ? code : undefined;
    return { name: error.name, message: error.message, isUnavailable: isUnavailableCode(sqliteCode), ...(sqliteCode ? { code: sqliteCode } : {}) };
  }
  return { name: 'Error', message: String(error), isUnavailable: false };
}
