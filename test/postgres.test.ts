/**
 * kitrelay on PostgreSQL (issue 13, first slice): with `store.url` set the service runs on
 * PostgreSQL instead of SQLite: Kit's webhooks are committed before the 2xx, a duplicate makes no
 * second job, the worker delivers, and the CLI reads the same store. Each test in a schema of its
 * own on the machine's PostgreSQL; never skipped.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { createTestSchema, type TestSchema } from '../src/store/postgres/harness.js';
import { eventually, execCli, startTestRelay, type TestRelay } from './helpers.js';

let relay: TestRelay | undefined;
let schema: TestSchema | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await schema?.drop();
  schema = undefined;
});

describe('kitrelay on PostgreSQL', () => {
  it('commits Kit webhooks to PostgreSQL, drops a duplicate, delivers the job, and the CLI reads the same store', async () => {
    schema = await createTestSchema('kr_relay');
    const config: ConfigInput = {
      store: { url: schema.url, schema: schema.schema },
      destinations: { sink: { type: 'webhook', url: { $env: 'SINK_URL' }, retry: { maxAttempts: 3, baseDelayMs: 20 } } },
      rules: [{ id: 'tagged', on: 'subscriber.tag_added', scope: { tag_id: 4242 }, actions: [{ destination: 'sink' }] }],
      queue: { pollIntervalMs: 20 },
    };
    relay = await startTestRelay(config);
    expect(relay.relay.store.dialect).toBe('postgres');
    const health = await fetch(`${relay.url}/healthz`);
    expect(await health.json()).toMatchObject({ store: 'postgres' });

    const route = [...relay.relay.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add');
    if (!route) throw new Error('no tag_add route');
    const body = jsonBody(legacyFixture('subscriber.tag_add', { id: 41, email: 'pat@example.com', scopeValue: route.scopeValue }).body);
    expect((await relay.post(new URL(route.url).pathname, body)).status).toBe(200);
    expect((await relay.post(new URL(route.url).pathname, body)).status).toBe(200); // Kit's retry: a duplicate

    await eventually(() => (relay!.receiver.requests.length >= 1 ? true : undefined), 10_000, 'the delivery');
    const store = relay.relay.store;
    const events = await store.listEvents({ limit: 10 });
    expect(events.map((e) => e.status).sort()).toEqual(['accepted', 'duplicate']);
    const [job] = await eventually(async () => {
      const jobs = await store.listJobs({ limit: 10 });
      return jobs.length === 1 && jobs[0]!.status === 'succeeded' ? jobs : undefined;
    }, 10_000, 'the job to succeed');
    expect(job).toMatchObject({ destination: 'sink', rule: 'tagged', email: 'pat@example.com' });
    expect(relay.receiver.requests).toHaveLength(1);
    expect(await store.listAttempts({ jobId: job!.id })).toMatchObject([{ outcome: 'succeeded' }]);

    // The CLI, given the same store (the URL from DATABASE_URL, the schema from the file), reads what the service wrote.
    const configPath = path.join(relay.dir, 'kitrelay.config.mjs');
    writeFileSync(configPath, `export default ${JSON.stringify({ ...config, store: { schema: schema.schema } })};\n`);
    const listed = await execCli(['--config', configPath, 'jobs', 'list', '--json'], { DATABASE_URL: schema.url, SINK_URL: 'http://127.0.0.1:9/unused' });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ id: job!.id, status: 'succeeded', destination: 'sink' }]);
    const checked = await execCli(['--config', configPath, 'config', 'check', '--json'], { DATABASE_URL: 'postgres://kit:hunter2@127.0.0.1:5432/test', SINK_URL: 'http://127.0.0.1:9/unused' });
    expect(checked.stdout).toContain('postgres://kit:***@127.0.0.1:5432/test');
    expect(checked.stdout).not.toContain('hunter2');
  });
});
