/**
 * The rate budget and Kit's 429 against the simulator's real per-credential limit, shrunk to
 * 10 requests per 1-second window so the tests take seconds, not minutes.
 */
import { describe, expect, it } from 'vitest';
import { TestClock } from '../../lib/clock.js';
import { memoryRateBudget, storeRateBudget, type RateBudget } from './budget.js';
import { KitRateLimitedError } from './errors/index.js';
import { clientFor, failureOf, onCleanup, startSim, storesOnOneFile, useHarness } from './harness.js';

useHarness();

const WINDOW_MS = 1000;
const SIM_LIMIT = 10;

async function limitedSim() {
  return startSim({ seed: { subscribers: 5 }, rateLimit: { apiKey: SIM_LIMIT, windowMs: WINDOW_MS } });
}

/** `n` reads spread over the clients, all at once. */
function burst(clients: readonly { client: { getSubscriber: (id: number) => Promise<unknown> } }[], n: number): Promise<unknown[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => clients[i % clients.length]!.client.getSubscriber((i % 5) + 1)));
}

/** Two budgets that are one: two handles on one SQLite file (two processes), or one memory budget. */
const SHARED_BUDGETS: ReadonlyArray<readonly [string, () => Promise<readonly [RateBudget, RateBudget]>]> = [
  [
    'two store handles on one SQLite file',
    async () => {
      const { stores, close } = await storesOnOneFile(2);
      onCleanup(close);
      return [storeRateBudget(stores[0]!), storeRateBudget(stores[1]!)] as const;
    },
  ],
  [
    'one memory budget',
    () => {
      const budget = memoryRateBudget();
      return Promise.resolve([budget, budget] as const);
    },
  ],
];

describe.each(SHARED_BUDGETS)('shared rate budget: %s', (_name, sharedBudgets) => {
  it('keeps 25 requests of two clients under Kit’s limit: no 429 at all', async () => {
    const sim = await limitedSim();
    const [budgetA, budgetB] = await sharedBudgets();
    // The margin covers the time between spending from the budget and Kit counting the request.
    // The default (25% of a 1-second window) is tight for a loaded CI machine, where one loopback
    // request can take hundreds of milliseconds; on Kit's 60-second window it is 5 s.
    const rateLimit = { limit: SIM_LIMIT, windowMs: WINDOW_MS, marginMs: 500 };
    const clients = [clientFor(sim, { budget: budgetA, rateLimit }), clientFor(sim, { budget: budgetB, rateLimit })];
    // One request each first, as a running service has made: the first requests of a cold process
    // (JIT, new connections) are far slower than any later, and each client learns its latency.
    await burst(clients, 2);
    const started = Date.now();
    const results = await burst(clients, 25);
    expect(results.every((s) => s !== undefined)).toBe(true);
    expect(sim.requests.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect(sim.requests).toHaveLength(27);
    // 27 requests at 10 per window need the third window.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * WINDOW_MS);
  });

  it('on a 429 blocks the budget for every client, waits the window out, and then succeeds', async () => {
    const sim = await limitedSim();
    const [budgetA, budgetB] = await sharedBudgets();
    // A budget far above Kit's limit (a misconfiguration, or another app on the same key).
    const rateLimit = { limit: 100, windowMs: WINDOW_MS };
    const a = clientFor(sim, { budget: budgetA, rateLimit });
    const b = clientFor(sim, { budget: budgetB, rateLimit });
    const results = await burst([a, b], 25);
    expect(results.every((s) => s !== undefined)).toBe(true);

    const statuses = sim.requests.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200)).toHaveLength(25);
    expect([...a.calls, ...b.calls].some((c) => c.responseStatus === 429)).toBe(true);
    // After the first 429, nobody on the credential sent again before the window was over:
    // the first wave was all in flight; every later request waited.
    const first429 = sim.requests.find((r) => r.status === 429)!;
    const resent = sim.requests.slice(25);
    expect(resent.length).toBeGreaterThan(0);
    expect(Math.min(...resent.map((r) => r.at))).toBeGreaterThanOrEqual(first429.at + WINDOW_MS - 20);
  });
});

describe('waiting for the budget', () => {
  it('waits through the injected sleep until the budget frees a slot, then sends', async () => {
    const clock = new TestClock();
    const sleeps: number[] = [];
    const sleep = (ms: number): Promise<void> => {
      sleeps.push(ms);
      clock.advance(ms);
      return Promise.resolve();
    };
    const sim = await startSim({ seed: { subscribers: 3 } });
    // Kit's real API-key budget shape, 2 per minute: the third call waits out the minute, plus the
    // margin its first two were stamped ahead by (25% of the window, at most 5 s).
    const { client } = clientFor(sim, { clock, sleep, rateLimit: { limit: 2, windowMs: 60_000 } });
    await Promise.all([client.getSubscriber(1), client.getSubscriber(2)]);
    expect(sleeps).toEqual([]);
    await client.getSubscriber(3);
    expect(sleeps).toEqual([65_000]);
    expect(sim.requests.map((r) => r.status)).toEqual([200, 200, 200]);
  });
});

describe('rate limit give-ups', () => {
  it('gives up with KitRateLimitedError after maxRateLimitRetries 429s', async () => {
    const sim = await limitedSim();
    sim.faults.fault({ kind: 'status', status: 429, times: Infinity });
    const { client, calls } = clientFor(sim, { rateLimit: { limit: 100, windowMs: 50 }, maxRateLimitRetries: 2 });
    const err = await failureOf(client.getSubscriber(1));
    expect(err).toBeInstanceOf(KitRateLimitedError);
    expect(err).toMatchObject({ code: 'kit_rate_limited', status: 429, retryClass: 'retry_after', messages: ['Retry later'] });
    expect((err as KitRateLimitedError).retryAfterMs).toBeGreaterThan(0);
    expect(calls).toHaveLength(3);
  });

  it('throws KitRateLimitedError without sending when the budget would wait past maxBudgetWaitMs', async () => {
    const sim = await limitedSim();
    const budget: RateBudget = memoryRateBudget();
    const { client, calls } = clientFor(sim, { budget, rateLimit: { limit: 1, windowMs: 60_000 }, maxBudgetWaitMs: 1000 });
    await client.getSubscriber(1);
    const err = await failureOf(client.getSubscriber(2));
    expect(err).toBeInstanceOf(KitRateLimitedError);
    expect(err).toMatchObject({ retryClass: 'retry_after', status: undefined });
    expect((err as KitRateLimitedError).retryAfterMs).toBeGreaterThan(59_000);
    expect(calls).toHaveLength(1);
  });
});
