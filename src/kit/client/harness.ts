/**
 * Test harness for the Kit client's tests (excluded from the build): the Kit simulator on
 * loopback, a client wired to it, and the calls the client reported, all closed after each test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../store/index.js';
import { startKitSimulator, type KitSimulator, type KitSimulatorOptions } from '../simulator/index.js';
import { memoryRateBudget } from './budget.js';
import { createKitClient, type KitClient, type KitClientOptions } from './client.js';
import type { KitCall } from './transport.js';
import type { OAuthTokens } from './types.js';

export const SIM_API_KEY = 'kit_sim_key';
export const SIM_CLIENT_ID = 'kit_sim_client';

const cleanups: (() => Promise<void>)[] = [];

/** Registers the per-test cleanup; call once at the top of a test file. */
export function useHarness(): void {
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
}

export function onCleanup(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup);
}

export async function startSim(options: KitSimulatorOptions = {}): Promise<KitSimulator> {
  const sim = await startKitSimulator({ rateLimit: false, ...options });
  onCleanup(() => sim.close());
  return sim;
}

export interface TestClient {
  readonly client: KitClient;
  /** Every outbound call the client reported (`onCall`). */
  readonly calls: KitCall[];
}

/** A client on the simulator: API key by default, a memory budget, fast retries. */
export function clientFor(sim: KitSimulator, options: Partial<KitClientOptions> = {}): TestClient {
  const calls: KitCall[] = [];
  const client = createKitClient({
    baseUrl: sim.url,
    auth: { apiKey: SIM_API_KEY },
    budget: memoryRateBudget(),
    retryBaseDelayMs: 5,
    ...options,
    onCall: (call) => {
      calls.push(call);
      options.onCall?.(call);
    },
  });
  onCleanup(() => client.close());
  return { client, calls };
}

/**
 * `count` store handles on one fresh SQLite file: each has its own writer thread and connection,
 * as separate processes (the service and a CLI backfill) would.
 */
export async function storesOnOneFile(count: number): Promise<{ readonly stores: SqliteStore[]; readonly close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kitrelay-kit-client-'));
  const path = join(dir, 'kitrelay.db');
  const stores: SqliteStore[] = [];
  // One after the other: the first creates and migrates the file.
  for (let i = 0; i < count; i++) stores.push(await openSqliteStore({ path }));
  return {
    stores,
    async close() {
      for (const store of stores) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A token pair the simulator issued, as kitrelay keeps it. */
export function simTokens(sim: KitSimulator, now: number): OAuthTokens {
  const issued = sim.issueOAuthToken();
  return { accessToken: issued.access_token, refreshToken: issued.refresh_token, expiresAt: now + issued.expires_in * 1000, scope: issued.scope };
}

/** Rejections as values, for asserting on the error. */
export async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail, it succeeded');
    },
    (err: unknown) => err,
  );
}
