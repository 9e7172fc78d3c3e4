/**
 * What Kit does to every request before its route, after the shared server's faults
 * (simulators/server.ts): authentication (auth.ts; API keys refused on the OAuth-only routes) and
 * the per-credential rate limit (rate-limit.ts). Also Kit's 404 and error handler, and the
 * background work (bulk jobs) that `close()` must wait for.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pathOf } from '../../simulators/index.js';
import { TOKEN_INVALID, type Auth, type Credential } from './auth.js';
import { NOT_FOUND, sendErrors } from './http.js';
import { RATE_LIMITED_BODY, type RateLimiter } from './rate-limit.js';

/** Reference/kit.md §1: all `/v4/bulk/*` and `/v4/purchases*` refuse API keys (401 or 403 is [UNC]; 401 here). */
export function isOAuthOnly(path: string): boolean {
  return path.startsWith('/v4/bulk/') || path === '/v4/purchases' || path.startsWith('/v4/purchases/');
}

function needsAuth(path: string): boolean {
  return path.startsWith('/v4/') && !path.startsWith('/v4/oauth/');
}

/** Jobs that outlive a request (bulk requests over 100 items); `settle()` waits for them. */
export class Background {
  readonly #jobs = new Set<Promise<void>>();
  readonly #errors: unknown[] = [];

  /** Runs `task` after the current answer has gone out, as Kit's queue would. */
  run(task: () => Promise<void>): void {
    const job = new Promise((resolve) => setImmediate(resolve))
      .then(task)
      .catch((error: unknown) => {
        // A bulk job that throws is a simulator bug: kept, and reported by close().
        this.#errors.push(error);
      })
      .finally(() => this.#jobs.delete(job));
    this.#jobs.add(job);
  }

  async settle(): Promise<void> {
    await Promise.all([...this.#jobs]);
    if (this.#errors.length > 0) throw new AggregateError(this.#errors, 'kit simulator: a bulk job failed');
  }
}

export interface KitGuard {
  /** The shared server's `guard`: answers 401 or 429 itself and returns the reply to stop the request. */
  readonly guard: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined;
  /** The credential a request authenticated with. */
  readonly credentialOf: (request: FastifyRequest) => Credential | undefined;
}

export function createKitGuard(auth: Auth, limiter: RateLimiter | undefined): KitGuard {
  const credentials = new WeakMap<FastifyRequest, Credential>();
  return {
    guard(request, reply) {
      const path = pathOf(request.url);
      if (request.is404 || !needsAuth(path)) return undefined;
      const result = auth.authenticate(request.headers);
      if (result.kind === 'denied') return sendErrors(reply, 401, result.message);
      if (isOAuthOnly(path) && result.kind !== 'oauth') return sendErrors(reply, 401, TOKEN_INVALID);
      if (limiter && !limiter.take(result)) return reply.code(429).type('text/plain; charset=utf-8').send(RATE_LIMITED_BODY);
      credentials.set(request, result);
      return undefined;
    },
    credentialOf: (request) => credentials.get(request),
  };
}

/** Kit's 404 and, for anything a route throws or a body that does not parse, Kit's error body. */
export function registerKitHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((_request, reply) => sendErrors(reply, 404, NOT_FOUND));
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    // A 500 here is a simulator bug (or a throwing change listener): say what it was.
    return sendErrors(reply, status, status >= 500 ? `Internal Server Error: ${error.message}` : error.message);
  });
}
