/**
 * The Graph client against the Meta simulator: real HTTP on loopback. Create, read, add, remove,
 * replace in a session, sessions with their match counts, and each error class as a value.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { graphClient, type GraphClient } from './client.js';
import { sha256Hex } from './normalize.js';
import { startMetaSimulator, type MetaSimulator } from './simulator.js';

let sim: MetaSimulator | undefined;
let http: HttpClient | undefined;
afterEach(async () => {
  await http?.close();
  http = undefined;
  await sim?.close();
  sim = undefined;
});

async function setup(): Promise<{ sim: MetaSimulator; client: GraphClient }> {
  sim = await startMetaSimulator({ usage: false });
  const shared = (http = createHttpClient());
  const client = graphClient((request) => shared.send({ timeoutMs: 10_000, ...request }), { graphUrl: sim.url, apiVersion: 'v25.0', accessToken: sim.accessToken, userAgent: 'kitrelay/test' });
  return { sim, client };
}

const email = (n: number) => sha256Hex(`person${n}@example.com`);

describe('meta graph client', () => {
  it('creates an audience, adds and removes users in sessions, and reads its size and sessions', async () => {
    const { sim: s, client } = await setup();
    const created = await client.createAudience(s.adAccountId, { name: 'Customers', description: 'kitrelay test' });
    expect(created.outcome.kind).toBe('ok');
    const id = created.body!.id;
    expect(s.audience(id)).toMatchObject({ name: 'Customers' });

    const added = await client.upload({ audienceId: id, op: 'add', schema: ['EMAIL', 'EXTERN_ID'], rows: [1, 2, 3].map((n) => [email(n), String(n)]), session: { sessionId: '1001', batchSeq: 1, isLast: true, estimatedTotal: 3 } });
    expect(added.outcome.kind).toBe('ok');
    expect(added.body).toMatchObject({ audience_id: id, num_received: 3, num_invalid_entries: 0 });
    expect(added.usage.maxPct).toBeGreaterThanOrEqual(0);
    expect(s.members(id)).toHaveLength(3);

    const removed = await client.upload({ audienceId: id, op: 'remove', schema: ['EMAIL', 'EXTERN_ID'], rows: [[email(2), '2']], session: { sessionId: '1002', batchSeq: 1, isLast: true } });
    expect(removed.body).toMatchObject({ num_received: 1 });
    expect(s.members(id)).toHaveLength(2);

    // A single key goes as Meta's single-key schema with a flat data array.
    const single = await client.upload({ audienceId: id, op: 'add', schema: ['EMAIL'], rows: [[email(9)], ['not-a-hash']], session: { sessionId: '1003', batchSeq: 1, isLast: true } });
    expect(single.body).toMatchObject({ num_received: 2, num_invalid_entries: 1 });
    expect(s.members(id).map((m) => m.keys.EMAIL)).toContain(email(9));

    const fields = await client.readAudience(id);
    expect(fields.body).toMatchObject({ id, name: 'Customers', operation_status: { code: 200 } });
    expect(fields.body!.approximate_count_upper_bound).toBeGreaterThanOrEqual(3);
    const sessions = await client.listSessions(id);
    expect(sessions.body?.data?.map((x) => String(x.session_id))).toEqual(expect.arrayContaining(['1001', '1002', '1003']));
    // The token never appears in what the audit record keeps.
    expect(JSON.stringify(added.result.request)).not.toContain(s.accessToken);
  });

  it('replaces an audience in one session of several batches', async () => {
    const { sim: s, client } = await setup();
    const id = s.createAudience({ name: 'Replace me' }).id;
    await client.upload({ audienceId: id, op: 'add', schema: ['EMAIL'], rows: [[email(1)], [email(2)]], session: { sessionId: '1', batchSeq: 1, isLast: true } });
    const first = await client.upload({ audienceId: id, op: 'replace', schema: ['EMAIL'], rows: [[email(2)]], session: { sessionId: '77', batchSeq: 1, isLast: false, estimatedTotal: 2 } });
    expect(first.outcome.kind).toBe('ok');
    const last = await client.upload({ audienceId: id, op: 'replace', schema: ['EMAIL'], rows: [[email(3)]], session: { sessionId: '77', batchSeq: 2, isLast: true, estimatedTotal: 2 } });
    expect(last.outcome.kind).toBe('ok');
    expect(s.members(id).map((m) => m.keys.EMAIL).sort()).toEqual([email(2), email(3)].sort());
  });

  it('answers each failure as a value: expired token, flagged audience, too small, throttled', async () => {
    const { sim: s, client } = await setup();
    const id = s.createAudience({ name: 'Errors' }).id;
    const upload = (op: 'add' | 'remove') => client.upload({ audienceId: id, op, schema: ['EMAIL'], rows: [[email(1)]], session: { sessionId: String(Date.now()), batchSeq: 1, isLast: true } });

    s.expireToken(true);
    const expired = await upload('add');
    expect(expired.outcome).toMatchObject({ kind: 'auth', code: 190 });
    expect(expired.outcome.kind === 'auth' && expired.outcome.message).toMatch(/token/i);
    s.expireToken(false);

    s.flagAudience(id);
    expect((await upload('add')).outcome).toMatchObject({ kind: 'flagged', code: 100, subcode: 1713230 });
    s.flagAudience(id, false);

    expect((await upload('add')).outcome.kind).toBe('ok');
    s.setMinimumSize(1);
    expect((await upload('remove')).outcome.kind).toBe('too_small');
    s.setMinimumSize(undefined);

    s.faults.add({ kind: 'rate_limited', times: 1 });
    const throttled = await upload('add');
    expect(throttled.outcome.kind === 'throttled' || throttled.outcome.kind === 'transient').toBe(true);
  });
});
