/**
 * One audience run (issue 10): refresh what the audience should hold from the subscriber mirror,
 * decide (the removal guard, drift), plan batches in the store and queue one upload job per batch,
 * then wait for them and record the run's numbers and match rate. Streams: the mirror and the
 * difference are read in pages, and no list of members is ever held whole.
 *
 * Safe to run again at any point: planned batches are in the store and their jobs in the queue, so
 * a run interrupted (a crash, a shutdown) leaves nothing half-sent; the next run first waits for
 * the batches still in flight, then plans only what is still pending.
 */
import { randomInt } from 'node:crypto';
import type { AudienceBatchItem, AudienceBatchRecord, AudienceChange, AudienceCounts, AudienceRunRecord } from '../../store/types.js';
import type { DurableCursor, IntegrationSyncStore, KitSubscriberPull } from '../types.js';
import type { GraphClient } from './client.js';
import type { AudienceConfig, MetaDestinationConfig } from './schema.js';
import { membershipOf } from './selection.js';
import { audienceKey } from './upload.js';

const MIRROR_PAGE = 1000;
const SAMPLES = 5;

export type SyncStore = IntegrationSyncStore;

export interface AudienceSyncDeps {
  readonly store: SyncStore;
  readonly destinationName: string;
  readonly destination: MetaDestinationConfig;
  readonly audienceName: string;
  /** For reads (the size estimate, sessions); uploads go through the queue. */
  readonly graph: GraphClient;
  /** Queues one upload job per batch; queuing a batch twice must make one job (dedupe by batch id). */
  queueUploads(batches: readonly AudienceBatchRecord[], audienceId: string): Promise<void>;
  /**
   * Raises a run's alert (`sync_held`: the removal guard stopped it; `sync_failed`: Meta refused
   * batches, or the run could not start) as an event rules can route; deduplicated by the run.
   */
  alert?(kind: 'sync_held' | 'sync_failed', payload: Readonly<Record<string, unknown>>, runId: number): Promise<void>;
  /** Kit's changed subscribers into the mirror before it is read; absent without Kit access. */
  readonly kit?: { readonly pull: KitSubscriberPull; readonly cursor: DurableCursor };
  readonly now: () => number;
  readonly signal?: AbortSignal;
  readonly progress?: (report: { readonly done?: number; readonly total?: number; readonly message: string }) => void;
  /** How long a run waits for its batches to be sent. @default 3_600_000 */
  readonly settleTimeoutMs?: number;
  /** @default 500 */
  readonly pollMs?: number;
}

export interface SyncOptions {
  /** Count and sample what a run would add and remove; send nothing. */
  readonly dryRun?: boolean;
  /** Replace the whole audience in one session (`/usersreplace`). */
  readonly replace?: boolean;
  /** Go ahead with removals the guard would hold. */
  readonly confirmRemovals?: boolean;
}

export interface SyncResult {
  readonly run: AudienceRunRecord;
  readonly status: 'succeeded' | 'failed' | 'held';
  readonly stats: Readonly<Record<string, unknown>>;
  readonly detail?: string;
}

interface Sample {
  readonly subscriberId: number;
  readonly matchKey: string | null;
}

