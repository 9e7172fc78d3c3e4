/**
 * One Kit API call, start to finish: spend from the rate budget, authenticate, send through the
 * shared HTTP client, then decide — success, retry, wait out a 429, refresh an expired token, or
 * throw the error class for Kit's answer.
 *
 * Retry policy (reference/kit.md §2, §6):
 * Budget: every send first takes from the shared budget, stamped at the latest time Kit may count
 * it (send time + the slowest recent send-to-answer time), so processes with different latencies
 * sharing one budget never overrun Kit's window between them.
 *
 * - 429 (plain-text `Retry later`, no Retry-After): block the credential's budget for a window so
 *   every process sharing it stops, wait the window out, then back off exponentially; give up
 *   after `maxRateLimitRetries` with `KitRateLimitedError`. Every call may retry a 429: Kit did
 *   not act on the request.
 * - 401 "The access token expired": refresh once and resend (Kit did not act either).
 * - 5xx, network errors, timeouts: retried with backoff only when the call is `isIdempotent`
 *   (reads, PUT/PATCH/DELETE, and writes Kit dedupes: upserts by email, tag by name, tagging).
 *   A non-idempotent create may have happened on Kit's side, so it is thrown, not resent.
 */
import type { Clock } from '../../lib/clock.js';
import type { HttpClient, HttpMethod, HttpResult } from '../../lib/http.js';
import type { RequestSummary } from '../../store/types.js';
import type { Authenticator } from './auth.js';
import type { RateBudget } from './budget.js';
import { errorFromStatus, parseKitErrorMessages } from './errors/from-response.js';
import { KitNetworkError } from './errors/network-error.js';
import { KitOAuthRequiredError } from './errors/oauth-required-error.js';
import { KitRateLimitedError } from './errors/rate-limited-error.js';
import { isExpiredTokenMessage } from './errors/unauthorized-error.js';
import { KitUnexpectedResponseError } from './errors/unexpected-response-error.js';
import { LatencyWindow } from './latency.js';

export type QueryValue = string | number | boolean | readonly string[] | undefined;

export interface KitRequest {
  readonly method: HttpMethod;
  /** `/v4/…`, ids already encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, QueryValue>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Safe to resend after a failure that may have reached Kit (5xx, network error, timeout). */
  readonly isIdempotent: boolean;
  /** Statuses returned as values instead of thrown (404 for getters). */
  readonly acceptStatuses?: readonly number[];
}

export interface KitResponse {
  readonly status: number;
  /** Parsed JSON; undefined for an empty body (204). */
  readonly body: unknown;
}

/** What one outbound call sent and got back: for the audit record. Secrets are already redacted. */
export interface KitCall {
  readonly request: RequestSummary;
  readonly responseStatus?: number;
  /** The network error's code, when no response came. */
  readonly networkError?: string;
  readonly durationMs: number;
  /** 1 for the first send of a call, 2 for its first resend, … */
  readonly attempt: number;
}

export interface TransportOptions {
  readonly baseUrl: string;
  readonly auth: Authenticator;
  readonly budget: RateBudget;
  readonly limit: number;
  readonly windowMs: number;
  /** The least time a request is stamped ahead in the budget; the latency window raises it (latency.ts). */
  readonly marginMs: number;
  readonly http: HttpClient;
  readonly clock: Clock;
  readonly sleep: (ms: number) => Promise<void>;
  readonly maxRetries: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly maxRateLimitRetries: number;
  readonly maxBudgetWaitMs: number;
  readonly timeoutMs: number;
  readonly userAgent: string;
  readonly onCall?: (call: KitCall) => void;
}

interface CallState {
  attempt: number;
  serverRetries: number;
  rateLimitHits: number;
  hasRefreshed: boolean;
}

type Step =
  | { readonly kind: 'done'; readonly response: KitResponse }
  | { readonly kind: 'fail'; readonly error: Error }
  | { readonly kind: 'backoff'; readonly ms: number }
  | { readonly kind: 'rate_limited'; readonly waitMs: number }
  | { readonly kind: 'refresh'; readonly generation: number };

export interface Transport {
  readonly authKind: Authenticator['kind'];
  request(req: KitRequest): Promise<KitResponse>;
}

