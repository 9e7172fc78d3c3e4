/**
 * Kajabi's OAuth (reference/destinations.md §5.3): `POST /v1/oauth/token`, form-encoded (JSON
 * accepted too), with `grant_type=client_credentials` (client_id + client_secret) or
 * `grant_type=refresh_token`; answers `{access_token, refresh_token, token_type:"Bearer",
 * expires_in}`, errors as 400/401 `{"error":"…"}`. `POST /v1/oauth/revoke` `token=…` → 200 empty.
 * The real access-token lifetime is not documented [U]: `accessTokenTtlSeconds` sets it.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { send } from '../../simulators/index.js';

interface Grant {
  readonly clientId: string;
  readonly expiresAt: number;
}

export interface OAuthClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

export type TokenCheck = 'valid' | 'missing' | 'invalid' | 'expired' | 'revoked';

export class OAuthTokens {
  readonly #clients: readonly OAuthClient[];
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #access = new Map<string, Grant>();
  /** Refresh token → its client; used once (rotated on refresh). */
  readonly #refresh = new Map<string, string>();
  readonly #revoked = new Set<string>();
  issued = 0;

  constructor(clients: readonly OAuthClient[], ttlSeconds: number, now: () => number) {
    this.#clients = clients;
    this.#ttlMs = ttlSeconds * 1000;
    this.#now = now;
  }

  get ttlSeconds(): number {
    return this.#ttlMs / 1000;
  }

  issue(clientId: string) {
    const accessToken = `kaj_at_${randomBytes(18).toString('hex')}`;
    const refreshToken = `kaj_rt_${randomBytes(18).toString('hex')}`;
    this.#access.set(accessToken, { clientId, expiresAt: this.#now() + this.#ttlMs });
    this.#refresh.set(refreshToken, clientId);
    this.issued += 1;
    return { access_token: accessToken, refresh_token: refreshToken, token_type: 'Bearer', expires_in: this.#ttlMs / 1000, created_at: Math.floor(this.#now() / 1000) };
  }

  check(authorization: string | undefined): TokenCheck {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (token === undefined) return 'missing';
    if (this.#revoked.has(token)) return 'revoked';
    const grant = this.#access.get(token);
    if (!grant) return 'invalid';
    return this.#now() >= grant.expiresAt ? 'expired' : 'valid';
  }

  /** Expires every access token issued so far (refresh tokens stay good). */
  expireAll(): void {
    const at = this.#now();
    for (const [token, grant] of this.#access) this.#access.set(token, { ...grant, expiresAt: at });
  }

  revoke(token: string): void {
    if (this.#access.delete(token)) this.#revoked.add(token);
    if (this.#refresh.delete(token)) this.#revoked.add(token);
  }

  /** The answer to a token request: status and body. */
  grant(params: Record<string, unknown>): { status: number; body: Record<string, unknown> } {
    const text = (name: string) => (typeof params[name] === 'string' ? params[name] : undefined);
    switch (text('grant_type')) {
      case 'client_credentials': {
        const client = this.#clients.find((c) => c.clientId === text('client_id'));
        if (!client || client.clientSecret !== text('client_secret')) return { status: 401, body: { error: 'invalid_client' } };
        return { status: 200, body: this.issue(client.clientId) };
      }
      case 'refresh_token': {
        const token = text('refresh_token');
        const clientId = token === undefined ? undefined : this.#refresh.get(token);
        if (token === undefined || clientId === undefined) return { status: 400, body: { error: 'invalid_grant' } };
        this.#refresh.delete(token);
        return { status: 200, body: this.issue(clientId) };
      }
      case undefined:
        return { status: 400, body: { error: 'invalid_request' } };
      default:
        return { status: 400, body: { error: 'unsupported_grant_type' } };
    }
  }
}

/** Token and revoke routes; they are public (the guard lets them through). */
export function registerOAuthRoutes(app: FastifyInstance, tokens: OAuthTokens): void {
  const params = (body: unknown): Record<string, unknown> => (body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {});
  app.post('/v1/oauth/token', (request, reply) => {
    const answer = tokens.grant(params(request.body));
    return send(reply, { status: answer.status, headers: { 'cache-control': 'no-store' }, body: answer.body });
  });
  app.post('/v1/oauth/revoke', (request, reply) => {
    const token = params(request.body).token;
    if (typeof token !== 'string' || token === '') return send(reply, { status: 400, body: { error: 'invalid_request' } });
    tokens.revoke(token);
    return reply.code(200).send();
  });
}
