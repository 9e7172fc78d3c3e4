/**
 * Kajabi's OAuth, client side (reference/destinations.md §5.3): a client credentials grant, kept
 * for the process per key and refreshed shortly before it expires (refresh token first, else a new
 * grant), and `POST /v1/oauth/revoke`.
 *
 * Token calls carry the client secret and answer tokens: their audit view keeps neither the
 * request body nor the answer.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { HttpResult } from '../../lib/http.js';
import { parseJsonBody } from '../../lib/json.js';
import { ShadowStop } from '../outbound.js';
import type { CallRecord, OutboundRequest } from '../types.js';
import { KajabiApiError, kajabiFailure } from './client-errors.js';

/** A token is refreshed this long before it expires (capped at half its lifetime). */
export const REFRESH_MARGIN_MS = 60_000;

interface TokenSet {
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly expiresAt: number;
  readonly lifetimeMs: number;
}

export interface TokenCacheEntry {
  token?: TokenSet;
  /** The key's site when the config names none (`GET /v1/sites`' first): one call per process, not per job. */
  firstSiteId?: string;
}

export type TokenCache = Map<string, TokenCacheEntry>;

/**
 * Every job makes its own client, and a client credentials grant per job would double Kajabi
 * calls and mint a token per job (Kajabi's limits on tokens are not published, §5.3 [U]). So
 * tokens live here for the process, keyed by API, client id and a digest of the secret (a changed
 * secret is never served an old key's token). The one piece of module state in the integration:
 * a cache, safe to lose.
 */
export const sharedTokenCache: TokenCache = new Map();

const cacheKey = (baseUrl: string, clientId: string, secret: string) => `${baseUrl}\n${clientId}\n${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;

const tokenAnswer = z.looseObject({ access_token: z.string().min(1), refresh_token: z.string().nullish(), expires_in: z.coerce.number().positive().nullish() });

export interface KajabiTokensOptions {
  readonly send: (request: OutboundRequest) => Promise<HttpResult>;
  /** Without a trailing slash. */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly userAgent: string;
  readonly now: () => number;
  /** No token is fetched: calls carry a placeholder bearer (see `KajabiClientOptions.isShadow`). */
  readonly isShadow?: boolean;
  /** @default sharedTokenCache */
  readonly tokenCache?: TokenCache;
}

/** One key's tokens, in the cache entry every client of the key shares. */
export class KajabiTokens {
  readonly #options: KajabiTokensOptions;
  /** This key's entry in the cache (its token and first site). */
  readonly entry: TokenCacheEntry;

  constructor(options: KajabiTokensOptions) {
    this.#options = options;
    const cache = options.tokenCache ?? sharedTokenCache;
    const key = cacheKey(options.baseUrl, options.clientId, options.clientSecret);
    let entry = cache.get(key);
    if (!entry) {
      entry = {};
      cache.set(key, entry);
    }
    this.entry = entry;
  }

  /** A valid access token: the cached one, refreshed shortly before it expires, else a new grant. */
  async accessToken(): Promise<string> {
    if (this.#options.isShadow) return 'shadow-mode-placeholder';
    const token = this.entry.token;
    if (token) {
      const margin = Math.min(REFRESH_MARGIN_MS, token.lifetimeMs / 2);
      if (this.#options.now() < token.expiresAt - margin) return token.accessToken;
      return (await this.renew(token)).accessToken;
    }
    return (await this.#grant({ grant_type: 'client_credentials', client_id: this.#options.clientId, client_secret: this.#options.clientSecret })).accessToken;
  }

  /** `POST /v1/oauth/revoke` for the cached access token (and forgets it). */
  async revoke(): Promise<void> {
    const token = this.entry.token;
    if (!token || this.#options.isShadow) return;
    delete this.entry.token;
    const body = new URLSearchParams({ token: token.accessToken }).toString();
    const result = await this.#tokenSend('/v1/oauth/revoke', body, token.accessToken);
    if (result.kind === 'response' && result.status === 200) return;
    throw kajabiFailure(result, 'POST', '/v1/oauth/revoke', tokenCallRecord(result), true, this.#options.now);
  }

  /** A token after `stale` was refused or is about to expire: refresh it, else a new grant. */
  async renew(stale: TokenSet): Promise<TokenSet> {
    // Another client of the same key may have renewed it meanwhile: use theirs.
    const current = this.entry.token;
    if (current && current.accessToken !== stale.accessToken && this.#options.now() < current.expiresAt) return current;
    if (stale.refreshToken !== null) {
      try {
        return await this.#grant({ grant_type: 'refresh_token', refresh_token: stale.refreshToken });
      } catch (error) {
        // A used or revoked refresh token: the client credentials still make a new one.
        if (!(error instanceof KajabiApiError) || error.kind !== 'oauth') throw error;
      }
    }
    return this.#grant({ grant_type: 'client_credentials', client_id: this.#options.clientId, client_secret: this.#options.clientSecret });
  }

  async #grant(params: Record<string, string>): Promise<TokenSet> {
    delete this.entry.token;
    const path = '/v1/oauth/token';
    const result = await this.#tokenSend(path, new URLSearchParams(params).toString());
    const call = tokenCallRecord(result);
    if (result.kind !== 'response' || result.status !== 200) throw kajabiFailure(result, 'POST', path, call, true, this.#options.now);
    const parsed = tokenAnswer.safeParse(parseJsonBody(result.body));
    if (!parsed.success) throw new KajabiApiError({ kind: 'invalid_response', status: result.status, reason: 'the token answer has no access_token', call, method: 'POST', path });
    // The lifetime is not documented (§5.3 [U]): without expires_in, assume an hour.
    const lifetimeMs = (parsed.data.expires_in ?? 3600) * 1000;
    const token: TokenSet = { accessToken: parsed.data.access_token, refreshToken: parsed.data.refresh_token ?? null, expiresAt: this.#options.now() + lifetimeMs, lifetimeMs };
    this.entry.token = token;
    return token;
  }

  /** Token and revoke requests, whose bodies hold secrets: a shadow record keeps none of it. */
  async #tokenSend(path: string, body: string, bearer?: string): Promise<HttpResult> {
    try {
      return await this.#options.send({
        method: 'POST',
        url: `${this.#options.baseUrl}${path}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': this.#options.userAgent, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body,
        secretHeaderNames: ['authorization'],
      });
    } catch (error) {
      if (error instanceof ShadowStop) throw new ShadowStop(withoutBody(error.request));
      throw error;
    }
  }
}

/** A token call's audit view: no body (it holds the secret), no answer (it holds the tokens). */
function tokenCallRecord(result: HttpResult): CallRecord {
  const request = withoutBody(result.request);
  return result.kind === 'response' ? { request, responseStatus: result.status, correlation: {} } : { request, correlation: {} };
}

function withoutBody<R extends { readonly bodyPreview?: string }>(request: R): Omit<R, 'bodyPreview'> {
  const { bodyPreview: _dropped, ...rest } = request;
  return rest;
}
