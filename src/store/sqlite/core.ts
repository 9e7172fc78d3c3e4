/**
 * The synchronous SQLite store: one better-sqlite3 connection, prepared statements, the migration
 * runner, and group commit. It runs in the writer thread (writer.ts); store.ts is its async face.
 *
 * Group commit: `executeBatch` runs every write of a batch in one `BEGIN IMMEDIATE … COMMIT` (one
 * fsync for all of them). The writes first run side by side with no savepoints: a savepoint makes
 * SQLite copy every page an operation touches to a sub-journal, which cost more than the writes
 * themselves. If one of them fails, the transaction is rolled back and the batch runs again with a
 * savepoint per operation, so a failing operation still fails alone. Reads run after the commit,
 * outside any transaction: a read sees every write issued before it or in the same batch. An
 * infrastructure fault (I/O error, disk full, a lock held past busy_timeout) loses the whole
 * transaction, so every write of the batch fails as unavailable.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type {
  AttemptFilter,
  ClaimInput,
  CloseDigestsInput,
  EraseInput,
  CommitDeliveryInput,
  EventFilter,
  FinishAttemptInput,
  JobFilter,
  PurgeInput,
  QuarantineFilter,
} from '../types.js';
import type { MirrorFilter, RateBudgetInput, SubscriberSnapshot, SyncCheckpoint, WebhookRegistration } from '../kit-types.js';
import type { AudienceMemberInput, PlanAudienceBatchInput } from '../audience-types.js';
import type {
  AirtableCallInput,
  AirtableChange,
  AirtableDeleteInput,
  AirtableDeleteStatus,
  AirtableFieldDecision,
  AirtableFieldDecisionInput,
  AirtableRecordInput,
} from '../airtable-types.js';
import type { KajabiCorrectionFilter, KajabiCorrectionInput, KajabiEnrolmentFilter, KajabiEnrolmentInput } from '../kajabi-types.js';

type AudiencePage = { readonly afterSubscriberId?: number; readonly limit: number };
type AirtableDeleteFilter = { readonly sync?: string; readonly status?: AirtableDeleteStatus; readonly kitId?: number; readonly limit: number };
type AirtableDecisionFilter = { readonly sync?: string; readonly status?: AirtableFieldDecision['status']; readonly kitId?: number; readonly limit: number };
import { AirtableOps } from './core-airtable.js';
import { AirtableInboundOps } from './core-airtable-inbound.js';
import { AudienceOps } from './core-audiences.js';
import { DigestOps } from './core-digests.js';
import { EraseOps } from './core-erase.js';
import { IngestOps } from './core-ingest.js';
import { KajabiOps } from './core-kajabi.js';
import { KitOps } from './core-kit.js';
import { QueryOps } from './core-query.js';
import { QueueOps } from './core-queue.js';
import { RetentionOps } from './core-retention.js';
import { ScheduleOps } from './core-schedules.js';
import type { ClaimScheduleInput, FinishScheduleRunInput, ScheduleProgress, ScheduleRegistration, ScheduleRunFilter } from '../schedule-types.js';
import { Sqlite } from './driver.js';
import { WRITE_OPS, serializeError, type Call, type CallResult, type SerializedError, type SyncOps, type WriterOptions } from './protocol.js';

/**
 * WAL pages past which SQLite checkpoints inside COMMIT (its auto-checkpoint), making that batch's
 * callers wait for it. The writer normally checkpoints sooner, between batches (checkpointIfDue);
 * this is the bound on the WAL when it does not get to.
 */
const WAL_AUTOCHECKPOINT_PAGES = 16_000;
/**
 * How often the writer checkpoints between batches, after answering one. Rarer checkpoints copy a
 * page rewritten by many commits (the last leaf of every index) once; at 10,000 events/s the WAL
 * then holds about 10,000 pages (40 MB) before a checkpoint.
 */
