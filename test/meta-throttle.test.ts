/**
 * Issue 10: throttling slows down before a block and backs off on one. An audience run of several
 * batches, a real worker running the `upload` action, a real SQLite file, and the Meta simulator on
 * loopback metering usage (X-App-Usage, X-Business-Use-Case-Usage, X-Ad-Account-Usage) and
 * answering Meta's throttling error once its quota is spent (reference/destinations.md §2.6).
 *
 * One TestClock drives the worker, the action and the simulator, so Meta's own units stay as they
 * are (an hourly window, regain times in minutes, the 5-minute pacing cap) and a run that spans
 * hours of Meta's time takes a second or two: whenever the worker has nothing to do now, the
 * clock jumps ahead (`driveClock`).
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClock } from '../src/lib/clock.js';
import { createMetaHarness, type MetaHarness, type MetaHarnessOptions } from '../src/integrations/meta/harness.js';
import { sha256Hex } from '../src/integrations/meta/normalize.js';
import { META_DEFAULT_RATE_LIMIT } from '../src/integrations/meta/schema.js';
import { syncAudience, type SyncResult } from '../src/integrations/meta/sync.js';
import { REGAIN_MARGIN_MS, throttleDelayMs } from '../src/integrations/meta/usage.js';
import type { SimRequest } from '../src/simulators/index.js';
import type { AttemptRecord, SubscriberSnapshot } from '../src/store/types.js';

let harness: MetaHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const HOUR = 3_600_000;
const MINUTE = 60_000;
let accounts = 0;

/**
 * The harness on a TestClock with the service's Meta defaults (one upload a second, burst 2,
 * concurrency 4, 8 attempts), one row per batch, and a short attempt timeout: a pacing wait longer
 * than a quarter of it goes back to the queue, on the clock, instead of being slept in real time
 * inside the attempt.
 */
async function setup(clock: TestClock, options: { readonly sim?: MetaHarnessOptions['sim']; readonly destination?: Record<string, unknown> } = {}): Promise<MetaHarness> {
  // The upload action keeps the last usage per ad account in the process: one account per test.
  accounts += 1;
  harness = await createMetaHarness({
    clock,
    sim: { adAccountId: `act_${9_000_000 + accounts}`, ...options.sim },
    audience: { batchSize: 1 },
    destination: { rateLimit: META_DEFAULT_RATE_LIMIT, concurrency: 4, retry: { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 60_000 }, timeoutMs: 2_000, ...options.destination },
  });
  harness.worker();
  return harness;
}

const person = (id: number): SubscriberSnapshot => ({ kitId: id, email: `p${id}@example.com`, firstName: null, state: 'active', fields: {}, tags: [], createdAt: null });
const people = (count: number): SubscriberSnapshot[] => Array.from({ length: count }, (_, i) => person(i + 1));

/** One audience run, the clock driven until it has settled. */
async function run(h: MetaHarness, clock: TestClock): Promise<SyncResult> {
  const result = syncAudience({
    store: h.store, destinationName: 'meta', destination: h.destination, audienceName: 'customers', graph: h.graph,
    queueUploads: (batches, id) => h.queueUploads(batches, id), now: () => clock.now(), pollMs: 10, settleTimeoutMs: 24 * HOUR,
  });
  await driveClock(h, clock, result);
  return result;
}

/**
 * Moves the clock whenever the worker has nothing to do now, until `until` settles: to the next
 * due job when none is due; by one rate-limit token (or to the end of an open breaker) when due
 * jobs have sat unclaimed a while, as both hold jobs in the worker's memory, not in the store.
 * Never while an attempt runs: its lease and its view of the clock stay as a real run's would.
 */
