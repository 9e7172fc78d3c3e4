/** Every endpoint of the client against the Kit simulator, over real HTTP on loopback. */
import { describe, expect, it } from 'vitest';
import { createKitWebhooks } from '../simulator/webhooks.js';
import { KitConflictError, KitOAuthRequiredError } from './errors/index.js';
import { clientFor, failureOf, simTokens, SIM_API_KEY, SIM_CLIENT_ID, startSim, useHarness } from './harness.js';

useHarness();

describe('kit client: subscribers', () => {
  it('creates, finds, reads, updates and unsubscribes a subscriber', async () => {
    const sim = await startSim();
    const { client } = clientFor(sim);

    const created = await client.createSubscriber({ email: 'ada@example.com', firstName: 'Ada', fields: {} });
    expect(created.isNew).toBe(true);
    expect(created.subscriber).toMatchObject({ email_address: 'ada@example.com', first_name: 'Ada', state: 'active' });
    // Kit upserts by email: the same create answers 200 with the same subscriber.
    const again = await client.createSubscriber({ email: 'ada@example.com' });
    expect(again).toMatchObject({ isNew: false, subscriber: { id: created.subscriber.id } });

    expect(await client.findSubscriberByEmail('ADA@example.com')).toMatchObject({ id: created.subscriber.id });
    expect(await client.findSubscriberByEmail('nobody@example.com')).toBeUndefined();
    expect(await client.getSubscriber(created.subscriber.id)).toMatchObject({ email_address: 'ada@example.com' });

    const updated = await client.updateSubscriber(created.subscriber.id, { email: 'ada@example.com', firstName: 'Augusta' });
    expect(updated.first_name).toBe('Augusta');

    await client.unsubscribe(created.subscriber.id);
    expect((await client.getSubscriber(created.subscriber.id))?.state).toBe('cancelled');
  });

  it('lists subscribers with filters sent the way Kit reads them', async () => {
    const sim = await startSim({ seed: { subscribers: 40 } });
    const { client } = clientFor(sim);
    const pages = [];
    for await (const page of client.listSubscribers({ status: 'all', include: ['tags'], updatedAfter: new Date('2020-01-01T00:00:00Z'), perPage: 100 })) pages.push(page);
    expect(pages).toHaveLength(1);
    expect(pages[0]?.items).toHaveLength(40);
    const request = sim.requests.find((r) => r.path === '/v4/subscribers');
    expect(request?.query).toMatchObject({ status: 'all', include: 'tags', updated_after: '2020-01-01T00:00:00.000Z', per_page: '100' });
  });
});

describe('kit client: tags', () => {
  it('creates tags and tags and untags subscribers by id and by email', async () => {
    const sim = await startSim();
    const { client } = clientFor(sim);
    const { subscriber } = await client.createSubscriber({ email: 'grace@example.com' });

    const created = await client.createTag('Customers');
    expect(created.isNew).toBe(true);
    expect(await client.createTag('customers')).toMatchObject({ isNew: false, tag: { id: created.tag.id } });
    expect((await client.listTags()).map((t) => t.name)).toContain('Customers');

    expect((await client.tagSubscriber(created.tag.id, subscriber.id)).isNew).toBe(true);
    expect((await client.tagSubscriber(created.tag.id, subscriber.id)).isNew).toBe(false);
    expect((await client.listSubscriberTags(subscriber.id)).map((t) => t.id)).toEqual([created.tag.id]);
    const tagged = [];
    for await (const page of client.listTagSubscribers(created.tag.id)) tagged.push(...page.items);
    expect(tagged.map((s) => s.id)).toEqual([subscriber.id]);

    await client.untagSubscriber(created.tag.id, subscriber.id);
    expect(await client.listSubscriberTags(subscriber.id)).toEqual([]);

    expect((await client.tagSubscriberByEmail(created.tag.id, 'grace@example.com')).isNew).toBe(true);
    await client.untagSubscriberByEmail(created.tag.id, 'grace@example.com');
    expect(await client.listSubscriberTags(subscriber.id)).toEqual([]);
    // [UNC] where Kit reads the email: it went in both the query and the JSON body.
    const untag = sim.requests.find((r) => r.method === 'DELETE' && r.path === `/v4/tags/${created.tag.id}/subscribers`);
    expect(untag?.query).toMatchObject({ email_address: 'grace@example.com' });
    expect(untag?.body).toMatchObject({ email_address: 'grace@example.com' });
  });
});

