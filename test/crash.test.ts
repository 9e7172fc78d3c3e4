/**
 * Durability across a crash: a relay process killed with SIGKILL mid-attempt loses nothing; after a
 * restart the interrupted job runs again once its lease expires, and the lost attempt is recorded
 * with outcome "unknown". Real processes, a real SQLite file, real HTTP on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../src/integrations/webhook/simulator.js';
import { routeToken } from '../src/ingest/routes.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { startKitSimulator, type KitSimulator } from '../src/kit/simulator/index.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eventually, exited, startRelayChild, tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const ROUTE_SECRET = 'crash-test-route-secret';

const CONFIG = `export default {
  kit: { legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 4242 }] } },
  destinations: { sink: { type: 'webhook', url: { $env: 'SINK_URL' }, concurrency: 4, timeoutMs: 60000 } },
  rules: [{ id: 'to-sink', on: 'subscriber.tag_added', actions: [{ destination: 'sink' }] }],
  queue: { leaseMs: 1500, heartbeatMs: 300, pollIntervalMs: 50 },
  log: { level: 'warn' },
};
`;

const startRelayProcess = (dir: string, sinkUrl: string) => startRelayChild(dir, { SINK_URL: sinkUrl, KITRELAY_ROUTE_SECRET: ROUTE_SECRET });

let receiver: WebhookReceiver | undefined;
let children: ChildProcess[] = [];
let cleanup: (() => void) | undefined;
afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(exited));
  children = [];
  await receiver?.close();
  cleanup?.();
});

describe('crash safety', () => {
  it('a relay killed with SIGKILL mid-attempt loses nothing and the job runs again after its lease', async () => {
    const { dir, remove } = tempDir();
    cleanup = remove;
    writeFileSync(path.join(dir, 'kitrelay.config.mjs'), CONFIG);
    receiver = await startWebhookReceiver();
    // The first delivery hangs: the process is killed while that attempt is in flight.
    receiver.fault({ kind: 'hang', match: (request) => request.body.includes('"id":1,') });

    const first = await startRelayProcess(dir, `${receiver.url}/sink`);
    children.push(first.child);
    const routePath = `/hooks/kit/legacy/tag_add-4242/${routeToken(ROUTE_SECRET, 'tag_add-4242')}`;
    for (let id = 1; id <= 5; id++) {
      const response = await fetch(`${first.url}${routePath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jsonBody(legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com` }).body) });
      expect(response.status).toBe(200);
    }
    await receiver.waitFor(5, 15_000); // subscriber 1's attempt is hanging, the others answered
    first.child.kill('SIGKILL');
    await exited(first.child);

    const second = await startRelayProcess(dir, `${receiver.url}/sink`);
    children.push(second.child);
    // The store is shared with the running relay (WAL allows a second connection): wait until
    // every job is done, including any whose answer the first process never got to record.
    const watcher = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    try {
      await eventually(async () => (await watcher.listJobs({ status: 'succeeded' })).length === 5 || undefined, 30_000, 'all five jobs to succeed');
    } finally {
      await watcher.close();
    }
    expect(receiver.requests.filter((r) => r.body.includes('"id":1,')).length).toBe(2);
    second.child.kill('SIGTERM');
    await exited(second.child);
    expect(second.child.exitCode).toBe(0);

    const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    try {
      const jobs = await store.listJobs({});
      expect(jobs).toHaveLength(5);
      expect(jobs.every((job) => job.status === 'succeeded')).toBe(true);
      const interrupted = jobs.find((job) => job.subscriberId === '1')!;
      const attempts = (await store.listAttempts({ jobId: interrupted.id })).sort((a, b) => a.attempt - b.attempt);
      expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, 'unknown'], [2, 'succeeded']]);
      expect(await store.listEvents({})).toHaveLength(5);
    } finally {
      await store.close();
    }
  });
});

describe('backfill crash safety', () => {
  let sim: KitSimulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it('a backfill killed with SIGKILL resumes from its checkpoint with no subscriber missed or doubled', async () => {
    const { dir, remove } = tempDir();
    cleanup = remove;
    sim = await startKitSimulator({ seed: { subscribers: 600 }, rateLimit: false });
    // Slow pages, so the process is surely mid-run when it is killed.
    sim.faults.fault({ kind: 'delay', ms: 150, times: Infinity, path: '/v4/subscribers' });
    writeFileSync(path.join(dir, 'kitrelay.config.mjs'), `export default { kit: { api: { baseUrl: '${sim.url}', apiKey: { $env: 'KIT_API_KEY' } } } };\n`);
    const args = ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--config', path.join(dir, 'kitrelay.config.mjs'), '--data-dir', dir, 'kit', 'backfill', '--page-size', '25'];
    const env = { ...process.env, KIT_API_KEY: 'kit_sim_key' };

    const first = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(first);
    await new Promise<void>((resolve, reject) => {
      let progress = '';
      const timer = setTimeout(() => reject(new Error(`no progress: ${progress}`)), 30_000);
      first.stderr.on('data', (chunk: Buffer) => {
        progress += chunk.toString();
        if ((progress.match(/subscribers, \d+ pages/g) ?? []).length >= 4) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    first.kill('SIGKILL');
    await exited(first);

    const before = sim.requests.length;
    sim.faults.clear();
    const second = await promisify(execFile)(process.execPath, args, { cwd: ROOT, env });
    expect(second.stdout).toContain('backfill complete');
    const resumed = sim.requests.slice(before).find((r) => r.path === '/v4/subscribers')!;
    expect(resumed.query.after).toBeTruthy(); // it did not start over

    const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    try {
      const mirrored = (await store.listSubscribers({ limit: 1000 })).map((s) => s.kitId);
      expect(mirrored).toHaveLength(600);
      expect(new Set(mirrored).size).toBe(600);
      expect(await store.countSubscribers()).toBe(600);
      const checkpoint = await store.getCheckpoint('kit-backfill');
      expect(checkpoint?.completedAt).not.toBeNull();
    } finally {
      await store.close();
    }
  });
});
