import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { call, bearer } from './harness.js';
import { startKitSimulator, type KitSimulator } from './server.js';

let sim: KitSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const REDIRECT = 'http://127.0.0.1:9/callback';

async function authorize(s: KitSimulator, params: Record<string, string>) {
  const query = new URLSearchParams({ client_id: 'app', redirect_uri: REDIRECT, response_type: 'code', state: 'xyz', ...params });
  return call(s, `/v4/oauth/authorize?${query.toString()}`, { auth: {} });
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

describe('kit simulator: authentication', () => {
  it('answers 401 with Kit’s messages for a missing, unknown or mistyped credential', async () => {
    sim = await startKitSimulator({ apiKeys: ['good'] });
    expect(await call(sim, '/v4/account', { auth: {} })).toMatchObject({ status: 401, json: { errors: ['Authentication Failed'] } });
    expect(await call(sim, '/v4/account', { auth: { 'x-kit-api-key': 'bad' } })).toMatchObject({ status: 401, json: { errors: ['The API key is invalid'] } });
    expect(await call(sim, '/v4/account', { auth: bearer('nope') })).toMatchObject({ status: 401, json: { errors: ['The access token is invalid'] } });
    expect(await call(sim, '/v4/account', { auth: { 'x-kit-api-key': 'good' } })).toMatchObject({ status: 200 });
  });

  it('refuses API keys on OAuth-only routes and accepts a bearer token there', async () => {
    sim = await startKitSimulator({ seed: { subscribers: 3, purchases: 2 } });
    for (const path of ['/v4/purchases', '/v4/purchases/1']) {
      expect(await call(sim, path)).toMatchObject({ status: 401, json: { errors: ['The access token is invalid'] } });
    }
    expect((await call(sim, '/v4/bulk/subscribers', { method: 'POST', body: { subscribers: [] } })).status).toBe(401);
    const token = sim.issueOAuthToken();
    expect(token).toMatchObject({ token_type: 'bearer', expires_in: 7200, scope: 'public' });
    expect((await call(sim, '/v4/purchases', { auth: bearer(token.access_token) })).status).toBe(200);
    expect((await call(sim, '/v4/subscribers', { auth: bearer(token.access_token) })).status).toBe(200);
  });

  it('says a token expired once its lifetime has passed on the injected clock', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    sim = await startKitSimulator({ now: () => now, oauth: { clientId: 'app', accessTokenTtlSeconds: 60 } });
    const token = sim.issueOAuthToken();
    expect(token.created_at).toBe(Math.floor(now / 1000));
    now += 59_000;
    expect((await call(sim, '/v4/account', { auth: bearer(token.access_token) })).status).toBe(200);
    now += 1_000;
    expect(await call(sim, '/v4/account', { auth: bearer(token.access_token) })).toMatchObject({ status: 401, json: { errors: ['The access token expired'] } });
  });

  it('runs the authorization-code flow with PKCE: authorize redirects with a code, the verifier gets a token', async () => {
    sim = await startKitSimulator({ oauth: { clientId: 'app', clientSecret: 'shh' } });
    const { verifier, challenge } = pkce();
    const redirect = await authorize(sim, { code_challenge: challenge, code_challenge_method: 'S256' });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('state')).toBe('xyz');
    const code = location.searchParams.get('code') ?? '';

    const token = await call(sim, '/v4/oauth/token', { method: 'POST', auth: {}, form: { grant_type: 'authorization_code', client_id: 'app', code, code_verifier: verifier, redirect_uri: REDIRECT } });
    expect(token.status).toBe(200);
    expect(token.json).toMatchObject({ token_type: 'bearer', scope: 'public', expires_in: 7200 });
    expect(Object.keys(token.json).sort()).toEqual(['access_token', 'created_at', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    expect((await call(sim, '/v4/account', { auth: bearer(token.json.access_token) })).status).toBe(200);

    // A code is good once.
    const again = await call(sim, '/v4/oauth/token', { method: 'POST', auth: {}, form: { grant_type: 'authorization_code', client_id: 'app', code, code_verifier: verifier, redirect_uri: REDIRECT } });
    expect(again).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
  });

  it('rejects a wrong PKCE verifier, an unknown client and an unknown grant type', async () => {
    sim = await startKitSimulator({ oauth: { clientId: 'app' } });
    const { challenge } = pkce();
    const code = new URL((await authorize(sim, { code_challenge: challenge, code_challenge_method: 'S256' })).headers.get('location') ?? '').searchParams.get('code') ?? '';
    const bad = await call(sim, '/oauth/token', { method: 'POST', auth: {}, body: { grant_type: 'authorization_code', client_id: 'app', code, code_verifier: 'wrong', redirect_uri: REDIRECT } });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    expect(await call(sim, '/v4/oauth/token', { method: 'POST', auth: {}, body: { grant_type: 'authorization_code', client_id: 'other', code } })).toMatchObject({ status: 401, json: { error: 'invalid_client' } });
    expect(await call(sim, '/v4/oauth/token', { method: 'POST', auth: {}, body: { grant_type: 'password', client_id: 'app' } })).toMatchObject({ status: 400, json: { error: 'unsupported_grant_type' } });
    expect((await authorize(sim, { client_id: 'other' })).status).toBe(401);
  });

  it('requires the client secret from a confidential client (no PKCE)', async () => {
    sim = await startKitSimulator({ oauth: { clientId: 'app', clientSecret: 'shh' } });
    const codeOf = async () => new URL((await authorize(sim!, {})).headers.get('location') ?? '').searchParams.get('code') ?? '';
    const form = { grant_type: 'authorization_code', client_id: 'app', redirect_uri: REDIRECT };
    expect((await call(sim, '/v4/oauth/token', { method: 'POST', auth: {}, form: { ...form, code: await codeOf() } })).status).toBe(401);
    expect((await call(sim, '/v4/oauth/token', { method: 'POST', auth: {}, form: { ...form, code: await codeOf(), client_secret: 'shh' } })).status).toBe(200);
  });

  it('refreshes: a new pair is issued and the used refresh token stops working', async () => {
    sim = await startKitSimulator({ oauth: { clientId: 'app', clientSecret: 'shh' } });
    const first = sim.issueOAuthToken();
    const refresh = (token: string) => call(sim!, '/v4/oauth/token', { method: 'POST', auth: {}, body: { grant_type: 'refresh_token', client_id: 'app', client_secret: 'shh', refresh_token: token } });
    const second = await refresh(first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.json.access_token).not.toBe(first.access_token);
    expect((await call(sim, '/v4/account', { auth: bearer(second.json.access_token) })).status).toBe(200);
    expect(await refresh(first.refresh_token)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
  });

  it('redacts credentials and OAuth secrets in the request record', async () => {
    sim = await startKitSimulator({ oauth: { clientId: 'app' } });
    await call(sim, '/v4/account');
    await call(sim, '/v4/oauth/token', { method: 'POST', auth: {}, form: { grant_type: 'refresh_token', client_id: 'app', refresh_token: 'secret-value' } });
    const [account, token] = sim.requests;
    expect(account?.headers['x-kit-api-key']).toBe('[redacted]');
    expect(token?.body).toMatchObject({ refresh_token: '[redacted]', client_id: 'app' });
    expect(JSON.stringify(sim.requests)).not.toContain('secret-value');
  });
});
