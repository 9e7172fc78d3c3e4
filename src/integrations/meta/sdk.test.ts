/**
 * Fidelity: the official `facebook-nodejs-business-sdk`, unchanged, against the Meta simulator.
 * What the SDK sends (reference/destinations.md §8: a JSON body for creates, the token in the
 * query, deleteUsers' parameters all in the query string, a JSON body even on GET, its own Graph
 * version v24.0) must be accepted, and what the simulator answers must read back as the SDK's own
 * objects, cursors and FacebookRequestError.
 *
 * The SDK has no setting for its host: `FacebookAdsApi.GRAPH` is a static getter, defined
 * configurable by its compiled classes, so the test redefines it for the file and puts it back.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMetaSimulator, type MetaSimulator, type MetaSimulatorOptions } from './simulator.js';

/** The slice of the SDK this file uses: it ships no types. */
interface SdkObject {
  readonly id: string;
  readonly _data: Record<string, any>;
}
interface SdkCursor extends Array<SdkObject> {
  hasNext(): boolean;
  next(): Promise<SdkCursor>;
}
interface SdkApi {
  readonly accessToken: string;
}
interface SdkCustomAudience extends SdkObject {
  createUser(fields: string[], params: Record<string, unknown>): Promise<SdkObject>;
  deleteUsers(params: Record<string, unknown>): Promise<Record<string, any>>;
  createUsersReplace(fields: string[], params: Record<string, unknown>): Promise<SdkObject>;
  get(fields: string[]): Promise<SdkCustomAudience>;
  getSessions(fields: string[], params?: Record<string, unknown>): Promise<SdkCursor>;
}
interface SdkAdAccount extends SdkObject {
  createCustomAudience(fields: string[], params: Record<string, unknown>): Promise<SdkCustomAudience>;
  getCustomAudiences(fields: string[], params?: Record<string, unknown>): Promise<SdkCursor>;
}
interface Sdk {
  FacebookAdsApi: { new (token: string, locale?: string, crashLog?: boolean): SdkApi; readonly GRAPH: string; readonly VERSION: string };
  CustomAudience: new (id: string, data: Record<string, unknown>, parentId: string | undefined, api: SdkApi) => SdkCustomAudience;
  AdAccount: new (id: string, data: Record<string, unknown>, parentId: string | undefined, api: SdkApi) => SdkAdAccount;
}

// The SDK is CommonJS without types: loaded as Node loads it, typed by the slice above.
const sdk = createRequire(import.meta.url)('facebook-nodejs-business-sdk') as Sdk;
const graph = Object.getOwnPropertyDescriptor(sdk.FacebookAdsApi, 'GRAPH');

