/**
 * Roles and wake-ups (issue 13): instances that share one PostgreSQL store and split the work. A
 * Kit webhook taken by an ingest-only relay is delivered by a worker-only relay in another "process"
 * (two relays in this one) within moments although that worker polls only every 10 s: the commit's
 * NOTIFY woke it. A relay without the ingest role answers webhooks 503 but serves /healthz and
 * /metrics. Roles come from the config, KITRELAY_ROLES or --roles, and bad ones fail at load.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { overridesFrom } from '../src/cli/context.js';
import { resolveConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { ConfigError } from '../src/lib/errors.js';
import { createTestSchema, type TestSchema } from '../src/store/postgres/harness.js';
import { eventually, startTestRelay, tempDir, type TestRelay } from './helpers.js';

const relays: TestRelay[] = [];
let schema: TestSchema | undefined;
afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  await schema?.drop();
  schema = undefined;
});

const baseConfig = (store: ConfigInput['store']): ConfigInput => ({
  store,
  destinations: { sink: { type: 'webhook', url: { $env: 'SINK_URL' }, retry: { maxAttempts: 3, baseDelayMs: 20 } } },
  rules: [{ id: 'tagged', on: 'subscriber.tag_added', scope: { tag_id: 4242 }, actions: [{ destination: 'sink' }] }],
});

async function start(config: ConfigInput, options: { dir?: string } = {}): Promise<TestRelay> {
  const relay = await startTestRelay(config, options);
  relays.push(relay);
  return relay;
}

/** A legacy tag_add for subscriber `id`, posted to `relay`: the status Kit would see. */
async function postTagAdd(relay: TestRelay, routesFrom: TestRelay, id: number): Promise<number> {
  const route = [...routesFrom.relay.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add');
  if (!route) throw new Error('no tag_add route');
  const body = jsonBody(legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com`, scopeValue: route.scopeValue }).body);
  return (await relay.post(new URL(route.url).pathname, body)).status;
}

describe('roles on PostgreSQL', () => {
  it('delivers a webhook taken by an ingest-only relay from a worker-only relay at once, woken by NOTIFY though it polls every 10 s', async () => {
    schema = await createTestSchema('kr_roles');
    const store = { url: schema.url, schema: schema.schema };
    const ingest = await start({ ...baseConfig(store), server: { roles: ['ingest'] } });
    const worker = await start({ ...baseConfig(store), server: { roles: ['worker'] }, queue: { pollIntervalMs: 10_000 } });
    expect(ingest.relay.worker).toBeUndefined();
    expect(ingest.relay.scheduler).toBeUndefined();
    expect(worker.relay.worker).toBeDefined();
    expect(worker.relay.scheduler).toBeUndefined();
    // Let the worker's first poll find nothing, so it sleeps its 10 s, and its LISTEN connect.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const postedAt = Date.now();
    expect(await postTagAdd(ingest, ingest, 41)).toBe(200);
    // Committed before the 2xx, by the ingest-only relay.
    expect(await worker.relay.store.listEvents({ limit: 10 })).toMatchObject([{ status: 'accepted', email: 's41@example.com' }]);
    await eventually(() => (worker.receiver.requests.length >= 1 ? true : undefined), 8_000, 'the delivery');
    const tookMs = Date.now() - postedAt;
    expect(tookMs).toBeLessThan(5_000); // polling alone would take ~10 s
    const [job] = await eventually(async () => {
      const jobs = await ingest.relay.store.listJobs({ limit: 10 });
      return jobs[0]?.status === 'succeeded' ? jobs : undefined;
    }, 5_000, 'the job to succeed');
    expect(await ingest.relay.store.listAttempts({ jobId: job!.id })).toHaveLength(1);
    expect(ingest.receiver.requests).toHaveLength(0); // the ingest-only relay ran no job
  });

  it('answers webhooks 503 with Retry-After on a relay without the ingest role, and still serves /healthz and /metrics', async () => {
    schema = await createTestSchema('kr_roles');
    const store = { url: schema.url, schema: schema.schema };
    const worker = await start({ ...baseConfig(store), server: { roles: ['worker', 'scheduler'] } });
    const route = [...worker.relay.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add');
    if (!route) throw new Error('no tag_add route');
    const body = jsonBody(legacyFixture('subscriber.tag_add', { id: 7, email: 's7@example.com', scopeValue: route.scopeValue }).body);
    const refused = await worker.post(new URL(route.url).pathname, body);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.body).toMatchObject({ error: { code: 'not_ingest' } });
    expect(JSON.stringify(refused.body)).toContain('worker, scheduler');
    expect((await worker.post('/hooks/in/sink/anything/token', '{}')).status).toBe(503);
    expect(await worker.relay.store.listEvents({ limit: 10 })).toEqual([]); // nothing stored

    expect(await (await fetch(`${worker.url}/healthz`)).json()).toMatchObject({ status: 'ok', store: 'postgres' });
    const metrics = await fetch(`${worker.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('kitrelay_');
    expect(worker.relay.scheduler).toBeDefined();
    expect(worker.relay.internalEvents).toBeDefined();
  });
});

