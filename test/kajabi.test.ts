/**
 * Kajabi enrolment as the source of truth (issue 12), end to end: the Kajabi simulator's real
 * webhooks (both systems, each sent three times) reach a real relay, whose `enrol` jobs write the
 * enrolment table and tag the buyer in the Kit simulator; refunds and deactivations are found by
 * the poller; the settlement check settles a purchase whose payment webhook never came; the
 * reconciliation corrects planted drift both ways and logs each correction. Real HTTP to both
 * simulators, a real SQLite store; runs of the schedules are started by the test, not the clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { env, type ConfigInput } from '../src/config/schema.js';
import { createSecretResolver } from '../src/config/secrets.js';
import { openKajabiClient, reconcile, syncHooks, type KajabiDestinationConfig } from '../src/integrations/kajabi/index.js';
import { pollEndings } from '../src/integrations/kajabi/poll.js';
import { checkSettlements } from '../src/integrations/kajabi/settle.js';
import { startKajabiSimulator, type KajabiSimulator } from '../src/integrations/kajabi/simulator.js';
import { startSlackSimulator, type SlackSimulator } from '../src/integrations/slack/simulator.js';
import { startKitSimulator, type KitSimulator } from '../src/kit/simulator/index.js';
import { integrationScheduleDeps } from '../src/main.js';
import type { KajabiEnrolment } from '../src/store/kajabi-types.js';
import { eventually, startTestRelay, type TestRelay } from './helpers.js';

let kit: KitSimulator | undefined;
let kajabi: KajabiSimulator | undefined;
let relay: TestRelay | undefined;
let slack: SlackSimulator | undefined;
afterEach(async () => {
  await slack?.close();
  slack = undefined;
  await relay?.close();
  relay = undefined;
  await kajabi?.close();
  kajabi = undefined;
  await kit?.close();
  kit = undefined;
});

/** Never by the clock: the test starts each run. */
const NEVER = '0 0 1 1 *';
const STOP_TAG = 'Course access ended';

interface World {
  readonly relay: TestRelay;
  readonly kit: KitSimulator;
  readonly kajabi: KajabiSimulator;
  readonly offers: { readonly a: string; readonly b: string; readonly free: string };
  readonly deps: ReturnType<typeof integrationScheduleDeps<KajabiDestinationConfig>>;
}

async function start(options: { readonly hookEvents?: readonly string[]; readonly hooks?: boolean; readonly dashboard?: boolean; readonly settlement?: Record<string, unknown>; readonly slack?: SlackSimulator } = {}): Promise<World> {
  kit = await startKitSimulator({ rateLimit: false, seed: { subscribers: 0 } });
  kajabi = await startKajabiSimulator({ webhooks: { maxAttempts: 3, retryDelayMs: 50 } });
  const [a, b, free] = kajabi.credentials.offerIds as [string, string, string];
  const config: ConfigInput = {
    kit: { api: { baseUrl: kit.url, apiKey: env('KIT_API_KEY') } },
    destinations: {
      kajabi: {
        type: 'kajabi',
        clientId: env('KAJABI_CLIENT_ID'),
        clientSecret: env('KAJABI_CLIENT_SECRET'),
        baseUrl: kajabi.url,
        offers: { [a]: { tag: 'Course A student', sequenceId: 1 }, [b]: { tag: 'Course B student' }, [free]: { tag: 'Mini-course' } },
        stopAction: { tag: STOP_TAG },
        settlement: { delayMs: 0, giveUpAfterMs: 3_600_000, checkSchedule: NEVER, ...options.settlement },
        poll: { schedule: NEVER, overlapMs: 60_000 },
        reconcile: { schedule: NEVER, ...(options.slack ? { slack: { destination: 'slack', channel: `#${options.slack.credentials.channels[0]!.name}` } } : {}) },
        hooks: { events: options.hookEvents ?? ['purchase', 'payment_succeeded'] },
        retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
      } as never,
      ...(options.slack ? { slack: { type: 'slack', token: env('SLACK_BOT_TOKEN'), apiUrl: options.slack.apiUrl } } : {}),
    },
    queue: { pollIntervalMs: 20 },
  };
  const credentials = { KAJABI_CLIENT_ID: kajabi.credentials.clientId, KAJABI_CLIENT_SECRET: kajabi.credentials.clientSecret, KIT_API_KEY: 'kit_sim_key', ...(options.slack ? { SLACK_BOT_TOKEN: options.slack.credentials.token } : {}) };
  relay = await startTestRelay(config, { env: credentials });
  const destination = relay.relay.config.destinations.kajabi as KajabiDestinationConfig;
  const deps = integrationScheduleDeps({ config: relay.relay.config, store: relay.relay.store, secrets: createSecretResolver(credentials) }, 'kajabi', destination);
  const hooksUrl = (source: string) => `${relay!.url}${relay!.relay.routes.sources.get(`kajabi/${source}`)!.path}`;
  if (options.hooks !== false) {
    const opened = openKajabiClient(deps);
    await syncHooks(opened.client, { siteId: kajabi.credentials.siteId, targetUrl: hooksUrl('hooks'), events: destination.hooks.events });
    await opened.close();
  }
  if (options.hooks !== false && options.dashboard !== false) {
    kajabi.addDashboardWebhook({ event: 'purchase.created', url: hooksUrl('dashboard') });
    kajabi.addDashboardWebhook({ event: 'payment.succeeded', url: hooksUrl('dashboard') });
  }
  return { relay, kit, kajabi, offers: { a, b, free }, deps };
}

