/** The Bonjoro simulator over real HTTP on loopback, against reference/destinations.md §4 and §6. */
import { afterEach, describe, expect, it } from 'vitest';
import { startBonjoroSimulator, type BonjoroSimulator, type BonjoroSimulatorOptions } from './simulator.js';

let sim: BonjoroSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: BonjoroSimulatorOptions = {}): Promise<BonjoroSimulator> {
  sim = await startBonjoroSimulator(options);
  return sim;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any;
}

async function call(s: BonjoroSimulator, method: string, path: string, options: { body?: unknown; token?: string | null; signal?: AbortSignal } = {}): Promise<Answer> {
  const token = options.token === undefined ? s.credentials.token : options.token;
  const headers: Record<string, string> = { accept: 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${s.apiUrl}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), signal: options.signal });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === '' ? undefined : JSON.parse(text) };
}

/** The notes of listed greets (Bonjoro shows a greet's note as its event's message). */
const messages = (greets: Array<{ event: { message: string } }>) => greets.map((g) => g.event.message);

const greet = (s: BonjoroSimulator, body: Record<string, unknown>) => call(s, 'POST', '/greets', { body: { profiles: ['ada@example.com'], ...body } });

describe('bonjoro simulator: auth', () => {
  it('answers 401 with the flat {"message":"Unauthenticated."} for a missing or wrong token, with the throttle headers', async () => {
    const s = await start();
    for (const token of [null, 'wrong']) {
      const answer = await call(s, 'GET', '/greets', { token });
      expect(answer.status).toBe(401);
      expect(answer.json).toEqual({ message: 'Unauthenticated.' });
      expect(answer.headers.get('x-ratelimit-limit')).toBe('600');
    }
    expect((await call(s, 'GET', '/industries', { token: null })).status).toBe(200);
    expect((await call(s, 'GET', '/users')).status).toBe(200);
  });

  it('answers an unknown route with the nested 404', async () => {
    const s = await start();
    const answer = await call(s, 'GET', '/nothing-here');
    expect([answer.status, answer.json]).toEqual([404, { error: { message: 'Not Found', status_code: 404 } }]);
  });
});

describe('bonjoro simulator: greets', () => {
  it('creates one greet carrying its profiles, creating unknown emails, and answers 200 {"message":"Created","data":greetFull}', async () => {
    const s = await start({ now: () => Date.parse('2026-03-01T10:20:30.456Z') });
    const [campaign] = s.credentials.campaigns.slice(1);
    const [template] = s.credentials.templates;
    const assignee = s.credentials.users[1]!;
    const answer = await greet(s, { profiles: ['ada@example.com', 'Bob@Example.com', 'ada@example.com'], note: 'New signup via Kit', assignee_id: assignee.id, campaign_id: campaign!.uuid, template_id: template!.id, custom_attributes: { plan: 'pro', kitrelay_marker: 'job-7' } });
    expect(answer.status).toBe(200);
    expect(answer.json.message).toBe('Created');
    const data = answer.json.data;
    expect(data).toMatchObject({ status: 'open', draft: false, assignee: { id: assignee.id, name: assignee.name }, created_at: '2026-03-01 10:20:30', updated_at: '2026-03-01 10:20:30', custom_attributes: { plan: 'pro', kitrelay_marker: 'job-7' }, message_template: { id: template!.id } });
    expect(data.id).toMatch(/^[0-9a-f-]{36}$/);
    for (const field of ['event', 'link_id', 'thumb_url', 'record_url', 'uploads_url', 'self_url', 'attributes_url', 'events_url']) expect(data).toHaveProperty(field);
    expect((data.profiles as Array<{ email: string }>).map((p) => p.email)).toEqual(['ada@example.com', 'Bob@Example.com']);
    expect(s.greets()).toMatchObject([{ note: 'New signup via Kit', campaignId: campaign!.uuid }]);
    expect(s.profiles()).toHaveLength(2);
  });

  it('lists greets newest first with their custom attributes, searching profile email and name (any case) and note text, filtering by profile id', async () => {
    const s = await start();
    await greet(s, { profiles: ['ada@example.com'], note: 'first', custom_attributes: { m: 1 } });
    await greet(s, { profiles: ['bob@example.com'], note: 'VIP upgrade' });
    await greet(s, { profiles: ['ada@example.com'], note: 'second', custom_attributes: { m: 2 } });
    const ada = await call(s, 'GET', '/greets?search=ADA@example');
    expect((ada.json.data as Array<{ custom_attributes: unknown }>).map((g) => g.custom_attributes)).toEqual([{ m: 2 }, { m: 1 }]);
    expect((await call(s, 'GET', '/greets?search=vip')).json.data).toHaveLength(1);
    const bobId = s.profiles().find((p) => p.email === 'bob@example.com')!.id;
    const byProfile = await call(s, 'GET', `/greets?profile_id=${bobId}`);
    expect(messages(byProfile.json.data)).toEqual(['VIP upgrade']);
    expect(byProfile.json.data[0].custom_attributes).toEqual([]);
    expect((await call(s, 'GET', '/greets?sort=created_at')).json.data[0].event.message).toBe('first');
  });

  it('pages with Laravel’s paginator envelope: 15 per page by default, `limit` and `page`, links that keep the query', async () => {
    const s = await start();
    for (let i = 0; i < 5; i++) await greet(s, { note: `n${i}` });
    const first = (await call(s, 'GET', '/greets')).json;
    expect(first).toMatchObject({ current_page: 1, per_page: 15, from: 1, to: 5, total: 5, last_page: 1, next_page_url: null, prev_page_url: null, path: `${s.apiUrl}/greets` });
    expect(first.first_page_url).toBe(`${s.apiUrl}/greets?page=1`);
    const second = (await call(s, 'GET', '/greets?limit=2&page=2')).json;
    expect(second).toMatchObject({ current_page: 2, per_page: 2, from: 3, to: 4, total: 5, last_page: 3, last_page_url: `${s.apiUrl}/greets?limit=2&page=3`, next_page_url: `${s.apiUrl}/greets?limit=2&page=3`, prev_page_url: `${s.apiUrl}/greets?limit=2&page=1` });
    expect(messages(second.data)).toEqual(['n2', 'n1']);
    expect((await call(s, 'GET', '/greets?limit=2&page=9')).json).toMatchObject({ data: [], from: null, to: null, total: 5 });
  });

  it('reassigns and deletes a greet, and answers 404 for an unknown one', async () => {
    const s = await start();
    const id = (await greet(s, {})).json.data.id as string;
    const other = s.credentials.users[2]!;
    expect((await call(s, 'PUT', `/greets/${id}`, { body: { assignee_id: other.id } })).json.data.assignee.id).toBe(other.id);
    expect((await call(s, 'DELETE', `/greets/${id}`)).json).toEqual({ message: 'Deleted' });
    expect((await call(s, 'DELETE', `/greets/${id}`)).status).toBe(404);
    expect(s.greets()).toHaveLength(0);
  });
});

