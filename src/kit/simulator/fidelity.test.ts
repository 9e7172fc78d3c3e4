/**
 * Fidelity against the fact sheet: status codes and body shapes as listed in reference/kit.md
 * §4–§6, one test per endpoint group. Shapes are compared by key set, so an extra or missing key
 * fails here rather than in a client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, call, items, type Answer } from './harness.js';
import { startKitSimulator, type KitSimulator } from './server.js';

let sim: KitSimulator;
let oauth: Record<string, string>;
beforeAll(async () => {
  sim = await startKitSimulator({ rateLimit: false, seed: { subscribers: 30, tags: 3, customFields: 2, forms: 2, sequences: 2, purchases: 2 } });
  oauth = bearer(sim.issueOAuthToken().access_token);
});
afterAll(() => sim.close());

const keys = (value: object): string[] => Object.keys(value).sort();
const SUBSCRIBER = ['created_at', 'email_address', 'fields', 'first_name', 'id', 'state'];
const PAGINATION = ['end_cursor', 'has_next_page', 'has_previous_page', 'per_page', 'start_cursor'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function expectList(answer: Answer, itemsKey: string, itemKeys: string[]): void {
  expect(answer.status).toBe(200);
  expect(keys(answer.json)).toEqual([itemsKey, 'pagination'].sort());
  expect(keys(answer.json.pagination)).toEqual(PAGINATION);
  expect(answer.json[itemsKey].length).toBeGreaterThan(0);
  for (const item of answer.json[itemsKey]) expect(keys(item)).toEqual([...itemKeys].sort());
}

function expectError(answer: Answer, status: number, message?: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(keys(answer.json)).toEqual(['errors']);
  expect(items<unknown>(answer, 'errors').every((e) => typeof e === 'string')).toBe(true);
  if (message) expect(answer.json.errors).toEqual([message]);
}

describe('kit simulator fidelity (reference/kit.md §4–§6)', () => {
  it('subscribers: list, upsert 201/200, get, update, unsubscribe 204, tags', async () => {
    expectList(await call(sim, '/v4/subscribers'), 'subscribers', SUBSCRIBER);
    const created = await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'fid@example.org', first_name: 'Fi' } });
    expect(created.status).toBe(201);
    expect(keys(created.json)).toEqual(['subscriber']);
    expect(keys(created.json.subscriber)).toEqual(SUBSCRIBER);
    expect(created.json.subscriber.created_at).toMatch(ISO);
    expect((await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'fid@example.org' } })).status).toBe(200);
    expectError(await call(sim, '/v4/subscribers', { method: 'POST', body: {} }), 422, 'Email address is invalid');
    const id = created.json.subscriber.id;
    expect(keys((await call(sim, `/v4/subscribers/${id}`)).json.subscriber)).toEqual(SUBSCRIBER);
    expectError(await call(sim, '/v4/subscribers/100000'), 404, 'Not Found');
    expect((await call(sim, `/v4/subscribers/${id}`, { method: 'PUT', body: { first_name: 'F' } })).status).toBe(200);
    expectError(await call(sim, `/v4/subscribers/${id}`, { method: 'PUT', body: { email_address: sim.state.getSubscriber(1)!.email_address } }), 422, 'Email address has already been taken');
    const unsubscribed = await call(sim, `/v4/subscribers/${id}/unsubscribe`, { method: 'POST', body: {} });
    expect([unsubscribed.status, unsubscribed.text]).toEqual([204, '']);
    const tagged = sim.state.catalog.tags.map((t) => t.id).find((tagId) => sim.state.taggings.get(tagId, 1)) ?? 1;
    sim.state.tagSubscriber(tagged, 1);
    expectList(await call(sim, '/v4/subscribers/1/tags'), 'tags', ['id', 'name', 'tagged_at']);
  });

  it('tags: list, create 201/200, update, tag 201/200 by id and email, untag 204, tag subscribers', async () => {
    expectList(await call(sim, '/v4/tags'), 'tags', ['created_at', 'id', 'name']);
    const created = await call(sim, '/v4/tags', { method: 'POST', body: { name: 'Fidelity' } });
    expect(created.status).toBe(201);
    expect(keys(created.json.tag)).toEqual(['created_at', 'id', 'name']);
    expect((await call(sim, '/v4/tags', { method: 'POST', body: { name: 'FIDELITY' } })).status).toBe(200);
    expectError(await call(sim, '/v4/tags', { method: 'POST', body: { name: '' } }), 422, "Name can't be blank");
    const tagId = created.json.tag.id;
    expect((await call(sim, `/v4/tags/${tagId}`, { method: 'PUT', body: { name: 'Fidelity 2' } })).status).toBe(200);
    const tag = await call(sim, `/v4/tags/${tagId}/subscribers/2`, { method: 'POST', body: {} });
    expect(tag.status).toBe(201);
    expect(keys(tag.json.subscriber)).toEqual([...SUBSCRIBER, 'tagged_at'].sort());
    expect((await call(sim, `/v4/tags/${tagId}/subscribers`, { method: 'POST', body: { email_address: sim.state.getSubscriber(2)!.email_address } })).status).toBe(200);
    expectError(await call(sim, `/v4/tags/${tagId}/subscribers`, { method: 'POST', body: {} }), 422, 'Either subscriber id or email address is required to tag subscriber');
    expectList(await call(sim, `/v4/tags/${tagId}/subscribers?status=all`), 'subscribers', [...SUBSCRIBER, 'tagged_at']);
    expect((await call(sim, `/v4/tags/${tagId}/subscribers/2`, { method: 'DELETE' })).status).toBe(204);
    expectError(await call(sim, `/v4/tags/${tagId}/subscribers`, { method: 'DELETE' }), 422, 'Either subscriber id or email address is required to remove tag from subscriber');
  });

  it('custom fields: list, create 201, update 200, delete 204', async () => {
    expectList(await call(sim, '/v4/custom_fields'), 'custom_fields', ['id', 'key', 'label', 'name']);
    const created = await call(sim, '/v4/custom_fields', { method: 'POST', body: { label: 'Shoe size' } });
    expect(created.status).toBe(201);
    expect(created.json.custom_field).toEqual({ id: expect.any(Number), name: expect.stringMatching(/^ck_field_\d+_shoe_size$/), key: 'shoe_size', label: 'Shoe size' });
    expectError(await call(sim, '/v4/custom_fields', { method: 'POST', body: {} }), 422, "Label can't be blank");
    expect((await call(sim, `/v4/custom_fields/${created.json.custom_field.id}`, { method: 'PUT', body: { label: 'Shoe' } })).status).toBe(200);
    expect((await call(sim, `/v4/custom_fields/${created.json.custom_field.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('forms and sequences: lists, their subscribers with added_at, adds 201/200', async () => {
    expectList(await call(sim, '/v4/forms'), 'forms', ['archived', 'created_at', 'embed_js', 'embed_url', 'format', 'id', 'name', 'type', 'uid']);
    expectList(await call(sim, '/v4/forms/1/subscribers?status=all'), 'subscribers', [...SUBSCRIBER, 'added_at', 'referrer', 'referrer_utm_parameters']);
    expectList(await call(sim, '/v4/sequences'), 'sequences', ['created_at', 'hold', 'id', 'name', 'repeat']);
    const added = await call(sim, '/v4/sequences/2/subscribers/3', { method: 'POST', body: {} });
    expect([201, 200]).toContain(added.status);
    expect(keys(added.json.subscriber)).toEqual([...SUBSCRIBER, 'added_at'].sort());
    expect((await call(sim, '/v4/sequences/2/subscribers/3', { method: 'POST', body: {} })).status).toBe(200);
    expectList(await call(sim, '/v4/sequences/2/subscribers?status=all'), 'subscribers', [...SUBSCRIBER, 'added_at']);
    expectError(await call(sim, '/v4/forms/9/subscribers/3', { method: 'POST', body: {} }), 404, 'Not Found');
  });

  it('purchases (OAuth-only): create 201, list, get, 422', async () => {
    const PURCHASE = ['currency', 'discount', 'email_address', 'id', 'products', 'shipping', 'status', 'subscriber_id', 'subtotal', 'tax', 'total', 'transaction_id', 'transaction_time'];
    expectList(await call(sim, '/v4/purchases', { auth: oauth }), 'purchases', PURCHASE);
    const body = { purchase: { email_address: 'p@example.org', transaction_id: 'F-1', currency: 'EUR', products: [{ name: 'X', pid: 'x', lid: '1', quantity: 1, unit_price: 3 }] } };
    const created = await call(sim, '/v4/purchases', { method: 'POST', auth: oauth, body });
    expect(created.status).toBe(201);
    expect(keys(created.json.purchase)).toEqual(PURCHASE);
    expect(keys(created.json.purchase.products[0])).toEqual(['lid', 'name', 'pid', 'quantity', 'sku', 'unit_price']);
    expect(keys((await call(sim, `/v4/purchases/${created.json.purchase.id}`, { auth: oauth })).json)).toEqual(['purchase']);
    expectError(await call(sim, '/v4/purchases', { method: 'POST', auth: oauth, body: { purchase: { ...body.purchase, transaction_id: '' } } }), 422, 'Transaction cannot be blank');
    expectError(await call(sim, '/v4/purchases', { method: 'POST', body }), 401);
  });

  it('bulk (OAuth-only): 200 with subscribers and failures, 422 when empty', async () => {
    const answer = await call(sim, '/v4/bulk/subscribers', { method: 'POST', auth: oauth, body: { subscribers: [{ email_address: 'bulk@example.org' }] } });
    expect(answer.status).toBe(200);
    expect(keys(answer.json)).toEqual(['failures', 'subscribers']);
    expect(keys(answer.json.subscribers[0])).toEqual(['created_at', 'email_address', 'first_name', 'id', 'state']);
    expectError(await call(sim, '/v4/bulk/tags/subscribers', { method: 'POST', auth: oauth, body: { taggings: [] } }), 422);
    expectError(await call(sim, '/v4/bulk/tags/subscribers', { method: 'POST', body: { taggings: [] } }), 401);
  });

  it('account: user and account nested', async () => {
    const answer = await call(sim, '/v4/account');
    expect(answer.status).toBe(200);
    expect(keys(answer.json)).toEqual(['account', 'user']);
    expect(keys(answer.json.user)).toEqual(['email', 'id']);
    expect(answer.json.account).toMatchObject({ id: expect.any(Number), name: expect.any(String), plan_type: expect.any(String), primary_email_address: expect.any(String), timezone: { name: expect.any(String), friendly_name: expect.any(String), utc_offset: expect.any(String) } });
  });

  it('errors: {"errors":[string]} for 401, 404 and 422; an unknown route is 404 Not Found; 400 for broken JSON', async () => {
    expectError(await call(sim, '/v4/account', { auth: { 'x-kit-api-key': 'nope' } }), 401, 'The API key is invalid');
    expectError(await call(sim, '/v4/no/such/route'), 404, 'Not Found');
    expectError(await call(sim, '/v4/tags/abc/subscribers'), 404, 'Not Found');
    const broken = await fetch(`${sim.url}/v4/subscribers`, { method: 'POST', headers: { 'x-kit-api-key': 'kit_sim_key', 'content-type': 'application/json' }, body: '{"email' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({ errors: [expect.any(String)] });
  });
});