/** Every job settled (none pending or running). */
async function settled(w: World): Promise<void> {
  await w.kajabi.webhooksIdle();
  await eventually(async () => ((await w.relay.relay.store.listJobs({ destination: 'kajabi' })).every((j) => j.status === 'succeeded' || j.status === 'dead') ? true : undefined), 10_000, 'jobs to settle');
}

const tagsOf = (w: World, email: string): string[] => {
  const subscriber = w.kit.state.findSubscriberByEmail(email);
  if (!subscriber) return [];
  return w.kit.state.tags.filter((t) => w.kit.state.taggings.get(t.id, subscriber.id)).map((t) => t.name).sort();
};
/** Kit's taggings made for a tag (calls answered 2xx, by id or by email). */
const taggingCalls = (w: World, tag: string): number => {
  const id = w.kit.state.tags.find((t) => t.name === tag)?.id;
  return w.kit.requests.filter((r) => r.method === 'POST' && id !== undefined && r.path.startsWith(`/v4/tags/${id}/subscribers`) && typeof r.status === 'number' && r.status < 300).length;
};
const enrolments = async (w: World, email: string): Promise<Record<string, KajabiEnrolment>> => Object.fromEntries((await w.relay.relay.store.getKajabiEnrolments('kajabi', email)).map((e) => [e.offerId, e]));
const poll = async (w: World) => {
  const opened = openKajabiClient(w.deps);
  try {
    return await pollEndings(w.deps, opened.client, { now: Date.now });
  } finally {
    await opened.close();
  }
};

