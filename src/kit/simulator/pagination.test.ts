import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, items, startWithChanges, type Answer } from './harness.js';
import { MAX_PER_PAGE, arraySource, decodeCursor, encodeCursor, paginate, rangeSource, type PageRequest } from './pagination.js';
import type { KitSimulator } from './server.js';

let sim: KitSimulator;
beforeAll(async () => {
  ({ sim } = await startWithChanges({ seed: { subscribers: 40, tags: 3 } }));
});
afterAll(() => sim.close());

const ids = (answer: Answer): number[] => items<{ id: number }>(answer, 'subscribers').map((s) => s.id);

describe('kit simulator: cursor pagination', () => {
  it('pages forward with after=end_cursor, newest id first by default, without overlap or gaps', async () => {
    const all = ids(await call(sim, '/v4/subscribers?status=all&per_page=1000'));
    expect(all).toEqual(Array.from({ length: 40 }, (_, k) => 40 - k));
    const seen: number[] = [];
    let after = '';
    for (;;) {
      const page = await call(sim, `/v4/subscribers?status=all&per_page=7${after && `&after=${encodeURIComponent(after)}`}`);
      expect(page.json.pagination.per_page).toBe(7);
      expect(page.json.pagination.has_previous_page).toBe(seen.length > 0);
      seen.push(...ids(page));
      if (!page.json.pagination.has_next_page) break;
      after = page.json.pagination.end_cursor;
    }
    expect(seen).toEqual(all);
  });

  it('pages back with before=start_cursor to the page before', async () => {
    const first = await call(sim, '/v4/subscribers?status=all&per_page=5');
    const second = await call(sim, `/v4/subscribers?status=all&per_page=5&after=${encodeURIComponent(first.json.pagination.end_cursor)}`);
    const back = await call(sim, `/v4/subscribers?status=all&per_page=5&before=${encodeURIComponent(second.json.pagination.start_cursor)}`);
    expect(ids(back)).toEqual(ids(first));
    expect(back.json.pagination).toMatchObject({ has_previous_page: false, has_next_page: true, start_cursor: first.json.pagination.start_cursor });
  });

  it('adds total_count only when asked, and returns cursors even for a single page', async () => {
    const plain = await call(sim, '/v4/tags');
    expect(plain.json.pagination).toEqual({ has_previous_page: false, has_next_page: false, start_cursor: expect.any(String), end_cursor: expect.any(String), per_page: 500 });
    const counted = await call(sim, '/v4/subscribers?status=all&per_page=3&include_total_count=true');
    expect(counted.json.pagination.total_count).toBe(40);
    expect(counted.json.subscribers).toHaveLength(3);
  });

  it('encodes cursors as base64 JSON like Kit’s ([id]) and answers 422 to a bad cursor', async () => {
    const page = await call(sim, '/v4/subscribers?status=all&per_page=1');
    expect(Buffer.from(page.json.pagination.end_cursor, 'base64').toString()).toBe('[40]');
    for (const bad of ['garbage!', Buffer.from('{"x":1}').toString('base64'), Buffer.from('["a"]').toString('base64')]) {
      expect(await call(sim, `/v4/subscribers?after=${encodeURIComponent(bad)}`)).toMatchObject({ status: 422, json: { errors: ['Invalid pagination cursor'] } });
    }
    expect((await call(sim, `/v4/tags?before=${encodeURIComponent('%%%')}`)).status).toBe(422);
  });

  it('clamps per_page above the maximum and gives an empty page null cursors', async () => {
    expect((await call(sim, '/v4/subscribers?per_page=5000')).json.pagination.per_page).toBe(MAX_PER_PAGE);
    const past = await call(sim, `/v4/subscribers?status=all&after=${encodeURIComponent(encodeCursor({ key: 1, id: 1 }, 'id'))}`);
    expect(past.json).toEqual({ subscribers: [], pagination: { has_previous_page: true, has_next_page: false, start_cursor: null, end_cursor: null, per_page: 500 } });
  });

  it('orders by created_at with time cursors when asked, ascending on request', async () => {
    const page = await call(sim, '/v4/subscribers?status=all&sort_field=created_at&sort_order=asc&per_page=3');
    expect(ids(page)).toEqual([1, 2, 3]);
    const cursor = JSON.parse(Buffer.from(page.json.pagination.end_cursor, 'base64').toString());
    expect(cursor).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT/), 3]);
    const next = await call(sim, `/v4/subscribers?status=all&sort_field=created_at&sort_order=asc&per_page=3&after=${encodeURIComponent(page.json.pagination.end_cursor)}`);
    expect(ids(next)).toEqual([4, 5, 6]);
    // An id cursor is not a created_at cursor.
    expect((await call(sim, `/v4/subscribers?sort_field=created_at&after=${encodeURIComponent(encodeCursor({ key: 3, id: 3 }, 'id'))}`)).status).toBe(422);
  });
});

describe('pagination engine', () => {
  const req = (r: Partial<PageRequest>): PageRequest => ({ perPage: 3, includeTotalCount: true, ...r });
  // Generated ids 1..10 with even ids overridden (excluded), plus written entries 4 and 11.
  const sources = () => [
    rangeSource({ lo: 1, hi: 10, keyOf: (id) => id * 10, matches: (id) => id % 2 === 1, load: (id) => `g${id}` }),
    arraySource([11, 4].map((id) => ({ pos: { key: id * 10, id }, load: () => `w${id}` }))),
  ];

  it('merges the generated range and the written entries in position order, both ways', () => {
    const asc = paginate(sources(), 'asc', req({ perPage: 100 }), 'time');
    expect(asc.items).toEqual(['g1', 'g3', 'w4', 'g5', 'g7', 'g9', 'w11']);
    expect(asc.pagination.total_count).toBe(7);
    expect(paginate(sources(), 'desc', req({ perPage: 100 }), 'time').items).toEqual(['w11', 'g9', 'g7', 'g5', 'w4', 'g3', 'g1']);
  });

  it('continues after and before a cursor that points at a removed item', () => {
    expect(paginate(sources(), 'asc', req({ after: { key: 60, id: 6 } }), 'time').items).toEqual(['g7', 'g9', 'w11']);
    expect(paginate(sources(), 'asc', req({ before: { key: 60, id: 6 } }), 'time').items).toEqual(['g3', 'w4', 'g5']);
  });

  it('round-trips cursors and rejects ones of the other kind', () => {
    const pos = { key: Date.parse('2023-02-17T11:43:55.000Z'), id: 11 };
    expect(Buffer.from(encodeCursor(pos, 'time'), 'base64').toString()).toBe('["2023-02-17T11:43:55.000Z",11]');
    expect(decodeCursor(encodeCursor(pos, 'time'), 'time')).toEqual(pos);
    expect(decodeCursor('WzE0N10=', 'id')).toEqual({ key: 147, id: 147 });
    expect(decodeCursor('WzE0N10=', 'time')).toBeUndefined();
  });
});
