/**
 * The messages between the async store (store.ts, on the event loop) and the writer thread
 * (writer.ts, which owns the one SQLite connection).
 *
 * Calls and results cross the thread boundary as bytes that each side serialises itself (`encode`,
 * node:v8's serializer, the one structured clone uses). postMessage cannot be trusted with them: a
 * value too deep to clone (a payload nested 2,000 levels) is dropped without an error, which left
 * the caller waiting and every later answer matched to the wrong call. `encode` throws instead,
 * so the one call at fault fails alone. Batches carry ids, and answers name the batch they answer.
 * Errors travel as plain data.
 */
import { deserialize, serialize } from 'node:v8';
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
  'cloneJob',
  'pauseDestination',
  'resumeDestination',
  'setBreaker',
  'purge',
  'closeDigests',
  'setAudienceMembers',
  'expireAudienceMembersNotInMirror',
  'forgetAudienceConfirmations',
  'startAudienceRun',
  'finishAudienceRun',
  'planAudienceBatch',
  'ackAudienceBatch',
  'failAudienceBatch',
  'setAirtableRecords',
  'forgetAirtableRecords',
  // A write so the check and the spend share the write lock (as takeRateBudget).
  'spendAirtableCall',
  'blockAirtableCalls',
  'noteAirtableChanges',
  'clearAirtableChanges',
  // Writes so "is one pending" and queuing it share the write lock: never two pending per subscriber.
  'requestAirtableDelete',
  'decideAirtableDelete',
  'withdrawAirtableDeletes',
  'recordAirtableDecisions',
  'resolveAirtableDecision',
  // Enrolments and their corrections in one transaction (the batch's).
  'saveKajabiEnrolments',
  'eraseSubscriber',
  'settleDeadJobAlerts',
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
  'upsertSchedules',
  // Writes so "free or expired, and due" and taking the lease share the write lock: two processes
  // sharing the file never both start a run.
  'claimDueSchedule',
  'startManualRun',
  'extendScheduleLease',
  'reportScheduleProgress',
  'finishScheduleRun',
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
  /** The WAL's bound (see core.ts, checkpointIfDue). */
  readonly walLimitBytes: number;
}

/** The answer to one batch: a result per call, in the order of its calls. */
export interface BatchAnswer {
  readonly id: number;
  readonly results: readonly CallResult[];
}

export type ToWriter =
  /** `calls` is `encode(Call[])` of `count` calls. */
  | { readonly kind: 'batch'; readonly id: number; readonly count: number; readonly calls: Uint8Array }
  | { readonly kind: 'backup'; readonly id: number; readonly destPath: string }
  | { readonly kind: 'close' };

export type FromWriter =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly error: SerializedError }
  /**
   * `encode(BatchAnswer[])`: one or more batches, in the order they were posted (the writer ran
   * them as one). `ids` names them outside the bytes, so answers that cannot be read still fail
   * the right calls.
   */
  | { readonly kind: 'batch'; readonly ids: readonly number[]; readonly answers: Uint8Array }
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

/** Serialises a value to cross the thread boundary; throws (rather than dropping it) when it cannot. */
export function encode(value: unknown): Uint8Array {
  return serialize(value);
}

export function decode<T>(bytes: Uint8Array): T {
  return deserialize(bytes) as T;
}

/** The transfer list for encoded bytes: their buffer moves to the other thread instead of being copied. */
export function transferable(bytes: Uint8Array): ArrayBuffer[] {
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength ? [buffer] : [];
}

/** A call that failed because its value cannot cross the thread boundary: that call's bug, not the store's. */
export function uncrossable(what: string, error: unknown): SerializedError {
  const reason = error instanceof Error ? error.message : String(error);
  return { name: 'StoreValueError', message: `${what} cannot be passed between threads: ${reason}`, isUnavailable: false };
}

/**
 * The answers as bytes, `ops` naming the call behind each result in order (undefined where the
 * call could not be read). A result that cannot be serialised becomes that call's error; every other
 * call still gets its result. (Stored values are read with a depth bound, store/rows.ts, so this
 * is the last guard, not the usual path.)
 */
export function encodeAnswers(answers: readonly BatchAnswer[], ops: readonly (OpName | undefined)[]): Uint8Array {
  try {
    return encode(answers);
  } catch {
    let index = 0;
    const checked = answers.map((answer) => ({
      id: answer.id,
      results: answer.results.map((result): CallResult => {
        const op = ops[index++] ?? 'a call';
        try {
          encode(result);
          return result;
        } catch (error) {
          return { ok: false, error: uncrossable(`the result of ${op}`, error) };
        }
      }),
    }));
    return encode(checked);
  }
}
