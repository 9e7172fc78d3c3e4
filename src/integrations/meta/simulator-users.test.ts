/**
 * The Meta simulator's audience membership over real HTTP on loopback (reference/destinations.md
 * §2.2, §2.3, §6, §8): `/users` add and remove in every parameter style, the payload's limits and
 * checks, identities, sessions and the match rate, flagged and too-small audiences, and
 * `/usersreplace` across batches, its open-session block and its expiry.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isMatched, startMetaSimulator, type MetaSimulator, type MetaSimulatorOptions } from './simulator.js';

let sim: MetaSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: MetaSimulatorOptions = {}): Promise<MetaSimulator> {
  sim = await startMetaSimulator(options);
  return sim;
}

interface Answer {
  readonly status: number;
  readonly json: any;
}

type Style = 'json' | 'json-strings' | 'form' | 'query';

/** Sends `params` to an audience edge the way `style` says; the token always in the query. */
async function send(s: MetaSimulator, method: string, edge: string, params: Record<string, unknown>, style: Style = 'json'): Promise<Answer> {
  const strings = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  const query = new URLSearchParams({ access_token: s.accessToken, ...(style === 'query' ? strings : {}) });
  const init: RequestInit = { method };
  if (style === 'json') init.body = JSON.stringify(params);
  if (style === 'json-strings') init.body = JSON.stringify(strings);
  if (style === 'form') init.body = new URLSearchParams(strings).toString();
  if (init.body !== undefined) init.headers = { 'content-type': style === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' };
  const response = await fetch(`${s.graphUrl}/${s.audienceId}/${edge}?${query.toString()}`, init);
  return { status: response.status, json: await response.json() };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const emails = (n: number, from = 0) => Array.from({ length: n }, (_, i) => sha256(`person${from + i}@example.com`));
const single = (data: unknown[]) => ({ payload: { schema: 'EMAIL_SHA256', data } });
const memberEmails = (s: MetaSimulator) => s.members(s.audienceId).map((m) => m.keys.EMAIL);

describe('meta simulator: /users', () => {
  it('takes the parameters as a JSON body (objects or JSON strings), a form of JSON strings, or the query string', async () => {
    const s = await start();
    const styles: Style[] = ['json', 'json-strings', 'form', 'query'];
    for (const [i, style] of styles.entries()) {
      const answer = await send(s, 'POST', 'users', single(emails(1, i)), style);
      expect([style, answer.status, answer.json.num_received]).toEqual([style, 200, 1]);
    }
    expect(memberEmails(s)).toEqual(emails(4));
    for (const [i, style] of styles.entries()) expect((await send(s, 'DELETE', 'users', single(emails(1, i)), style)).status).toBe(200);
    expect(memberEmails(s)).toEqual([]);
  });

  it('answers the read-after-write struct, counting and skipping invalid entries instead of failing', async () => {
    const s = await start();
    const [good, other] = emails(2);
    const schema = ['EMAIL', 'PHONE', 'EXTERN_ID'];
    const data = [
      [good, '', 'kit-1'],
      [good!.toUpperCase(), '', ''],
      ['ada@example.com', '', ''],
      ['', sha256('15551234567').slice(1), ''],
      ['', '', ''],
      [other, sha256('15551234567'), ''],
    ];
    const answer = await send(s, 'POST', 'users', { payload: { schema, data } });
    expect(answer.json).toEqual({
      audience_id: s.audienceId,
      session_id: expect.stringMatching(/^\d+$/),
      num_received: 6,
      num_invalid_entries: 4,
      invalid_entry_samples: { [good!.toUpperCase()]: 'EMAIL', 'ada@example.com': 'EMAIL', [sha256('15551234567').slice(1)]: 'PHONE', '': 'ROW' },
    });
    expect(s.members(s.audienceId)).toEqual([
      { identity: `EMAIL:${good}`, keys: { EMAIL: good, EXTERN_ID: 'kit-1' } },
      { identity: `EMAIL:${other}`, keys: { EMAIL: other, PHONE: sha256('15551234567') } },
    ]);
  });

  it('takes 10,000 rows and refuses 10,001 with code 100', async () => {
    const s = await start();
    const many = emails(10_001);
    expect((await send(s, 'POST', 'users', single(many.slice(1)))).json.num_received).toBe(10_000);
    const refused = await send(s, 'POST', 'users', single(many));
    expect([refused.status, refused.json.error.code, refused.json.error.message]).toEqual([400, 100, expect.stringContaining('at most 10000')]);
    expect(s.members(s.audienceId)).toHaveLength(10_000);
  });

  it('refuses rows that do not match the schema, an unknown key and no data, changing nothing', async () => {
    const s = await start();
    const [a, b] = emails(2);
    const mismatch = await send(s, 'POST', 'users', { payload: { schema: ['EMAIL', 'FN'], data: [[a, b], [a]] } }, 'form');
    expect(mismatch.json).toEqual({ error: { message: '(#100) Data is missing or does not match schema', type: 'OAuthException', code: 100, fbtrace_id: expect.any(String) } });
    expect((await send(s, 'POST', 'users', { payload: { schema: 'EMAIL_SHA256', data: [] } })).json.error.message).toBe('(#100) Data is missing or does not match schema');
    expect((await send(s, 'POST', 'users', { payload: { schema: ['EMAIL', 'SHOE_SIZE'], data: [[a, '42']] } })).json.error).toMatchObject({ code: 100, message: expect.stringContaining('SHOE_SIZE') });
    expect((await send(s, 'POST', 'users', { session: { session_id: 1 } })).json.error.message).toBe('(#100) The parameter payload is required');
    expect((await send(s, 'POST', 'users', { payload: '{not json' }, 'form')).json.error.code).toBe(100);
    expect(s.members(s.audienceId)).toEqual([]);
  });

  it('keys members by EMAIL, else EXTERN_ID (unhashed), else the first value; adds and removes are idempotent', async () => {
    const s = await start();
    const [email] = emails(1);
    const madid = '6d92078a-8246-4ba4-ae5b-76104861e7dc';
    const schema = ['EXTERN_ID', 'EMAIL', 'MADID', 'PHONE'];
    const rows = [
      ['kit-1', email, '', ''],
      ['kit-2', '', madid, ''],
      ['', '', madid, sha256('15551234567')],
    ];
    for (let i = 0; i < 2; i++) expect((await send(s, 'POST', 'users', { payload: { schema, data: rows } })).json.num_invalid_entries).toBe(0);
    expect(s.members(s.audienceId).map((m) => m.identity)).toEqual([`EMAIL:${email}`, 'EXTERN_ID:kit-2', `MADID:${madid}`]);
    const removal = { payload: { schema: ['EXTERN_ID'], data: [['kit-2'], ['kit-404']] } };
    for (let i = 0; i < 2; i++) expect((await send(s, 'DELETE', 'users', removal)).status).toBe(200);
    expect(s.members(s.audienceId).map((m) => m.identity)).toEqual([`EMAIL:${email}`, `MADID:${madid}`]);
  });

  it('accepts a DELETE carrying 10,000 hashes in a 700 KB query string, as the SDK sends them', async () => {
    const s = await start();
    await send(s, 'POST', 'users', single(emails(10_000)));
    const answer = await send(s, 'DELETE', 'users', single(emails(10_000)), 'query');
    expect([answer.status, answer.json.num_received]).toEqual([200, 10_000]);
    expect(s.requests.at(-1)!.url.length).toBeGreaterThan(700_000);
    expect(s.members(s.audienceId)).toEqual([]);
  });
});

describe('meta simulator: sessions and match rate', () => {
  it('counts batches under the client’s session, and matches a fixed share of identities', async () => {
    const s = await start({ matchRate: 0.5, now: () => Date.parse('2026-03-01T10:00:00Z') });
    const batches = [emails(600), emails(400, 600)];
    for (const [i, data] of batches.entries()) {
      await send(s, 'POST', 'users', { ...single(data), session: { session_id: '9007199254740993', batch_seq: i + 1, last_batch_flag: i === 1, estimated_num_total: 1000 } });
    }
    await send(s, 'POST', 'users', single([...emails(10, 2000), 'bad']));
    const expected = emails(1000).filter((e) => isMatched(`EMAIL:${e}`, 0.5)).length;
    expect(expected).toBeGreaterThan(400);
    expect(expected).toBeLessThan(600);
    const listed = await fetch(`${s.graphUrl}/${s.audienceId}/sessions?access_token=${s.accessToken}`);
    const { data } = (await listed.json()) as { data: Array<Record<string, string>> };
    expect(data[1]).toEqual({ session_id: '9007199254740993', start_time: '1772359200', end_time: '1772359200', num_received: '1000', num_matched: String(expected), num_invalid_entries: '0', progress: '100', stage: 'processed' });
    expect(data[0]).toMatchObject({ num_received: '11', num_invalid_entries: '1', stage: 'processed' });
    const read = await fetch(`${s.graphUrl}/${s.audienceId}?fields=approximate_count_lower_bound,approximate_count_upper_bound&access_token=${s.accessToken}`);
    const matched = expected + emails(10, 2000).filter((e) => isMatched(`EMAIL:${e}`, 0.5)).length;
    // About 505 matched: under the default floor of 1,000, so Graph hides the size.
    expect(await read.json()).toEqual({ approximate_count_lower_bound: 0, approximate_count_upper_bound: 1000 });
    expect(s.state.matchedCount(s.audience(s.audienceId)!)).toBe(matched);
  });
});

describe('meta simulator: flagged and too-small audiences', () => {
  it('shows a flagged audience as operation_status 471 and refuses its writes with 100/1713230 “Audience Upload Blocked”', async () => {
    const s = await start();
    s.flagAudience(s.audienceId);
    for (const [method, edge] of [['POST', 'users'], ['DELETE', 'users'], ['POST', 'usersreplace']] as const) {
      const answer = await send(s, method, edge, { ...single(emails(1)), session: { session_id: 1, batch_seq: 1, last_batch_flag: true } });
      expect(answer.json.error).toMatchObject({ message: 'Invalid parameter', code: 100, error_subcode: 1713230, error_user_title: 'Audience Upload Blocked', error_user_msg: expect.stringContaining('integrity restrictions') });
    }
    const read = await fetch(`${s.graphUrl}/${s.audienceId}?fields=operation_status&access_token=${s.accessToken}`);
    expect(((await read.json()) as any).operation_status.code).toBe(471);
    s.flagAudience(s.audienceId, false);
    expect((await send(s, 'POST', 'users', single(emails(1)))).status).toBe(200);
  });

  it('refuses, on demand, a removal that would leave the audience below a minimum size, removing no one', async () => {
    const s = await start();
    await send(s, 'POST', 'users', single(emails(5)));
    s.setMinimumSize(3);
    const refused = await send(s, 'DELETE', 'users', single(emails(3)));
    expect(refused.json.error).toMatchObject({ code: 2650, error_user_title: 'Audience Too Small' });
    expect(s.members(s.audienceId)).toHaveLength(5);
    expect((await send(s, 'DELETE', 'users', single(emails(2)))).status).toBe(200);
  });
});

describe('meta simulator: /usersreplace', () => {
  const batch = (data: string[], seq: number, isLast: boolean, sessionId = 77) => ({ ...single(data), session: { session_id: sessionId, batch_seq: seq, last_batch_flag: isLast, estimated_num_total: 4 } });

  it('makes the audience exactly the session’s members on the last batch, keeping the old ones until then', async () => {
    const s = await start();
    await send(s, 'POST', 'users', single(emails(3)));
    const first = await send(s, 'POST', 'usersreplace', batch([...emails(2, 1), 'bad'], 1, false));
    expect(first.json).toEqual({ audience_id: s.audienceId, session_id: '77', num_received: 3, num_invalid_entries: 1, invalid_entry_samples: { bad: 'EMAIL' } });
    expect(memberEmails(s)).toEqual(emails(3));
    await send(s, 'POST', 'usersreplace', batch(emails(2, 10), 2, true), 'form');
    expect(memberEmails(s)).toEqual([...emails(2, 1), ...emails(2, 10)]);
    expect(s.sessions(s.audienceId).at(-1)).toMatchObject({ id: '77', operation: 'replace', stage: 'processed', received: 5, invalid: 1, batches: [1, 2] });
  });

  it('refuses /users adds and removes and a second replace session while one is open', async () => {
    const s = await start();
    await send(s, 'POST', 'usersreplace', batch(emails(1), 1, false));
    for (const method of ['POST', 'DELETE']) {
      const blocked = await send(s, method, 'users', single(emails(1, 5)));
      expect(blocked.json.error).toMatchObject({ code: 2650, is_transient: true, message: expect.stringContaining('replace session 77 is in progress') });
    }
    expect((await send(s, 'POST', 'usersreplace', batch(emails(1), 1, true, 78))).json.error.code).toBe(2650);
    await send(s, 'POST', 'usersreplace', batch(emails(1, 1), 2, true));
    expect((await send(s, 'POST', 'users', single(emails(1, 5)))).status).toBe(200);
    expect((await send(s, 'POST', 'usersreplace', batch(emails(1), 1, true))).json.error.message).toContain('has already ended');
  });

  it('refuses a replace without a session, and a replace that brings no valid user, leaving the audience as it was', async () => {
    const s = await start();
    await send(s, 'POST', 'users', single(emails(2)));
    expect((await send(s, 'POST', 'usersreplace', single(emails(1)))).json.error.message).toBe('(#100) The parameter session is required');
    const empty = await send(s, 'POST', 'usersreplace', batch(['not-a-hash'], 1, true));
    expect(empty.json.error).toMatchObject({ code: 100, message: expect.stringContaining('received no valid users') });
    expect(memberEmails(s)).toEqual(emails(2));
    expect(s.sessions(s.audienceId).at(-1)).toMatchObject({ stage: 'failed' });
  });

  it('expires a replace session not finished within 90 minutes of the simulated clock: nothing replaced, writes open again', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const s = await start({ now: () => now });
    await send(s, 'POST', 'users', single(emails(2)));
    await send(s, 'POST', 'usersreplace', batch(emails(1, 10), 1, false));
    now += 89 * 60_000;
    expect((await send(s, 'POST', 'users', single(emails(1, 20)))).status).toBe(400);
    now += 60_000;
    expect((await send(s, 'POST', 'users', single(emails(1, 20)))).status).toBe(200);
    expect((await send(s, 'POST', 'usersreplace', batch(emails(1, 11), 2, true))).json.error.message).toContain('has already ended');
    expect(memberEmails(s)).toEqual([...emails(2), ...emails(1, 20)]);
    expect(s.sessions(s.audienceId)[1]).toMatchObject({ stage: 'timeout', endTime: Date.parse('2026-03-01T11:30:00Z') });
  });
});