describe('Kajabi → Kit', () => {
  it('tags a buyer once the payment settles, once, though every webhook of both systems arrives three times', async () => {
    const w = await start();
    w.kajabi.setWebhookCopies(3);
    const bought = w.kajabi.purchase({ email: 'ada@example.com', name: 'Ada Lovelace', offerIds: [w.offers.a] });
    await settled(w);
    // Bought, not paid: recorded, no access in Kit.
    expect((await enrolments(w, 'ada@example.com'))[w.offers.a]).toMatchObject({ status: 'pending', purchaseId: bought.purchases[0]!.id, transactionId: bought.transaction.id, kitTagged: null });
    expect(tagsOf(w, 'ada@example.com')).toEqual([]);

    w.kajabi.succeedPayment(bought.transaction.id);
    await settled(w);
    expect(tagsOf(w, 'ada@example.com')).toEqual(['Course A student']);
    expect(taggingCalls(w, 'Course A student')).toBe(1);
    expect(w.kit.requests.filter((r) => r.method === 'POST' && r.path === '/v4/sequences/1/subscribers')).toHaveLength(1);
    expect(w.kit.state.findSubscriberByEmail('ada@example.com')).toMatchObject({ first_name: 'Ada' });
    const row = (await enrolments(w, 'ada@example.com'))[w.offers.a]!;
    expect(row).toMatchObject({ status: 'granted', kitTagged: true, customerId: bought.customer.id });
    expect(row.settledAt).not.toBeNull();
    // Every copy reached kitrelay; the duplicates made no job: one per distinct webhook.
    expect(w.kajabi.deliveries.filter((d) => d.isDelivered)).toHaveLength(12);
    const jobs = await w.relay.relay.store.listJobs({ destination: 'kajabi' });
    expect(jobs.map((j) => j.action)).toEqual(['enrol', 'enrol', 'enrol', 'enrol']);
  });

  it('never tags a purchase that never settles: the check finds it unpaid, then lapses it', async () => {
    const w = await start({ hookEvents: ['purchase'], dashboard: false, settlement: { giveUpAfterMs: 1 } });
    w.kajabi.purchase({ email: 'bob@example.com', offerIds: [w.offers.a] });
    await settled(w);
    const opened = openKajabiClient(w.deps);
    const checked = await checkSettlements(w.deps, opened.client, { now: Date.now });
    await opened.close();
    expect(checked).toMatchObject({ checked: 1, settled: 0, lapsed: 1 });
    await settled(w);
    expect((await enrolments(w, 'bob@example.com'))[w.offers.a]).toMatchObject({ status: 'lapsed', endReason: 'never settled', kitTagged: null });
    expect(tagsOf(w, 'bob@example.com')).toEqual([]);
    expect(w.kit.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v4/tags/'))).toEqual([]);
  });

  it('settles by checking Kajabi when the payment webhook never comes; a free purchase settles at once', async () => {
    const w = await start({ hookEvents: ['purchase'], dashboard: false });
    const paid = w.kajabi.purchase({ email: 'cy@example.com', offerIds: [w.offers.a] });
    w.kajabi.purchase({ email: 'di@example.com', offerIds: [w.offers.free] });
    await settled(w);
    expect(tagsOf(w, 'di@example.com')).toEqual(['Mini-course']);
    const opened = openKajabiClient(w.deps);
    expect(await checkSettlements(w.deps, opened.client, { now: Date.now })).toMatchObject({ checked: 1, settled: 0 });
    w.kajabi.succeedPayment(paid.transaction.id); // no hook for payment_succeeded: only the check sees it
    expect(await checkSettlements(w.deps, opened.client, { now: Date.now })).toMatchObject({ checked: 1, settled: 1 });
    await opened.close();
    await settled(w);
    expect(tagsOf(w, 'cy@example.com')).toEqual(['Course A student']);
    expect((await enrolments(w, 'cy@example.com'))[w.offers.a]).toMatchObject({ status: 'granted', changedBy: 'settlement' });
  });

  it('removes the tag and applies the stop action for a refund found by polling; a second course stays', async () => {
    const w = await start();
    const first = w.kajabi.purchase({ email: 'eve@example.com', offerIds: [w.offers.a], isPaid: true });
    const second = w.kajabi.purchase({ email: 'eve@example.com', offerIds: [w.offers.b], isPaid: true });
    await settled(w);
    expect(tagsOf(w, 'eve@example.com')).toEqual(['Course A student', 'Course B student']);
    expect(first.customer.id).toBe(second.customer.id);

    const refund = w.kajabi.refund(second.purchases[0]!.id);
    expect(await poll(w)).toMatchObject({ refunds: 1, accepted: 1 });
    await settled(w);
    expect(tagsOf(w, 'eve@example.com')).toEqual(['Course A student', STOP_TAG]);
    const rows = await enrolments(w, 'eve@example.com');
    expect(rows[w.offers.a]).toMatchObject({ status: 'granted', kitTagged: true });
    expect(rows[w.offers.b]).toMatchObject({ status: 'refunded', refundTransactionId: refund.id, kitTagged: false, isStopApplied: true, changedBy: 'poll' });
    // The next poll reads the same window again: nothing new.
    expect(await poll(w)).toMatchObject({ refunds: 1, accepted: 0, duplicates: 1 });

    w.kajabi.deactivate(first.purchases[0]!.id, 'chargeback');
    expect(await poll(w)).toMatchObject({ deactivations: 1, accepted: 1 });
    await settled(w);
    expect(tagsOf(w, 'eve@example.com')).toEqual([STOP_TAG]);
    expect((await enrolments(w, 'eve@example.com'))[w.offers.a]).toMatchObject({ status: 'deactivated', endReason: 'chargeback' });
  });

  it('enrols each offer of a bundle (one transaction)', async () => {
    const w = await start();
    w.kajabi.setWebhookCopies(2);
    const bundle = w.kajabi.purchase({ email: 'fay@example.com', offerIds: [w.offers.a, w.offers.b], isPaid: true });
    await settled(w);
    expect(tagsOf(w, 'fay@example.com')).toEqual(['Course A student', 'Course B student']);
    const rows = await enrolments(w, 'fay@example.com');
    expect(Object.values(rows).map((r) => [r.offerId, r.status, r.transactionId])).toEqual(
      expect.arrayContaining([
        [w.offers.a, 'granted', bundle.transaction.id],
        [w.offers.b, 'granted', bundle.transaction.id],
      ]),
    );
    expect(taggingCalls(w, 'Course A student')).toBe(1);
    expect(taggingCalls(w, 'Course B student')).toBe(1);
  });
});

describe('the nightly reconciliation', () => {
  it('corrects planted drift both ways, in the table and in Kit, logs each correction, and posts a summary to Slack', async () => {
    slack = await startSlackSimulator();
    const w = await start({ slack });
    const store = w.relay.relay.store;
    const gia = w.kajabi.purchase({ email: 'gia@example.com', offerIds: [w.offers.a], isPaid: true });
    w.kajabi.purchase({ email: 'hal@example.com', offerIds: [w.offers.a], isPaid: true });
    w.kajabi.purchase({ email: 'ivy@example.com', offerIds: [w.offers.b], isPaid: true });
    await settled(w);
    // Drift: Gia refunded in Kajabi with no poll since (the table still says granted); Hal's row
    // wrongly says refunded; Ivy's tag removed in Kit by hand; a row for Jon that Kajabi never sold.
    w.kajabi.refund(gia.purchases[0]!.id);
    const [hal] = await store.getKajabiEnrolments('kajabi', 'hal@example.com');
    await store.saveKajabiEnrolments([{ ...hal!, status: 'refunded', endedAt: Date.now(), endReason: 'refund' }], [], Date.now());
    const ivy = w.kit.state.findSubscriberByEmail('ivy@example.com')!;
    const tagB = w.kit.state.tags.find((t) => t.name === 'Course B student')!;
    w.kit.state.untagSubscriber(tagB.id, ivy.id);
    await store.upsertSubscribers([{ kitId: ivy.id, email: 'ivy@example.com', firstName: null, state: 'active', fields: {}, tags: [], createdAt: null }], 'reconcile', Date.now());
    await store.saveKajabiEnrolments([{ ...hal!, email: 'jon@example.com', purchaseId: '999', transactionId: '998', status: 'granted', kitTagged: null }], [], Date.now());

    const opened = openKajabiClient(w.deps);
    const result = await reconcile(w.deps, opened.client, { now: Date.now, runId: 'night-1' });
    await opened.close();
    expect(result).toMatchObject({ purchases: 3, statusCorrections: 3, kitCorrections: 1, queued: 4 });
    await settled(w);

    expect((await enrolments(w, 'gia@example.com'))[w.offers.a]).toMatchObject({ status: 'refunded', kitTagged: false, isStopApplied: true, changedBy: 'reconcile' });
    expect(tagsOf(w, 'gia@example.com')).toEqual([STOP_TAG]);
    expect((await enrolments(w, 'hal@example.com'))[w.offers.a]).toMatchObject({ status: 'granted', endedAt: null });
    expect(tagsOf(w, 'hal@example.com')).toEqual(['Course A student']);
    expect(tagsOf(w, 'ivy@example.com')).toEqual(['Course B student']);
    expect((await enrolments(w, 'jon@example.com'))[w.offers.a]).toMatchObject({ status: 'cancelled', endReason: 'no purchase in Kajabi' });

    const log = await store.listKajabiCorrections({ destination: 'kajabi', runId: 'night-1', limit: 50 });
    const lines = log.map((c) => `${c.email} ${c.what}: ${c.before} → ${c.after}`).sort();
    expect(lines).toEqual([
      'gia@example.com status: granted → refunded',
      'hal@example.com status: refunded → granted',
      'ivy@example.com kit_tag: absent → present',
      'jon@example.com status: granted → cancelled',
    ]);
    expect(log.find((c) => c.email === 'gia@example.com')!.why).toContain('Kajabi shows refunded');
    const channel = slack.credentials.channels[0]!;
    await eventually(() => (slack!.messages().length > 0 ? true : undefined), 10_000, 'the summary in Slack');
    expect(slack.messages().map((m) => JSON.stringify(m))).toEqual([expect.stringContaining('Kajabi reconciliation: 3 enrolment corrections, 1 Kit tag corrections')]);
    expect(slack.messages()[0]!.channel).toBe(channel.id);

    // A second run finds nothing left to correct.
    const again = openKajabiClient(w.deps);
    expect(await reconcile(w.deps, again.client, { now: Date.now, runId: 'night-2' })).toMatchObject({ statusCorrections: 0, kitCorrections: 0, queued: 0 });
    await again.close();
  });

  it('finishes a run whose access token expires half-way (one refresh)', async () => {
    // No webhooks: the run finds every purchase missing from the table.
    const w = await start({ hooks: false });
    for (let i = 0; i < 150; i++) w.kajabi.purchase({ email: `p${i}@example.com`, offerIds: [w.offers.free] });
    const opened = openKajabiClient(w.deps);
    await opened.client.accessToken();
    const issued = w.kajabi.tokensIssued();
    const running = reconcile(w.deps, opened.client, { now: Date.now, runId: 'expiry' });
    await w.kajabi.waitFor((view) => view.requests.some((r) => r.path === '/v1/purchases'));
    w.kajabi.expireTokens();
    const result = await running;
    await opened.close();
    expect(result).toMatchObject({ purchases: 150, statusCorrections: 150, queued: 150 });
    expect(w.kajabi.tokensIssued()).toBe(issued + 1);
  });
});