describe('kit client: custom fields, sequences, forms, account', () => {
  it('lists and creates custom fields, and adds subscribers to sequences and forms', async () => {
    const sim = await startSim({ seed: { subscribers: 5 } });
    const { client } = clientFor(sim);

    expect((await client.account()).account.id).toEqual(expect.any(Number));
    const field = await client.createCustomField('Favourite colour');
    expect(field).toMatchObject({ label: 'Favourite colour', key: 'favourite_colour' });
    expect((await client.listCustomFields()).map((f) => f.id)).toContain(field.id);

    const [sequence] = await client.listSequences();
    const [form] = await client.listForms();
    expect(sequence).toBeDefined();
    expect(form).toBeDefined();
    const { subscriber } = await client.createSubscriber({ email: 'lin@example.com' });
    expect((await client.addToSequence(sequence!.id, { subscriberId: subscriber.id })).isNew).toBe(true);
    expect((await client.addToSequence(sequence!.id, { email: 'lin@example.com' })).isNew).toBe(false);
    expect((await client.addToForm(form!.id, { email: 'lin@example.com', referrer: 'https://example.com/x' })).isNew).toBe(true);
  });
});

describe('kit client: OAuth-only endpoints', () => {
  it('refuses purchases and bulk calls with only an API key, before sending anything', async () => {
    const sim = await startSim();
    const { client, calls } = clientFor(sim);
    for (const call of [() => client.getPurchase(1), () => client.bulkTag([{ tagId: 1, subscriberId: 1 }]), async () => client.listPurchases().next()]) {
      const err = await failureOf(call());
      expect(err).toBeInstanceOf(KitOAuthRequiredError);
      expect((err as KitOAuthRequiredError).code).toBe('kit_oauth_required');
      expect((err as KitOAuthRequiredError).retryClass).toBe('permanent');
    }
    expect(calls).toHaveLength(0);
    expect(sim.requests).toHaveLength(0);
  });

  it('creates, reads and lists purchases, and runs bulk calls with an OAuth token', async () => {
    const sim = await startSim({ seed: { subscribers: 3, purchases: 2 } });
    const { client } = clientFor(sim, {
      auth: { oauth: { tokens: simTokens(sim, Date.now()), tokenUrl: `${sim.url}/v4/oauth/token`, clientId: SIM_CLIENT_ID, onRefresh: () => undefined } },
    });

    const purchase = await client.createPurchase({
      email: 'buyer@example.com',
      transactionId: 'tx-1001',
      currency: 'USD',
      products: [{ name: 'Course', pid: 'p1', lid: 'l1', quantity: 1, unitPrice: 49 }],
      total: 49,
    });
    expect(purchase).toMatchObject({ transaction_id: 'tx-1001', email_address: 'buyer@example.com' });
    expect(await client.getPurchase(purchase.id)).toMatchObject({ id: purchase.id });
    expect(await client.getPurchase(987654)).toBeUndefined();
    const listed = [];
    for await (const page of client.listPurchases({ perPage: 1 })) listed.push(...page.items);
    expect(listed.map((p) => p.id)).toContain(purchase.id);

    const few = await client.bulkCreateSubscribers([{ email: 'b1@example.com' }, { email: 'not-an-email' }]);
    expect(few.accepted).toBe(false);
    if (!few.accepted) {
      expect(few.items.map((s) => s.email_address)).toEqual(['b1@example.com']);
      expect(few.failures[0]?.errors).toEqual(['Email address is invalid']);
    }
    const many = await client.bulkCreateSubscribers(Array.from({ length: 101 }, (_, i) => ({ email: `bulk${i}@example.com` })));
    expect(many).toEqual({ accepted: true });

    const { tag } = await client.createTag('Bulk');
    const sub = await client.findSubscriberByEmail('b1@example.com');
    const tagged = await client.bulkTag([{ tagId: tag.id, subscriberId: sub!.id }, { tagId: tag.id, subscriberId: 999_999 }]);
    expect(tagged).toMatchObject({ accepted: false, items: [{ id: sub!.id }], failures: [{ errors: ['Subscriber does not exist'] }] });
    expect(await client.bulkUntag([{ tagId: tag.id, subscriberId: sub!.id }])).toEqual({ accepted: false, items: [], failures: [] });
    expect(await client.listSubscriberTags(sub!.id)).toEqual([]);
  });
});