export async function syncAudience(deps: AudienceSyncDeps, options: SyncOptions = {}): Promise<SyncResult> {
  const audience = deps.destination.audiences[deps.audienceName];
  if (!audience) throw new Error(`no audience "${deps.audienceName}" on destination ${deps.destinationName}`);
  const key = audienceKey(deps.destinationName, deps.audienceName);
  const kind = options.dryRun ? 'dry_run' : options.replace ? 'replace' : 'sync';
  const previousId = options.dryRun ? undefined : await lastAudienceId(deps.store, key);
  const run = await deps.store.startAudienceRun({ audience: key, kind, now: deps.now() });
  const finish = async (status: SyncResult['status'], runStats: Record<string, unknown>, detail?: string): Promise<SyncResult> => {
    // Which audience at Meta the run's confirmations belong to (the next run compares).
    const stats = audience.audienceId && !options.dryRun ? { audienceId: audience.audienceId, ...runStats } : runStats;
    await deps.store.finishAudienceRun({ runId: run.id, status, stats, ...(detail !== undefined ? { detail } : {}), now: deps.now() });
    if (status !== 'succeeded' && deps.alert) {
      // Held for an operator, or refused: an event rules route (to Slack, say); once per run.
      const kind = status === 'held' ? 'sync_held' : 'sync_failed';
      const { addSamples: _a, removeSamples: _r, ...numbers } = stats;
      await deps.alert(kind, { audience: deps.audienceName, destination: deps.destinationName, runId: run.id, kind: run.kind, status, detail: detail ?? null, stats: numbers }, run.id);
    }
    return { run, status, stats, ...(detail !== undefined ? { detail } : {}) };
  };
  try {
    if (!audience.audienceId) return await finish('failed', {}, `audience ${deps.audienceName} has no audienceId: run \`kitrelay meta audiences create ${deps.audienceName}\` and put the id it prints in the config`);
    const audienceId = audience.audienceId;
    // Another audience at Meta than the one our confirmations came from holds none of them.
    const forgotten = previousId !== undefined && previousId !== audienceId ? await deps.store.forgetAudienceConfirmations(key, `the audience id changed from ${previousId} to ${audienceId}: not sent`, deps.now()) : undefined;
    // Batches an earlier run left in flight are sent first: planning again now would send them twice.
    if (!options.dryRun) await settle(deps, key, undefined);

    const pulled = await pullFromKit(deps);
    if (pulled.failed) return await finish('failed', { kitPull: pulled.stats }, pulled.failed);
    // Drift is judged on what Meta confirmed, which the refresh does not change: decided first, so
    // a run that is not a replace can send new members while it is still reading the mirror.
    const before = await deps.store.countAudience(key);
    const drift = options.replace || options.dryRun ? undefined : await readDrift(deps, audienceId, before, audience.driftTolerance);
    const replace = options.replace === true || drift?.isBeyondTolerance === true;
    const streamed = options.dryRun || replace ? undefined : addStream(deps, key, run.id, audience, audienceId);
    const refreshed = await refresh(deps, key, audience, streamed);
    await streamed?.finish();
    // New members went out during the refresh; they are confirmed (or failed) before the rest is planned.
    const early = streamed && streamed.batches.length > 0 ? await settle(deps, key, run.id) : undefined;
    const counts = await deps.store.countAudience(key);
    const stats: Record<string, unknown> = { ...counts, ...refreshed, ...(pulled.stats ? { kitPull: pulled.stats } : {}), ...(forgotten !== undefined ? { audienceChanged: { from: previousId, forgotten } } : {}) };
    if (streamed) Object.assign(stats, { toAdd: counts.toAdd + streamed.rows, streamedAdds: streamed.rows });
    if (streamed && early && early.failed > 0) {
      // Sending them again now would fail alike (a refused token, a refused row): the next run does.
      Object.assign(stats, early.stats, { batches: streamed.batches.length, rowsSent: streamed.rows });
      return await finish('failed', stats, `${early.failed} of ${streamed.batches.length} batches failed: nothing else was sent; see \`kitrelay meta runs ${deps.audienceName}\``);
    }
    deps.progress?.({ message: `${counts.expected} expected, ${counts.toAdd} to add, ${counts.toRemove} to remove` });

    if (options.dryRun) {
      const samples = await sampleChanges(deps.store, key);
      return await finish('succeeded', { ...stats, ...samples }, 'dry run: nothing was sent');
    }
    const guard = removalGuard(counts, audience.maxRemovalShare);
    if (guard && !options.confirmRemovals) {
      const sent = streamed && streamed.rows > 0 ? `nobody was removed (${streamed.rows} new members were added)` : 'nothing was sent';
      return await finish('held', { ...stats, guard, batches: streamed?.batches.length ?? 0, rowsSent: streamed?.rows ?? 0 }, `${guard.reason}: ${sent}; run \`kitrelay meta sync ${deps.audienceName} --confirm-removals\` if this is right`);
    }
    if (drift) stats.drift = drift;
    stats.replaced = replace;

    const rest = replace ? await planReplace(deps, key, run.id, audience) : await planIncremental(deps, key, run.id, audience);
    const planned = [...(streamed?.batches ?? []), ...rest];
    stats.batches = planned.length;
    stats.rowsSent = planned.reduce((n, b) => n + b.size, 0);
    if (rest.length > 0) await deps.queueUploads(rest, audienceId);
    const settled = await settle(deps, key, run.id);
    Object.assign(stats, settled.stats, { after: await deps.store.countAudience(key) });
    const matchRate = await readMatchRate(deps, audienceId, planned);
    if (matchRate !== undefined) stats.matchRate = matchRate;
    if (settled.failed > 0) return await finish('failed', stats, `${settled.failed} of ${planned.length} batches failed: see \`kitrelay meta runs ${deps.audienceName}\``);
    return await finish('succeeded', stats);
  } catch (error) {
    // Thrown (a shutdown, the store or Meta unreachable): the scheduler retries; no alert.
    await deps.store.finishAudienceRun({ runId: run.id, status: 'failed', stats: {}, detail: error instanceof Error ? error.message : String(error), now: deps.now() }).catch(() => undefined);
    throw error;
  }
}

