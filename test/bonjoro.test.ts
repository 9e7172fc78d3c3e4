/**
 * Pattern 1 end to end: Kit webhooks into a running relay, greets out to the Bonjoro simulator.
 * Re-tagging makes no second greet; a timeout after Bonjoro created the greet, or a relay killed
 * mid-attempt, makes no duplicate; a burst is delivered in order per subscriber within the rate
 * limit; a 401 opens the breaker instead of spending every job's attempts; shadow sends nothing.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { startBonjoroSimulator, type BonjoroSimulator } from '../src/integrations/bonjoro/index.js';
import { routeToken } from '../src/ingest/routes.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { eventually, exited, startRelayChild, startTestRelay, tempDir, type RelayChild, type TestRelay } from './helpers.js';

const TOKEN = 'bonjoro-e2e-token';
const ROUTE_SECRET = 'bonjoro-e2e-route-secret';

let sim: BonjoroSimulator | undefined;
let relay: TestRelay | undefined;
let children: RelayChild[] = [];
let removeDir: (() => void) | undefined;
afterEach(async () => {
  for (const { child } of children) child.kill('SIGKILL');
  await Promise.all(children.map(({ child }) => exited(child)));
  children = [];
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
  removeDir?.();
  removeDir = undefined;
});

const greetPosts = (s: BonjoroSimulator) => s.requests.filter((r) => r.method === 'POST' && r.path === '/api/v2/greets');

function config(simulator: BonjoroSimulator, destination: Record<string, unknown> = {}, extra: Partial<ConfigInput> = {}): ConfigInput {
  return {
    kit: { legacy: { routes: [{ event: 'subscriber.tag_remove', tag_id: 7 }] } },
    destinations: {
      bonjoro: { type: 'bonjoro', apiKey: env('BONJORO_API_KEY'), baseUrl: simulator.apiUrl, retry: { maxAttempts: 8, baseDelayMs: 20, maxDelayMs: 200 }, ...destination } as never,
    },
    rules: [
      {
        id: 'vip-video',
        on: 'subscriber.tag_added',
        scope: { tag_id: [7, 11, 12, 13, 14] },
        once: (event) => `${event.scope?.value ?? ''}:${event.subscriber?.id ?? ''}`,
        actions: [{ destination: 'bonjoro', params: { note: 'Hello {{subscriber.first_name}}', custom_attributes: { tag: '{{scope.value}}' } } }],
      },
    ],
    queue: { pollIntervalMs: 20 },
    ...extra,
  };
}

async function tag(target: TestRelay, event: 'subscriber.tag_add' | 'subscriber.tag_remove', id: number, tagId = 7): Promise<number> {
  const route = [...target.relay.routes.legacy.values()].find((r) => r.spec.legacyName === event && r.scopeValue === String(tagId));
  if (!route) throw new Error(`no route for ${event} ${tagId}`);
  const body = jsonBody(legacyFixture(event, { id, email: `sub${id}@example.com`, scopeValue: String(tagId) }).body);
  return (await target.post(new URL(route.url).pathname, body)).status;
}

describe('bonjoro: once per purpose', () => {
  it('makes one greet however often the tag comes back', async () => {
    sim = await startBonjoroSimulator({ tokens: [TOKEN], rateLimit: false });
    relay = await startTestRelay(config(sim), { env: { BONJORO_API_KEY: TOKEN } });
    expect(await tag(relay, 'subscriber.tag_add', 1)).toBe(200);
    await eventually(() => (sim?.greets().length === 1 ? true : undefined), 10_000, 'the first greet');
    expect(await tag(relay, 'subscriber.tag_remove', 1)).toBe(200);
    expect(await tag(relay, 'subscriber.tag_add', 1)).toBe(200);

    const events = await relay.relay.store.listEvents({ type: 'subscriber.tag_added' });
    expect(events.map((e) => e.status)).toEqual(['accepted', 'accepted']);
    expect(events[0]?.decisions).toEqual([{ rule: 'vip-video', destination: 'bonjoro', action: 'greet', outcome: 'once' }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sim.greets()).toHaveLength(1);
    expect(sim.greets()[0]).toMatchObject({ note: 'Hello John' });
  });
});

describe('bonjoro: no duplicate greet', () => {
  it('after a timeout once Bonjoro had created the greet, finds it by its marker instead of creating another', async () => {
    sim = await startBonjoroSimulator({ tokens: [TOKEN], rateLimit: false });
    sim.faults.add({ kind: 'apply_then_hang', method: 'POST', path: '/api/v2/greets' });
    relay = await startTestRelay(config(sim, { timeoutMs: 500 }), { env: { BONJORO_API_KEY: TOKEN } });
    expect(await tag(relay, 'subscriber.tag_add', 2)).toBe(200);

    const [job] = await eventually(async () => {
      const jobs = await relay?.relay.store.listJobs({ status: 'succeeded' });
      return jobs?.length === 1 ? jobs : undefined;
    }, 15_000, 'the job to succeed');
    const attempts = (await relay.relay.store.listAttempts({ jobId: job?.id ?? 0 })).sort((a, b) => a.attempt - b.attempt);
    expect(attempts.map((a) => a.outcome)).toEqual(['unknown', 'succeeded']);
    expect(attempts[1]?.correlation).toMatchObject({ foundBy: 'marker', greetId: sim.greets()[0]?.id });
    expect(attempts[1]?.request?.method).toBe('GET');
    expect(sim.greets()).toHaveLength(1);
    expect(greetPosts(sim)).toHaveLength(1);
    expect(job?.facts).toEqual({ greetId: sim.greets()[0]?.id });
  });

  it('after the relay is killed mid-attempt and restarted, there is exactly one greet', async () => {
    sim = await startBonjoroSimulator({ tokens: [TOKEN], rateLimit: false });
    sim.faults.add({ kind: 'apply_then_hang', method: 'POST', path: '/api/v2/greets' });
    const { dir, remove } = tempDir();
    removeDir = remove;
    writeFileSync(
      path.join(dir, 'kitrelay.config.mjs'),
      `export default {
  kit: { legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 7 }] } },
  destinations: { bonjoro: { type: 'bonjoro', apiKey: { $env: 'BONJORO_API_KEY' }, baseUrl: '${sim.apiUrl}', timeoutMs: 60000, retry: { baseDelayMs: 20 } } },
  rules: [{ id: 'vip-video', on: 'subscriber.tag_added', once: (e) => 'v:' + e.subscriber?.id, actions: [{ destination: 'bonjoro', params: { note: 'hi' } }] }],
  queue: { leaseMs: 1500, heartbeatMs: 300, pollIntervalMs: 50 },
  log: { level: 'warn' },
};
`,
    );
    const childEnv = { BONJORO_API_KEY: TOKEN, KITRELAY_ROUTE_SECRET: ROUTE_SECRET };
    const first = await startRelayChild(dir, childEnv);
    children.push(first);
    const routePath = `/hooks/kit/legacy/tag_add-7/${routeToken(ROUTE_SECRET, 'tag_add-7')}`;
    const response = await fetch(`${first.url}${routePath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jsonBody(legacyFixture('subscriber.tag_add', { id: 3, email: 'sub3@example.com', scopeValue: '7' }).body) });
    expect(response.status).toBe(200);
    // Bonjoro has created the greet; its answer never comes. Kill the relay now.
    await sim.waitFor((view) => view.state.snapshot().greets.length === 1, { timeoutMs: 15_000 });
    first.child.kill('SIGKILL');
    await exited(first.child);

    const second = await startRelayChild(dir, childEnv);
    children.push(second);
    const watcher = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
    try {
      const [job] = await eventually(async () => {
        const jobs = await watcher.listJobs({ status: 'succeeded' });
        return jobs.length === 1 ? jobs : undefined;
      }, 30_000, 'the job to succeed after the restart');
      const attempts = (await watcher.listAttempts({ jobId: job?.id ?? 0 })).sort((a, b) => a.attempt - b.attempt);
      expect(attempts.map((a) => a.outcome)).toEqual(['unknown', 'succeeded']);
      expect(attempts[1]?.correlation.foundBy).toBe('marker');
    } finally {
      await watcher.close();
    }
    expect(sim.greets()).toHaveLength(1);
    expect(greetPosts(sim)).toHaveLength(1);
  });
});

describe('bonjoro: bursts', () => {
  it('delivers 200 tags in a burst in order per subscriber, within the rate limit, with no duplicate', async () => {
    const perSecond = 50;
    const burst = 5;
    sim = await startBonjoroSimulator({ tokens: [TOKEN], rateLimit: false });
    relay = await startTestRelay(config(sim, { rateLimit: { perSecond, burst }, concurrency: 8 }), { env: { BONJORO_API_KEY: TOKEN } });
    await relay.relay.worker?.stop();
    const tags = [11, 12, 13, 14];
    // 50 subscribers × 4 tags, tag by tag: each subscriber's greets must follow 11, 12, 13, 14.
    for (const tagId of tags) {
      for (let id = 100; id < 150; id++) expect(await tag(relay, 'subscriber.tag_add', id, tagId)).toBe(200);
    }
    relay.relay.worker?.start();
    await eventually(() => (sim && sim.greets().length >= 200 ? true : undefined), 30_000, '200 greets');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const greets = sim.greets();
    expect(greets).toHaveLength(200);
    expect(new Set(greets.map((g) => g.customAttributes.kitrelay_job)).size).toBe(200);
    const bySubscriber = new Map<string, string[]>();
    for (const greet of greets) {
      const email = sim.profiles().find((p) => p.id === greet.profileIds[0])?.email ?? '';
      bySubscriber.set(email, [...(bySubscriber.get(email) ?? []), String(greet.customAttributes.tag)]);
    }
    expect(bySubscriber.size).toBe(50);
    for (const order of bySubscriber.values()) expect(order).toEqual(['11', '12', '13', '14']);

    // Within the bucket: at most `burst` at once, then `perSecond`: no one-second window holds more.
    const times = greetPosts(sim).map((r) => r.receivedAt).sort((a, b) => a - b);
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] ?? 0) - (times[j] ?? 0) >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    expect(most).toBeLessThanOrEqual(perSecond + burst);
  });
});

describe('bonjoro: a revoked key', () => {
  it('opens the breaker on a 401: one job probes, the others wait without spending attempts', async () => {
    sim = await startBonjoroSimulator({ tokens: ['the-right-token'], rateLimit: false });
    relay = await startTestRelay(config(sim, { concurrency: 1 }), { env: { BONJORO_API_KEY: 'a-revoked-token' } });
    for (let id = 200; id < 205; id++) expect(await tag(relay, 'subscriber.tag_add', id)).toBe(200);

    const state = await eventually(async () => {
      const states = await relay?.relay.store.getDestinationStates();
      return states?.find((s) => s.destination === 'bonjoro' && s.breakerOpenUntil !== null);
    }, 10_000, 'the breaker to open');
    expect(state.breakerOpenings).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(greetPosts(sim)).toHaveLength(1);
    const jobs = await relay.relay.store.listJobs({});
    expect(jobs.every((job) => job.status === 'pending')).toBe(true);
    expect(jobs.map((job) => job.attempts).sort()).toEqual([0, 0, 0, 0, 1]);
    const [audit] = await relay.relay.store.listAttempts({ destination: 'bonjoro' });
    expect(audit).toMatchObject({ responseStatus: 401, outcome: 'retry' });
    expect(audit?.error).toMatch(/Unauthenticated.*circuit breaker opens/);
  });
});

describe('bonjoro: shadow mode', () => {
  it('records the greet it would create and sends nothing to Bonjoro', async () => {
    sim = await startBonjoroSimulator({ tokens: [TOKEN], rateLimit: false });
    relay = await startTestRelay(config(sim, { mode: 'shadow' }), { env: { BONJORO_API_KEY: TOKEN } });
    expect(await tag(relay, 'subscriber.tag_add', 300)).toBe(200);
    const [attempt] = await eventually(async () => {
      const records = await relay?.relay.store.listAttempts({ isShadow: true });
      return records?.length === 1 ? records : undefined;
    }, 10_000, 'the shadow attempt');
    expect(attempt?.request).toMatchObject({ method: 'POST', url: `${sim.apiUrl}/greets`, headers: { authorization: '[redacted]' } });
    expect(attempt?.request?.bodyPreview).toContain('"profiles":["sub300@example.com"]');
    expect(sim.requests).toHaveLength(0);
  });
});