describe('kit client: webhooks', () => {
  it('manages legacy webhooks and Webhooks 2.0 endpoints, secrets and deliveries', async () => {
    const webhooks = createKitWebhooks({ retryScale: 0.001, batchWindowMs: 10 });
    const sim = await startSim({ plugins: [webhooks.plugin] });
    const { client } = clientFor(sim);

    const legacy = await client.createWebhook({ targetUrl: 'https://relay.example.com/hooks/kit/tag_add', event: { name: 'subscriber.tag_add', tag_id: 7 } });
    expect(legacy.event).toMatchObject({ name: 'tag_add', tag_id: 7 });
    expect((await client.listWebhooks()).map((w) => w.id)).toEqual([legacy.id]);
    await client.deleteWebhook(legacy.id);
    expect(await client.listWebhooks()).toEqual([]);

    const endpoint = await client.createWebhookEndpoint({ url: 'https://relay.example.com/hooks/kit', events: ['subscriber.tag_added'], name: 'relay' });
    expect(endpoint.secret).toMatch(/\S+/);
    expect((await client.listWebhookEndpoints()).map((e) => e.id)).toEqual([endpoint.id]);
    expect(await client.getWebhookEndpoint(endpoint.id)).toMatchObject({ id: endpoint.id });
    expect(await client.getWebhookEndpoint(424242)).toBeUndefined();
    const updated = await client.updateWebhookEndpoint(endpoint.id, { events: ['subscriber.created', 'subscriber.tag_added'] });
    expect(updated.events).toEqual(['subscriber.created', 'subscriber.tag_added']);

    const rotated = await client.rotateWebhookSecret(endpoint.id);
    expect(rotated.secret).not.toBe(endpoint.secret);
    // Inside the rotation window Kit answers 409 unless forced (reference/kit.md §7B).
    expect(await failureOf(client.rotateWebhookSecret(endpoint.id))).toBeInstanceOf(KitConflictError);
    expect((await client.rotateWebhookSecret(endpoint.id, { force: true })).secret).not.toBe(rotated.secret);

    const deliveries = [];
    for await (const page of client.listWebhookDeliveries(endpoint.id, { status: 'delivered' })) deliveries.push(...page.items);
    expect(deliveries).toEqual([]);
    expect(await client.getWebhookDelivery(endpoint.id, 1)).toBeUndefined();
    await client.deleteWebhookEndpoint(endpoint.id);
    expect(await client.listWebhookEndpoints()).toEqual([]);
  });
});

describe('kit client: request summaries', () => {
  it('redacts the API key in every request summary it reports', async () => {
    const sim = await startSim();
    const { client, calls } = clientFor(sim);
    await client.account();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.request.headers['x-kit-api-key']).toBe('[redacted]');
    expect(calls[0]?.request).toMatchObject({ method: 'GET', url: `${sim.url}/v4/account` });
    expect(JSON.stringify(calls)).not.toContain(SIM_API_KEY);
  });

  it('redacts the bearer token in every request summary it reports', async () => {
    const sim = await startSim();
    const tokens = simTokens(sim, Date.now());
    const { client, calls } = clientFor(sim, {
      auth: { oauth: { tokens, tokenUrl: `${sim.url}/v4/oauth/token`, clientId: SIM_CLIENT_ID, onRefresh: () => undefined } },
    });
    await client.account();
    expect(calls[0]?.request.headers.authorization).toBe('[redacted]');
    expect(JSON.stringify(calls)).not.toContain(tokens.accessToken);
  });
});
