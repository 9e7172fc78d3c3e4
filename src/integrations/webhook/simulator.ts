/**
 * The receiving end of the generic webhook connector: a real HTTP server on loopback standing in
 * for any webhook receiver, built on the shared simulator server (simulators/server.ts). It
 * records every request and, on demand, misbehaves the ways real receivers do — error statuses
 * (with Retry-After), slow answers, no answer, a reset connection, an answer lost after the
 * receiver acted — so the connector and the queue are tested over real sockets. It also answers
 * `/_sim/requests`, `/_sim/faults` and `/_sim/state`.
 *
 * Bounded: it only ever reacts to requests; it starts no loops and no timers of its own except a
 * fault's delay and `waitFor`'s.
 */
import type { FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { createSimServer, type AnswerStatus, type FaultAction, type FaultMatchers, type FaultRequestView, type SimServer } from '../../simulators/index.js';
export type { FaultAction } from '../../simulators/index.js';


/** What the simulator decided to do with a request when it arrived. */
export type ReceivedAnswer =
  | { readonly kind: 'response'; readonly status: number; readonly delayMs: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'reset' };

export interface ReceivedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly path: string;
  /** Lower-cased names, as node:http exposes them. */
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  readonly json: unknown;
  /** Epoch ms, from the simulator's clock. */
  readonly receivedAt: number;
  readonly answer: ReceivedAnswer;
  /** What was answered in the end: a status, `hang` or `reset`; null until then. */
  readonly status: AnswerStatus | null;
}

/** The part of a request a fault's predicate sees. */
export type RequestView = Omit<ReceivedRequest, 'answer' | 'receivedAt' | 'status'>;

/** A shared fault (simulators/faults.ts) whose predicate sees the request as this receiver records it. */
export type FaultSpec = FaultAction & Omit<FaultMatchers, 'match'> & { readonly match?: (req: RequestView) => boolean };

export interface WebhookReceiverOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /**
   * Status of the normal answer, which is JSON `{ ok: true, requestId }` with an `x-request-id`
   * header (`sim-1`, `sim-2`, …). @default 200
   */
  readonly status?: number;
  /**
   * Requests kept in `requests`; older ones are dropped, so a long-running sandbox stays bounded.
   * `waitFor` counts every request received since the last reset. @default 1_000
   */
  readonly maxRequests?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface WebhookReceiver {
  readonly name: 'webhook';
  /** Base URL without a trailing slash: `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** It accepts any request: nothing to present. */
  readonly credentials: Readonly<Record<string, never>>;
  /** Requests received, in order of arrival, faulted ones included (the last `maxRequests` of them). */
  readonly requests: readonly ReceivedRequest[];
  /** Queues a fault. Faults apply in the order added; each to its next `times` matching requests. */
  fault(spec: FaultSpec): void;
  clearFaults(): void;
  /** Forgets the recorded requests and the faults; response request ids start again at `sim-1`. */
  reset(): void;
  /**
   * Resolves with `requests` once `count` requests have been received since the last reset, or
   * once `predicate` holds over them.
   * @param timeoutMs @default 5_000
   */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  waitFor(predicate: (requests: readonly ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Drops every connection (hung ones too) and stops listening. */
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const defaultStatus = options.status ?? 200;
  let issuedIds = 0;
  const requestIds = new WeakMap<FastifyRequest, string>();
  const views = new WeakMap<FaultRequestView, RequestView>();
  const viewOf = (v: FaultRequestView): RequestView => {
    let view = views.get(v);
    if (!view) views.set(v, (view = { method: v.method, path: v.url, headers: v.headers, body: v.bytes, json: parseJson(v.bytes) }));
    return view;
  };

  const server: SimServer<ReceivedRequest, { readonly defaultStatus: number }> = createSimServer<ReceivedRequest, { readonly defaultStatus: number }>({
    name: 'webhook receiver',
    host: options.host,
    port: options.port,
    now: options.now,
    maxRequests: options.maxRequests ?? 1_000,
    // A receiver takes whatever it is sent: a body that is not JSON is recorded, not refused.
    isInvalidJsonRejected: false,
    state: { defaultStatus },
    snapshot: () => ({ defaultStatus, received: server.record.received }),
    answers: {
      status: (status) => ({ status }),
      rateLimited: (retryAfter) => ({ status: 429, headers: typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : undefined }),
    },
    toEntry: (base, { request, bytes, fault }) => {
      issuedIds += 1;
      requestIds.set(request, `sim-${issuedIds}`);
      return { method: base.method, path: base.url, headers: request.headers, body: bytes, json: parseJson(bytes), receivedAt: base.receivedAt, answer: answerFor(fault, defaultStatus), status: null };
    },
    entryJson: (entry) => ({ ...entry, body: entry.body.toString('utf8') }),
  });
  const { app } = server;
  app.addHook('onSend', (request, reply, payload, done) => {
    const id = requestIds.get(request);
    if (id !== undefined && !reply.hasHeader('x-request-id')) void reply.header('x-request-id', id);
    done(null, payload);
  });
  app.all('*', (request, reply) => {
    const requestId = requestIds.get(request);
    return reply.code(defaultStatus).send({ ok: true, requestId });
  });
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    // A fault's `match` that throws is a bug in the test: answer 500 naming it rather than hide it.
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    return reply.code(status).type('text/plain').send(`webhook simulator: ${error.message}`);
  });
  await server.listen();

  const waitFor = async (target: number | ((requests: readonly ReceivedRequest[]) => boolean), timeoutMs = 5_000): Promise<ReceivedRequest[]> => {
    const isDone = typeof target === 'number' ? () => server.record.received >= target : () => target(server.requests);
    try {
      await server.waitFor(isDone, { timeoutMs });
    } catch (error) {
      const wanted = typeof target === 'number' ? `${target} request(s)` : 'the predicate';
      throw new Error(`webhook receiver: waited ${timeoutMs} ms for ${wanted}, got ${server.record.received}`, { cause: error });
    }
    return [...server.requests];
  };

  return {
    name: 'webhook',
    url: server.url,
    credentials: {},
    requests: server.requests,
    fault(spec) {
      const { match } = spec;
      server.faults.add({ ...spec, match: match ? (v: FaultRequestView) => match(viewOf(v)) : undefined });
    },
    clearFaults: () => server.faults.clear(),
    reset() {
      server.record.clear();
      server.faults.clear();
      issuedIds = 0;
    },
    waitFor,
    close: () => server.close(),
  };
}

function answerFor(fault: FaultAction | undefined, defaultStatus: number): ReceivedAnswer {
  switch (fault?.kind) {
    case undefined:
      return { kind: 'response', status: defaultStatus, delayMs: 0 };
    case 'status':
      return { kind: 'response', status: fault.status, delayMs: fault.delayMs ?? 0 };
    case 'delay':
      return { kind: 'response', status: defaultStatus, delayMs: fault.ms };
    case 'rate_limited':
      return { kind: 'response', status: 429, delayMs: 0 };
    case 'malformed':
      return { kind: 'response', status: fault.body === undefined ? defaultStatus : (fault.status ?? 200), delayMs: 0 };
    case 'hang':
    case 'apply_then_hang':
      return { kind: 'hang' };
    case 'reset':
    case 'apply_then_reset':
      return { kind: 'reset' };
  }
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    // Not JSON: the raw body is still recorded, which is what a test of a non-JSON sender needs.
    return undefined;
  }
}
