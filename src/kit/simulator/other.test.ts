import { describe, expect, it } from 'vitest';
import { bearer, call, items, simulatorPerTest } from './harness.js';

const start = simulatorPerTest();

describe('kit simulator: custom fields', () => {
  it('creates (201, custom_field.created), relabels (key follows the label), deletes (204, custom_field.deleted)', async () => {
    const { sim, changes } = await start();
    const created = await call(sim, '/v4/custom_fields', { method: 'POST', body: { label: 'Favourite Colour' } });
    expect(created).toMatchObject({ status: 201, json: { custom_field: { id: 1, name: 'ck_field_1_favourite_colour', key: 'favourite_colour', label: 'Favourite Colour' } } });
    expect(await call(sim, '/v4/custom_fields', { method: 'POST', body: { label: '' } })).toMatchObject({ status: 422, json: { errors: ["Label can't be blank"] } });
    expect((await call(sim, '/v4/custom_fields', { method: 'POST', body: { label: 'favourite colour' } })).status).toBe(422);
    expect((await call(sim, '/v4/custom_fields/1', { method: 'PUT', body: { label: 'Colour' } })).json.custom_field).toMatchObject({ key: 'colour', label: 'Colour' });
    const id = (await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'c@example.org', fields: { colour: 'teal' } } })).json.subscriber.id;
    expect((await call(sim, `/v4/subscribers/${id}`)).json.subscriber.fields).toEqual({ colour: 'teal' });
    expect((await call(sim, '/v4/custom_fields/1', { method: 'DELETE' })).status).toBe(204);
    expect((await call(sim, `/v4/subscribers/${id}`)).json.subscriber.fields).toEqual({});
    expect((await call(sim, '/v4/custom_fields/1', { method: 'DELETE' })).status).toBe(404);
    expect(changes.filter((c) => c.type.startsWith('custom_field.')).map((c) => c.type)).toEqual(['custom_field.created', 'custom_field.deleted']);
  });
});

describe('kit simulator: forms and sequences', () => {
  it('adds an existing subscriber to a form (201, subscribed_to_form; 200 again) with referrer and UTM parameters', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 10, forms: 2 } });
    expect(items<{ id: number }>((await call(sim, '/v4/forms')), 'forms').map((f) => f.id)).toEqual([1, 2]);
    const id = (await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 'f@example.org' } })).json.subscriber.id;
    changes.length = 0;
    const referrer = 'https://example.com/landing?utm_source=news&utm_campaign=spring';
    const added = await call(sim, '/v4/forms/1/subscribers', { method: 'POST', body: { email_address: 'f@example.org', referrer } });
    expect(added.status).toBe(201);
    expect(added.json.subscriber).toMatchObject({ id, referrer, referrer_utm_parameters: { source: 'news', medium: null, campaign: 'spring', term: null, content: null }, added_at: expect.any(String) });
    expect((await call(sim, `/v4/forms/1/subscribers/${id}`, { method: 'POST', body: {} })).status).toBe(200);
    expect(changes.map((c) => c.type)).toEqual(['subscriber.subscribed_to_form']);
    expect(changes[0]?.form).toEqual({ id: 1, name: 'Homepage signup' });
    expect((await call(sim, '/v4/forms/1/subscribers', { method: 'POST', body: { email_address: 'new@example.org' } })).status).toBe(404);
    expect((await call(sim, '/v4/forms/1/subscribers', { method: 'POST', body: {} })).json.errors).toEqual(['Either subscriber id or email address is required to add subscriber to form']);
    const members = await call(sim, '/v4/forms/1/subscribers?status=all&per_page=1000');
    expect(items<{ id: number }>(members, 'subscribers').map((s) => s.id)).toContain(id);
  });

  it('adds to a sequence with 201 then 200, and the sequence_completed helper reports only for members', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 0, sequences: 1 } });
    const id = (await call(sim, '/v4/subscribers', { method: 'POST', body: { email_address: 's@example.org' } })).json.subscriber.id;
    changes.length = 0;
    expect(sim.state.completeSequence(id, 1)).toBe(false);
    expect((await call(sim, `/v4/sequences/1/subscribers/${id}`, { method: 'POST', body: {} })).status).toBe(201);
    expect((await call(sim, '/v4/sequences/1/subscribers', { method: 'POST', body: { email_address: 's@example.org' } })).status).toBe(200);
    expect(sim.state.completeSequence(id, 1)).toBe(true);
    expect(changes.map((c) => c.type)).toEqual(['subscriber.added_to_sequence', 'subscriber.sequence_completed']);
    expect((await call(sim, '/v4/sequences/1/subscribers')).json.subscribers[0]).toMatchObject({ id, added_at: expect.any(String) });
  });
});

