/**
 * The HTTP server every simulator is built on: Fastify on loopback, as the Kit simulator always
 * was. `createSimServer` gives an app with, for every request but `/_sim/*`, in order:
 *
 * 1. body parsing that keeps the raw bytes (JSON, form, anything else as text);
 * 2. the request record entry, added on arrival (record.ts);
 * 3. faults (faults.ts): answered, delayed, hung, reset here, or marked to spoil the real answer;
 * 4. the simulator's `guard` (authentication, rate limit);
 * 5. the simulator's own route; its answer's status is written into the record entry.
 *
 * and the inspection routes: `GET|DELETE /_sim/requests`, `GET|POST|DELETE /_sim/faults`,
 * `GET /_sim/state`. The simulator registers its routes (and not-found and error handlers) on
 * `app`, then calls `listen()`.
 *
 * It starts no timers of its own except a fault's delay and `waitFor`'s; `close()` cancels them
 * and drops every connection, hung ones included.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import { defaultRateLimited, defaultStatusAnswer, pathOf, registerBodyParser, send, truncate, type SimAnswer } from './http.js';
import { FaultRules, parseFaultSpecs, type FaultAction, type FaultRequestView } from './faults.js';
import { RequestRecord, type AnswerStatus, type SimRequest } from './record.js';
import { Waiters, type WaitOptions } from './wait.js';

export interface SimAnswers {
  /** What a status fault given no body answers. @default `{"error":"<reason phrase>"}` */
  status?(status: number): SimAnswer;
  /**
   * The API's own 429, for `rate_limited` faults. `retryAfter`: seconds to send; `false`, none;
   * undefined, what the API usually sends. @default 429 `{"error":"Too Many Requests"}`, Retry-After if given
   */
  rateLimited?(retryAfter: number | false | undefined): SimAnswer;
}

/** What a simulator keeping its own record shape gets to build an entry from. */
export interface EntryContext {
  readonly request: FastifyRequest;
  readonly bytes: Buffer;
  readonly fault: FaultAction | undefined;
}

/** What `waitFor` predicates see. */
export interface SimView<E, S> {
  /** The request record, oldest first. */
  readonly requests: readonly E[];
  /** Requests received since the start or the last clear, dropped ones included. */
  readonly received: number;
  readonly state: S;
}

export interface SimServerOptions<E, S> {
  /** Names the simulator in messages: `bonjoro simulator: waited 5000 ms…`. */
  readonly name: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Requests kept in the record. @default 10_000 */
  readonly maxRequests?: number;
  /** @default 10 MiB */
  readonly bodyLimit?: number;
  /** A JSON body that does not parse fails with a 400 error (to the app's error handler), instead of reading as no body. @default true */
  readonly isInvalidJsonRejected?: boolean;
  /** The live state handed to `waitFor` predicates. */
  readonly state: S;
  /** What `GET /_sim/state` answers. */
  readonly snapshot: () => unknown;
  readonly answers?: SimAnswers;
  /** Runs on every request after faults, before its route: to stop one, answer it and return the reply. */
  readonly guard?: (request: FastifyRequest, reply: FastifyReply) => unknown;
  /** Builds the record entry (default: the `SimRequest` itself). The server later sets `status` on it. */
  readonly toEntry?: (request: SimRequest, context: EntryContext) => E;
  /** An entry as `GET /_sim/requests` shows it. @default the entry */
  readonly entryJson?: (entry: E) => unknown;
  /** A FaultRules subclass with more (the Kit simulator's webhook drops). @default a new FaultRules */
  readonly faults?: FaultRules;
}