describe('bonjoro simulator: validation', () => {
  it('refuses a campaign’s integer id (it takes the uuid) and unknown ids, naming each field, in Laravel’s 422', async () => {
    const s = await start();
    const campaign = s.credentials.campaigns[0]!;
    const answer = await greet(s, { campaign_id: campaign.id, template_id: '00000000-0000-4000-8000-000000000000', assignee_id: 'nobody' });
    expect(answer.status).toBe(422);
    expect(answer.json).toEqual({
      message: 'The given data was invalid.',
      errors: {
        campaign_id: ['The campaign id must be a valid UUID.'],
        template_id: ['The selected template id is invalid.'],
        assignee_id: ['The assignee id must be a valid UUID.'],
      },
    });
    expect((await greet(s, { profiles: Array.from({ length: 201 }, (_, i) => `p${i}@example.com`) })).json.errors.profiles).toEqual(['The profiles may not have more than 200 items.']);
    expect((await greet(s, { profiles: [] })).json.errors).toEqual({ profiles: ['The profiles field is required.'] });
    expect(s.greets()).toHaveLength(0);
  });

  it('answers the documented 400 shape instead, when asked', async () => {
    const s = await start({ validationStyle: 'documented' });
    const answer = await greet(s, { campaign_id: 1 });
    expect([answer.status, answer.json]).toEqual([400, { error: { message: 'The campaign id must be a valid UUID.', status_code: 400 } }]);
  });
});

