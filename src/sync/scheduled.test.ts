import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { tempDir } from '../../test/helpers.js';
import { resolveConfig } from '../config/load.js';
import { DAY, TestClock } from '../lib/clock.js';
import { silentLog } from '../lib/log.js';
import { createScheduler } from '../schedules/index.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/index.js';
import { builtInSchedules } from './scheduled.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(input: Record<string, unknown>): Promise<{ loaded: ReturnType<typeof resolveConfig>; store: SqliteStore }> {
  const temp = tempDir();
  cleanups.push(() => Promise.resolve(temp.remove()));
  const loaded = resolveConfig(input, { cwd: temp.dir, env: {}, source: 'test' });
  const store = await openSqliteStore({ path: path.join(temp.dir, 'kitrelay.db') });
  cleanups.push(() => store.close());
  return { loaded, store };
}

describe('built-in schedules', () => {
  it('has retention hourly by default, and Kit recovery only when scheduled and Kit can be reached', async () => {
    const { loaded, store } = await setUp({});
    const deps = { loaded, store, env: {}, routeSecret: 'secret', hasKitAccess: true };
    expect(builtInSchedules(deps).map((s) => [s.name, s.cron])).toEqual([['retention', '0 * * * *']]);
    const scheduled = await setUp({ retention: { schedule: '30 2 * * *' }, kit: { sync: { recoverSchedule: '*/15 * * * *' } } });
    const withRecovery = { ...deps, loaded: scheduled.loaded, store: scheduled.store };
    expect(builtInSchedules(withRecovery).map((s) => [s.name, s.cron])).toEqual([
      ['retention', '30 2 * * *'],
      ['kit-recovery', '*/15 * * * *'],
    ]);
    expect(builtInSchedules({ ...withRecovery, hasKitAccess: false }).map((s) => s.name)).toEqual(['retention']);
  });

  it('runs retention at the scheduler clock\'s now and records what it removed', async () => {
    const { loaded, store } = await setUp({ retention: { eventDays: 1 } });
    const clock = new TestClock();
    const scheduler = createScheduler({ store, clock, log: silentLog(), schedules: builtInSchedules({ loaded, store, env: {}, routeSecret: 's', hasKitAccess: false }) });
    await scheduler.tick();
    clock.advance(2 * DAY);
    const [run] = await scheduler.tick();
    expect(run).toMatchObject({ schedule: 'retention', trigger: 'missed', status: 'succeeded', counts: { events: 0, jobs: 0, quarantine: 0, auditScrubbed: 0, dedupeKeys: 0 } });
    expect(run?.summary).toContain('events 0');
  });
});
