/**
 * Credentials (reference/kit.md §1): `X-Kit-Api-Key` keys and OAuth 2.0 bearer tokens, with the
 * authorization-code (+ PKCE) and refresh-token grants.
 *
 * The authorize endpoint auto-approves: it is a simulator, there is no user to ask, so it answers
 * straight away with the 302 a user's "Allow" click would produce. Any `redirect_uri` is accepted
 * (the token request must repeat it). Kit's token endpoint looks like Doorkeeper's (`created_at`,
 * `scope: "public"`), so its errors use Doorkeeper's `{error, error_description}` wording.
 */
import { createHash, randomBytes } from 'node:crypto';

export const API_KEY_INVALID = 'The API key is invalid';
export const TOKEN_INVALID = 'The access token is invalid';
export const TOKEN_EXPIRED = 'The access token expired';
/** What Kit answered a request with no credentials at all in Kit's own client tests [CODE WPL]. */
export const NO_CREDENTIALS = 'Authentication Failed';

export interface OAuthOptions {
  readonly clientId: string;
  /** Required at the token endpoint when set, unless the code was issued with a PKCE challenge. */
  readonly clientSecret?: string;
  /** Kit's lifetime is [UNC]. @default 7200 */
  readonly accessTokenTtlSeconds?: number;
}

export type Credential = { readonly kind: 'api_key'; readonly id: string } | { readonly kind: 'oauth'; readonly id: string; readonly scopes: readonly string[] };

export type AuthResult = Credential | { readonly kind: 'denied'; readonly message: string };

export interface TokenResponse {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly token_type: 'bearer';
  readonly created_at: number;
  readonly expires_in: number;
  readonly scope: string;
}

/** A JSON answer of the OAuth endpoints, or the redirect of the authorize endpoint. */
export type OAuthAnswer = { readonly status: number; readonly body: Record<string, unknown> } | { readonly status: 302; readonly location: string };

interface AccessToken {
  readonly expiresAt: number;
  readonly scopes: readonly string[];
}

interface AuthorizationCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly challenge: string | undefined;
  readonly method: 'S256' | 'plain';
  readonly scopes: readonly string[];
  readonly expiresAt: number;
}

const CODE_TTL_MS = 10 * 60_000;
const DESCRIPTIONS = {
  invalid_request: 'The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.',
  invalid_client: 'Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.',
  invalid_grant: 'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.',
  unsupported_grant_type: 'The authorization grant type is not supported by the authorization server.',
  unsupported_response_type: 'The authorization server does not support this response type.',
} as const;

type OAuthError = keyof typeof DESCRIPTIONS;

function oauthError(status: number, error: OAuthError): OAuthAnswer {
  return { status, body: { error, error_description: DESCRIPTIONS[error] } };
}

export class Auth {
  readonly #apiKeys: ReadonlySet<string>;
  readonly #oauth: OAuthOptions;
  readonly #now: () => number;
  readonly #tokens = new Map<string, AccessToken>();
  /** Refresh token → the scopes it carries and whether it was issued to a PKCE (public) client. */
  readonly #refreshTokens = new Map<string, { readonly scopes: readonly string[]; readonly isPublic: boolean }>();
  readonly #codes = new Map<string, AuthorizationCode>();

  constructor(apiKeys: readonly string[], oauth: OAuthOptions, now: () => number) {
    this.#apiKeys = new Set(apiKeys);
    this.#oauth = oauth;
    this.#now = now;
  }

  /** Reads `Authorization: Bearer …` first, then `X-Kit-Api-Key`. */
  authenticate(headers: Readonly<Record<string, string | string[] | undefined>>): AuthResult {
    const authorization = header(headers.authorization);
    const bearer = authorization && /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1];
    if (bearer) {
      const token = this.#tokens.get(bearer);
      if (!token) return { kind: 'denied', message: TOKEN_INVALID };
      if (this.#now() >= token.expiresAt) return { kind: 'denied', message: TOKEN_EXPIRED };
      return { kind: 'oauth', id: bearer, scopes: token.scopes };
    }
    const key = header(headers['x-kit-api-key']);
    if (key !== undefined) return this.#apiKeys.has(key) ? { kind: 'api_key', id: key } : { kind: 'denied', message: API_KEY_INVALID };
    if (authorization) return { kind: 'denied', message: TOKEN_INVALID };
    return { kind: 'denied', message: NO_CREDENTIALS };
  }

  /** Issues a token pair without the browser flow (for tests, and for the grants below). */
  issueToken(scopes: readonly string[] = []): TokenResponse {
    return this.#issue(scopes, false);
  }

