/**
 * The receiving end of the generic webhook connector: a real HTTP server on loopback standing in
 * for any webhook receiver. It records every request and, on demand, misbehaves the ways real
 * receivers do — error statuses (with Retry-After), slow answers, no answer, a reset connection —
 * so the connector and the queue are tested over real sockets.
 *
 * Dependency-free (node:http) and bounded: it only ever reacts to requests; it starts no loops
 * and no timers of its own except a fault's delay.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the simulator did with a request. */
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
}

/** The part of a request a fault's predicate sees. */
export type RequestView = Omit<ReceivedRequest, 'answer' | 'receivedAt'>;

export type FaultSpec = FaultAction & {
  /** How many matching requests the fault applies to; `Infinity` for all. @default 1 */
  readonly times?: number;
  /** Applies only to requests this returns true for. @default every request */
  readonly match?: (req: RequestView) => boolean;
};

export type FaultAction =
  /** Answer with this status (after `delayMs`), optionally with Retry-After, headers and a body. */
  | {
      readonly kind: 'status';
      readonly status: number;
      /** Seconds (number) or a raw header value (an HTTP date). */
      readonly retryAfter?: number | string;
      readonly headers?: Readonly<Record<string, string>>;
      /** A string or Buffer is sent as is; anything else as JSON. */
      readonly body?: unknown;
      /** @default 0 */
      readonly delayMs?: number;
    }
  /** Give the normal answer, `ms` late. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Never answer; the connection stays open until the client gives up or the simulator closes. */
  | { readonly kind: 'hang' }
  /** Reset the connection (TCP RST) without answering: the client sees ECONNRESET. */
  | { readonly kind: 'reset' };

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
  /** Base URL without a trailing slash: `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Requests received, in order, faulted ones included (the last `maxRequests` of them). */
  readonly requests: readonly ReceivedRequest[];
  /** Queues a fault. Faults apply in the order added; each to its next `times` matching requests. */
  fault(spec: FaultSpec): void;
  clearFaults(): void;
  /** Forgets the recorded requests and the faults; response request ids start again at `sim-1`. */
  reset(): void;
  /**
   * Resolves with `requests` once `count` requests have been received since the last reset.
   * @param timeoutMs @default 5_000
   */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Drops every connection (hung ones too) and stops listening. */
  close(): Promise<void>;
}

interface PendingFault {
  readonly spec: FaultSpec;
  remaining: number;
}

interface Waiter {
  readonly count: number;
  readonly resolve: (requests: ReceivedRequest[]) => void;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const now = options.now ?? Date.now;
  const defaultStatus = options.status ?? 200;
  const maxRequests = options.maxRequests ?? 1_000;
  const requests: ReceivedRequest[] = [];
  let faults: PendingFault[] = [];
  let waiters: Waiter[] = [];
  const timers = new Set<NodeJS.Timeout>();
  /** Requests received since the last reset, dropped ones included. */
  let received = 0;

  function takeFault(view: RequestView): FaultSpec | undefined {
    const pending = faults.find((f) => f.remaining > 0 && (f.spec.match?.(view) ?? true));
    if (!pending) return undefined;
    pending.remaining -= 1;
    faults = faults.filter((f) => f.remaining > 0);
    return pending.spec;
  }

  function record(req: ReceivedRequest): void {
    requests.push(req);
    if (requests.length > maxRequests) requests.splice(0, requests.length - maxRequests);
    const ready = waiters.filter((w) => received >= w.count);
    waiters = waiters.filter((w) => received < w.count);
    for (const w of ready) w.resolve([...requests]);
  }

  function later(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const view: RequestView = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, json: parseJson(body) };
    const fault = takeFault(view);
    received += 1;
    const requestId = `sim-${received}`;
    const answer = answerFor(fault, defaultStatus);
    record({ ...view, receivedAt: now(), answer });

    if (answer.kind === 'hang') return;
    if (answer.kind === 'reset') {
      // A TCP RST rather than a clean FIN, so the client sees ECONNRESET like a crashed receiver.
      req.socket.resetAndDestroy();
      return;
    }
    later(answer.delayMs, () => {
      if (res.destroyed) return;
      if (fault?.kind === 'status') return sendStatus(res, fault, requestId);
      res.writeHead(answer.status, { 'content-type': 'application/json', 'x-request-id': requestId }).end(JSON.stringify({ ok: true, requestId }));
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Either the client went away mid-body (nobody left to answer) or a fault's `match` threw,
      // a bug in the test: answer 500 naming it rather than hide it behind a dropped socket.
      if (res.headersSent || res.destroyed) return;
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`webhook simulator: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    requests,
    fault(spec) {
      faults.push({ spec, remaining: spec.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    reset() {
      requests.length = 0;
      faults = [];
      received = 0;
    },
    waitFor(count, timeoutMs = 5_000) {
      if (received >= count) return Promise.resolve([...requests]);
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          count,
          resolve: (got) => {
            clearTimeout(timer);
            resolve(got);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(new Error(`webhook receiver: waited ${timeoutMs} ms for ${count} request(s), got ${received}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Hung and keep-alive connections would hold close() open forever.
      server.closeAllConnections();
      await closed;
    },
  };
}

function answerFor(fault: FaultSpec | undefined, defaultStatus: number): ReceivedAnswer {
  switch (fault?.kind) {
    case undefined:
      return { kind: 'response', status: defaultStatus, delayMs: 0 };
    case 'status':
      return { kind: 'response', status: fault.status, delayMs: fault.delayMs ?? 0 };
    case 'delay':
      return { kind: 'response', status: defaultStatus, delayMs: fault.ms };
    case 'hang':
      return { kind: 'hang' };
    case 'reset':
      return { kind: 'reset' };
  }
}

function sendStatus(res: ServerResponse, fault: Extract<FaultAction, { kind: 'status' }>, requestId: string): void {
  const headers: Record<string, string> = { 'x-request-id': requestId, ...fault.headers };
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  let payload: Buffer | string = '';
  if (typeof fault.body === 'string' || Buffer.isBuffer(fault.body)) {
    payload = fault.body;
  } else if (fault.body !== undefined) {
    payload = JSON.stringify(fault.body);
    headers['content-type'] ??= 'application/json';
  }
  res.writeHead(fault.status, headers).end(payload);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
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