let sim: MetaSimulator | undefined;
let graphUrl = '';
beforeAll(() => {
  Object.defineProperty(sdk.FacebookAdsApi, 'GRAPH', { get: () => graphUrl, configurable: true });
});
afterAll(() => {
  if (graph) Object.defineProperty(sdk.FacebookAdsApi, 'GRAPH', graph);
});
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: MetaSimulatorOptions = {}): Promise<{ s: MetaSimulator; api: SdkApi; audience: SdkCustomAudience; account: SdkAdAccount }> {
  sim = await startMetaSimulator({ countFloor: 0, ...options });
  graphUrl = sim.url;
  // crashLog false: the SDK would otherwise hook process 'uncaughtException' and report to Meta.
  const api = new sdk.FacebookAdsApi(sim.accessToken, 'en_US', false);
  return { s: sim, api, audience: new sdk.CustomAudience(sim.audienceId, {}, undefined, api), account: new sdk.AdAccount(sim.adAccountId, {}, undefined, api) };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const emails = (n: number, from = 0) => Array.from({ length: n }, (_, i) => sha256(`person${from + i}@example.com`));

describe('meta simulator with facebook-nodejs-business-sdk', () => {
  it('creates an audience through AdAccount.createCustomAudience and pages through getCustomAudiences', async () => {
    const { s, account } = await start();
    const created = await account.createCustomAudience([], { name: 'Kit buyers', subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY', description: 'from Kit' });
    expect(created.id).toMatch(/^\d{17}$/);
    expect(s.audience(created.id)).toMatchObject({ name: 'Kit buyers', description: 'from Kit', customerFileSource: 'USER_PROVIDED_ONLY' });
    for (const name of ['a', 'b', 'c']) await account.createCustomAudience([], { name, subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY' });

    let page = await account.getCustomAudiences(['id', 'name'], { limit: 2 });
    const names = page.map((a) => a._data.name as string);
    while (page.hasNext()) {
      page = await page.next();
      names.push(...page.map((a) => a._data.name as string));
    }
    expect(names).toEqual(['c', 'b', 'a', 'Kit buyers', 'Kit subscribers']);
    expect(s.requests[0]!.path).toBe(`/v24.0/${s.adAccountId}/customaudiences`);
    expect(s.requests[0]!.headers['content-type']).toContain('application/json');
  });

  it('adds users with createUser (a JSON body, the token in the query) and reads the answer back', async () => {
    const { s, audience } = await start();
    const data = [...emails(3), 'not-a-hash'];
    const answer = await audience.createUser([], { payload: { schema: 'EMAIL_SHA256', data }, session: { session_id: 42, batch_seq: 1, last_batch_flag: true, estimated_num_total: 4 } });
    expect(answer._data).toEqual({ audience_id: s.audienceId, session_id: '42', num_received: 4, num_invalid_entries: 1, invalid_entry_samples: { 'not-a-hash': 'EMAIL' } });
    expect(s.members(s.audienceId).map((m) => m.keys.EMAIL)).toEqual(emails(3));
    const [request] = s.requests;
    expect(request!.query).toEqual({ access_token: s.accessToken });
    expect(request!.body).toMatchObject({ payload: { schema: 'EMAIL_SHA256' } });
  });

  it('removes users with deleteUsers, whose 2,000 hashes travel in a query string far past Node’s 16 KiB header limit', async () => {
    const { s, audience } = await start();
    await audience.createUser([], { payload: { schema: 'EMAIL_SHA256', data: emails(2500) } });
    const answer = await audience.deleteUsers({ payload: { schema: 'EMAIL_SHA256', data: emails(2000) } });
    expect(answer).toMatchObject({ audience_id: s.audienceId, num_received: 2000, num_invalid_entries: 0 });
    const removal = s.requests[1]!;
    expect([removal.method, removal.status]).toEqual(['DELETE', 200]);
    expect(removal.url.length).toBeGreaterThan(100_000);
    expect(s.members(s.audienceId).map((m) => m.keys.EMAIL)).toEqual(emails(500, 2000));
  });

  it('reads the count bounds and statuses with get(fields), and the sessions with getSessions', async () => {
    const { s, audience } = await start({ matchRate: 1 });
    await audience.createUser([], { payload: { schema: ['EMAIL', 'EXTERN_ID'], data: emails(150).map((e, i) => [e, `kit-${i}`]) } });
    const read = await audience.get(['id', 'name', 'approximate_count_lower_bound', 'approximate_count_upper_bound', 'operation_status', 'delivery_status', 'time_updated']);
    expect(read._data).toMatchObject({ id: s.audienceId, name: 'Kit subscribers', approximate_count_lower_bound: 150, approximate_count_upper_bound: 150, operation_status: { code: 200 }, delivery_status: { code: 200 } });
    const sessions = await audience.getSessions(['session_id', 'num_received', 'num_matched', 'stage']);
    expect(sessions.map((x) => x._data)).toEqual([{ session_id: expect.stringMatching(/^\d+$/), num_received: '150', num_matched: '150', stage: 'processed' }]);
  });

  it('replaces the audience in two batches with createUsersReplace', async () => {
    const { s, audience } = await start();
    await audience.createUser([], { payload: { schema: 'EMAIL_SHA256', data: emails(5) } });
    await audience.createUsersReplace([], { payload: { schema: 'EMAIL_SHA256', data: emails(2, 100) }, session: { session_id: 7, batch_seq: 1, last_batch_flag: false } });
    await audience.createUsersReplace([], { payload: { schema: 'EMAIL_SHA256', data: emails(2, 200) }, session: { session_id: 7, batch_seq: 2, last_batch_flag: true } });
    expect(s.members(s.audienceId).map((m) => m.keys.EMAIL)).toEqual([...emails(2, 100), ...emails(2, 200)]);
  });

  it('surfaces Graph errors as the SDK’s FacebookRequestError: a flagged audience, an expired token', async () => {
    const { s, audience } = await start();
    s.flagAudience(s.audienceId);
    const flagged = (await audience.createUser([], { payload: { schema: 'EMAIL_SHA256', data: emails(1) } }).catch((e: unknown) => e)) as { name: string; status: number; response: any };
    expect(flagged.name).toBe('FacebookRequestError');
    expect(flagged.status).toBe(400);
    expect(flagged.response).toMatchObject({ code: 100, error_subcode: 1713230, error_user_title: 'Audience Upload Blocked' });
    s.expireToken();
    const expired = (await audience.get(['id']).catch((e: unknown) => e)) as { status: number; response: any };
    expect(expired.response).toMatchObject({ type: 'OAuthException', code: 190, error_subcode: 463 });
  });
});
