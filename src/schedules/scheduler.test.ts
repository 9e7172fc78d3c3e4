import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MINUTE, SECOND, systemClock, TestClock } from '../lib/clock.js';
import { silentLog } from '../lib/log.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/index.js';
import { createScheduler, type Scheduler } from './scheduler.js';
import { applyScheduleOverrides } from './overrides.js';
import type { ScheduleContext, ScheduleDefinition, ScheduleRunResult } from './types.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kitrelay-schedules-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'kitrelay.db');
}

/** A store on the file, closed after the test (as a process would open it). */
async function open(path: string): Promise<SqliteStore> {
  const store = await openSqliteStore({ path });
  cleanups.push(() => store.close());
  return store;
}

function scheduler(store: SqliteStore, clock: TestClock, schedules: ScheduleDefinition[], ownerId: string): Scheduler {
  const created = createScheduler({ store, clock, log: silentLog(), schedules, ownerId });
  cleanups.push(() => created.stop({ graceMs: 100 }));
  return created;
}

/** A schedule whose runs are recorded in `calls`; `run` decides each outcome. */
function recorded(cron: string, run: (ctx: ScheduleContext, call: number) => Promise<ScheduleRunResult> = () => Promise.resolve({})) {
  const calls: ScheduleContext[] = [];
  const definition: ScheduleDefinition = {
    name: 'tidy',
    cron,
    leaseMs: 30 * SECOND,
    retry: { maxRetries: 2, baseDelayMs: 10 * SECOND },
    run: (ctx) => {
      calls.push(ctx);
      return run(ctx, calls.length);
    },
  };
  return { definition, calls };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('scheduler', () => {
  it('runs a schedule once when its cron slot comes, and not again before the next', async () => {
    const clock = new TestClock(T0 + 10 * SECOND);
    const store = await open(await tempPath());
    const { definition, calls } = recorded('* * * * *', () => Promise.resolve({ counts: { tidied: 2 }, summary: 'tidied 2' }));
    const a = scheduler(store, clock, [definition], 'proc-a');
    expect(await a.tick()).toEqual([]); // registers: first slot T0 + 1 min
    clock.set(T0 + MINUTE + 200);
    const [run] = await a.tick();
    expect(run).toMatchObject({ trigger: 'cron', status: 'succeeded', scheduledFor: T0 + MINUTE, counts: { tidied: 2 }, summary: 'tidied 2', owner: 'proc-a' });
    expect(await a.tick()).toEqual([]);
    clock.set(T0 + MINUTE + 59 * SECOND);
    expect(await a.tick()).toEqual([]);
    expect(calls).toHaveLength(1);
    expect((await store.listSchedules())[0]).toMatchObject({ nextRunAt: T0 + 2 * MINUTE, lease: null });
  });

  it('runs a slot missed while down once, as missed, however many slots passed', async () => {
    const path = await tempPath();
    const clock = new TestClock(T0 + 10 * SECOND);
    const before = await open(path);
    const { definition, calls } = recorded('* * * * *');
    await scheduler(before, clock, [definition], 'before-restart').tick();
    await before.close();

    clock.set(T0 + 5 * MINUTE + 30 * SECOND); // five slots came and went
    const after = await open(path);
    const restarted = scheduler(after, clock, [definition], 'after-restart');
    const runs = await restarted.tick();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger: 'missed', status: 'succeeded', scheduledFor: T0 + MINUTE });
    expect(await restarted.tick()).toEqual([]);
    expect(calls).toHaveLength(1);
    expect(await after.listScheduleRuns({ schedule: 'tidy' })).toHaveLength(1);
    expect((await after.listSchedules())[0]?.nextRunAt).toBe(T0 + 6 * MINUTE);
  });

  it('records a failed run with its error and retries it with backoff, at most maxRetries times before the next slot', async () => {
    const clock = new TestClock(T0);
    const store = await open(await tempPath());
    const { definition, calls } = recorded('0 * * * *', (_ctx, call) =>
      call <= 3 ? Promise.reject(new Error(`Kit answered 503 (call ${call})`)) : Promise.resolve({ summary: 'recovered' }),
    );
    const a = scheduler(store, clock, [definition], 'proc-a');
    await a.tick();
    clock.set(T0 + 60 * MINUTE);
    expect(await a.tick()).toMatchObject([{ trigger: 'cron', attempt: 1, status: 'failed', error: 'Kit answered 503 (call 1)' }]);
    expect((await store.listSchedules())[0]).toMatchObject({ retryAt: T0 + 60 * MINUTE + 10 * SECOND, consecutiveFailures: 1 });
    clock.advance(5 * SECOND);
    expect(await a.tick()).toEqual([]); // backoff: not yet
    clock.advance(5 * SECOND);
    expect(await a.tick()).toMatchObject([{ trigger: 'retry', attempt: 2, status: 'failed' }]);
    clock.advance(20 * SECOND); // the second retry waits twice as long
    expect(await a.tick()).toMatchObject([{ trigger: 'retry', attempt: 3, status: 'failed', error: 'Kit answered 503 (call 3)' }]);
    expect((await store.listSchedules())[0]).toMatchObject({ retryAt: null, consecutiveFailures: 3 });
    clock.advance(30 * MINUTE);
    expect(await a.tick()).toEqual([]); // out of retries: waits for the next slot
    clock.set(T0 + 120 * MINUTE);
    expect(await a.tick()).toMatchObject([{ trigger: 'cron', attempt: 1, status: 'succeeded', summary: 'recovered' }]);
    const history = await store.listScheduleRuns({ schedule: 'tidy' });
    expect(history.map((run) => [run.trigger, run.status])).toEqual([
      ['cron', 'succeeded'],
      ['retry', 'failed'],
      ['retry', 'failed'],
      ['cron', 'failed'],
    ]);
    expect(calls).toHaveLength(4);
  });

  it('never runs a schedule in a second process while the first holds its lease', async () => {
    const path = await tempPath();
    const clock = new TestClock(T0);
    const [storeA, storeB] = [await open(path), await open(path)];
    const gate = deferred();
    const started = deferred();
    const { definition, calls } = recorded('* * * * *', async () => {
      started.resolve();
      await gate.promise;
      return {};
    });
    const a = scheduler(storeA, clock, [definition], 'proc-a');
    const b = scheduler(storeB, clock, [definition], 'proc-b');
    await a.tick();
    await b.tick();
    clock.set(T0 + MINUTE);
    const aTick = a.tick();
    await started.promise;
    expect(await b.tick()).toEqual([]);
    expect(await b.runNow('tidy')).toMatchObject({ kind: 'held', owner: 'proc-a' });
    gate.resolve();
    expect(await aTick).toMatchObject([{ owner: 'proc-a', status: 'succeeded' }]);
    expect(await b.tick()).toEqual([]);
    expect(calls).toHaveLength(1);
  });

  it('marks the run of a holder that died abandoned once its lease expires, and runs it again', async () => {
    const path = await tempPath();
    const clock = new TestClock(T0);
    const store = await open(path);
    const { definition, calls } = recorded('* * * * *');
    const survivor = scheduler(store, clock, [definition], 'survivor');
    await survivor.tick();
    clock.set(T0 + MINUTE);
    // Another process claims the slot, then dies without a word.
    const dead = await open(path);
    const claim = await dead.claimDueSchedule({ name: 'tidy', owner: 'dead-process', now: clock.now(), leaseMs: 30 * SECOND, latestSlotAt: T0 + MINUTE });
    expect(claim.kind).toBe('claimed');
    expect(await survivor.tick()).toEqual([]);
    clock.advance(30 * SECOND);
    expect(await survivor.tick()).toMatchObject([{ trigger: 'retry', attempt: 2, status: 'succeeded', owner: 'survivor', scheduledFor: T0 + MINUTE }]);
    const history = await store.listScheduleRuns({ schedule: 'tidy' });
    expect(history.map((run) => [run.owner, run.status])).toEqual([
      ['survivor', 'succeeded'],
      ['dead-process', 'abandoned'],
    ]);
    expect(calls).toHaveLength(1);
  });

  it('runs a schedule on demand, reporting progress and resuming from the checkpoint a failed run saved', async () => {
    const clock = new TestClock(T0);
    const store = await open(await tempPath());
    const seen: unknown[] = [];
    const { definition } = recorded('0 0 * * *', async (ctx, call) => {
      seen.push(await ctx.checkpoint.load());
      await ctx.checkpoint.save({ cursor: `page-${call}`, data: { done: call * 10 } });
      await ctx.reportProgress({ done: call * 10, total: 30, message: `page ${call}` });
      if (call === 1) return { error: 'Airtable answered 429', counts: { updated: 10 } };
      return { counts: { updated: 20 }, changes: [{ record: 'rec1', field: 'Email' }] };
    });
    const a = scheduler(store, clock, [definition], 'cli');
    expect(await a.runNow('nope')).toEqual({ kind: 'unknown_schedule' });
    const first = await a.runNow('tidy');
    expect(first).toMatchObject({ kind: 'finished', run: { trigger: 'manual', status: 'failed', error: 'Airtable answered 429', counts: { updated: 10 }, progress: { done: 10, total: 30, message: 'page 1', at: T0 } } });
    expect((await store.listSchedules())[0]?.retryAt).toBeNull(); // a manual run is not retried by itself
    const second = await a.runNow('tidy');
    expect(second).toMatchObject({ kind: 'finished', run: { status: 'succeeded', changes: [{ record: 'rec1', field: 'Email' }] } });
    const third = await a.runNow('tidy');
    expect(third).toMatchObject({ kind: 'finished', run: { status: 'succeeded' } });
    expect(seen).toEqual([undefined, { cursor: 'page-1', data: { done: 10 } }, undefined]);
  });

  it('aborts a running run when it stops', async () => {
    const clock = new TestClock(T0);
    const store = await open(await tempPath());
    const { definition } = recorded('* * * * *', (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ error: 'stopped' }))));
    const a = scheduler(store, clock, [definition], 'proc-a');
    await a.tick();
    clock.set(T0 + MINUTE);
    const ticking = a.tick();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await a.stop({ graceMs: 1000 });
    expect(await ticking).toMatchObject([{ status: 'failed', error: 'stopped' }]);
  });

  it('waits on stop for a run that a pass in flight claims after stop was called', async () => {
    const clock = new TestClock(T0);
    const real = await open(await tempPath());
    // The store, with its claim held at a gate: stop() comes while the claim is being asked for.
    const gate = deferred();
    const claimAsked = deferred();
    const store = new Proxy(real, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (key === 'claimDueSchedule') {
          return async (...args: Parameters<SqliteStore['claimDueSchedule']>) => {
            claimAsked.resolve();
            await gate.promise;
            return target.claimDueSchedule(...args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { definition, calls } = recorded('* * * * *', async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { counts: { tidied: 1 } };
    });
    const a = scheduler(store, clock, [definition], 'proc-a');
    await a.tick(); // registers the schedule
    clock.set(T0 + MINUTE);
    a.start();
    await claimAsked.promise;
    const stopping = a.stop({ graceMs: 5_000 });
    gate.resolve();
    await stopping;
    expect(calls).toHaveLength(1);
    const runs = await real.listScheduleRuns({ schedule: 'tidy' });
    expect(runs).toMatchObject([{ status: 'succeeded', counts: { tidied: 1 } }]);
  });

  it('looks again when a run ends, so a schedule every second is not held to the poll interval', async () => {
    const store = await open(await tempPath());
    const { definition, calls } = recorded('* * * * * *');
    // The default poll (10 s): only the wake after each run can bring the next slot on time.
    const a = createScheduler({ store, clock: systemClock, log: silentLog(), schedules: [definition], ownerId: 'proc-a' });
    cleanups.push(() => a.stop({ graceMs: 1_000 }));
    a.start();
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    await a.stop({ graceMs: 1_000 });
    // Slots at whole seconds: 3 or more of the 4 in the window, however slow the machine is at the start.
    expect(calls.length).toBeGreaterThanOrEqual(3);
    const runs = await store.listScheduleRuns({ schedule: 'tidy' });
    expect(new Set(runs.map((run) => run.scheduledFor)).size).toBe(runs.length);
  });

  it('applies config overrides: another cron, or off', () => {
    const { definition } = recorded('* * * * *');
    const other: ScheduleDefinition = { ...definition, name: 'other' };
    const { schedules, disabled, unknownNames } = applyScheduleOverrides([definition, other], { tidy: { cron: '0 3 * * *', timezone: 'Europe/Berlin' }, other: { enabled: false }, typo: {} });
    expect(schedules.map((s) => [s.name, s.cron, s.timezone])).toEqual([['tidy', '0 3 * * *', 'Europe/Berlin']]);
    expect(disabled.map((s) => s.name)).toEqual(['other']);
    expect(unknownNames).toEqual(['typo']);
  });

  it('refuses a definition with a bad cron or a duplicate name', async () => {
    const store = await open(await tempPath());
    const { definition } = recorded('61 * * * *');
    expect(() => createScheduler({ store, clock: new TestClock(), log: silentLog(), schedules: [definition] })).toThrow(/schedule tidy: "61 \* \* \* \*" is not a cron expression/);
    const ok = recorded('* * * * *').definition;
    expect(() => createScheduler({ store, clock: new TestClock(), log: silentLog(), schedules: [ok, ok] })).toThrow(/unique/);
  });
});
