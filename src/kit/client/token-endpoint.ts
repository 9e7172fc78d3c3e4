/**
 * Kit's OAuth token endpoint: the code exchange of a login and the refresh of an access token.
 *
 * The token URL is [UNC] (reference/kit.md §1: `https://api.kit.com/v4/oauth/token` in the newest
 * spec, `https://app.kit.com/oauth/token` in an older one, `https://api.kit.com/oauth/token` in
 * Kit's own PHP client), so it is always passed in; `DEFAULT_TOKEN_URL` is the newest.
 *
 * Nothing here logs or throws a token: errors keep only the endpoint's `error`/`error_description`.
 */
import type { Clock } from '../../lib/clock.js';
import type { HttpClient } from '../../lib/http.js';
import { KitOAuthError } from './errors/oauth-error.js';
import { parseKitErrorMessages } from './errors/from-response.js';
import type { OAuthTokens } from './types.js';

export const DEFAULT_AUTHORIZE_URL = 'https://api.kit.com/v4/oauth/authorize';
export const DEFAULT_TOKEN_URL = 'https://api.kit.com/v4/oauth/token';

export interface TokenEndpoint {
  readonly tokenUrl: string;
  readonly clientId: string;
  /** Confidential apps only; a PKCE public client has none. */
  readonly clientSecret?: string;
  /**
   * How the grant is encoded. RFC 6749 §4.1.3 says form; Kit's own PHP client posts JSON [UNC
   * which Kit prefers; both are accepted by OAuth servers built on Doorkeeper].
   * @default 'form'
   */
  readonly encoding?: 'form' | 'json';
  /** @default 30_000 */
  readonly timeoutMs?: number;
}

export interface TokenEndpointDeps {
  readonly http: HttpClient;
  readonly clock: Clock;
}

/** `grant_type=authorization_code` with the PKCE verifier. */
export function exchangeCode(
  endpoint: TokenEndpoint,
  deps: TokenEndpointDeps,
  grant: { readonly code: string; readonly redirectUri: string; readonly codeVerifier: string },
): Promise<OAuthTokens> {
  return requestTokens(endpoint, deps, {
    grant_type: 'authorization_code',
    code: grant.code,
    redirect_uri: grant.redirectUri,
    code_verifier: grant.codeVerifier,
  });
}

/** `grant_type=refresh_token`. Kit may or may not rotate the refresh token; the old one is kept if not. */
export async function refreshTokens(endpoint: TokenEndpoint, deps: TokenEndpointDeps, tokens: OAuthTokens): Promise<OAuthTokens> {
  if (tokens.refreshToken === undefined) {
    throw new KitOAuthError('no_refresh_token', 'access token expired and no refresh token is stored: run `kitrelay kit login`');
  }
  const fresh = await requestTokens(endpoint, deps, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
  return fresh.refreshToken === undefined ? { ...fresh, refreshToken: tokens.refreshToken } : fresh;
}

async function requestTokens(endpoint: TokenEndpoint, deps: TokenEndpointDeps, grant: Record<string, string>): Promise<OAuthTokens> {
  const params: Record<string, string> = { ...grant, client_id: endpoint.clientId };
  if (endpoint.clientSecret !== undefined) params.client_secret = endpoint.clientSecret;
  const isJson = endpoint.encoding === 'json';
  const result = await deps.http.send({
    method: 'POST',
    url: endpoint.tokenUrl,
    headers: {
      accept: 'application/json',
      'content-type': isJson ? 'application/json' : 'application/x-www-form-urlencoded',
    },
    body: isJson ? JSON.stringify(params) : new URLSearchParams(params).toString(),
    timeoutMs: endpoint.timeoutMs ?? 30_000,
  });
  // The result's request summary previews the body, which holds the code or refresh token and the
  // client secret: it is dropped here and never reaches an audit record or a log.
  const request = `POST ${new URL(endpoint.tokenUrl).pathname}`;
  if (result.kind === 'network_error') {
    throw new KitOAuthError('token_endpoint_unavailable', `token endpoint unreachable (${result.code})`, { request, messages: [result.message] });
  }
  const messages = result.status >= 300 ? parseKitErrorMessages(result.body) : [];
  if (result.status >= 500 || result.status === 429) {
    throw new KitOAuthError('token_endpoint_unavailable', `token endpoint answered ${result.status}`, { request, status: result.status, messages });
  }
  if (result.status >= 300) {
    throw new KitOAuthError('grant_rejected', `token endpoint refused the grant (${result.status})`, { request, status: result.status, messages });
  }
  return parseTokenResponse(result.body, deps.clock.now(), request);
}

/**
 * `{access_token, refresh_token, token_type, created_at, expires_in, scope}` (reference/kit.md §1).
 * The expiry is measured from our clock at receipt rather than Kit's `created_at`, so a skew
 * between the two clocks cannot make a token look fresh when it is not.
 */
function parseTokenResponse(body: Buffer, now: number, request: string): OAuthTokens {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new KitOAuthError('bad_token_response', 'token endpoint answered 2xx with a body that is not JSON', { request });
  }
  const record = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const accessToken = record.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new KitOAuthError('bad_token_response', 'token endpoint answered 2xx without an access_token', { request });
  }
  const expiresIn = Number(record.expires_in);
  return {
    accessToken,
    obtainedAt: now,
    ...(typeof record.refresh_token === 'string' && record.refresh_token !== '' ? { refreshToken: record.refresh_token } : {}),
    ...(Number.isFinite(expiresIn) && expiresIn > 0 ? { expiresAt: now + expiresIn * 1000 } : {}),
    ...(typeof record.scope === 'string' ? { scope: record.scope } : {}),
    ...(typeof record.token_type === 'string' ? { tokenType: record.token_type } : {}),
  };
}
