/**
 * Limits that hold across instances on PostgreSQL (issue 13): two worker-only relays share one
 * store, and a destination's `rateLimit` and `concurrency` are the cluster's, not each instance's.
 * Measured at the receiving server: in any second no more requests than the bucket allows (burst +
 * rate), never more in flight at once than the concurrency, and both relays did part of the work.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { jsonBody, legacyFixture } from '../src/kit/fixtures.js';
import { createTestSchema, type TestSchema } from '../src/store/postgres/harness.js';
import { eventually, startTestRelay, type TestRelay } from './helpers.js';

const relays: TestRelay[] = [];
let schema: TestSchema | undefined;
let server: Server | undefined;
afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  await schema?.drop();
  schema = undefined;
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

interface SinkPath {
  readonly arrivals: number[];
  inFlight: number;
  maxInFlight: number;
}

/** Destinations that answer 200 after `delayMs[path]`, recording per path when each request came and how many were in flight. */
async function startSink(delayMs: Readonly<Record<string, number>>): Promise<{ url: string; path: (name: string) => SinkPath }> {
  const paths = new Map<string, SinkPath>();
  const pathOf = (name: string): SinkPath => {
    let found = paths.get(name);
    if (!found) paths.set(name, (found = { arrivals: [], inFlight: 0, maxInFlight: 0 }));
    return found;
  };
  server = createServer((request, response) => {
    const name = (request.url ?? '/').slice(1);
    const at = pathOf(name);
    at.arrivals.push(performance.now());
    at.inFlight += 1;
    at.maxInFlight = Math.max(at.maxInFlight, at.inFlight);
    request.resume();
    request.on('end', () => {
      setTimeout(() => {
        at.inFlight -= 1;
        response.end('ok');
      }, delayMs[name] ?? 0);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, path: pathOf };
}

const RATE = 10;
const BURST = 2;
const EVENTS = 40;

describe('limits across instances on PostgreSQL', () => {
  it('holds a destination’s rate limit and another’s concurrency for two worker relays together', async () => {
    schema = await createTestSchema('kr_limits');
    // `paced`: answers at once, so only its rate limit holds it back. `narrow`: slow, so only its concurrency does.
    const sink = await startSink({ paced: 0, narrow: 250 });
    const config = (roles: ('ingest' | 'worker')[]): ConfigInput => ({
      store: { url: schema!.url, schema: schema!.schema },
      server: { roles },
      destinations: {
        paced: { type: 'webhook', url: `${sink.url}/paced`, rateLimit: { perSecond: RATE, burst: BURST }, concurrency: 8, retry: { maxAttempts: 3, baseDelayMs: 20 } },
        narrow: { type: 'webhook', url: `${sink.url}/narrow`, concurrency: 2, retry: { maxAttempts: 3, baseDelayMs: 20 } },
      },
      rules: [{ id: 'tagged', on: 'subscriber.tag_added', scope: { tag_id: 4242 }, actions: [{ destination: 'paced' }, { destination: 'narrow' }] }],
      queue: { pollIntervalMs: 20 },
    });
    const start = async (roles: ('ingest' | 'worker')[]) => {
      const relay = await startTestRelay(config(roles));
      relays.push(relay);
      return relay;
    };
    const ingest = await start(['ingest']);
    await start(['worker']);
    await start(['worker']);

    const route = [...ingest.relay.routes.legacy.values()].find((r) => r.spec.legacyName === 'subscriber.tag_add');
    if (!route) throw new Error('no tag_add route');
    for (let id = 1; id <= EVENTS; id++) {
      const body = jsonBody(legacyFixture('subscriber.tag_add', { id, email: `s${id}@example.com`, scopeValue: route.scopeValue }).body);
      expect((await ingest.post(new URL(route.url).pathname, body)).status).toBe(200);
    }
    const store = ingest.relay.store;
    await eventually(async () => {
      const jobs = await store.listJobs({ limit: 2 * EVENTS + 10 });
      return jobs.length === 2 * EVENTS && jobs.every((job) => job.status === 'succeeded') ? true : undefined;
    }, 30_000, 'every job to succeed');

    // Each delivered once.
    const paced = sink.path('paced');
    const narrow = sink.path('narrow');
    expect(paced.arrivals).toHaveLength(EVENTS);
    expect(narrow.arrivals).toHaveLength(EVENTS);
    // In any second, at most what the bucket allows: its burst and a second's refill (one request
    // of slack: the receiver stamps arrivals, not the moment each token was taken). Two workers
    // each holding the whole limit would send twice that.
    const sorted = [...paced.arrivals].sort((a, b) => a - b);
    const busiest = Math.max(...sorted.map((t, i) => sorted.slice(i).filter((u) => u < t + 1000).length));
    expect(busiest).toBeLessThanOrEqual(BURST + RATE + 1);
    expect(sorted.at(-1)! - sorted[0]!).toBeGreaterThanOrEqual(((EVENTS - BURST) / RATE) * 1000 * 0.9);
    // Never more calls in flight than the concurrency, for both workers together (each alone would allow 2).
    expect(narrow.maxInFlight).toBe(2);
    // Both workers took part in each.
    for (const destination of ['paced', 'narrow']) {
      const attempts = await store.listAttempts({ destination, limit: 1000 });
      expect(new Set(attempts.map((a) => a.workerId)).size, destination).toBe(2);
    }
  });
});