describe('bonjoro simulator: rate limit and faults', () => {
  it('sends X-RateLimit-* on every answer and, over the limit, 429 {"message":"Too Many Attempts."} with Retry-After and X-RateLimit-Reset', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const s = await start({ rateLimit: { limit: 2 }, now: () => now });
    expect((await call(s, 'GET', '/users')).headers.get('x-ratelimit-remaining')).toBe('1');
    now += 15_000;
    await call(s, 'GET', '/users');
    const limited = await call(s, 'GET', '/users');
    expect([limited.status, limited.json]).toEqual([429, { message: 'Too Many Attempts.' }]);
    expect(limited.headers.get('retry-after')).toBe('45');
    expect(limited.headers.get('x-ratelimit-reset')).toBe(String((Date.parse('2026-03-01T10:00:00Z') + 60_000) / 1000));
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    now += 45_000;
    expect((await call(s, 'GET', '/users')).status).toBe(200);
  });

  it('can leave Retry-After out of its 429', async () => {
    const s = await start({ rateLimit: { limit: 1, isRetryAfterSent: false } });
    await call(s, 'GET', '/users');
    const limited = await call(s, 'GET', '/users');
    expect([limited.status, limited.headers.get('retry-after'), limited.headers.get('x-ratelimit-reset') !== null]).toEqual([429, null, true]);
  });

  it('creates the greet and never answers under apply_then_hang; the greet is then found by its marker', async () => {
    const s = await start();
    s.faults.add({ kind: 'apply_then_hang', method: 'POST', path: '/api/v2/greets' });
    await expect(call(s, 'POST', '/greets', { body: { profiles: ['ada@example.com'], custom_attributes: { kitrelay_marker: 'job-1' } }, signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect(s.greets()).toHaveLength(1);
    const found = await call(s, 'GET', '/greets?search=ada@example.com&limit=100');
    expect(found.json.data[0].custom_attributes).toEqual({ kitrelay_marker: 'job-1' });
    expect(s.requests[0]).toMatchObject({ method: 'POST', status: 'hang', fault: 'apply_then_hang' });
  });

  it('answers status faults in Bonjoro’s shapes: the flat 401, the nested 500 with the message repeated', async () => {
    const s = await start();
    s.faults.add({ kind: 'status', status: 401 });
    s.faults.add({ kind: 'status', status: 500, path: '/api/v2/greets' });
    expect((await call(s, 'GET', '/users')).json).toEqual({ message: 'Unauthenticated.' });
    const failed = await greet(s, {});
    expect([failed.status, failed.json]).toEqual([500, { error: { message: 'Something went weirdly wrong', status_code: 500 }, message: 'Something went weirdly wrong' }]);
    expect(s.greets()).toHaveLength(0);
  });
});

describe('bonjoro simulator: seed, lists and inspection', () => {
  it('seeds users, campaigns (integer id and uuid) and templates from the seed, listed by the API and given in credentials', async () => {
    const s = await start({ seed: 7 });
    const campaigns = (await call(s, 'GET', '/campaigns')).json.data as Array<{ id: number; uuid: string; is_default: boolean }>;
    expect(campaigns.map((c) => [c.id, c.uuid])).toEqual(s.credentials.campaigns.map((c) => [c.id, c.uuid]));
    expect(campaigns[0]!.is_default).toBe(true);
    expect(((await call(s, 'GET', '/message-templates')).json.data as Array<{ id: string }>).map((t) => t.id)).toEqual(s.credentials.templates.map((t) => t.id));
    expect((await call(s, 'GET', '/users')).json.total).toBe(3);
    const again = await startBonjoroSimulator({ seed: 7 });
    const other = await startBonjoroSimulator({ seed: 8 });
    try {
      expect(again.credentials.users).toEqual(s.credentials.users);
      expect(other.credentials.users[0]!.id).not.toBe(s.credentials.users[0]!.id);
    } finally {
      await again.close();
      await other.close();
    }
  });

  it('creates, updates and searches profiles', async () => {
    const s = await start();
    const created = await call(s, 'POST', '/profiles', { body: { email: 'cy@example.com', first_name: 'Cy' } });
    expect([created.status, created.json.message, created.json.data.name]).toEqual([200, 'Created', 'Cy']);
    expect((await call(s, 'POST', '/profiles', { body: { first_name: 'No email' } })).json.errors).toEqual({ email: ['The email field is required.'] });
    const updated = await call(s, 'PUT', `/profiles/${created.json.data.id}`, { body: { last_name: 'Young' } });
    expect(updated.json.data.name).toBe('Cy Young');
    expect((await call(s, 'GET', '/profiles?search=young')).json.data).toHaveLength(1);
  });

  it('serves its record on /_sim/requests and its objects on /_sim/state', async () => {
    const s = await start();
    await greet(s, { note: 'look at me' });
    const requests = (await (await fetch(`${s.url}/_sim/requests`)).json()) as Array<{ method: string; path: string; body: unknown; status: number }>;
    expect(requests).toMatchObject([{ method: 'POST', path: '/api/v2/greets', body: { profiles: ['ada@example.com'], note: 'look at me' }, status: 200 }]);
    const state = (await (await fetch(`${s.url}/_sim/state`)).json()) as { greets: Array<{ note: string }>; profiles: unknown[]; users: unknown[]; campaigns: unknown[]; templates: unknown[] };
    expect(state.greets.map((g) => g.note)).toEqual(['look at me']);
    expect([state.profiles.length, state.users.length, state.campaigns.length, state.templates.length]).toEqual([1, 3, 3, 2]);
  });
});
