/**
 * The `grant_offer` and `revoke_offer` actions through a real worker (a real SQLite store, real
 * HTTP on loopback to the Kajabi simulator, a TestClock).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { silentLog } from '../../lib/log.js';
import { createWorker } from '../../queue/index.js';
import type { Worker } from '../../queue/types.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { AttemptRecord, JobRecord } from '../../store/types.js';
import { IntegrationRegistry } from '../registry.js';
import type { Integration } from '../types.js';
import { CONTACT_FACT, grantOfferAction, revokeOfferAction } from './grant.js';
import { kajabiDestinationSchema, type KajabiDestinationConfig } from './schema.js';
import { startKajabiSimulator, type KajabiSimulator } from './simulator.js';

/** Only the actions under test: the integration's own index is not this file's subject. */
const integration: Integration<KajabiDestinationConfig> = {
  type: 'kajabi',
  description: 'Kajabi (grant tests)',
  configSchema: kajabiDestinationSchema,
  actions: { grant_offer: grantOfferAction, revoke_offer: revokeOfferAction },
};

interface Harness {
  readonly sim: KajabiSimulator;
  readonly store: SqliteStore;
  readonly clock: TestClock;
  readonly worker: Worker;
  commit(action: string, params: Record<string, unknown>, email?: string): Promise<number>;
  job(id: number): Promise<JobRecord>;
  attempts(id: number): Promise<AttemptRecord[]>;
  close(): Promise<void>;
}

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function setup(destination: Record<string, unknown> = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kitrelay-kajabi-grant-'));
  const sim = await startKajabiSimulator({ rateLimit: false });
  const store = await openSqliteStore({ path: path.join(dir, 'kitrelay.db') });
  const http: HttpClient = createHttpClient();
  const clock = new TestClock();
  const config = kajabiDestinationSchema.parse({
    type: 'kajabi', clientId: { $env: 'KAJABI_CLIENT_ID' }, clientSecret: { $env: 'KAJABI_CLIENT_SECRET' }, baseUrl: sim.url,
    retry: { maxAttempts: 5, baseDelayMs: 10 }, rateLimit: { perSecond: 100, burst: 100 }, timeoutMs: 2_000, ...destination,
  });
  const env: Record<string, string> = { KAJABI_CLIENT_ID: sim.credentials.clientId, KAJABI_CLIENT_SECRET: sim.credentials.clientSecret };
  const worker = createWorker({
    store, clock, log: silentLog(), http,
    destinations: { kajabi: config },
    secrets: (value) => (typeof value === 'string' ? value : (env[value.$env] ?? '')),
    integrations: new IntegrationRegistry([integration]),
    queue: { pollIntervalMs: 20, leaseMs: 60_000, heartbeatMs: 15_000 },
    random: () => 0.5,
  });
  let sequence = 0;
  harness = {
    sim, store, clock, worker,
    async commit(action, params, email = 'ada@example.com') {
      sequence += 1;
      const id = 5000 + sequence;
      const subscriber = { id, first_name: 'Ada', email_address: email, state: 'active', created_at: '2026-01-01T00:00:00.000Z', fields: {} };
      const result = await store.commitDelivery({
        delivery: { system: 'legacy', route: 'test', receivedAt: clock.now(), bodyBytes: 100 },
        events: [{
          source: 'legacy', type: 'subscriber.tag_added', kitType: 'subscriber.tag_add', scope: { param: 'tag_id', value: '7' },
          subscriberId: String(id), email, subscriberKey: `id:${id}`, payload: { subscriber },
          jobs: [{ rule: 'test', destination: 'kajabi', action, params, maxAttempts: 5 }], decisions: [],
        }],
        quarantine: [],
      });
      const jobId = result.events[0]?.status === 'accepted' ? result.events[0].jobIds[0] : undefined;
      if (jobId === undefined) throw new Error('no job was made');
      return jobId;
    },
    async job(id) {
      const job = await store.getJob(id);
      if (!job) throw new Error(`no job ${id}`);
      return job;
    },
    async attempts(id) {
      return (await store.listAttempts({ jobId: id, limit: 100 })).sort((a, b) => a.attempt - b.attempt);
    },
    async close() {
      await worker.stop({ graceMs: 0 });
      await store.close();
      await http.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

const contactOf = (s: Harness, email: string) => s.sim.state.contactByEmail(s.sim.state.site.id, email);
const calls = (s: Harness) => s.sim.requests.filter((r) => r.path.startsWith('/v1/') && r.path !== '/v1/oauth/token').map((r) => `${r.method} ${r.path.replace(/\/\d+\//, '/:id/')}`);

describe('kajabi grant_offer and revoke_offer', () => {
  it('creates the missing contact, then grants the offer, keeping the contact id in the facts', async () => {
    const s = await setup();
    const offerId = s.sim.credentials.offerIds[0]!;
    const id = await s.commit('grant_offer', { offer_id: offerId });
    await s.worker.tick();
    const job = await s.job(id);
    expect(job.status).toBe('succeeded');
    const contact = contactOf(s, 'ada@example.com')!;
    expect([...contact.offerIds]).toEqual([offerId]);
    expect(contact.name).toBe('Ada');
    expect(job.facts[CONTACT_FACT]).toBe(contact.id);
    expect(calls(s)).toEqual(['GET /v1/sites', 'GET /v1/contacts', 'POST /v1/contacts', 'POST /v1/contacts/:id/relationships/offers']);
    const grant = s.sim.requests.find((r) => r.path.endsWith('/relationships/offers'))!;
    expect(grant.body).toEqual({ data: [{ type: 'offers', id: offerId }], meta: { send_customer_welcome_email: false } });
    const [attempt] = await s.attempts(id);
    expect(attempt).toMatchObject({ outcome: 'succeeded', responseStatus: 200, correlation: { offerId, contactId: contact.id } });
    expect(JSON.stringify(attempt)).not.toContain(s.sim.credentials.clientSecret);
  });

  it('grants again without a second contact or error (idempotent), with the welcome email when asked', async () => {
    const s = await setup({ siteId: undefined });
    const offerId = s.sim.credentials.offerIds[1]!;
    const first = await s.commit('grant_offer', { offer_id: offerId });
    await s.worker.tick();
    const second = await s.commit('grant_offer', { offer_id: offerId, send_welcome_email: true });
    await s.worker.tick();
    expect((await s.job(first)).status).toBe('succeeded');
    expect((await s.job(second)).status).toBe('succeeded');
    expect([...s.sim.state.contacts.values()]).toHaveLength(1);
    expect(calls(s).filter((c) => c === 'POST /v1/contacts')).toHaveLength(1);
    expect(s.sim.requests.filter((r) => r.path === '/v1/oauth/token')).toHaveLength(1);
    const grants = s.sim.requests.filter((r) => r.path.endsWith('/relationships/offers'));
    expect(grants.map((r) => (r.body as { meta: unknown }).meta)).toEqual([{ send_customer_welcome_email: false }, { send_customer_welcome_email: true }]);
  });

  it('finds the contact another job made meanwhile (422 "has already been taken") instead of failing', async () => {
    const s = await setup();
    const offerId = s.sim.credentials.offerIds[0]!;
    // Two subscribers' jobs for one email run at once: both look, both create, one is refused.
    const jobs = [await s.commit('grant_offer', { offer_id: offerId }), await s.commit('grant_offer', { offer_id: offerId })];
    await s.worker.tick();
    expect(await Promise.all(jobs.map(async (id) => (await s.job(id)).status))).toEqual(['succeeded', 'succeeded']);
    expect([...s.sim.state.contacts.values()]).toHaveLength(1);
    expect(s.sim.requests.filter((r) => r.method === 'POST' && r.path === '/v1/contacts').map((r) => r.status)).toEqual([201, 422]);
  });

  it('skips the lookup on a retry: the contact id is in the facts', async () => {
    const t = await setup();
    t.sim.faults.add({ kind: 'status', status: 503, method: 'POST', path: '/v1/contacts/*/relationships/offers' });
    const id = await t.commit('grant_offer', { offer_id: t.sim.credentials.offerIds[0]! });
    await t.worker.tick();
    expect(await t.job(id)).toMatchObject({ status: 'pending', facts: { [CONTACT_FACT]: expect.any(String) } });
    const before = calls(t).length;
    t.clock.advance(60_000);
    await t.worker.tick();
    expect((await t.job(id)).status).toBe('succeeded');
    expect(calls(t).slice(before)).toEqual(['POST /v1/contacts/:id/relationships/offers']);
  });

  it('revokes the offer, and succeeds with nothing to do for an unknown email', async () => {
    const s = await setup();
    const [a, b] = s.sim.credentials.offerIds;
    s.sim.purchase({ email: 'ada@example.com', offerIds: [a!, b!] });
    const revoke = await s.commit('revoke_offer', { offer_id: a! });
    const nobody = await s.commit('revoke_offer', { offer_id: a!, email: 'nobody@example.com' }, 'nobody@example.com');
    await s.worker.tick();
    await s.worker.tick();
    expect((await s.job(revoke)).status).toBe('succeeded');
    expect([...contactOf(s, 'ada@example.com')!.offerIds]).toEqual([b]);
    expect(await s.job(nobody)).toMatchObject({ status: 'succeeded' });
    expect((await s.attempts(nobody))[0]?.correlation.note).toMatch(/nothing to revoke/);
    expect(contactOf(s, 'nobody@example.com')).toBeUndefined();
  });

  it('kills the job on a 422 from contact create, naming the pointer and the detail', async () => {
    const s = await setup();
    const id = await s.commit('grant_offer', { offer_id: s.sim.credentials.offerIds[0]!, email: 'not-an-email' });
    await s.worker.tick();
    const job = await s.job(id);
    expect(job.status).toBe('dead');
    expect(job.lastError).toContain('Unprocessable Entity: is invalid (at /data/attributes/email)');
    expect((await s.attempts(id))[0]).toMatchObject({ outcome: 'failed', errorClass: 'permanent', responseStatus: 422 });
  });

  it('retries with the breaker opening when Kajabi answers 401 even to a fresh token', async () => {
    const s = await setup();
    s.sim.faults.add({ kind: 'status', status: 401, times: 2, path: '/v1/contacts' });
    const id = await s.commit('grant_offer', { offer_id: s.sim.credentials.offerIds[0]! });
    await s.worker.tick();
    const [attempt] = await s.attempts(id);
    expect(attempt).toMatchObject({ outcome: 'retry', responseStatus: 401 });
    expect(attempt?.error).toMatch(/circuit breaker opens/);
    expect((await s.job(id)).status).toBe('pending');
    expect(s.sim.tokensIssued()).toBe(2);
  });

  it('fails a template that rendered to no offer id, sending nothing', async () => {
    const s = await setup();
    expect(grantOfferAction.params.safeParse({ offer_id: '{{ subscriber.fields.offer }}' }).success).toBe(true);
    expect(grantOfferAction.params.safeParse({ offer_id: 'course-a' }).success).toBe(false);
    const id = await s.commit('grant_offer', { offer_id: '{{ subscriber.fields.offer }}' });
    await s.worker.tick();
    expect((await s.job(id)).lastError).toMatch(/offer_id|params/);
    expect(calls(s)).toEqual([]);
  });
});
