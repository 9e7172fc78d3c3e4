/**
 * An Airtable backfill killed with SIGKILL mid-way (issue 11): run again, it resumes after the last
 * call Airtable acknowledged. No row is created twice (writes merge on the Kit id, so the call in
 * flight when the process died may be sent again harmlessly), and no acknowledged record before
 * the checkpoint is sent again.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backfillCheckpointName } from '../src/integrations/airtable/backfill.js';
import { TEST_FIELDS } from '../src/integrations/airtable/harness.js';
import { startAirtableSimulator, type AirtableSimulator } from '../src/integrations/airtable/simulator.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { eventually, execCli, exited, tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const COUNT = 300;

let sim: AirtableSimulator | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  remove?.();
});

describe('airtable backfill, killed mid-way', () => {
  it('resumes after the last acknowledged call and never creates a row twice', async () => {
    sim = await startAirtableSimulator({ bases: [{ name: 'Kit', tables: [{ name: 'Subscribers', fields: TEST_FIELDS }] }] });
    const temp = tempDir();
    remove = temp.remove;
    const configPath = path.join(temp.dir, 'kitrelay.config.mjs');
    writeFileSync(
      configPath,
      `export default {
        destinations: { airtable: { type: 'airtable', token: { $env: 'AIRTABLE_TOKEN' }, apiUrl: '${sim.url}', concurrency: 2,
          syncs: { subscribers: { baseId: '${sim.baseId}', table: 'Subscribers', fields: { Email: 'email', Name: 'first_name' } } } } },
        log: { level: 'warn' },
      };\n`,
    );
    const store = await openSqliteStore({ path: path.join(temp.dir, 'kitrelay.db') });
    const checkpointName = backfillCheckpointName('airtable', 'subscribers');
    try {
      await store.upsertSubscribers(Array.from({ length: COUNT }, (_, i) => ({ kitId: i + 1, email: `c${i + 1}@example.com`, firstName: `C ${i + 1}`, state: 'active', fields: {}, tags: [], createdAt: null })), 'backfill', Date.now());
      // Each write takes a while, so the process is killed with calls acknowledged and calls to go.
      sim.faults.add({ kind: 'delay', ms: 150, method: 'PATCH', times: Infinity });
      const env = { ...process.env, AIRTABLE_TOKEN: sim.token };
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--config', configPath, '--data-dir', temp.dir, 'airtable', 'backfill', 'subscribers'], { cwd: ROOT, env, stdio: 'ignore' });
      await eventually(async () => (Number((await store.getCheckpoint(checkpointName))?.cursor ?? 0) >= 60 ? true : undefined), 60_000, 'the checkpoint to pass Kit id 60');
      child.kill('SIGKILL');
      await exited(child);
      const before = await store.getCheckpoint(checkpointName);
      const cursor = Number(before?.cursor);
      expect(before?.completedAt).toBeNull();
      expect(cursor).toBeLessThan(COUNT);
      const sentBeforeKill = sim.requests.length;

      sim.faults.clear();
      const resumed = await execCli(['--config', configPath, '--data-dir', temp.dir, 'airtable', 'backfill', 'subscribers'], { AIRTABLE_TOKEN: sim.token });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain(`backfill subscribers: completed (resumed after Kit id ${cursor})`);

      const ids = sim.records('Subscribers').map((r) => Number(r.fields['Kit ID']));
      expect(ids).toHaveLength(COUNT);
      expect(new Set(ids).size).toBe(COUNT);
      // Nothing up to the checkpoint went again.
      const resent = sim.requests.slice(sentBeforeKill).filter((r) => r.method === 'PATCH').flatMap((r) => (r.body as { records: { fields: { 'Kit ID': number } }[] }).records.map((rec) => rec.fields['Kit ID']));
      expect(resent.filter((id) => id <= cursor)).toEqual([]);
      expect(await store.getCheckpoint(checkpointName)).toMatchObject({ cursor: String(COUNT), completedAt: expect.any(Number) });
      expect(await store.countAirtableRecords('airtable/subscribers')).toBe(COUNT);
    } finally {
      await store.close();
    }
  }, 120_000);
});
