/** OAuth against the simulator: the PKCE login end to end, and refreshing before and after expiry. */
import { describe, expect, it } from 'vitest';
import { TestClock } from '../../lib/clock.js';
import { KitOAuthError } from './errors/index.js';
import { clientFor, failureOf, simTokens, SIM_CLIENT_ID, startSim, useHarness } from './harness.js';
import { runOAuthLogin } from './oauth.js';
import type { OAuthTokens } from './types.js';

useHarness();

const MINUTE = 60_000;

/**
 * Plays the browser: follows the authorize URL to Kit's redirect, then (after `edit`) requests
 * the callback. `openUrl` resolves only once the callback page has loaded, which happens after
 * the login has exchanged the code: the login must not wait for `openUrl` before listening.
 */
function browser(edit: (callback: URL) => void = () => undefined): { openUrl: (url: string) => Promise<void>; page: () => Promise<{ status: number; text: string }> } {
  let page: Promise<{ status: number; text: string }> | undefined;
  return {
    openUrl(url) {
      page = (async () => {
        const redirect = await fetch(url, { redirect: 'manual' });
        const location = new URL(redirect.headers.get('location') ?? '');
        edit(location);
        const res = await fetch(location);
        return { status: res.status, text: await res.text() };
      })();
      return page.then(() => undefined);
    },
    page: () => page ?? Promise.reject(new Error('openUrl was never called')),
  };
}

describe('OAuth login (authorisation code + PKCE)', () => {
  it('logs in end to end: S256 challenge, state checked, code exchanged for working tokens', async () => {
    const sim = await startSim();
    const b = browser();
    let opened = '';
    const tokens = await runOAuthLogin({
      authorizeUrl: `${sim.url}/v4/oauth/authorize`,
      tokenUrl: `${sim.url}/v4/oauth/token`,
      clientId: SIM_CLIENT_ID,
      openUrl: (url) => {
        opened = url;
        return b.openUrl(url);
      },
      timeoutMs: 10_000,
    });
    expect(await b.page()).toMatchObject({ status: 200 });

    const authorize = new URL(opened);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    // The simulator checks the verifier against the challenge: tokens mean PKCE held.
    expect(tokens.accessToken).toMatch(/\S/);
    expect(tokens.refreshToken).toMatch(/\S/);
    expect(tokens.expiresAt).toBeGreaterThan(Date.now());

    const { client } = clientFor(sim, { auth: { oauth: { tokens, tokenUrl: `${sim.url}/v4/oauth/token`, clientId: SIM_CLIENT_ID, onRefresh: () => undefined } } });
    expect((await client.account()).account).toBeDefined();
  });

  it('fails the login when the redirect carries another state', async () => {
    const sim = await startSim();
    const b = browser((callback) => callback.searchParams.set('state', 'forged'));
    const err = await failureOf(
      runOAuthLogin({ authorizeUrl: `${sim.url}/v4/oauth/authorize`, tokenUrl: `${sim.url}/v4/oauth/token`, clientId: SIM_CLIENT_ID, openUrl: b.openUrl, timeoutMs: 10_000 }),
    );
    expect(err).toBeInstanceOf(KitOAuthError);
    expect(err).toMatchObject({ failure: 'state_mismatch', code: 'kit_oauth_state_mismatch' });
    expect((await b.page()).status).toBe(400);
    expect(sim.requests.some((r) => r.path === '/v4/oauth/token')).toBe(false);
  });

  it('reports a denied authorisation with Kit’s error', async () => {
    const sim = await startSim();
    const b = browser((callback) => {
      callback.searchParams.delete('code');
      callback.searchParams.set('error', 'access_denied');
    });
    const err = await failureOf(
      runOAuthLogin({ authorizeUrl: `${sim.url}/v4/oauth/authorize`, tokenUrl: `${sim.url}/v4/oauth/token`, clientId: SIM_CLIENT_ID, openUrl: b.openUrl, timeoutMs: 10_000 }),
    );
    expect(err).toMatchObject({ failure: 'authorization_denied', messages: ['access_denied'] });
  });

  it('gives up when no redirect arrives within the timeout, and frees the port', async () => {
    const sim = await startSim();
    let redirectUri = '';
    const err = await failureOf(
      runOAuthLogin({
        authorizeUrl: `${sim.url}/v4/oauth/authorize`,
        tokenUrl: `${sim.url}/v4/oauth/token`,
        clientId: SIM_CLIENT_ID,
        openUrl: (url) => {
          redirectUri = new URL(url).searchParams.get('redirect_uri') ?? '';
        },
        timeoutMs: 100,
      }),
    );
    expect(err).toMatchObject({ failure: 'timeout', code: 'kit_oauth_timeout' });
    await expect(fetch(redirectUri)).rejects.toThrow();
  });
});

