/**
 * The Airtable simulator over real HTTP on loopback, against reference/destinations.md §3 and §6:
 * authentication and base access, addressing tables by id and name, the error envelope, listing
 * with pages, offsets and stale iterators, the meta API, the rate limit and its 30-second penalty,
 * faults and the `_sim` routes. Writes: simulator-writes.test.ts; formulas:
 * simulator-formula.test.ts; webhooks: simulator-webhooks.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAirtableSimulator, type AirtableSimulator, type AirtableSimulatorOptions } from './simulator.js';

const sims: AirtableSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

/** No rate limit unless a test asks for one: the tests' clock stands still. */
async function start(options: AirtableSimulatorOptions = {}): Promise<AirtableSimulator> {
  const sim = await startAirtableSimulator({ rateLimit: false, ...options });
  sims.push(sim);
  return sim;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any;
}

async function call(s: AirtableSimulator, method: string, path: string, options: { body?: unknown; token?: string | null } = {}): Promise<Answer> {
  const token = options.token === undefined ? s.token : options.token;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${s.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === '' ? undefined : JSON.parse(text) };
}

/** The `fields` of each record of a list answer. */
const fieldsOf = (json: any) => (json.records as Array<{ fields: Record<string, unknown> }>).map((r) => r.fields);

const PEOPLE = {
  name: 'CRM',
  tables: [
    {
      name: 'Kit People',
      fields: [
        { name: 'Email', type: 'email' as const },
        { name: 'Score', type: 'number' as const },
      ],
      records: Array.from({ length: 7 }, (_, i) => ({ Email: `p${i}@example.com`, Score: i % 3 })),
    },
  ],
};

describe('airtable simulator: auth and addressing', () => {
  it('prints its credentials: a pat… token, the seeded base and its first table, the same for the same seed', async () => {
    const a = await start({ seed: 7 });
    const b = await start({ seed: 7 });
    expect(a.credentials).toEqual(b.credentials);
    expect(a.credentials).toMatchObject({ token: expect.stringMatching(/^pat[A-Za-z0-9]{14}\.[0-9a-f]{64}$/), baseId: expect.stringMatching(/^app[A-Za-z0-9]{14}$/), tableId: expect.stringMatching(/^tbl[A-Za-z0-9]{14}$/), tableName: 'Subscribers' });
  });

  it('answers a missing or wrong token 401 AUTHENTICATION_REQUIRED', async () => {
    const s = await start();
    for (const token of [null, 'patnope.0000']) {
      const answer = await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}`, { token });
      expect([answer.status, answer.json]).toEqual([401, { error: { type: 'AUTHENTICATION_REQUIRED', message: 'Authentication required' } }]);
    }
  });

  it('answers 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND for a base the token may not use, an unknown base or table, or a missing scope', async () => {
    const s = await start({ bases: [PEOPLE, { name: 'Other', tables: [{ name: 'T', fields: [{ name: 'Name', type: 'singleLineText' }] }] }], tokens: [{ token: 'patCRMONLY', bases: ['CRM'] }, { token: 'patREADONLY', scopes: ['data.records:read'] }] });
    const other = [...s.state.bases.values()][1]!;
    const denied = await call(s, 'GET', `/v0/${other.id}/T`, { token: 'patCRMONLY' });
    expect(denied.status).toBe(403);
    expect(denied.json.error.type).toBe('INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND');
    expect((await call(s, 'GET', `/v0/${s.baseId}/Kit%20People`, { token: 'patCRMONLY' })).status).toBe(200);
    expect((await call(s, 'GET', '/v0/appAAAAAAAAAAAAAA/T')).status).toBe(403);
    expect((await call(s, 'GET', `/v0/${s.baseId}/Nope`)).status).toBe(403);
    expect((await call(s, 'POST', `/v0/${s.baseId}/Kit%20People`, { token: 'patREADONLY', body: { fields: {} } })).status).toBe(403);
    expect((await call(s, 'GET', `/v0/${s.baseId}/Kit%20People`, { token: 'patREADONLY' })).status).toBe(200);
    expect((await call(s, 'GET', '/v0/meta/bases', { token: 'patCRMONLY' })).json).toEqual({ bases: [{ id: s.baseId, name: 'CRM', permissionLevel: 'create' }] });
  });

  it('finds a table by id or by its URL-encoded name, and answers unknown routes with the bare NOT_FOUND', async () => {
    const s = await start({ bases: [PEOPLE] });
    const byName = await call(s, 'GET', `/v0/${s.baseId}/Kit%20People?maxRecords=1`);
    const byId = await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}?maxRecords=1`);
    expect(byName.json).toEqual(byId.json);
    expect(byName.json.records[0]).toEqual({ id: expect.stringMatching(/^rec[A-Za-z0-9]{14}$/), createdTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), fields: { Email: 'p0@example.com', Score: 0 } });
    expect(await call(s, 'GET', '/v1/nothing')).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
  });

  it('reads one record, 404 MODEL_ID_NOT_FOUND for an unknown id', async () => {
    const s = await start({ bases: [PEOPLE] });
    const [first] = s.records();
    expect((await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}/${first!.id}`)).json).toEqual(first);
    expect(await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}/recAAAAAAAAAAAAAA`)).toMatchObject({ status: 404, json: { error: { type: 'MODEL_ID_NOT_FOUND' } } });
  });

  it('shows the schema with field ids, types and select options on the meta API', async () => {
    const s = await start();
    const { json } = await call(s, 'GET', `/v0/meta/bases/${s.baseId}/tables`);
    const table = json.tables[0];
    expect(table).toMatchObject({ id: s.tableId, name: 'Subscribers', primaryFieldId: table.fields[0].id, views: [{ id: expect.stringMatching(/^viw/), name: 'Grid view', type: 'grid' }] });
    expect((table.fields as Array<{ name: string }>).find((f) => f.name === 'Tags')).toEqual({ id: expect.stringMatching(/^fld[A-Za-z0-9]{14}$/), name: 'Tags', type: 'multipleSelects', options: { choices: [expect.objectContaining({ id: expect.stringMatching(/^sel/), name: 'customer' }), expect.objectContaining({ name: 'newsletter' }), expect.objectContaining({ name: 'vip' })] } });
  });
});

