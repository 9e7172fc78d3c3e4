/**
 * A Meta audience run killed with SIGKILL mid-way (issue 10, "crash-safe"): the next run resumes
 * from the store. No batch Meta acknowledged is sent again; the one whose answer the killed process
 * never got may be sent again (Meta's add is idempotent by hash) and is acknowledged once.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startMetaSimulator, type MetaSimulator } from '../src/integrations/meta/simulator.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { eventually, execCli, exited, tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');

let sim: MetaSimulator | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  remove?.();
});

describe('meta audience run, killed mid-way', () => {
  it('resumes from the store: acknowledged batches are not sent again, and every member arrives once', async () => {
    sim = await startMetaSimulator({ usage: false });
    const audienceId = sim.createAudience({ name: 'Customers' }).id;
    const temp = tempDir();
    remove = temp.remove;
    const configPath = path.join(temp.dir, 'kitrelay.config.mjs');
    writeFileSync(
      configPath,
      `export default {
        destinations: { meta: { type: 'meta', accessToken: { $env: 'META_ACCESS_TOKEN' }, adAccountId: '${sim.adAccountId}', graphUrl: '${sim.url}',
          rateLimit: { perSecond: 50, burst: 1 }, concurrency: 1, retry: { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 200 },
          audiences: { customers: { audienceId: '${audienceId}', batchSize: 2, select: { tags: { any: [3] } } } } } },
        queue: { leaseMs: 1500, heartbeatMs: 300, pollIntervalMs: 50 },
        log: { level: 'warn' },
      };\n`,
    );
    const dbPath = path.join(temp.dir, 'kitrelay.db');
    const store = await openSqliteStore({ path: dbPath });
    try {
      await store.upsertSubscribers([1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({ kitId: n, email: `k${n}@example.com`, firstName: null, state: 'active', fields: {}, tags: [{ id: 3 }], createdAt: null })), 'backfill', Date.now());
      // Each upload takes a while, so the process is killed with batches acknowledged and batches to go.
      sim.faults.add({ kind: 'delay', ms: 1000, method: 'POST', times: Infinity });
      const env = { ...process.env, META_ACCESS_TOKEN: sim.accessToken };
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--config', configPath, '--data-dir', temp.dir, 'meta', 'sync', 'customers'], { cwd: ROOT, env, stdio: 'ignore' });
      await eventually(async () => ((await store.listAudienceBatches({ audience: 'meta/customers', status: 'acked' })).length >= 1 ? true : undefined), 30_000, 'a first acknowledged batch');
      child.kill('SIGKILL');
      await exited(child);
      const ackedBeforeKill = await store.listAudienceBatches({ audience: 'meta/customers', status: 'acked' });
      expect(ackedBeforeKill.length).toBeLessThan(4);

      sim.faults.clear();
      const resumed = await execCli(['--config', configPath, '--data-dir', temp.dir, 'meta', 'sync', 'customers'], { META_ACCESS_TOKEN: sim.accessToken });
      expect(resumed.code).toBe(0);
      expect(sim.members(audienceId)).toHaveLength(8);
      const batches = await store.listAudienceBatches({ audience: 'meta/customers' });
      expect(batches.every((b) => b.status === 'acked')).toBe(true);
      // Each batch acknowledged before the kill reached Meta exactly once.
      const sent = sim.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/users')).map((r) => JSON.stringify((r.body as { session?: unknown }).session));
      for (const batch of ackedBeforeKill) {
        const key = JSON.stringify({ session_id: Number(batch.sessionId), batch_seq: batch.seq, last_batch_flag: batch.isLast });
        expect(sent.filter((s) => s === key), `batch ${batch.id}`).toHaveLength(1);
      }
      // Nothing was planned twice: 8 members, 4 batches of 2, whatever the number of runs.
      expect(batches.reduce((n, b) => n + b.size, 0)).toBe(8);
      expect(await store.countAudience('meta/customers')).toEqual({ expected: 8, confirmed: 8, toAdd: 0, toRemove: 0 });
    } finally {
      await store.close();
    }
  }, 90_000);
});