describe('roles on SQLite', () => {
  it('lets an ingest-only and a worker-only relay share one SQLite file (the worker polls), with a warning', async () => {
    const { dir, remove } = tempDir('kitrelay-roles-');
    try {
      const ingest = await start({ ...baseConfig({}), server: { roles: ['ingest', 'scheduler'] } }, { dir });
      const worker = await start({ ...baseConfig({}), server: { roles: ['worker'] }, queue: { pollIntervalMs: 50 } }, { dir });
      expect(await postTagAdd(ingest, ingest, 42)).toBe(200);
      await eventually(() => (worker.receiver.requests.length >= 1 ? true : undefined), 8_000, 'the delivery');
      expect(ingest.receiver.requests).toHaveLength(0);
      const loaded = resolveConfig({ server: { roles: ['worker'] } }, { cwd: dir, env: {}, source: 'test' });
      expect(loaded.warnings.join('\n')).toMatch(/server\.roles is worker on SQLite.*polling/);
    } finally {
      for (const relay of relays.splice(0)) await relay.close();
      remove();
    }
  });
});

describe('roles in the config', () => {
  const load = (input: unknown, env: Record<string, string> = {}, overrides = {}) => resolveConfig(input, { cwd: '/tmp', env, overrides, source: 'test' });

  it('defaults to all three roles, and raises no warning then', () => {
    const loaded = load({});
    expect(loaded.config.server.roles).toEqual(['ingest', 'worker', 'scheduler']);
    expect(loaded.warnings.join('\n')).not.toContain('server.roles');
  });

  it('takes KITRELAY_ROLES as a comma list, and --roles over it', () => {
    expect(load({}, { KITRELAY_ROLES: 'worker, scheduler' }).config.server.roles).toEqual(['worker', 'scheduler']);
    expect(load({ server: { roles: ['ingest'] } }, { KITRELAY_ROLES: 'worker' }).config.server.roles).toEqual(['worker']);
    expect(load({}, { KITRELAY_ROLES: 'worker' }, overridesFrom({ roles: 'ingest,scheduler' })).config.server.roles).toEqual(['ingest', 'scheduler']);
  });

  it('fails with the field path for no role, an unknown role, or one named twice', () => {
    const failure = (input: unknown, env: Record<string, string> = {}) => {
      try {
        load(input, env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(failure({ server: { roles: [] } })).toMatch(/config\.server\.roles: name at least one role: ingest, worker, scheduler/);
    expect(failure({}, { KITRELAY_ROLES: ' , ' })).toMatch(/config\.server\.roles: name at least one role/);
    expect(failure({}, { KITRELAY_ROLES: 'ingest,workers' })).toMatch(/config\.server\.roles\[1\]:.*"worker"/);
    expect(failure({ server: { roles: ['worker', 'worker'] } })).toMatch(/config\.server\.roles: name each role once/);
  });
});