async function driveClock(h: MetaHarness, clock: TestClock, until: Promise<unknown>): Promise<void> {
  let isDone = false;
  const done = until.then(() => (isDone = true), () => (isDone = true));
  const tokenMs = 1000 / (h.destination.rateLimit?.perSecond ?? 1);
  let seen = '';
  let seenAt = performance.now();
  while (!isDone) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const now = clock.now();
    const jobs = await h.store.listJobs({ destination: 'meta' });
    const snapshot = JSON.stringify([now, jobs.map((j) => [j.id, j.status, j.runAt, j.attempts])]);
    if (snapshot !== seen) [seen, seenAt] = [snapshot, performance.now()];
    const pending = jobs.filter((j) => j.status === 'pending');
    if (pending.length === 0 || jobs.some((j) => j.status === 'running')) continue;
    const openUntil = (await h.store.getDestinationStates()).find((s) => s.destination === 'meta')?.breakerOpenUntil ?? 0;
    const nextRunAt = Math.min(...pending.map((j) => j.runAt));
    if (nextRunAt > now) clock.set(Math.max(openUntil, nextRunAt));
    else if (performance.now() - seenAt > 100) clock.set(Math.max(openUntil, now + tokenMs));
  }
  await done;
}

/** The users calls the simulator received, oldest first. */
const uploads = (h: MetaHarness): SimRequest[] => h.sim.requests.filter((r) => /\/users(replace)?$/.test(r.path));

/** Which batch a users call carried: its session and sequence number. */
function batchOf(request: SimRequest): string {
  const session = (request.body as { session?: { session_id?: number; batch_seq?: number } } | undefined)?.session;
  return `${session?.session_id}/${session?.batch_seq}`;
}

/** How many calls of each batch Meta answered 200. */
function acceptedPerBatch(h: MetaHarness): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of uploads(h).filter((u) => u.status === 200)) counts.set(batchOf(r), (counts.get(batchOf(r)) ?? 0) + 1);
  return counts;
}

async function attemptsOf(h: MetaHarness): Promise<AttemptRecord[]> {
  return (await h.store.listAttempts({ destination: 'meta', limit: 1000 })).sort((a, b) => a.startedAt - b.startedAt || a.id - b.id);
}

/** Who Meta's audience holds, by EXTERN_ID (the Kit id), in order. */
function memberIds(h: MetaHarness): string[] {
  return h.sim.members(h.audienceId).map((m) => m.keys.EXTERN_ID ?? '').sort((a, b) => Number(a) - Number(b));
}

