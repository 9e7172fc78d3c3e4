/**
 * The credential a client sends: an API key (`X-Kit-Api-Key`) or an OAuth access token
 * (`Authorization: Bearer`), reference/kit.md §1. OAuth tokens are refreshed shortly before they
 * expire and once more when Kit answers 401 "The access token expired"; concurrent calls share
 * one refresh, and every refreshed set goes to `onRefresh` (which persists it, encrypted).
 */
import type { Clock } from '../../lib/clock.js';
import type { HttpClient } from '../../lib/http.js';
import { apiKeyCredentialId, oauthCredentialId } from './budget.js';
import { DEFAULT_TOKEN_URL, refreshTokens, type TokenEndpoint } from './token-endpoint.js';
import type { OAuthTokens } from './types.js';

export interface OAuthAuthOptions {
  readonly tokens: OAuthTokens;
  /** [UNC] reference/kit.md §1. @default 'https://api.kit.com/v4/oauth/token' */
  readonly tokenUrl?: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  /**
   * The Kit account the tokens act for: part of the rate-budget credential id, so two accounts
   * authorised through one app get a budget each. Without it they share one.
   */
  readonly accountId?: string | number;
  /** Receives every refreshed token set; persist it (the old refresh token may stop working). */
  readonly onRefresh: (tokens: OAuthTokens) => Promise<void> | void;
  /** Refresh when the token expires within this (or at half its life, if shorter). @default 300_000 (5 min) */
  readonly refreshMarginMs?: number;
  /** @default 'form' */
  readonly tokenEncoding?: TokenEndpoint['encoding'];
}

export type KitAuthOptions = { readonly apiKey: string } | { readonly oauth: OAuthAuthOptions };

/** The headers of one request, and the token generation they were made from. */
export interface AuthHeaders {
  readonly headers: Readonly<Record<string, string>>;
  readonly generation: number;
}

export interface Authenticator {
  readonly kind: 'api_key' | 'oauth';
  /** Non-secret: the rate budget's key. */
  readonly credentialId: string;
  /** Header names whose values are secret, for redaction in request summaries. */
  readonly secretHeaderNames: readonly string[];
  headers(): Promise<AuthHeaders>;
  /** Kit said the token of `generation` expired: refresh, unless another call already has since. */
  refreshExpired(generation: number): Promise<void>;
}

export function createAuthenticator(options: KitAuthOptions, deps: { readonly http: HttpClient; readonly clock: Clock }): Authenticator {
  if ('apiKey' in options) {
    if (options.apiKey.trim() === '') throw new TypeError('Kit API key is empty');
    const headers = { 'x-kit-api-key': options.apiKey };
    return {
      kind: 'api_key',
      credentialId: apiKeyCredentialId(options.apiKey),
      secretHeaderNames: ['x-kit-api-key'],
      headers: () => Promise.resolve({ headers, generation: 0 }),
      // An API key does not expire: the transport never asks.
      refreshExpired: () => Promise.resolve(),
    };
  }
  return createOAuthAuthenticator(options.oauth, deps);
}

function createOAuthAuthenticator(oauth: OAuthAuthOptions, deps: { readonly http: HttpClient; readonly clock: Clock }): Authenticator {
  const endpoint: TokenEndpoint = {
    tokenUrl: oauth.tokenUrl ?? DEFAULT_TOKEN_URL,
    clientId: oauth.clientId,
    ...(oauth.clientSecret === undefined ? {} : { clientSecret: oauth.clientSecret }),
    ...(oauth.tokenEncoding === undefined ? {} : { encoding: oauth.tokenEncoding }),
  };
  const marginMs = oauth.refreshMarginMs ?? 5 * 60_000;
  let tokens = oauth.tokens;
  let generation = 0;
  let refreshing: Promise<void> | undefined;

  /** One refresh at a time; callers that arrive during it wait for the same one. */
  function refresh(): Promise<void> {
    refreshing ??= (async () => {
      try {
        const fresh = await refreshTokens(endpoint, deps, tokens);
        tokens = fresh;
        generation += 1;
        // The new set is in use before it is persisted: a failing store fails this call, loudly,
        // but does not strand the process with a token Kit may already have revoked.
        await oauth.onRefresh(fresh);
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  }

  /**
   * Inside the margin before expiry. A token that lives less than twice the margin is refreshed at
   * half its life instead, or a short-lived token would be refreshed before every request.
   */
  function isNearExpiry(): boolean {
    if (tokens.expiresAt === undefined) return false;
    const lifetime = tokens.obtainedAt === undefined ? Infinity : tokens.expiresAt - tokens.obtainedAt;
    return deps.clock.now() >= tokens.expiresAt - Math.min(marginMs, lifetime / 2);
  }

  return {
    kind: 'oauth',
    credentialId: oauthCredentialId(oauth.clientId, oauth.accountId),
    secretHeaderNames: ['authorization'],
    async headers() {
      if (refreshing) await refreshing;
      else if (isNearExpiry() && tokens.refreshToken !== undefined) await refresh();
      return { headers: { authorization: `Bearer ${tokens.accessToken}` }, generation };
    },
    async refreshExpired(seen) {
      if (refreshing) await refreshing;
      else if (seen === generation) await refresh();
    },
  };
}