describe('airtable simulator: listing', () => {
  it('pages with pageSize and an itr…/rec… offset until the last page, which has none; a page asked again comes again', async () => {
    const s = await start({ bases: [PEOPLE] });
    const path = `/v0/${s.baseId}/${s.tableId}?pageSize=3`;
    const first = await call(s, 'GET', path);
    expect(fieldsOf(first.json).map((f) => f.Email)).toEqual(['p0@example.com', 'p1@example.com', 'p2@example.com']);
    expect(first.json.offset).toMatch(/^itr[A-Za-z0-9]{14}\/rec[A-Za-z0-9]{14}$/);
    const second = await call(s, 'GET', `${path}&offset=${encodeURIComponent(first.json.offset)}`);
    const third = await call(s, 'GET', `${path}&offset=${encodeURIComponent(second.json.offset)}`);
    expect(fieldsOf(third.json).map((f) => f.Email)).toEqual(['p6@example.com']);
    expect(third.json).not.toHaveProperty('offset');
    expect((await call(s, 'GET', `${path}&offset=${encodeURIComponent(second.json.offset)}`)).json).toEqual(third.json);
    expect((await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}`)).json).not.toHaveProperty('offset');
  });

  it('refuses a page size above 100, and caps a listing at maxRecords', async () => {
    const s = await start({ bases: [PEOPLE] });
    expect((await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}?pageSize=101`)).status).toBe(422);
    const capped = await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}?pageSize=2&maxRecords=3`);
    const rest = await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}?pageSize=2&maxRecords=3&offset=${encodeURIComponent(capped.json.offset)}`);
    expect([capped.json.records.length, rest.json.records.length, rest.json.offset]).toEqual([2, 1, undefined]);
  });

  it('returns only fields[], sorts by sort[i], keys by field id with returnFieldsByFieldId, and takes the same in a POST listRecords body', async () => {
    const s = await start({ bases: [PEOPLE] });
    const query = `fields%5B%5D=Email&sort%5B0%5D%5Bfield%5D=Score&sort%5B0%5D%5Bdirection%5D=desc&sort%5B1%5D%5Bfield%5D=Email&pageSize=3`;
    const got = await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}?${query}`);
    expect(fieldsOf(got.json)).toEqual([{ Email: 'p2@example.com' }, { Email: 'p5@example.com' }, { Email: 'p1@example.com' }]);
    const posted = await call(s, 'POST', `/v0/${s.baseId}/${s.tableId}/listRecords`, { body: { fields: ['Email'], sort: [{ field: 'Score', direction: 'desc' }, { field: 'Email' }], pageSize: 3 } });
    expect(posted.json.records).toEqual(got.json.records);
    const emailId = s.state.bases.get(s.baseId)!.tables[0]!.fields[0]!.id;
    const byId = await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}?maxRecords=1&fields%5B%5D=Email&returnFieldsByFieldId=true`);
    expect(byId.json.records[0].fields).toEqual({ [emailId]: 'p0@example.com' });
    expect(await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}?fields%5B%5D=Nope`)).toMatchObject({ status: 422, json: { error: { type: 'UNKNOWN_FIELD_NAME', message: 'Unknown field name: "Nope"' } } });
  });

  it('answers 422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE for an offset left idle past its lifetime or expired on demand, and INVALID_OFFSET_VALUE for a malformed one', async () => {
    let now = Date.parse('2026-03-02T10:00:00.000Z');
    const s = await start({ bases: [PEOPLE], now: () => now, iterators: { ttlMs: 10_000 } });
    const path = `/v0/${s.baseId}/${s.tableId}?pageSize=2`;
    const first = await call(s, 'GET', path);
    now += 9_000;
    const second = await call(s, 'GET', `${path}&offset=${encodeURIComponent(first.json.offset)}`);
    expect(second.status).toBe(200);
    now += 10_001;
    const stale = await call(s, 'GET', `${path}&offset=${encodeURIComponent(second.json.offset)}`);
    expect([stale.status, stale.json.error.type]).toEqual([422, 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE']);
    const again = await call(s, 'GET', path);
    await fetch(`${s.url}/_sim/iterators/expire`, { method: 'POST' });
    expect((await call(s, 'GET', `${path}&offset=${encodeURIComponent(again.json.offset)}`)).json.error.type).toBe('LIST_RECORDS_ITERATOR_NOT_AVAILABLE');
    expect(await call(s, 'GET', `${path}&offset=rec123`)).toMatchObject({ status: 422, json: { error: { type: 'INVALID_OFFSET_VALUE', message: 'The value of offset rec123 is invalid' } } });
  });

  it('ends iterators on writes only when asked to, and pages over the records as they were, skipping deleted ones', async () => {
    const s = await start({ bases: [PEOPLE] });
    const path = `/v0/${s.baseId}/${s.tableId}?pageSize=4`;
    const first = await call(s, 'GET', path);
    const [, , , , fifth, sixth] = s.records();
    s.person.delete(s.tableId, fifth!.id);
    s.person.update(s.tableId, sixth!.id, { Score: 42 });
    const rest = await call(s, 'GET', `${path}&offset=${encodeURIComponent(first.json.offset)}`);
    expect(fieldsOf(rest.json)).toEqual([{ Email: 'p5@example.com', Score: 42 }, { Email: 'p6@example.com', Score: 0 }]);
    const strict = await start({ bases: [PEOPLE], iterators: { isEndedByWrites: true } });
    const page = await call(strict, 'GET', `/v0/${strict.baseId}/${strict.tableId}?pageSize=4`);
    strict.person.create(strict.tableId, { Email: 'new@example.com' });
    expect((await call(strict, 'GET', `/v0/${strict.baseId}/${strict.tableId}?pageSize=4&offset=${encodeURIComponent(page.json.offset)}`)).json.error.type).toBe('LIST_RECORDS_ITERATOR_NOT_AVAILABLE');
  });
});

describe('airtable simulator: rate limit', () => {
  it('answers the 6th request in a second to a base 429 RATE_LIMIT_REACHED, then every request to it for the penalty, other bases unaffected', async () => {
    let now = Date.parse('2026-03-02T10:00:00.000Z');
    const s = await start({ bases: [PEOPLE, PEOPLE], now: () => now, rateLimit: { penaltyMs: 2_000 } });
    const [a, b] = [...s.state.bases.values()].map((base) => `/v0/${base.id}/${base.tables[0]!.id}?maxRecords=1`);
    for (let i = 0; i < 5; i += 1) expect((await call(s, 'GET', a!)).status).toBe(200);
    const limited = await call(s, 'GET', a!);
    expect([limited.status, limited.json, limited.headers.get('retry-after')]).toEqual([429, { errors: [{ error: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' }] }, null]);
    expect((await call(s, 'GET', b!)).status).toBe(200);
    now += 1_500;
    expect((await call(s, 'GET', a!)).status).toBe(429);
    now += 501;
    expect((await call(s, 'GET', a!)).status).toBe(200);
    expect((await call(s, 'GET', a!, { token: null })).status).toBe(401);
  });

  it('limits a token to 50 requests a second across bases, takes a raised limit, and counts webhook calls against the base', async () => {
    const now = Date.parse('2026-03-02T10:00:00.000Z');
    const s = await start({ bases: [PEOPLE, PEOPLE], now: () => now, rateLimit: { perBase: 30, perToken: 50, retryAfterSeconds: 30 } });
    const paths = [...s.state.bases.values()].map((base) => `/v0/${base.id}/${base.tables[0]!.id}?maxRecords=1`);
    const statuses: number[] = [];
    for (let i = 0; i < 50; i += 1) statuses.push((await call(s, 'GET', paths[i % 2]!)).status);
    expect(statuses.every((st) => st === 200)).toBe(true);
    const limited = await call(s, 'GET', `/v0/bases/${s.baseId}/webhooks`);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '30']);
    expect((await fetch(`${s.url}/_sim/state`).then((r) => r.json()) as any).rateLimits.penalties).toEqual([{ key: `token:${s.token}`, until: '2026-03-02T10:00:30.000Z' }]);
    s.resetRateLimits();
    expect((await call(s, 'GET', paths[0]!)).status).toBe(200);
  });
});

describe('airtable simulator: errors, faults and _sim', () => {
  it('answers status faults with Airtable’s bodies and a rate_limited fault with its 429', async () => {
    const s = await start();
    s.faults.add({ kind: 'status', status: 503, times: 1 });
    s.faults.add({ kind: 'rate_limited', retryAfter: 5 });
    expect(await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}`)).toMatchObject({ status: 503, json: { error: { type: 'SERVICE_UNAVAILABLE' } } });
    const limited = await call(s, 'GET', `/v0/${s.baseId}/${s.tableId}`);
    expect([limited.status, limited.headers.get('retry-after'), limited.json.errors[0].error]).toEqual([429, '5', 'RATE_LIMIT_REACHED']);
    expect(s.requests.map((r) => r.status)).toEqual([503, 429]);
  });

  it('answers a body over the limit 413 and JSON that does not parse 400', async () => {
    const s = await start({ bodyLimitBytes: 1_000 });
    const big = await call(s, 'POST', `/v0/${s.baseId}/${s.tableId}`, { body: { fields: { Notes: 'x'.repeat(2_000) } } });
    expect(big.status).toBe(413);
    const bad = await fetch(`${s.url}/v0/${s.baseId}/${s.tableId}`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: '{"fields":' });
    expect(bad.status).toBe(400);
    expect(s.records()).toEqual([]);
  });

  it('makes bases and tables over /_sim and shows them with their records in /_sim/state', async () => {
    const s = await start();
    const made = await fetch(`${s.url}/_sim/bases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Shop', tables: [{ name: 'Orders', fields: [{ name: 'Ref', type: 'singleLineText' }, { name: 'Paid', type: 'checkbox' }], records: [{ Ref: 'A1', Paid: true }] }] }) });
    expect(made.status).toBe(201);
    const base = (await made.json()) as any;
    const table = await fetch(`${s.url}/_sim/bases/${base.id}/tables`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Refunds', fields: [{ name: 'Ref', type: 'nope' }] }) });
    expect(table.status).toBe(400);
    const state = (await (await fetch(`${s.url}/_sim/state`)).json()) as any;
    expect((state.bases as Array<{ name: string }>).map((b) => b.name)).toEqual(['Kit relay', 'Shop']);
    expect(state.bases[1].tables[0].records).toEqual([expect.objectContaining({ fields: { Ref: 'A1', Paid: true }, lastModifiedTime: expect.any(String) })]);
    expect((await call(s, 'GET', `/v0/${base.id}/Orders`)).json.records[0].fields).toEqual({ Ref: 'A1', Paid: true });
  });
});
