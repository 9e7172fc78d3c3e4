/**
 * What every request passes through before (and after) its route, in order: faults (faults.ts),
 * authentication (auth.ts; API keys refused on the OAuth-only routes), the per-credential rate
 * limit (rate-limit.ts); then, answered or not, the request record (record.ts). Also the body
 * parsers, Kit's 404 and the error handler, and the background work (fault delays, bulk jobs)
 * that `close()` must wait for or cancel.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TOKEN_INVALID, type Auth, type Credential } from './auth.js';
import { faultBody, type FaultAction, type SimFaults } from './faults.js';
import { NOT_FOUND, sendErrors } from './http.js';
import { RATE_LIMITED_BODY, type RateLimiter } from './rate-limit.js';
import type { RecordedRequest, RequestLog } from './record.js';

/** Reference/kit.md §1: all `/v4/bulk/*` and `/v4/purchases*` refuse API keys (401 or 403 is [UNC]; 401 here). */
export function isOAuthOnly(path: string): boolean {
  return path.startsWith('/v4/bulk/') || path === '/v4/purchases' || path.startsWith('/v4/purchases/');
}

function needsAuth(path: string): boolean {
  return path.startsWith('/v4/') && !path.startsWith('/v4/oauth/');
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Timers and jobs that outlive a request; `settle()` waits for the jobs and cancels the timers. */
export class Background {
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #jobs = new Set<Promise<void>>();
  readonly #errors: unknown[] = [];

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

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
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#errors.length > 0) throw new AggregateError(this.#errors, 'kit simulator: a bulk job failed');
  }
}

export interface HookDeps {
  readonly now: () => number;
  readonly faults: SimFaults;
  readonly auth: Auth;
  readonly limiter: RateLimiter | undefined;
  readonly log: RequestLog;
  readonly background: Background;
}

/** Installs the hooks; returns how to find the credential a request authenticated with. */
export function installRequestHooks(app: FastifyInstance, deps: HookDeps): (request: FastifyRequest) => Credential | undefined {
  const { now, faults, auth, limiter, log, background } = deps;
  const credentials = new WeakMap<FastifyRequest, Credential>();
  const receivedAt = new WeakMap<FastifyRequest, number>();
  const recorded = new WeakSet<FastifyRequest>();

  const record = (request: FastifyRequest, status: RecordedRequest['status']) => {
    if (recorded.has(request)) return;
    recorded.add(request);
    log.add({ method: request.method, path: pathOf(request.url), query: request.query, headers: request.headers, body: request.body, status, at: receivedAt.get(request) ?? now() });
  };

  /** True when the fault handled the request (answered, hung or reset). */
  const applyFault = async (request: FastifyRequest, reply: FastifyReply, fault: FaultAction): Promise<boolean> => {
    switch (fault.kind) {
      case 'delay':
        await background.sleep(fault.ms);
        return false;
      case 'hang':
        record(request, 'hang');
        reply.hijack();
        return true;
      case 'reset':
        record(request, 'reset');
        reply.hijack();
        // A TCP RST rather than a clean FIN, so the client sees ECONNRESET like a crashed server.
        request.raw.socket.resetAndDestroy();
        return true;
      case 'status': {
        if (fault.delayMs) await background.sleep(fault.delayMs);
        const { contentType, payload } = faultBody(fault);
        void reply.code(fault.status).headers({ 'content-type': contentType, ...fault.headers }).send(payload);
        return true;
      }
    }
  };

  app.addHook('onRequest', (request, _reply, done) => {
    receivedAt.set(request, now());
    done();
  });

  app.addHook('preHandler', async (request, reply) => {
    const path = pathOf(request.url);
    const fault = faults.take({ method: request.method, path, query: request.query as Record<string, unknown>, headers: request.headers, body: request.body });
    if (fault && (await applyFault(request, reply, fault))) return reply;
    if (request.is404 || !needsAuth(path)) return;
    const result = auth.authenticate(request.headers);
    if (result.kind === 'denied') return sendErrors(reply, 401, result.message);
    if (isOAuthOnly(path) && result.kind !== 'oauth') return sendErrors(reply, 401, TOKEN_INVALID);
    if (limiter && !limiter.take(result)) return reply.code(429).type('text/plain; charset=utf-8').send(RATE_LIMITED_BODY);
    credentials.set(request, result);
  });

  app.addHook('onResponse', (request, reply, done) => {
    record(request, reply.statusCode);
    done();
  });

  app.setNotFoundHandler((_request, reply) => sendErrors(reply, 404, NOT_FOUND));
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    // A 500 here is a simulator bug (or a throwing change listener): say what it was.
    return sendErrors(reply, status, status >= 500 ? `Internal Server Error: ${error.message}` : error.message);
  });

  return (request) => credentials.get(request);
}

/** JSON (an empty body is no body), form bodies (untag by email, OAuth token requests) and anything else as text. */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error('The request body is not valid JSON'), { statusCode: 400 }), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const out: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(String(body))) {
      const existing = out[key];
      out[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
    done(null, out);
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, String(body) === '' ? undefined : String(body)));
}