describe('OAuth refresh', () => {
  async function oauthClient(options: { ttlSeconds: number; withExpiry: boolean }) {
    const clock = new TestClock();
    const sim = await startSim({ now: () => clock.now(), oauth: { clientId: SIM_CLIENT_ID, accessTokenTtlSeconds: options.ttlSeconds } });
    const issued = simTokens(sim, clock.now());
    const tokens: OAuthTokens = options.withExpiry ? issued : { accessToken: issued.accessToken, refreshToken: issued.refreshToken! };
    const refreshed: OAuthTokens[] = [];
    const { client } = clientFor(sim, {
      clock,
      auth: { oauth: { tokens, tokenUrl: `${sim.url}/v4/oauth/token`, clientId: SIM_CLIENT_ID, onRefresh: (t) => void refreshed.push(t) } },
    });
    const trail = () => sim.requests.map((r) => `${r.method} ${r.path} ${String(r.status)}`);
    return { clock, sim, client, tokens, refreshed, trail };
  }

  it('refreshes shortly before the token expires, never letting Kit see an expired one', async () => {
    const { clock, client, tokens, refreshed, trail } = await oauthClient({ ttlSeconds: 3600, withExpiry: true });
    await client.account();
    clock.advance(54 * MINUTE);
    await client.account();
    expect(refreshed).toHaveLength(0);

    clock.advance(2 * MINUTE); // 4 minutes left: inside the 5-minute margin.
    await client.account();
    expect(refreshed).toHaveLength(1);
    expect(refreshed[0]?.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed[0]).toMatchObject({ expiresAt: clock.now() + 3600_000, obtainedAt: clock.now() });

    clock.advance(10 * MINUTE); // The old token has expired; the new one is in use.
    await client.account();
    expect(trail()).toEqual([
      'GET /v4/account 200',
      'GET /v4/account 200',
      'POST /v4/oauth/token 200',
      'GET /v4/account 200',
      'GET /v4/account 200',
    ]);
  });

  it('refreshes once and resends when Kit answers 401 "The access token expired"', async () => {
    const { clock, client, refreshed, trail } = await oauthClient({ ttlSeconds: 60, withExpiry: false });
    clock.advance(2 * MINUTE);
    expect((await client.account()).account).toBeDefined();
    expect(refreshed).toHaveLength(1);
    expect(trail()).toEqual(['GET /v4/account 401', 'POST /v4/oauth/token 200', 'GET /v4/account 200']);
  });

  it('shares one refresh among concurrent calls that all found the token expired', async () => {
    const { clock, client, refreshed, trail } = await oauthClient({ ttlSeconds: 60, withExpiry: false });
    clock.advance(2 * MINUTE);
    await Promise.all([client.listTags(), client.account(), client.listSequences(), client.listForms()]);
    expect(refreshed).toHaveLength(1);
    expect(trail().filter((t) => t.startsWith('POST /v4/oauth/token'))).toHaveLength(1);
  });

  it('fails with KitOAuthError when Kit no longer accepts the refresh token', async () => {
    const { clock, sim, client, tokens } = await oauthClient({ ttlSeconds: 60, withExpiry: false });
    // Another process refreshed first: refresh tokens rotate, so this one is dead.
    await fetch(`${sim.url}/v4/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken!, client_id: SIM_CLIENT_ID }).toString(),
    });
    clock.advance(2 * MINUTE);
    const err = await failureOf(client.account());
    expect(err).toBeInstanceOf(KitOAuthError);
    expect(err).toMatchObject({ failure: 'grant_rejected', status: 400, retryClass: 'permanent' });
    expect((err as KitOAuthError).messages).toContain('invalid_grant');
    expect(JSON.stringify(err)).not.toContain(tokens.refreshToken);
    expect((err as Error).message).not.toContain(tokens.refreshToken);
  });
});
