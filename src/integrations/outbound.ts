/**
 * The outbound side every action shares: the `ActionHttp` an attempt sends through (timeouts, abort,
 * shadow mode), and what an HTTP result means as an `ActionResult`.
 */
import { classifyResponse, summarizeRequest, type HttpClient, type HttpRequest, type HttpResult } from '../lib/http.js';
import type { RequestSummary } from '../store/types.js';
import type { ActionHttp, ActionResult, CallRecord, OutboundRequest } from './types.js';

/**
 * Thrown by a shadow destination's `ActionHttp.send`: the request was built and is recorded here,
 * and the attempt ends without sending it. The queue turns it into a shadow attempt.
 */
export class ShadowStop extends Error {
  readonly request: RequestSummary;
  constructor(request: RequestSummary) {
    super('shadow mode: the request was recorded, not sent');
    this.name = 'ShadowStop';
    this.request = request;
  }
}

export interface ActionHttpOptions {
  readonly http: HttpClient;
  readonly signal: AbortSignal;
  /** The attempt's deadline (epoch ms of performance time is not needed: a duration from now). */
  readonly timeoutMs: number;
  readonly isShadow: boolean;
  /** Characters of a request body kept on a shadow record (the whole request is the point). @default 4096 */
  readonly shadowPreviewChars?: number;
}

export function createActionHttp(options: ActionHttpOptions): ActionHttp {
  return {
    send: async (request: OutboundRequest): Promise<HttpResult> => {
      const full: HttpRequest = { ...request, timeoutMs: Math.min(request.timeoutMs ?? options.timeoutMs, options.timeoutMs), signal: options.signal };
      if (options.isShadow) throw new ShadowStop(summarizeRequest(full, options.shadowPreviewChars ?? 4096));
      return options.http.send(full);
    },
  };
}

/** Bytes of a response body kept on the audit record. */
export const RESPONSE_BODY_BYTES = 1024;

/** The audit record's view of one call. */
export function callRecordOf(result: HttpResult, correlation: Readonly<Record<string, string>> = {}): CallRecord {
  if (result.kind === 'network_error') return { request: result.request, correlation };
  const requestId = result.headers['x-request-id'] ?? result.headers['request-id'];
  return {
    request: result.request,
    responseStatus: result.status,
    responseBody: result.body.subarray(0, RESPONSE_BODY_BYTES).toString('utf8'),
    correlation: requestId === undefined ? correlation : { ...correlation, requestId },
  };
}

/**
 * Network failures after which the request may have reached the destination: our deadline, the
 * caller's abort, a reset or closed socket. A refused connection or an unresolvable host never
 * sent a byte.
 */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'invalid_request', 'UND_ERR_CONNECT_TIMEOUT']);

export function mayHaveBeenApplied(result: HttpResult): boolean {
  return result.kind === 'network_error' && !NEVER_SENT_CODES.has(result.code);
}

export interface OutcomeOptions {
  /** Sending the same request twice is harmless (an idempotency key, an upsert): ambiguity is `retry`, else `unknown`. */
  readonly isIdempotent: boolean;
  /** Statuses that mean "every job will fail alike until someone fixes the credential". @default [401] */
  readonly breakerStatuses?: readonly number[];
  /** Turns an error response into the destination's own words. @default `HTTP <status>` + the body's start */
  readonly describeError?: (result: Extract<HttpResult, { kind: 'response' }>) => string;
  readonly correlation?: Readonly<Record<string, string>>;
}

/** The shared policy (lib/http-classify.ts) as an action result, with `unknown` where the call may have been applied. */
export function outcomeOf(result: HttpResult, now: number, options: OutcomeOptions): ActionResult {
  const call = callRecordOf(result, options.correlation);
  if (result.kind === 'network_error') {
    const error = `${result.code}: ${result.message}`;
    if (result.code === 'invalid_request') return { outcome: 'failed', error, call };
    if (!options.isIdempotent && mayHaveBeenApplied(result)) return { outcome: 'unknown', error: `${error} (the request may have been applied)`, call };
    return { outcome: 'retry', error, call };
  }
  const verdict = classifyResponse(result, now);
  if (verdict.kind === 'success') return { outcome: 'succeeded', call };
  const error = options.describeError ? options.describeError(result) : `${verdict.error}${bodyHint(result.body)}`;
  if ((options.breakerStatuses ?? [401]).includes(result.status)) return { outcome: 'retry', error, call, opensBreaker: true };
  switch (verdict.kind) {
    case 'retryable':
      return { outcome: 'retry', error, call };
    case 'retry_after':
      return { outcome: 'retry', error, retryAfterMs: verdict.retryAfterMs, call };
    case 'permanent':
      return { outcome: 'failed', error, call };
  }
}

function bodyHint(body: Buffer): string {
  const text = body.subarray(0, 200).toString('utf8').trim();
  return text === '' ? '' : `: ${text}`;
}