/**
 * Kit's side first: who changed since the last pull (all of Kit while no backfill has finished),
 * into the mirror, through the shared rate budget. A failed pull of changes leaves the mirror as
 * webhooks keep it, and the run goes on (noted); a failed backfill stops the run, since a
 * half-filled mirror would select only part of the audience.
 */
async function pullFromKit(deps: AudienceSyncDeps): Promise<{ readonly stats?: Record<string, unknown>; readonly failed?: string }> {
  if (!deps.kit) return {};
  const startedAt = deps.now();
  const saved = await deps.kit.cursor.load();
  const since = saved !== null && /^\d+$/.test(saved) ? Number(saved) : undefined;
  try {
    const result = await deps.kit.pull.pull({
      ...(since !== undefined ? { since } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
      onPage: (page) => deps.progress?.({ done: page.written, ...(page.total !== undefined ? { total: page.total } : {}), message: `pulled ${page.written} subscribers from Kit` }),
    });
    await deps.kit.cursor.save(String(startedAt));
    return { stats: { ...result } };
  } catch (error) {
    deps.signal?.throwIfAborted();
    const message = error instanceof Error ? error.message : String(error);
    if (since === undefined) return { stats: { error: message }, failed: `could not fill the subscriber mirror from Kit (${message}): nothing was sent` };
    return { stats: { error: message, note: 'the mirror as webhooks keep it was used' } };
  }
}

/**
 * The mirror, page by page, into expected membership; then those gone from the mirror. Pipelined:
 * the next page is asked for before this one is selected and hashed, and this one is written while
 * the next is worked on, so the store's thread reads and writes while this one hashes (the store
 * runs calls in order, and pages never share a subscriber). At most two pages are held.
 */
async function refresh(deps: AudienceSyncDeps, key: string, audience: AudienceConfig, stream?: AddStream): Promise<Record<string, unknown>> {
  let scanned = 0;
  let lastKitId = -1;
  let streamedThrough = 0;
  let changed = 0;
  let unusable = 0;
  let droppedValues = 0;
  const read = (after: number | undefined) => handled(deps.store.listSubscribers({ ...(after !== undefined ? { afterKitId: after } : {}), limit: MIRROR_PAGE }));
  let next = read(undefined);
  let written = Promise.resolve(0);
  for (;;) {
    deps.signal?.throwIfAborted();
    const page = await next;
    if (page.length === 0) break;
    // A short page is the last: no need to ask for an empty one.
    next = page.length < MIRROR_PAGE ? Promise.resolve([]) : read(page[page.length - 1]!.kitId);
    const memberships = page.map((subscriber) => membershipOf(subscriber, audience));
    unusable += memberships.filter((m) => m.unusable !== undefined).length;
    droppedValues += memberships.reduce((n, m) => n + m.dropped.length, 0);
    changed += await written;
    // Everyone up to the page before this one is refreshed: their new members can go out now
    // (looked for once a batch's worth of subscribers has passed: each look is a store round trip).
    if (stream && scanned - streamedThrough >= audience.batchSize) {
      await stream.through(lastKitId);
      streamedThrough = scanned;
    }
    written = handled(deps.store.setAudienceMembers(key, memberships.map((m) => m.member), deps.now()));
    lastKitId = page[page.length - 1]!.kitId;
    scanned += page.length;
    deps.progress?.({ done: scanned, message: `read ${scanned} subscribers from the mirror` });
  }
  changed += await written;
  if (stream && scanned > 0) await stream.through(lastKitId);
  const gone = await deps.store.expireAudienceMembersNotInMirror(key, deps.now());
  return { scanned, changed, gone, unusable, droppedValues };
}

interface AddStream {
  /** Plans (and queues) the new members among subscribers up to this id, in full batches. */
  through(lastSubscriberId: number): Promise<void>;
  /** Plans the last, partial batch. */
  finish(): Promise<void>;
  readonly batches: readonly AudienceBatchRecord[];
  readonly rows: number;
}

/**
 * New members (expected, never confirmed) in one add session, planned and queued a batch at a time
 * as the refresh passes them, so sending (paced by Meta's rate) overlaps reading the mirror.
 * Changed rows and removals wait for the whole refresh (and the removal guard).
 */
function addStream(deps: AudienceSyncDeps, key: string, runId: number, audience: AudienceConfig, audienceId: string): AddStream {
  const sessionId = newSessionId();
  const batches: AudienceBatchRecord[] = [];
  let items: AudienceBatchItem[] = [];
  let after: number | undefined;
  let rows = 0;
  const flush = async (isLast: boolean) => {
    if (items.length === 0) return;
    const batch = await deps.store.planAudienceBatch({ runId, audience: key, op: 'add', sessionId, seq: batches.length + 1, isLast, items, now: deps.now() });
    batches.push(batch);
    rows += items.length;
    items = [];
    await deps.queueUploads([batch], audienceId);
  };
  return {
    batches,
    get rows() {
      return rows;
    },
    async through(last) {
      for (;;) {
        deps.signal?.throwIfAborted();
        // Bounded by `last`: with few changes, an unbounded page would read on to the audience's end.
        const page = await deps.store.listAudienceChanges(key, { ...(after !== undefined ? { afterSubscriberId: after } : {}), throughSubscriberId: last, limit: audience.batchSize });
        const isDone = page.length < audience.batchSize;
        for (const change of page) {
          after = change.subscriberId;
          if (change.row === null || change.sentRow !== null || change.matchKey === null) continue;
          items.push({ subscriberId: change.subscriberId, matchKey: change.matchKey, row: change.row });
          if (items.length === audience.batchSize) await flush(false);
        }
        if (isDone) break;
      }
      // Nothing before `last` is left to look at: the next page starts after it.
      after = Math.max(after ?? -1, last);
    },
    finish: () => flush(true),
  };
}

/**
 * The same promise, marked handled: one left in flight while the run throws (an abort, the other
 * call failing) must not become an unhandled rejection. Awaiting it still throws.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** The Meta audience id the audience's latest run recorded, if any. */
async function lastAudienceId(store: SyncStore, key: string): Promise<string | undefined> {
  const runs = await store.listAudienceRuns({ audience: key, limit: 50 });
  const id = runs.find((r) => typeof r.stats.audienceId === 'string')?.stats.audienceId;
  return typeof id === 'string' ? id : undefined;
}

/** Why a run must stop before removing, or undefined. */
function removalGuard(counts: AudienceCounts, maxShare: number): { readonly reason: string; readonly share: number } | undefined {
  if (counts.toRemove === 0 || counts.confirmed === 0) return undefined;
  const share = counts.toRemove / counts.confirmed;
  if (counts.expected === 0) return { reason: `the run would empty the audience (${counts.toRemove} removals, nobody expected)`, share };
  if (share > maxShare) return { reason: `the run would remove ${(share * 100).toFixed(1)}% of the audience (${counts.toRemove} of ${counts.confirmed}), more than maxRemovalShare ${(maxShare * 100).toFixed(0)}%`, share };
  return undefined;
}

interface Drift {
  readonly lower: number;
  readonly upper: number;
  readonly expectedMatched: number;
  readonly gap: number;
  readonly isBeyondTolerance: boolean;
  readonly note?: string;
}

/**
 * Meta's size estimate against ours: Meta counts matched people only, so ours is the confirmed
 * count times the match rate its sessions reported. Small audiences report a floor, and an
 * estimate without a rate cannot be judged: both are recorded, never acted on.
 */
async function readDrift(deps: AudienceSyncDeps, audienceId: string, counts: AudienceCounts, tolerance: number): Promise<Drift | undefined> {
  if (counts.confirmed === 0) return undefined;
  const fields = await deps.graph.readAudience(audienceId);
  if (fields.outcome.kind !== 'ok' || !fields.body) return undefined;
  const lower = fields.body.approximate_count_lower_bound ?? -1;
  const upper = fields.body.approximate_count_upper_bound ?? -1;
  const rate = await readMatchRate(deps, audienceId, undefined);
  if (rate === undefined || lower <= 0) return { lower, upper, expectedMatched: 0, gap: 0, isBeyondTolerance: false, note: 'no estimate or match rate to judge by' };
  const expectedMatched = Math.round(counts.confirmed * rate);
  const gap = expectedMatched < lower ? (lower - expectedMatched) / Math.max(1, expectedMatched) : expectedMatched > upper ? (expectedMatched - upper) / Math.max(1, expectedMatched) : 0;
  return { lower, upper, expectedMatched, gap, isBeyondTolerance: gap > tolerance };
}

/** Matched ÷ received over the audience's recent sessions (this run's, when given). */
async function readMatchRate(deps: AudienceSyncDeps, audienceId: string, batches: readonly AudienceBatchRecord[] | undefined): Promise<number | undefined> {
  const sessions = await deps.graph.listSessions(audienceId, 50);
  if (sessions.outcome.kind !== 'ok') return undefined;
  const ids = batches ? new Set(batches.filter((b) => b.op !== 'remove').map((b) => b.sessionId)) : undefined;
  let received = 0;
  let matched = 0;
  for (const session of sessions.body?.data ?? []) {
    if (ids && !ids.has(String(session.session_id))) continue;
    received += Number(session.num_received ?? 0);
    matched += Number(session.num_matched ?? 0);
  }
  return received > 0 ? matched / received : undefined;
}

function newSessionId(): string {
  // Meta's session_id is an int64 the client picks; a time base keeps them rising and unique.
  return String(Date.now() * 1000 + randomInt(1000));
}

/** Removals first (the old rows of changed members too), then adds: one session per op. */
async function planIncremental(deps: AudienceSyncDeps, key: string, runId: number, audience: AudienceConfig): Promise<AudienceBatchRecord[]> {
  const removals = await planPass(deps, key, runId, audience, 'remove', (change) => (change.sentRow !== null && change.sentRow.join('\u0000') !== change.row?.join('\u0000') ? change.sentRow : undefined));
  const adds = await planPass(deps, key, runId, audience, 'add', (change) => change.row ?? undefined);
  return [...removals, ...adds];
}

async function planPass(
  deps: AudienceSyncDeps,
  key: string,
  runId: number,
  audience: AudienceConfig,
  op: 'add' | 'remove',
  rowOf: (change: AudienceChange) => readonly string[] | undefined,
): Promise<AudienceBatchRecord[]> {
  const sessionId = newSessionId();
  const batches: AudienceBatchRecord[] = [];
  let items: AudienceBatchItem[] = [];
  let after: number | undefined;
  const flush = async (isLast: boolean) => {
    if (items.length === 0) return;
    batches.push(await deps.store.planAudienceBatch({ runId, audience: key, op, sessionId, seq: batches.length + 1, isLast, items, now: deps.now() }));
    items = [];
  };
  for (;;) {
    deps.signal?.throwIfAborted();
    const page = await deps.store.listAudienceChanges(key, { ...(after !== undefined ? { afterSubscriberId: after } : {}), limit: audience.batchSize });
    for (const change of page) {
      const row = rowOf(change);
      if (row === undefined || change.matchKey === null) continue;
      items.push({ subscriberId: change.subscriberId, matchKey: change.matchKey, row });
      if (items.length === audience.batchSize) await flush(false);
    }
    if (page.length < audience.batchSize) break;
    after = page[page.length - 1]!.subscriberId;
  }
  // The last flag matters to a replace session (planReplace reads ahead for it); for /users it is
  // informational, so a pass that filled its last batch exactly leaves it unset.
  await flush(true);
  return batches;
}

/** Every expected member, in one replace session: afterwards Meta holds exactly them. */
async function planReplace(deps: AudienceSyncDeps, key: string, runId: number, audience: AudienceConfig): Promise<AudienceBatchRecord[]> {
  const sessionId = newSessionId();
  const batches: AudienceBatchRecord[] = [];
  let after: number | undefined;
  let page = await deps.store.listAudienceMembers(key, { limit: audience.batchSize });
  while (page.length > 0) {
    deps.signal?.throwIfAborted();
    after = page[page.length - 1]!.subscriberId;
    // Read one page ahead: the session's last batch must say so.
    const next = await deps.store.listAudienceMembers(key, { afterSubscriberId: after, limit: audience.batchSize });
    const items = page.filter((m) => m.row !== null && m.matchKey !== null).map((m) => ({ subscriberId: m.subscriberId, matchKey: m.matchKey!, row: m.row! }));
    batches.push(await deps.store.planAudienceBatch({ runId, audience: key, op: 'replace', sessionId, seq: batches.length + 1, isLast: next.length === 0, items, now: deps.now() }));
    page = next;
  }
  return batches;
}

/** Waits until no batch of the run (or of the audience, without a run) is still planned. */
async function settle(deps: AudienceSyncDeps, key: string, runId: number | undefined): Promise<{ failed: number; stats: Record<string, unknown> }> {
  const deadline = deps.now() + (deps.settleTimeoutMs ?? 3_600_000);
  const pollMs = deps.pollMs ?? 500;
  for (;;) {
    // Counted in the store, not read: a run of 100 batches polls this for minutes.
    const tally = await deps.store.tallyAudienceBatches({ audience: key, ...(runId !== undefined ? { runId } : {}) });
    const { planned } = tally;
    // Without a run, only the batches still planned are this wait's (the audience's history is not).
    const total = runId !== undefined ? planned + tally.acked + tally.failed : planned;
    if (planned === 0) {
      if (runId === undefined) return { failed: 0, stats: { batchesAcked: 0, numReceived: 0, numInvalid: 0 } };
      return { failed: tally.failed, stats: { batchesAcked: tally.acked, numReceived: tally.numReceived, numInvalid: tally.numInvalid } };
    }
    deps.progress?.({ done: total - planned, total, message: `${planned} of ${total} batches still to send` });
    if (deps.now() > deadline) throw new Error(`${planned} batches of ${key} were not sent within ${deps.settleTimeoutMs ?? 3_600_000} ms: is the worker running? They stay queued.`);
    deps.signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function sampleChanges(store: SyncStore, key: string): Promise<Record<string, unknown>> {
  const adds: Sample[] = [];
  const removes: Sample[] = [];
  let after: number | undefined;
  while (adds.length < SAMPLES || removes.length < SAMPLES) {
    const page = await store.listAudienceChanges(key, { ...(after !== undefined ? { afterSubscriberId: after } : {}), limit: 1000 });
    for (const change of page) {
      const sample = { subscriberId: change.subscriberId, matchKey: change.matchKey };
      if (change.row === null) {
        if (removes.length < SAMPLES) removes.push(sample);
      } else if (adds.length < SAMPLES) adds.push(sample);
    }
    if (page.length < 1000) break;
    after = page[page.length - 1]!.subscriberId;
  }
  return { addSamples: adds, removeSamples: removes };
}

/**
 * Erasure's part at Meta: these members leave the audience now, whatever the selection says, in
 * one run of their own (removal batches, acknowledged before the caller deletes their rows).
 */
export async function removeMembers(deps: AudienceSyncDeps, members: readonly AudienceChange[], reason: string): Promise<SyncResult> {
  const audience = deps.destination.audiences[deps.audienceName];
  if (!audience?.audienceId) throw new Error(`audience ${deps.audienceName} on ${deps.destinationName} has no audienceId: nothing can be removed at Meta`);
  const key = audienceKey(deps.destinationName, deps.audienceName);
  const run = await deps.store.startAudienceRun({ audience: key, kind: 'sync', now: deps.now() });
  await deps.store.setAudienceMembers(key, members.map((m) => ({ subscriberId: m.subscriberId, row: null, matchKey: null })), deps.now());
  const items = members.filter((m) => m.sentRow !== null && m.matchKey !== null).map((m) => ({ subscriberId: m.subscriberId, matchKey: m.matchKey!, row: m.sentRow! }));
  const sessionId = newSessionId();
  const batches: AudienceBatchRecord[] = [];
  for (let i = 0; i < items.length; i += audience.batchSize) {
    const chunk = items.slice(i, i + audience.batchSize);
    batches.push(await deps.store.planAudienceBatch({ runId: run.id, audience: key, op: 'remove', sessionId, seq: batches.length + 1, isLast: i + audience.batchSize >= items.length, items: chunk, now: deps.now() }));
  }
  if (batches.length > 0) await deps.queueUploads(batches, audience.audienceId);
  const settled = await settle(deps, key, run.id);
  const stats = { removed: items.length, batches: batches.length, ...settled.stats };
  const status = settled.failed > 0 ? 'failed' : 'succeeded';
  await deps.store.finishAudienceRun({ runId: run.id, status, stats, detail: reason, now: deps.now() });
  return { run, status, stats, detail: reason };
}