  #issue(scopes: readonly string[], isPublic: boolean): TokenResponse {
    const now = this.#now();
    const ttl = this.#oauth.accessTokenTtlSeconds ?? 7200;
    const accessToken = `kit_sim_at_${randomBytes(18).toString('hex')}`;
    const refreshToken = `kit_sim_rt_${randomBytes(18).toString('hex')}`;
    this.#tokens.set(accessToken, { expiresAt: now + ttl * 1000, scopes });
    this.#refreshTokens.set(refreshToken, { scopes, isPublic });
    return { access_token: accessToken, refresh_token: refreshToken, token_type: 'bearer', created_at: Math.floor(now / 1000), expires_in: ttl, scope: scopes.length > 0 ? scopes.join(' ') : 'public' };
  }

  /** `GET /v4/oauth/authorize`: auto-approves and redirects with a one-use code. */
  authorize(query: Readonly<Record<string, string | undefined>>): OAuthAnswer {
    if (query.client_id !== this.#oauth.clientId) return oauthError(401, 'invalid_client');
    const redirectUri = query.redirect_uri;
    if (!redirectUri || !URL.canParse(redirectUri)) return oauthError(400, 'invalid_request');
    const back = (params: Record<string, string>): OAuthAnswer => {
      const url = new URL(redirectUri);
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
      if (query.state !== undefined) url.searchParams.set('state', query.state);
      return { status: 302, location: url.toString() };
    };
    if (query.response_type !== 'code') return back({ error: 'unsupported_response_type', error_description: DESCRIPTIONS.unsupported_response_type });
    const method = query.code_challenge_method ?? (query.code_challenge ? 'plain' : 'S256');
    if (method !== 'S256' && method !== 'plain') return back({ error: 'invalid_request', error_description: DESCRIPTIONS.invalid_request });
    const code = randomBytes(16).toString('hex');
    const scopes = (query.scope ?? '').split(/[\s+]+/).filter((s) => s !== '');
    this.#codes.set(code, { clientId: this.#oauth.clientId, redirectUri, challenge: query.code_challenge || undefined, method, scopes, expiresAt: this.#now() + CODE_TTL_MS });
    return back({ code });
  }

  /** `POST /v4/oauth/token` (also `/oauth/token`): `authorization_code` or `refresh_token`. */
  token(body: Readonly<Record<string, string | undefined>>): OAuthAnswer {
    if (body.client_id !== this.#oauth.clientId) return oauthError(401, 'invalid_client');
    if (body.client_secret !== undefined && this.#oauth.clientSecret !== undefined && body.client_secret !== this.#oauth.clientSecret) return oauthError(401, 'invalid_client');
    switch (body.grant_type) {
      case 'authorization_code':
        return this.#exchangeCode(body);
      case 'refresh_token': {
        const grant = body.refresh_token ? this.#refreshTokens.get(body.refresh_token) : undefined;
        if (!grant || !body.refresh_token) return oauthError(400, 'invalid_grant');
        if (!grant.isPublic && !this.#isClientAuthenticated(body, undefined)) return oauthError(401, 'invalid_client');
        // Refresh tokens rotate: the old one stops working, the old access token lives out its ttl [UNC].
        this.#refreshTokens.delete(body.refresh_token);
        return { status: 200, body: { ...this.#issue(grant.scopes, grant.isPublic) } };
      }
      case undefined:
        return oauthError(400, 'invalid_request');
      default:
        return oauthError(400, 'unsupported_grant_type');
    }
  }

  #exchangeCode(body: Readonly<Record<string, string | undefined>>): OAuthAnswer {
    const code = body.code ? this.#codes.get(body.code) : undefined;
    if (!body.code || !body.redirect_uri) return oauthError(400, 'invalid_request');
    if (!code || code.expiresAt <= this.#now() || code.redirectUri !== body.redirect_uri) return oauthError(400, 'invalid_grant');
    if (!this.#isClientAuthenticated(body, code.challenge)) return oauthError(401, 'invalid_client');
    if (code.challenge !== undefined) {
      const verifier = body.code_verifier;
      if (!verifier) return oauthError(400, 'invalid_request');
      const computed = code.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      if (computed !== code.challenge) return oauthError(400, 'invalid_grant');
    }
    this.#codes.delete(body.code);
    return { status: 200, body: { ...this.#issue(code.scopes, code.challenge !== undefined) } };
  }

  /** A PKCE (public) client needs no secret; a confidential one must send it when one is configured. */
  #isClientAuthenticated(body: Readonly<Record<string, string | undefined>>, challenge: string | undefined): boolean {
    if (this.#oauth.clientSecret === undefined || challenge !== undefined) return true;
    return body.client_secret === this.#oauth.clientSecret;
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
