/**
 * `kitrelay schedules …` as an operator runs it: real processes on a real SQLite file, with the
 * built-in example config.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { ScheduleRunRecord } from '../src/store/types.js';
import { tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

let dir: string;
let remove: () => void;

async function kitrelay(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--data-dir', dir, ...args], { cwd: ROOT, env: { ...process.env, KITRELAY_ROUTE_SECRET: 'cli-test' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Listed {
  name: string;
  cron: string;
  isEnabled: boolean;
  nextRunAt: number | null;
  lastRun: ScheduleRunRecord | null;
  holder: { owner: string } | null;
}

beforeAll(() => {
  ({ dir, remove } = tempDir());
});
afterAll(() => remove());

describe('kitrelay schedules', () => {
  it('lists retention, runs it on demand and shows the run in the list and the history', async () => {
    const before = JSON.parse((await kitrelay(['schedules', 'list', '--json'])).stdout) as Listed[];
    expect(before.find((s) => s.name === 'retention')).toMatchObject({ cron: '0 * * * *', isEnabled: true, lastRun: null, holder: null });

    const ran = await kitrelay(['schedules', 'run', 'retention', '--json']);
    expect(ran.code).toBe(0);
    const record = JSON.parse(ran.stdout) as ScheduleRunRecord;
    expect(record).toMatchObject({ schedule: 'retention', trigger: 'manual', status: 'succeeded', counts: { events: 0, jobs: 0, quarantine: 0 } });
    expect(record.owner).toMatch(/^cli:/);

    const after = JSON.parse((await kitrelay(['schedules', 'list', '--json'])).stdout) as Listed[];
    expect(after.find((s) => s.name === 'retention')).toMatchObject({ lastRun: { id: record.id, status: 'succeeded' }, holder: null });
    expect(after.find((s) => s.name === 'retention')?.nextRunAt).toBeGreaterThan(Date.now());
    const history = JSON.parse((await kitrelay(['schedules', 'history', 'retention', '--json'])).stdout) as ScheduleRunRecord[];
    expect(history.map((r) => r.id)).toEqual([record.id]);
    expect((await kitrelay(['schedules', 'history'])).stdout).toMatch(/retention\s+manual\s+succeeded/);
  });

  it('refuses to run a schedule another process is running, and names an unknown one', async () => {
    const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    try {
      const claim = await store.startManualRun('retention', 'other-process', Date.now(), 60_000);
      expect(claim.kind).toBe('claimed');
      const refused = await kitrelay(['schedules', 'run', 'retention']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('retention is running in another process (other-process');
      const listed = JSON.parse((await kitrelay(['schedules', 'list', '--json'])).stdout) as Listed[];
      expect(listed.find((s) => s.name === 'retention')?.holder).toMatchObject({ owner: 'other-process' });
      if (claim.kind === 'claimed') await store.finishScheduleRun({ runId: claim.run.id, owner: 'other-process', now: Date.now(), status: 'succeeded', retryAt: null });
    } finally {
      await store.close();
    }
    const unknown = await kitrelay(['schedules', 'run', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No schedule "nope" (schedules: retention');
  });

  it('config check names the new field for a replaced one, and shows a valid cron for a bad one', async () => {
    const file = path.join(dir, 'old.config.mjs');
    writeFileSync(file, "export default { retention: { intervalMs: 60000 }, kit: { sync: { recoverIntervalMs: 60000 } }, schedules: { retention: { cron: 'every hour' } } };\n");
    const result = await kitrelay(['--config', file, 'config', 'check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("retention.intervalMs was replaced by retention.schedule, a cron expression: e.g. '0 * * * *'");
    expect(result.stderr).toContain('kit.sync.recoverIntervalMs was replaced by kit.sync.recoverSchedule');
    expect(result.stderr).toMatch(/config\.schedules\.retention\.cron: "every hour" is not a cron expression: .*e\.g\. '0 \* \* \* \*'/);
  });
});