export function createTransport(options: TransportOptions): Transport {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');

  const latency = new LatencyWindow(options.clock);

  /**
   * Waits until the shared budget lets one more request out, at most `maxBudgetWaitMs` in all.
   * Returns the callback that reports the request's answer to the latency window.
   */
  async function spendBudget(described: string): Promise<(isAnswered: boolean) => void> {
    let waited = 0;
    for (;;) {
      // Stamped at the latest time Kit may count it (see RateBudget): the window still starts one
      // Kit window before now, so every process counts the same requests whatever its margin.
      const now = options.clock.now();
      const aheadMs = latency.marginMs(options.marginMs, options.windowMs);
      const decision = await options.budget.take({
        credential: options.auth.credentialId,
        limit: options.limit,
        windowMs: options.windowMs + aheadMs,
        now: now + aheadMs,
      });
      if (decision.ok) return latency.start(now);
      if (waited + decision.retryAfterMs > options.maxBudgetWaitMs) {
        throw new KitRateLimitedError(decision.retryAfterMs, `rate budget exhausted: would wait more than ${options.maxBudgetWaitMs} ms`, {
          request: described,
        });
      }
      await options.sleep(decision.retryAfterMs);
      waited += decision.retryAfterMs;
    }
  }

  /** Exponential backoff with ±20% jitter, so processes that failed together do not retry together. */
  function backoff(retry: number): number {
    const base = Math.min(options.retryMaxDelayMs, options.retryBaseDelayMs * 2 ** retry);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** One send with the current credential; reports to the latency window whether Kit answered. */
  async function send(url: string, method: HttpMethod, body: string | undefined, answered: (isAnswered: boolean) => void): Promise<HttpResult & { generation: number }> {
    let isAnswered = false;
    try {
      const auth = await options.auth.headers();
      const result = await options.http.send({
        method,
        url,
        headers: {
          accept: 'application/json',
          'user-agent': options.userAgent,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...auth.headers,
        },
        ...(body === undefined ? {} : { body }),
        timeoutMs: options.timeoutMs,
        secretHeaderNames: options.auth.secretHeaderNames,
      });
      isAnswered = result.kind === 'response';
      return { ...result, generation: auth.generation };
    } finally {
      answered(isAnswered);
    }
  }

  /** What to do about one result: the loop in `request` carries it out. */
  function judge(req: KitRequest, result: HttpResult & { generation: number }, call: CallState, described: string): Step {
    const canResend = req.isIdempotent && call.serverRetries < options.maxRetries;
    if (result.kind === 'network_error') {
      if (canResend && result.code !== 'invalid_request') return { kind: 'backoff', ms: backoff(call.serverRetries++) };
      return { kind: 'fail', error: new KitNetworkError(result.code, { request: described, attempts: call.attempt, detail: result.message }) };
    }
    const { status } = result;
    if ((status >= 200 && status < 300) || req.acceptStatuses?.includes(status)) {
      return { kind: 'done', response: { status, body: parseBody(result, described) } };
    }
    const messages = parseKitErrorMessages(result.body);
    if (status === 429) {
      call.rateLimitHits += 1;
      // First wait out Kit's whole window (it resets it), then add backoff on each further 429.
      const waitMs = options.windowMs + (call.rateLimitHits > 1 ? backoff(call.rateLimitHits - 2) : 0);
      if (call.rateLimitHits <= options.maxRateLimitRetries) return { kind: 'rate_limited', waitMs };
      const summary = `answered 429 Too Many Requests ${call.rateLimitHits} time(s)`;
      return { kind: 'fail', error: new KitRateLimitedError(waitMs, summary, { request: described, status, messages }) };
    }
    if (status === 401 && options.auth.kind === 'oauth' && !call.hasRefreshed && isExpiredTokenMessage(messages)) {
      call.hasRefreshed = true;
      return { kind: 'refresh', generation: result.generation };
    }
    if (status >= 500 && canResend) return { kind: 'backoff', ms: backoff(call.serverRetries++) };
    return { kind: 'fail', error: errorFromStatus(status, { request: described, messages, attempts: call.attempt }) };
  }

  async function request(req: KitRequest): Promise<KitResponse> {
    const described = `${req.method} ${req.path}`;
    if (isOAuthOnlyPath(req.path) && options.auth.kind !== 'oauth') throw new KitOAuthRequiredError({ request: described });
    const url = buildUrl(baseUrl, req.path, req.query);
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const call: CallState = { attempt: 0, serverRetries: 0, rateLimitHits: 0, hasRefreshed: false };
    for (;;) {
      const answered = await spendBudget(described);
      call.attempt += 1;
      const result = await send(url, req.method, body, answered);
      options.onCall?.(callOf(result, call.attempt));
      const step = judge(req, result, call, described);
      switch (step.kind) {
        case 'done':
          return step.response;
        case 'fail':
          throw step.error;
        case 'backoff':
          await options.sleep(step.ms);
          break;
        case 'rate_limited': {
          // Blocking the shared budget stops every process on this credential, not just this call;
          // the local sleep keeps this call honest even with a budget that ignores blocks. Takes
          // are stamped ahead by their margin, so the block is too, or it would end early.
          const aheadMs = latency.marginMs(options.marginMs, options.windowMs);
          await options.budget.block(options.auth.credentialId, options.clock.now() + step.waitMs + aheadMs);
          await options.sleep(step.waitMs);
          break;
        }
        case 'refresh':
          await options.auth.refreshExpired(step.generation);
          break;
      }
    }
  }

  return { authKind: options.auth.kind, request };
}

/** Kit rejects API keys on these (reference/kit.md §1): `/v4/bulk/*` and `/v4/purchases*`. */
export function isOAuthOnlyPath(path: string): boolean {
  return /^\/v4\/(bulk\/|purchases(\/|$))/.test(path);
}

function buildUrl(baseUrl: string, path: string, query: KitRequest['query']): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    // Kit takes lists as comma-separated values (`include=tags,location`). URLSearchParams
    // percent-encodes the rest, cursors' `=` included (reference/kit.md §3).
    params.set(name, typeof value === 'object' ? value.join(',') : String(value));
  }
  const search = params.toString();
  return `${baseUrl}${path}${search === '' ? '' : `?${search}`}`;
}

function parseBody(result: Extract<HttpResult, { kind: 'response' }>, described: string): unknown {
  if (result.isTruncated) {
    throw new KitUnexpectedResponseError('answered more bytes than the HTTP client keeps (maxResponseBytes): ask for smaller pages', {
      request: described,
      status: result.status,
    });
  }
  const text = result.body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err: unknown) {
    throw new KitUnexpectedResponseError('answered a body that is not JSON', { request: described, status: result.status, cause: err });
  }
}

function callOf(result: HttpResult, attempt: number): KitCall {
  return result.kind === 'response'
    ? { request: result.request, responseStatus: result.status, durationMs: result.durationMs, attempt }
    : { request: result.request, networkError: result.code, durationMs: result.durationMs, attempt };
}