describe('meta throttling through the worker', () => {
  it('slows down before a block: uploads are spaced out as usage nears 100%, and Meta never has to throttle', async () => {
    const clock = new TestClock(Date.now());
    // 10 calls an hour: a run of 12 batches cannot fit in one window.
    const h = await setup(clock, { sim: { usage: { callsPerWindow: 10, windowMs: HOUR, throttleCode: 80003 } } });
    await h.store.upsertSubscribers(people(12), 'backfill', clock.now());

    const result = await run(h, clock);
    expect(result).toMatchObject({ status: 'succeeded', stats: { batches: 12, batchesAcked: 12, numReceived: 12 } });

    const sent = uploads(h);
    // Never throttled: every call Meta received was accepted, each batch exactly once.
    expect(sent.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect([...acceptedPerBatch(h).values()]).toEqual(Array(12).fill(1));
    expect(memberIds(h)).toEqual(people(12).map((p) => String(p.kitId)));

    // Usage after each call: the calls Meta counted in the hour up to it, of 10. Below 75% calls go
    // at the rate limit's pace (one a second, two at a burst). An upload that starts once an answer
    // past 75% is in paces itself: it goes after the call before it has been answered, and waits
    // what that answer asked (80% → 12 s, 90% → 108 s; at 100%, until the window frees a call).
    const usageAfter = sent.map((r, i) => sent.slice(0, i + 1).filter((o) => o.receivedAt > r.receivedAt - HOUR).length * 10);
    const asked = (pct: number) => throttleDelayMs({ maxPct: pct, regainAccessMs: undefined });
    const attempts = await attemptsOf(h);
    const sender = new Map(attempts.filter((a) => a.request !== undefined).map((a) => [`${a.correlation.sessionId}/${a.correlation.batchSeq}`, a]));
    const senderOf = (r: SimRequest) => sender.get(batchOf(r))!;
    const paced: number[] = [];
    const unpaced: number[] = [];
    /** Gaps paced on the answer of the call before, below 100%: at 100% the wait is until the window frees calls, and two waiting uploads may then go together. */
    const pacedBelowFull: number[] = [];
    sent.forEach((r, j) => {
      if (j === 0) return;
      const gap = r.receivedAt - sent[j - 1]!.receivedAt;
      const known = sent.slice(0, j).filter((o) => senderOf(o).finishedAt < senderOf(r).startedAt).map((o) => usageAfter[sent.indexOf(o)]!);
      const isPacing = known.length > 0 && known[known.length - 1]! > 75;
      (isPacing ? paced : unpaced).push(gap);
      const before = usageAfter[j - 1]!;
      // Paced on the call just before it (its answer was in first): gaps after earlier answers may
      // be shorter (an upload in flight alongside), and after the window frees calls the usage Meta
      // counts can be lower than the one the pacer last knew.
      const isPacedOnPrevious = isPacing && senderOf(sent[j - 1]!).finishedAt < senderOf(r).startedAt;
      if (isPacedOnPrevious && before < 100) pacedBelowFull.push(gap);
      // Less a few milliseconds: the action adds the real time it spends to the attempt's start,
      // while this test's clock stands still during an attempt.
      if (isPacedOnPrevious && before < 100) expect(gap, `call ${j + 1}, after one at ${before}%`).toBeGreaterThanOrEqual(asked(before) - 50);
    });
    expect(Math.max(...usageAfter)).toBe(100);
    expect(paced.length).toBeGreaterThanOrEqual(3);
    // Later gaps longer than early ones.
    expect(pacedBelowFull.length).toBeGreaterThan(0);
    expect(Math.max(...unpaced)).toBeLessThan(Math.min(...pacedBelowFull));

    // The waits were the pacing's (nothing sent, the job rescheduled), never Meta's error.
    expect(attempts.filter((a) => a.outcome === 'retry').map((a) => a.error)).toEqual(expect.arrayContaining([expect.stringMatching(/usage is at (80|90|100)%: waiting \d+ s/)]));
    expect(attempts.filter((a) => a.outcome === 'retry').every((a) => a.errorClass === 'retry_after' && a.request === undefined)).toBe(true);
    expect(attempts.some((a) => /80003|too many calls/i.test(a.error ?? ''))).toBe(false);
    const jobs = await h.store.listJobs({ destination: 'meta' });
    expect(jobs.every((j) => j.status === 'succeeded' && j.attempts < j.maxAttempts)).toBe(true);
  });

  it('backs off on a block: a throttled batch waits Meta\'s estimated_time_to_regain_access, is not dead-lettered, and is acknowledged once', async () => {
    const clock = new TestClock(Date.now());
    // Burst 1: the first upload's answer is in before the second is claimed.
    const h = await setup(clock, { sim: { usage: { callsPerWindow: 10, windowMs: HOUR, throttleCode: 80003 } }, destination: { rateLimit: { perSecond: 1, burst: 1 } } });
    await h.store.upsertSubscribers(people(4), 'backfill', clock.now());
    // Another app on the same ad account spends the quota first.
    const spentAt = clock.now();
    for (let i = 0; i < 10; i += 1) expect((await h.graph.readAudience(h.audienceId)).outcome.kind).toBe('ok');

    const result = await run(h, clock);
    expect(result).toMatchObject({ status: 'succeeded', stats: { batches: 4, batchesAcked: 4 } });

    // One call was throttled: Meta's 80003 with the regain time in X-Business-Use-Case-Usage,
    // 60 minutes (the other app's calls leave the hourly window then).
    const sent = uploads(h);
    const throttled = sent.filter((r) => r.status !== 200);
    expect(throttled).toHaveLength(1);
    const regainMs = Math.ceil((spentAt + HOUR - throttled[0]!.receivedAt) / MINUTE) * MINUTE;
    expect(regainMs).toBe(60 * MINUTE);

    const attempts = await attemptsOf(h);
    const block = attempts.find((a) => /80003/.test(a.error ?? ''));
    expect(block).toMatchObject({ outcome: 'retry', errorClass: 'retry_after', responseStatus: 400 });
    expect(block?.error).toMatch(/too many calls.*\[code 80003\/2446079, fbtrace_id \S+\]/i);
    // Rescheduled for the regain time, not the retry policy's backoff (≤ 1 min): its next attempt
    // started no sooner, on the clock.
    const after = attempts.filter((a) => a.jobId === block!.jobId && a.attempt === block!.attempt + 1);
    expect(after).toHaveLength(1);
    expect(after[0]!.startedAt - block!.finishedAt).toBeGreaterThanOrEqual(regainMs);
    expect((await h.store.getJob(block!.jobId))?.runAt).toBe(block!.finishedAt + regainMs + REGAIN_MARGIN_MS);

    // The other batches were not sent into the block: they waited on the throttled answer's usage.
    const waited = attempts.filter((a) => a.jobId !== block!.jobId && a.outcome === 'retry');
    expect(waited.length).toBeGreaterThan(0);
    for (const a of waited) expect(a).toMatchObject({ errorClass: 'retry_after', error: expect.stringMatching(/usage is at 100%: waiting 3\d{3} s/) as unknown });
    expect(sent.filter((r) => r.receivedAt < spentAt + HOUR)).toHaveLength(1);

    // Not a failure: nothing failed or died, the breaker stayed closed, every batch is acknowledged
    // once, after access returned, and each member is in the audience once.
    expect(attempts.some((a) => a.outcome === 'failed' || a.outcome === 'unknown')).toBe(false);
    expect((await h.store.listJobs({ destination: 'meta' })).map((j) => j.status)).toEqual(Array(4).fill('succeeded'));
    expect((await h.store.getDestinationStates()).find((s) => s.destination === 'meta')?.breakerOpenings ?? 0).toBe(0);
    const batches = await h.store.listAudienceBatches({ runId: result.run.id });
    expect(batches.map((b) => b.status)).toEqual(Array(4).fill('acked'));
    for (const b of batches) expect(b.ackedAt).toBeGreaterThanOrEqual(spentAt + HOUR);
    expect([...acceptedPerBatch(h).values()]).toEqual([1, 1, 1, 1]);
    expect(acceptedPerBatch(h).get(batchOf(throttled[0]!))).toBe(1);
    expect(memberIds(h)).toEqual(['1', '2', '3', '4']);
  });

  it('retries an is_transient error and records a refused batch once, without retrying it', async () => {
    const clock = new TestClock(Date.now());
    const h = await setup(clock, { sim: { usage: false } });
    await h.store.upsertSubscribers(people(3), 'backfill', clock.now());
    // Batch 1: Meta fails for now (is_transient: true). Batch 3: Meta refuses the rows as sent,
    // every time it is asked.
    const transient = { error: { message: '(#2650) Failed to update the custom audience', type: 'OAuthException', code: 2650, is_transient: true, fbtrace_id: 'TRANSIENT1' } };
    const refused = { error: { message: '(#100) Data is missing or does not match schema', type: 'OAuthException', code: 100, fbtrace_id: 'REFUSED1' } };
    h.sim.faults.add({ kind: 'status', status: 400, body: transient, path: /\/users$/, bodyIncludes: '"batch_seq":1,' });
    h.sim.faults.add({ kind: 'status', status: 400, body: refused, path: /\/users$/, bodyIncludes: '"batch_seq":3,', times: Infinity });

    const result = await run(h, clock);
    expect(result).toMatchObject({ status: 'failed', detail: expect.stringContaining('1 of 3 batches failed') as unknown, stats: { batchesAcked: 2 } });

    const batches = await h.store.listAudienceBatches({ runId: result.run.id });
    const jobOf = async (seq: number) => (await h.store.listJobs({ destination: 'meta' })).find((j) => (j.params as { batchId: number }).batchId === batches[seq - 1]!.id)!;
    // Transient: retried after the policy's backoff, then acknowledged once.
    expect(batches[0]).toMatchObject({ seq: 1, status: 'acked' });
    const first = await jobOf(1);
    expect(first).toMatchObject({ status: 'succeeded', attempts: 2 });
    const [failedOnce] = await h.store.listAttempts({ jobId: first.id, outcome: 'retry' });
    expect(failedOnce).toMatchObject({ errorClass: 'retryable', error: expect.stringContaining('TRANSIENT1') as unknown });
    // Refused: recorded on the batch with Meta's code, the job dead after one attempt, one call.
    expect(batches[2]).toMatchObject({ seq: 3, status: 'failed', error: expect.stringContaining('does not match schema') as unknown, response: { code: 100, fbtrace_id: 'REFUSED1' } });
    expect(await jobOf(3)).toMatchObject({ status: 'dead', attempts: 1 });
    expect(uploads(h).filter((r) => batchOf(r).endsWith('/3'))).toHaveLength(1);
    expect(memberIds(h)).toEqual(['1', '2']);
    expect(await h.store.countAudience('meta/customers')).toMatchObject({ confirmed: 2, toAdd: 1 });
  });

  it('records Meta\'s invalid rows (num_invalid_entries) on the acknowledged batch and does not send it again', async () => {
    const clock = new TestClock(Date.now());
    const h = await setup(clock, { sim: { usage: false } });
    const key = 'meta/customers';
    const valid = { subscriberId: 1, matchKey: sha256Hex('p1@example.com'), row: ['1', sha256Hex('p1@example.com')] };
    // A value Meta cannot take: EMAIL must be a SHA-256 hash.
    const invalid = { subscriberId: 2, matchKey: 'not-a-hash', row: ['2', 'not-a-hash'] };
    await h.store.setAudienceMembers(key, [valid, invalid].map(({ subscriberId, row, matchKey }) => ({ subscriberId, row, matchKey })), clock.now());
    const runRecord = await h.store.startAudienceRun({ audience: key, kind: 'sync', now: clock.now() });
    const batch = await h.store.planAudienceBatch({ runId: runRecord.id, audience: key, op: 'add', sessionId: '4242', seq: 1, isLast: true, items: [valid, invalid], now: clock.now() });
    await h.queueUploads([batch], h.audienceId);
    const [job] = await h.store.listJobs({ destination: 'meta' });

    await driveClock(h, clock, waitFor(async () => (await h.store.getJob(job!.id))?.status === 'succeeded'));
    expect(await h.store.getJob(job!.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(await h.store.getAudienceBatch(batch.id)).toMatchObject({ status: 'acked', response: { num_received: 2, num_invalid_entries: 1, invalid_entry_samples: { 'not-a-hash': 'EMAIL' }, rows_sent: 2 } });
    const [attempt] = await h.store.listAttempts({ jobId: job!.id });
    expect(attempt?.correlation).toMatchObject({ numReceived: '2', numInvalid: '1' });
    expect(memberIds(h)).toEqual(['1']);

    // The job runs again (a replay): the acknowledged batch is not sent again.
    await h.store.replayJob(job!.id, 1, clock.now());
    await driveClock(h, clock, waitFor(async () => (await h.store.getJob(job!.id))?.status === 'succeeded'));
    expect(uploads(h)).toHaveLength(1);
  });
});

async function waitFor(predicate: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
