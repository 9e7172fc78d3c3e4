/**
 * The outbound side every action shares: the `ActionHttp` an attempt sends through (timeouts, abort,
 * shadow mode), and what an HTTP result means as an `ActionResult`.
 */
import { summarizeRequest, type HttpClient, type HttpRequest, type HttpResult } from '../lib/http.js';
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

/**
 * A network failure of a call that is not idempotent (a create, a post) as an action result:
 * `failed` when the request could not even be built, `unknown` when it may have reached the
 * destination (`what` says what may have happened), else `retry`.
 */
export function networkOutcome(result: Extract<HttpResult, { kind: 'network_error' }>, call: CallRecord, what: string): ActionResult {
  const error = `${result.code}: ${result.message}`;
  if (result.code === 'invalid_request') return { outcome: 'failed', error, call };
  return mayHaveBeenApplied(result) ? { outcome: 'unknown', error: `${error} (${what})`, call } : { outcome: 'retry', error, call };
}