export interface SimServer<E, S> {
  readonly app: FastifyInstance;
  /** `http://HOST:PORT` once listening; `''` before. */
  readonly url: string;
  readonly faults: FaultRules;
  readonly record: RequestRecord<E>;
  /** The live state given in the options. */
  readonly state: S;
  /** The record's entries, oldest first (live). */
  readonly requests: readonly E[];
  now(): number;
  /** Resolves once `predicate` holds; rejects after `timeoutMs` (default 5 s) saying what was awaited. */
  waitFor(predicate: (view: SimView<E, S>) => boolean, options?: WaitOptions): Promise<SimView<E, S>>;
  /** Re-checks `waitFor` predicates (after a change made outside a request). */
  notify(): void;
  listen(): Promise<string>;
  /** Cancels fault delays and waiters, drops every connection, stops listening. Idempotent. */
  close(): Promise<void>;
}

type Entry = { readonly status: AnswerStatus | null };
const EMPTY = Buffer.alloc(0);

function isSimRoute(url: string): boolean {
  return url === '/_sim' || url.startsWith('/_sim/') || url.startsWith('/_sim?');
}

export function createSimServer<E extends Entry = SimRequest, S = unknown>(options: SimServerOptions<E, S>): SimServer<E, S> {
  const now = options.now ?? Date.now;
  const faults = options.faults ?? new FaultRules();
  const record = new RequestRecord<E>(options.maxRequests ?? 10_000);
  const toEntry = options.toEntry ?? ((request: SimRequest) => request as unknown as E);
  const view = (): SimView<E, S> => ({ requests: record.entries, received: record.received, state: options.state });
  const waiters = new Waiters<SimView<E, S>>(`${options.name} simulator`, view, () => `${record.received} request(s) received`);
  record.onAdd(() => waiters.notify());
  const timers = new Set<NodeJS.Timeout>();
  const receivedAt = new WeakMap<FastifyRequest, number>();
  const rawBodies = new WeakMap<FastifyRequest, Buffer>();
  const entries = new WeakMap<FastifyRequest, E>();
  const spoilers = new WeakMap<FastifyRequest, FaultAction>();

  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: options.bodyLimit ?? 10 * 1024 * 1024 });
  registerBodyParser(app, rawBodies, options.isInvalidJsonRejected ?? true);

  /** Never resolves if cancelled by close(): the request it delays is being dropped anyway. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const faultView = (request: FastifyRequest): FaultRequestView => {
    const bytes = rawBodies.get(request) ?? EMPTY;
    return { method: request.method, path: pathOf(request.url), url: request.url, query: (request.query ?? {}) as Record<string, unknown>, headers: request.headers, body: request.body, rawBody: bytes.toString('utf8'), bytes };
  };

  const begin = (request: FastifyRequest, fv: FaultRequestView, fault: FaultAction | undefined): E => {
    const base: SimRequest = {
      seq: record.received + 1,
      method: fv.method,
      path: fv.path,
      url: fv.url,
      query: fv.query,
      headers: fv.headers,
      body: fv.body,
      rawBody: fv.rawBody,
      receivedAt: receivedAt.get(request) ?? now(),
      status: null,
      ...(fault ? { fault: fault.kind } : {}),
    };
    const entry = toEntry(base, { request, bytes: fv.bytes, fault });
    entries.set(request, entry);
    record.add(entry);
    return entry;
  };

  const settle = (entry: E, status: AnswerStatus) => {
    (entry as { status: AnswerStatus | null }).status = status;
    waiters.notify();
  };

  /** True when the fault answered the request (or never will). */
  const applyFault = async (request: FastifyRequest, reply: FastifyReply, entry: E, fault: FaultAction): Promise<boolean> => {
    switch (fault.kind) {
      case 'delay':
        await sleep(fault.ms);
        return false;
      case 'hang':
        reply.hijack();
        settle(entry, 'hang');
        return true;
      case 'reset':
        reply.hijack();
        settle(entry, 'reset');
        // A TCP RST rather than a clean FIN, so the client sees ECONNRESET like a crashed server.
        request.raw.socket.resetAndDestroy();
        return true;
      case 'status': {
        if (fault.delayMs) await sleep(fault.delayMs);
        const base: SimAnswer = fault.body !== undefined ? { status: fault.status, body: fault.body } : (options.answers?.status?.(fault.status) ?? defaultStatusAnswer(fault.status));
        const headers: Record<string, string> = { ...base.headers, ...fault.headers };
        if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
        send(reply, { status: fault.status, headers, body: base.body });
        return true;
      }
      case 'rate_limited':
        send(reply, options.answers?.rateLimited?.(fault.retryAfter) ?? defaultRateLimited(fault.retryAfter));
        return true;
      case 'malformed':
        if (fault.body === undefined) break;
        send(reply, { status: fault.status ?? 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: fault.body });
        return true;
      case 'apply_then_hang':
      case 'apply_then_reset':
        break;
    }
    spoilers.set(request, fault);
    return false;
  };

  app.addHook('onRequest', (request, _reply, done) => {
    if (!isSimRoute(request.url)) receivedAt.set(request, now());
    done();
  });

  app.addHook('preHandler', async (request, reply) => {
    if (isSimRoute(request.url)) return;
    const fv = faultView(request);
    let fault: FaultAction | undefined;
    try {
      fault = faults.take(fv);
    } finally {
      // Recorded even when a fault's predicate threw (a bug in the test: the error handler says so).
      begin(request, fv, fault);
    }
    const entry = entries.get(request) as E;
    if (fault && (await applyFault(request, reply, entry, fault))) return reply;
    if (options.guard && (await options.guard(request, reply)) === reply) return reply;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    if (isSimRoute(request.url)) return payload;
    // No entry yet when the request failed before preHandler (a body that did not parse).
    const entry = entries.get(request) ?? begin(request, faultView(request), undefined);
    const spoiler = spoilers.get(request);
    switch (spoiler?.kind) {
      case 'apply_then_hang': {
        settle(entry, 'hang');
        const socket = request.raw.socket;
        // Held until the client gives up or close() drops the socket; the answer then goes nowhere.
        if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
        return payload;
      }
      case 'apply_then_reset':
        settle(entry, 'reset');
        request.raw.socket.resetAndDestroy();
        return payload;
      case 'malformed':
        settle(entry, reply.statusCode);
        return truncate(payload);
      default:
        if (entry.status === null) settle(entry, reply.statusCode);
        return payload;
    }
  });

  registerSimRoutes(app, { faults, record, snapshot: options.snapshot, entryJson: options.entryJson });

  let url = '';
  let closing: Promise<void> | undefined;
  return {
    app,
    get url() {
      return url;
    },
    faults,
    record,
    state: options.state,
    requests: record.entries,
    now,
    waitFor: (predicate, waitOptions) => waiters.waitFor(predicate, waitOptions),
    notify: () => waiters.notify(),
    async listen() {
      await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
      const address = app.server.address() as AddressInfo;
      url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      return url;
    },
    close() {
      closing ??= (async () => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        waiters.cancelAll('closed while waiting');
        await app.close();
      })();
      return closing;
    },
  };
}

function registerSimRoutes<E>(app: FastifyInstance, deps: { faults: FaultRules; record: RequestRecord<E>; snapshot: () => unknown; entryJson: ((entry: E) => unknown) | undefined }): void {
  const { faults, record, entryJson } = deps;
  app.get('/_sim/requests', () => (entryJson ? record.entries.map(entryJson) : record.entries));
  app.delete('/_sim/requests', (_request, reply) => {
    record.clear();
    return reply.code(204).send();
  });
  app.get('/_sim/faults', () => faults.list());
  app.post('/_sim/faults', (request, reply) => {
    const parsed = parseFaultSpecs(request.body);
    if ('error' in parsed) return reply.code(400).send({ error: parsed.error });
    for (const spec of parsed.specs) faults.add(spec);
    return reply.code(201).send({ added: parsed.specs.length, pending: faults.pending });
  });
  app.delete('/_sim/faults', (_request, reply) => {
    faults.clear();
    return reply.code(204).send();
  });
  app.get('/_sim/state', () => deps.snapshot());
}
