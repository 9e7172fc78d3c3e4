/**
 * What the Meta simulator decides about a caller before any route runs, and what a test (or
 * another process, over HTTP) can change on demand: the accepted and expired tokens, flagged
 * audiences, and the minimum size a removal must leave.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { errors, readParams, textParam, type GraphError } from './simulator-graph.js';
import type { MetaState } from './simulator-state.js';

export interface MetaConditions {
  readonly expiredTokens: readonly string[];
  readonly flaggedAudiences: readonly string[];
  readonly minimumSize: number | null;
}

/** The tokens the simulator accepts, and those expired on demand (with when). */
export class Tokens {
  readonly #accepted: ReadonlySet<string>;
  readonly #expired = new Map<string, number>();
  readonly #now: () => number;

  constructor(accepted: Iterable<string>, now: () => number) {
    this.#accepted = new Set(accepted);
    this.#now = now;
  }

  /**
   * The token from `Authorization: Bearer` (or Graph's older `OAuth` scheme), else from
   * `access_token` in the query or body; the error Graph gives for it, if any.
   */
  check(request: FastifyRequest): GraphError | undefined {
    const fromHeader = /^(?:Bearer|OAuth)\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    const token = fromHeader ?? textParam(readParams(request), 'access_token');
    if (token === undefined) return errors.missingToken();
    const expiredAt = this.#expired.get(token);
    if (expiredAt !== undefined) return errors.expiredToken(expiredAt, this.#now());
    return this.#accepted.has(token) ? undefined : errors.invalidToken();
  }

  expire(token: string, isExpired: boolean): void {
    if (isExpired) this.#expired.set(token, this.#now());
    else this.#expired.delete(token);
  }

  get expired(): string[] {
    return [...this.#expired.keys()];
  }
}

export function flagAudience(state: MetaState, id: string, isFlagged: boolean): void {
  const audience = state.audiences.get(id);
  if (!audience) throw new RangeError(`meta simulator: no audience ${id}`);
  audience.isFlagged = isFlagged;
}

export function conditionsOf(state: MetaState, tokens: Tokens): MetaConditions {
  return {
    expiredTokens: tokens.expired,
    flaggedAudiences: [...state.audiences.values()].filter((a) => a.isFlagged).map((a) => a.id),
    minimumSize: state.minimumSize ?? null,
  };
}

const conditionsJson = z.strictObject({
  /** Expires (or restores) the simulator's own token. */
  tokenExpired: z.boolean().optional(),
  flagged: z.record(z.string(), z.boolean()).optional(),
  minimumSize: z.int().nonnegative().nullable().optional(),
});

/** `GET /_sim/conditions`, and `POST` with any of `{tokenExpired, flagged: {id: bool}, minimumSize}`. */
export function registerConditionRoutes(app: FastifyInstance, deps: { readonly state: MetaState; readonly tokens: Tokens; readonly accessToken: string }): void {
  const { state, tokens } = deps;
  app.get('/_sim/conditions', () => conditionsOf(state, tokens));
  app.post('/_sim/conditions', (request, reply) => {
    const parsed = conditionsJson.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send({ error: parsed.error.issues[0]?.message ?? 'invalid conditions' });
    const { tokenExpired, flagged = {}, minimumSize } = parsed.data;
    const unknown = Object.keys(flagged).filter((id) => !state.audiences.has(id));
    if (unknown.length > 0) return reply.code(400).send({ error: `no audience ${unknown.join(', ')}` });
    if (tokenExpired !== undefined) tokens.expire(deps.accessToken, tokenExpired);
    for (const [id, isFlagged] of Object.entries(flagged)) flagAudience(state, id, isFlagged);
    if (minimumSize !== undefined) state.minimumSize = minimumSize ?? undefined;
    return conditionsOf(state, tokens);
  });
}