describe('kit simulator: purchases and state helpers', () => {
  it('creates a purchase (201) for a new buyer, reporting purchase.created and product_purchased per line', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 1 } });
    const token = bearer(sim.issueOAuthToken().access_token);
    const purchase = {
      email_address: 'buyer@example.org',
      transaction_id: 'T-1',
      currency: 'usd',
      products: [
        { name: 'Pricing Ebook', pid: 'prod_ebook', lid: 'L1', quantity: 2, unit_price: 19 },
        { name: 'New thing', pid: 'new_1', lid: 'L2', quantity: 1, unit_price: 5 },
      ],
    };
    const created = await call(sim, '/v4/purchases', { method: 'POST', auth: token, body: { purchase } });
    expect(created.status).toBe(201);
    expect(created.json.purchase).toMatchObject({ transaction_id: 'T-1', status: 'paid', currency: 'USD', subtotal: 43, total: 43, email_address: 'buyer@example.org' });
    expect(changes.map((c) => c.type)).toEqual(['subscriber.created', 'subscriber.activated', 'purchase.created', 'subscriber.product_purchased', 'subscriber.product_purchased']);
    expect(changes.slice(3).map((c) => c.product)).toEqual([{ id: 2, name: 'Pricing Ebook' }, { id: 4, name: 'New thing' }]);
    expect((await call(sim, `/v4/purchases/${created.json.purchase.id}`, { auth: token })).json.purchase.id).toBe(created.json.purchase.id);
    // A repeated transaction id creates another purchase [UNC in Kit's docs].
    expect((await call(sim, '/v4/purchases', { method: 'POST', auth: token, body: { purchase } })).status).toBe(201);
    expect((await call(sim, '/v4/purchases?include_total_count=true', { auth: token })).json.pagination.total_count).toBe(2);
  });

  it('answers 422 with every problem of an invalid purchase', async () => {
    const { sim } = await start();
    const token = bearer(sim.issueOAuthToken().access_token);
    const answer = await call(sim, '/v4/purchases', { method: 'POST', auth: token, body: { purchase: { email_address: 'x@example.org', products: [] } } });
    expect(answer.status).toBe(422);
    expect(answer.json.errors).toEqual(expect.arrayContaining(['Transaction cannot be blank', 'Currency cannot be blank', 'Products cannot be blank']));
    expect((await call(sim, '/v4/purchases/77', { auth: token })).status).toBe(404);
  });

  it('reports bounces, complaints, activations and link clicks made through the state helpers', async () => {
    const { sim, changes } = await start({ seed: { subscribers: 3 } });
    const id = 1;
    sim.state.bounce(id);
    sim.state.bounce(id);
    sim.state.complain(id);
    sim.state.activate(id);
    sim.state.clickLink(id, 'https://example.com/x');
    expect(changes.map((c) => c.type)).toEqual(['subscriber.bounced', 'subscriber.complained', 'subscriber.activated', 'subscriber.link_clicked']);
    expect(sim.state.getSubscriber(id)?.state).toBe('active');
    expect(sim.state.bounce(99)).toBe(false);
  });
});