const CHECKPOINT_INTERVAL_MS = 400;
/**
 * How long a bounding checkpoint (TRUNCATE) waits for readers of old snapshots to finish. Readers
 * that start meanwhile read the database file, not the log, so a stream of overlapping readers
 * cannot starve it; a single read longer than this only defers it to the next interval.
 */
const WAL_TRUNCATE_WAIT_MS = 1000;
/** Each WAL frame holds a page and a 24-byte header. */
const WAL_FRAME_HEADER_BYTES = 24;

/** Where the numbered `NNN_name.sql` migrations are; the build copies them next to dist/store/. */
export const MIGRATIONS_DIR = new URL('../migrations/sqlite/', import.meta.url);

/**
 * Opens the file with kitrelay's pragmas. WAL lets readers (a CLI) work beside the writer;
 * synchronous=FULL makes a commit durable before its promise resolves; busy_timeout makes a write
 * wait for another process's lock instead of failing at once.
 */
export function openDatabase(path: string, busyTimeoutMs: number, walLimitBytes = 67_108_864): Database.Database {
  const db = new Sqlite(path);
  try {
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
    if (mode !== 'wal') throw new Error(`${path}: SQLite refused WAL mode (journal_mode is ${mode})`);
    db.pragma('synchronous = FULL');
    // Statement journals and savepoint sub-journals are scratch space that is never synced: keep
    // them in memory rather than in temp files.
    db.pragma('temp_store = MEMORY');
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    // After a checkpoint lets the log start over, its file is cut back to this size.
    db.pragma(`journal_size_limit = ${Math.trunc(walLimitBytes)}`);
    // No foreign keys: retention deletes events and jobs that dedupe keys, audit records and the
    // ledger still name by id (see 001_init.sql).
    db.pragma('foreign_keys = OFF');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Applies the migrations not yet recorded in `schema_migrations`, in order, each in its own
 * transaction. Safe to run from two processes at once: each migration re-checks inside its
 * IMMEDIATE transaction. Returns the versions it applied.
 */
export function migrate(db: Database.Database, dir: URL = MIGRATIONS_DIR): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const isApplied = db.prepare<[number], number>('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const files = readdirSync(dir)
    .filter((name) => /^\d+_[\w-]+\.sql$/.test(name))
    .map((name) => ({ name, version: Number.parseInt(name, 10) }))
    .sort((a, b) => a.version - b.version);
  const applied: number[] = [];
  for (const file of files) {
    const apply = db.transaction(() => {
      if (isApplied.get(file.version) !== undefined) return;
      db.exec(readFileSync(new URL(file.name, dir), 'utf8'));
      record.run(file.version, file.name, Date.now());
      applied.push(file.version);
    });
    apply.immediate();
  }
  return applied;
}

/** What `PRAGMA wal_checkpoint` answers: frames in the log, and how many are now in the database file. */
interface WalCheckpointRow {
  readonly busy: number;
  readonly log: number;
  readonly checkpointed: number;
}

export class SqliteCore implements SyncOps {
  readonly #db: Database.Database;
  readonly #ingest: IngestOps;
  readonly #digests: DigestOps;
  readonly #erase: EraseOps;
  readonly #audiences: AudienceOps;
  readonly #airtable: AirtableOps;
  readonly #airtableInbound: AirtableInboundOps;
  readonly #kajabi: KajabiOps;
  readonly #kit: KitOps;
  readonly #query: QueryOps;
  readonly #queue: QueueOps;
  readonly #retention: RetentionOps;
  readonly #schedules: ScheduleOps;
  readonly #tx: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Database.Statement>;
  readonly #getSetting: Database.Statement<[string], string>;
  readonly #initSetting: Database.Statement<[string, string]>;
  readonly #setSetting: Database.Statement<[string, string]>;
  readonly #selectOne: Database.Statement;
  readonly #checkpoint: Database.Statement<[], WalCheckpointRow>;
  readonly #truncateWal: Database.Statement<[], WalCheckpointRow>;
  readonly #walLimitFrames: number;
  readonly #busyTimeoutMs: number;
  #lastCheckpointAt = 0;
  /** The last infrastructure fault, until a write transaction commits again. */
  #fault: SerializedError | undefined;

  static open(options: WriterOptions): SqliteCore {
    const db = openDatabase(options.path, options.busyTimeoutMs, options.walLimitBytes);
    try {
      migrate(db);
      return new SqliteCore(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** `db` must be open with openDatabase's pragmas and migrated. */
  constructor(db: Database.Database, options: Pick<WriterOptions, 'busyTimeoutMs' | 'walLimitBytes'> = { busyTimeoutMs: 5000, walLimitBytes: 67_108_864 }) {
    this.#db = db;
    this.#busyTimeoutMs = options.busyTimeoutMs;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    this.#walLimitFrames = Math.max(1, Math.floor(options.walLimitBytes / (pageSize + WAL_FRAME_HEADER_BYTES)));
    this.#tx = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT op'),
      release: db.prepare('RELEASE op'),
      rollbackTo: db.prepare('ROLLBACK TO op'),
    };
    this.#getSetting = db.prepare<[string], string>('SELECT value FROM settings WHERE key = ?').pluck();
    this.#initSetting = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING');
    this.#setSetting = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    this.#selectOne = db.prepare('SELECT 1');
    this.#checkpoint = db.prepare<[], WalCheckpointRow>('PRAGMA wal_checkpoint(PASSIVE)');
    this.#truncateWal = db.prepare<[], WalCheckpointRow>('PRAGMA wal_checkpoint(TRUNCATE)');
    const storeId = this.getSetting('store_id');
    if (storeId === undefined) throw new Error('settings has no store_id: the database was not migrated');
    this.#query = new QueryOps(db, storeId);
    this.#kit = new KitOps(db);
    this.#digests = new DigestOps(db, storeId);
    this.#ingest = new IngestOps(db, this.#kit, this.#digests);
    this.#erase = new EraseOps(db);
    this.#audiences = new AudienceOps(db);
    this.#airtable = new AirtableOps(db);
    this.#airtableInbound = new AirtableInboundOps(db);
    this.#kajabi = new KajabiOps(db);
    this.#queue = new QueueOps(db, this.#query, storeId);
    this.#retention = new RetentionOps(db);
    this.#schedules = new ScheduleOps(db);
  }

  /**
   * Runs one batch: writes in one transaction, then reads. Failures come back as
   * results; it throws only when even a rollback fails, and then the thread should die (the store
   * turns that into StoreUnavailableError for everyone).
   */
  executeBatch(calls: readonly Call[]): CallResult[] {
    const results: CallResult[] = [];
    const writes: number[] = [];
    const reads: number[] = [];
    calls.forEach((call, index) => (WRITE_OPS.has(call.op) ? writes : reads).push(index));
    if (writes.length > 0) this.#runWrites(calls, writes, results);
    for (const index of reads) results[index] = this.#runRead(calls[index]!);
    return results;
  }

  /** An online copy of the database; batches keep running between its steps. */
  async backup(destPath: string): Promise<void> {
    await this.#db.backup(destPath);
  }

  /**
   * Copies committed WAL pages into the database file (and lets the WAL start over) when the last
   * checkpoint is CHECKPOINT_INTERVAL_MS old. The writer calls it after answering a batch, so the
   * copy and its fsync overlap with the event loop handling the answers instead of delaying them.
   *
   * PASSIVE first: it never waits for readers, and a page still in use is copied at a later one.
   * But the log can only start over when no reader still uses it, and with reads always under way
   * (a CLI listing events, a backup) that moment never comes: the log grew to 2.9 GB. So once it
   * holds more than `walLimitBytes`, a TRUNCATE checkpoint waits (up to WAL_TRUNCATE_WAIT_MS) for
   * the readers of old snapshots to finish, then empties the file.
   */
  checkpointIfDue(now: number): void {
    if (now - this.#lastCheckpointAt < CHECKPOINT_INTERVAL_MS) return;
    this.#lastCheckpointAt = now;
    try {
      const passive = this.#checkpoint.get();
      if (passive !== undefined && passive.log > this.#walLimitFrames) this.#checkpointWaitingForReaders();
    } catch {
      // Retried at the next interval; a fault that stays shows up in the next write transaction,
      // and SQLite's own auto-checkpoint still bounds the WAL.
    }
  }

  #checkpointWaitingForReaders(): void {
    this.#db.pragma(`busy_timeout = ${WAL_TRUNCATE_WAIT_MS}`);
    try {
      this.#truncateWal.get();
    } finally {
      this.#db.pragma(`busy_timeout = ${Math.trunc(this.#busyTimeoutMs)}`);
    }
  }

  close(): void {
    this.#db.close();
  }

  #runWrites(calls: readonly Call[], indexes: readonly number[], results: CallResult[]): void {
    try {
      this.#begin();
      if (!this.#runTogether(calls, indexes, results)) {
        // One operation failed and left its partial writes in the transaction: undo the batch and
        // run it again, this time with a savepoint per operation. Operations depend only on their
        // arguments and the database, so the others do the same again and the bad one fails alone.
        this.#tx.rollback.run();
        this.#ingest.afterRollback();
        this.#begin();
        for (const index of indexes) results[index] = this.#runInSavepoint(calls[index]!);
      }
      this.#tx.commit.run();
      this.#fault = undefined;
    } catch (error) {
      if (this.#db.inTransaction) this.#tx.rollback.run();
      this.#ingest.afterRollback();
      const fault: SerializedError = { ...serializeError(error), isUnavailable: true };
      this.#fault = fault;
      for (const index of indexes) results[index] = { ok: false, error: fault };
    }
  }

  #begin(): void {
    this.#tx.begin.run();
    this.#ingest.beginTransaction();
  }

  /**
   * The happy path: every write straight in the transaction. Returns false at the first operation
   * that fails (the caller rolls back); an infrastructure fault is thrown.
   */
  #runTogether(calls: readonly Call[], indexes: readonly number[], results: CallResult[]): boolean {
    for (const index of indexes) {
      try {
        results[index] = { ok: true, value: this.#dispatch(calls[index]!) };
      } catch (error) {
        if (serializeError(error).isUnavailable || !this.#db.inTransaction) throw error;
        return false;
      }
    }
    return true;
  }

  /** A failing operation is rolled back alone, unless the fault took the transaction with it. */
  #runInSavepoint(call: Call): CallResult {
    this.#tx.savepoint.run();
    try {
      const value = this.#dispatch(call);
      this.#tx.release.run();
      return { ok: true, value };
    } catch (error) {
      const serialized = serializeError(error);
      if (serialized.isUnavailable || !this.#db.inTransaction) throw error;
      this.#tx.rollbackTo.run();
      this.#tx.release.run();
      this.#ingest.afterRollbackToSavepoint();
      return { ok: false, error: serialized };
    }
  }

  #runRead(call: Call): CallResult {
    try {
      return { ok: true, value: this.#dispatch(call) };
    } catch (error) {
      return { ok: false, error: serializeError(error) };
    }
  }

  #dispatch(call: Call): unknown {
    // Operations are arrow-function fields, so they need no `this` binding.
    const operation = this[call.op] as (...args: readonly unknown[]) => unknown;
    return operation(...call.args);
  }

  // ---------------------------------------------------------------- operations

  commitDelivery = (input: CommitDeliveryInput) => this.#ingest.commitDelivery(input);
  discardQuarantine = (id: number, now: number) => this.#ingest.discardQuarantine(id, now);
  hasLedgerKey = (key: string, now?: number) => this.#ingest.hasLedgerKey(key, now);

  getDelivery = (id: number) => this.#query.getDelivery(id);
  getEvent = (id: number) => this.#query.getEvent(id);
  listEvents = (filter: EventFilter) => this.#query.listEvents(filter);
  listEventHeads = (input: { readonly afterId: number; readonly limit: number }) => this.#query.listEventHeads(input);
  getJob = (id: number) => this.#query.getJob(id);
  listJobs = (filter: JobFilter) => this.#query.listJobs(filter);
  listAttempts = (filter: AttemptFilter) => this.#query.listAttempts(filter);
  getQuarantine = (id: number) => this.#query.getQuarantine(id);
  listQuarantine = (filter: QuarantineFilter) => this.#query.listQuarantine(filter);

  claimJobs = (input: ClaimInput) => this.#queue.claimJobs(input);
  extendLeases = (workerId: string, jobIds: readonly number[], leaseExpiresAt: number) =>
    this.#queue.extendLeases(workerId, jobIds, leaseExpiresAt);
  finishAttempt = (input: FinishAttemptInput) => this.#queue.finishAttempt(input);
  releaseJobs = (workerId: string, jobIds: readonly number[], runAt: number, now: number) =>
    this.#queue.releaseJobs(workerId, jobIds, runAt, now);
  replayJob = (id: number, extraAttempts: number, now: number) => this.#queue.replayJob(id, extraAttempts, now);
  replayJobs = (filter: JobFilter, extraAttempts: number, now: number) => this.#queue.replayJobs(filter, extraAttempts, now);
  cancelJob = (id: number, now: number) => this.#queue.cancelJob(id, now);
  cloneJob = (id: number, now: number) => this.#queue.cloneJob(id, now);
  getDestinationStates = () => this.#queue.getDestinationStates();
  pauseDestination = (destination: string, reason: string, now: number) => this.#queue.pauseDestination(destination, reason, now);
  resumeDestination = (destination: string, now: number) => this.#queue.resumeDestination(destination, now);
  setBreaker = (destination: string, openUntil: number | null, now: number) => this.#queue.setBreaker(destination, openUntil, now);
  countJobs = () => this.#queue.countJobs();

  purge = (input: PurgeInput) => {
    if (input.eventsBefore !== undefined) this.#digests.purge(input.eventsBefore);
    const result = this.#retention.purge(input);
    return { ...result, dedupeKeys: result.dedupeKeys + this.#ingest.trimWindow(input.now) };
  };

  closeDigests = (input: CloseDigestsInput) => this.#digests.close(input, (commit) => this.#ingest.commitDelivery(commit));
  listDigestWindows = (filter: { readonly status?: 'open' | 'closed'; readonly limit?: number }) => this.#digests.listWindows(filter);
  takeDeadJobAlerts = (limit: number) => this.#digests.takeAlerts(limit);
  settleDeadJobAlerts = (ids: readonly number[]) => this.#digests.settleAlerts(ids);
  eraseSubscriber = (input: EraseInput) => this.#erase.erase(input);

  setAudienceMembers = (audience: string, members: readonly AudienceMemberInput[], now: number) => this.#audiences.setMembers(audience, members, now);
  expireAudienceMembersNotInMirror = (audience: string, now: number) => this.#audiences.expireMissing(audience, now);
  forgetAudienceConfirmations = (audience: string, reason: string, now: number) => this.#audiences.forgetConfirmations(audience, reason, now);
  listAudienceChanges = (audience: string, page: AudiencePage & { readonly throughSubscriberId?: number }) => this.#audiences.listChanges(audience, page);
  listAudienceMembers = (audience: string, page: AudiencePage) => this.#audiences.listMembers(audience, page);
  countAudience = (audience: string) => this.#audiences.count(audience);
  findAudienceMembers = (matchKey: string) => this.#audiences.membersByKey(matchKey);
  startAudienceRun = (input: Parameters<AudienceOps['startRun']>[0]) => this.#audiences.startRun(input);
  finishAudienceRun = (input: Parameters<AudienceOps['finishRun']>[0]) => this.#audiences.finishRun(input);
  listAudienceRuns = (filter: Parameters<AudienceOps['listRuns']>[0]) => this.#audiences.listRuns(filter);
  planAudienceBatch = (input: PlanAudienceBatchInput) => this.#audiences.planBatch(input);
  ackAudienceBatch = (input: Parameters<AudienceOps['ackBatch']>[0]) => this.#audiences.ackBatch(input);
  failAudienceBatch = (input: Parameters<AudienceOps['failBatch']>[0]) => this.#audiences.failBatch(input);
  getAudienceBatch = (id: number) => this.#audiences.getBatch(id);
  listAudienceBatches = (filter: Parameters<AudienceOps['listBatches']>[0]) => this.#audiences.listBatches(filter);
  tallyAudienceBatches = (filter: Parameters<AudienceOps['tallyBatches']>[0]) => this.#audiences.tallyBatches(filter);
  getAudienceBatchItems = (batchId: number, page: AudiencePage) => this.#audiences.batchItems(batchId, page);
  findAudienceItems = (matchKey: string, limit?: number) => this.#audiences.findItems(matchKey, limit);
  getAirtableRecords = (sync: string, kitIds: readonly number[]) => this.#airtable.getRecords(sync, kitIds);
  setAirtableRecords = (sync: string, records: readonly AirtableRecordInput[], now: number) => this.#airtable.setRecords(sync, records, now);
  forgetAirtableRecords = (sync: string, kitIds: readonly number[]) => this.#airtable.forgetRecords(sync, kitIds);
  listAirtableRecords = (sync: string, page: { readonly afterKitId?: number; readonly limit: number }) => this.#airtable.listRecords(sync, page);
  countAirtableRecords = (sync: string) => this.#airtable.countRecords(sync);
  spendAirtableCall = (input: AirtableCallInput) => this.#airtable.spendCall(input);
  blockAirtableCalls = (key: string, until: number) => this.#airtable.blockCalls(key, until);
  getAirtableCalls = (destination: string, month: string) => this.#airtable.getCalls(destination, month);
  findAirtableRecordsByRecordId = (sync: string, recordIds: readonly string[]) => this.#airtable.findRecordsByRecordId(sync, recordIds);
  noteAirtableChanges = (sync: string, changes: readonly AirtableChange[]) => this.#airtableInbound.noteChanges(sync, changes);
  listQuietAirtableChanges = (sync: string, quietSince: number, limit: number) => this.#airtableInbound.listQuietChanges(sync, quietSince, limit);
  clearAirtableChanges = (sync: string, changes: readonly AirtableChange[]) => this.#airtableInbound.clearChanges(sync, changes);
  countAirtableChanges = (sync: string) => this.#airtableInbound.countChanges(sync);
  listPendingAirtableRecords = (sync: string, recordIds: readonly string[]) => this.#airtableInbound.pendingRecords(sync, recordIds);
  requestAirtableDelete = (sync: string, input: AirtableDeleteInput, now: number) => this.#airtableInbound.requestDelete(sync, input, now);
  listAirtableDeletes = (filter: AirtableDeleteFilter) => this.#airtableInbound.listDeletes(filter);
  getAirtableDelete = (id: number) => this.#airtableInbound.getDelete(id);
  decideAirtableDelete = (id: number, status: Exclude<AirtableDeleteStatus, 'pending'>, now: number, note: string) =>
    this.#airtableInbound.decideDelete(id, status, now, note);
  withdrawAirtableDeletes = (sync: string, kitIds: readonly number[], now: number, note: string) => this.#airtableInbound.withdrawDeletes(sync, kitIds, now, note);
  recordAirtableDecisions = (sync: string, decisions: readonly AirtableFieldDecisionInput[], now: number) =>
    this.#airtableInbound.recordDecisions(sync, decisions, now);
  listAirtableDecisions = (filter: AirtableDecisionFilter) => this.#airtableInbound.listDecisions(filter);
  getAirtableDecision = (id: number) => this.#airtableInbound.getDecision(id);
  resolveAirtableDecision = (id: number, winner: 'kit' | 'airtable', now: number, note: string) => this.#airtableInbound.resolveDecision(id, winner, now, note);
  listHeldAirtableFields = (sync: string, kitIds: readonly number[]) => this.#airtableInbound.listHeldFields(sync, kitIds);
  getKajabiEnrolments = (destination: string, email: string) => this.#kajabi.getEnrolments(destination, email);
  saveKajabiEnrolments = (enrolments: readonly KajabiEnrolmentInput[], corrections: readonly KajabiCorrectionInput[], now: number) =>
    this.#kajabi.saveEnrolments(enrolments, corrections, now);
  listKajabiEnrolments = (filter: KajabiEnrolmentFilter) => this.#kajabi.listEnrolments(filter);
  countKajabiEnrolments = (destination: string) => this.#kajabi.countEnrolments(destination);
  listKajabiCorrections = (filter: KajabiCorrectionFilter) => this.#kajabi.listCorrections(filter);

  upsertSubscribers = (snapshots: readonly SubscriberSnapshot[], source: 'backfill' | 'reconcile', now: number) =>
    this.#kit.upsertSubscribers(snapshots, source, now);
  getSubscriber = (kitId: number) => this.#kit.getSubscriber(kitId);
  getSubscriberByEmail = (email: string) => this.#kit.getSubscriberByEmail(email);
  listSubscribers = (filter: MirrorFilter) => this.#kit.listSubscribers(filter);
  countSubscribers = () => this.#kit.countSubscribers();
  getCheckpoint = (name: string) => this.#kit.getCheckpoint(name);
  saveCheckpoint = (checkpoint: SyncCheckpoint) => this.#kit.saveCheckpoint(checkpoint);
  takeRateBudget = (input: RateBudgetInput) => this.#kit.takeRateBudget(input);
  blockRateBudget = (credential: string, until: number) => this.#kit.blockRateBudget(credential, until);
  listWebhookRegistrations = () => this.#kit.listWebhookRegistrations();
  saveWebhookRegistration = (registration: WebhookRegistration) => this.#kit.saveWebhookRegistration(registration);
  deleteWebhookRegistration = (system: WebhookRegistration['system'], kitId: number) => this.#kit.deleteWebhookRegistration(system, kitId);

  upsertSchedules = (registrations: readonly ScheduleRegistration[], now: number) => this.#schedules.upsertSchedules(registrations, now);
  claimDueSchedule = (input: ClaimScheduleInput) => this.#schedules.claimDueSchedule(input);
  startManualRun = (name: string, owner: string, now: number, leaseMs: number) => this.#schedules.startManualRun(name, owner, now, leaseMs);
  extendScheduleLease = (runId: number, owner: string, leaseExpiresAt: number) => this.#schedules.extendScheduleLease(runId, owner, leaseExpiresAt);
  reportScheduleProgress = (runId: number, owner: string, progress: ScheduleProgress, leaseExpiresAt: number) =>
    this.#schedules.reportScheduleProgress(runId, owner, progress, leaseExpiresAt);
  finishScheduleRun = (input: FinishScheduleRunInput) => this.#schedules.finishScheduleRun(input);
  listSchedules = () => this.#schedules.listSchedules();
  getScheduleRun = (id: number) => this.#schedules.getScheduleRun(id);
  listScheduleRuns = (filter: ScheduleRunFilter) => this.#schedules.listScheduleRuns(filter);

  getSetting = (key: string): string | undefined => this.#getSetting.get(key);
  initSetting = (key: string, value: string): string => {
    this.#initSetting.run(key, value);
    return this.#getSetting.get(key) ?? value;
  };
  setSetting = (key: string, value: string): void => {
    this.#setSetting.run(key, value);
  };

  /**
   * Answers while the database takes writes. After a fault, a small write transaction (one fsync)
   * probes whether it has cleared, so a health check sees recovery without waiting for traffic.
   */
  ping = (): void => {
    if (this.#fault === undefined) {
      this.#selectOne.get();
      return;
    }
    this.#db.transaction(() => this.#setSetting.run('health_probe', new Date().toISOString())).immediate();
    this.#fault = undefined;
  };
}
