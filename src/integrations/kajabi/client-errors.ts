/**
 * Kajabi's failures (reference/destinations.md §5.3): `KajabiApiError` for any answer that is not
 * the one asked for (or no answer), built from a result by `kajabiFailure`, with Kajabi's own words
 * read from JSON:API `errors` or OAuth's `{"error":"…"}` (`readErrorBody`); `kajabiErrorResult`
 * turns one into the port's `ActionResult`, and `unlessGone` reads a 404 as "no longer there".
 */
import { parseRetryAfter, type HttpResult } from '../../lib/http.js';
import { isRecord, parseJsonBody } from '../../lib/json.js';
import { mayHaveBeenApplied } from '../outbound.js';
import type { ActionResult, CallRecord } from '../types.js';

export type KajabiErrorKind = 'http' | 'network' | 'oauth' | 'invalid_response';

/** A Kajabi answer that is not the one asked for, or no answer. */
export class KajabiApiError extends Error {
  readonly kind: KajabiErrorKind;
  readonly status: number | undefined;
  /** Kajabi's own words: `title: detail (at /pointer)` of each JSON:API error, or OAuth's `error`. */
  readonly reason: string;
  /** The first error's `source.pointer` (`/data/attributes/email`), when Kajabi gave one. */
  readonly pointer: string | undefined;
  /** The key is refused (bad secret, or 401 again with a fresh token): every call fails alike. */
  readonly isAuthFailure: boolean;
  /** 429's Retry-After in ms; null when absent or not a 429. */
  readonly retryAfterMs: number | null;
  /** The request may have been applied (a timeout or reset after sending a write). */
  readonly mayHaveBeenApplied: boolean;
  /** The network code (`ECONNREFUSED`, `timeout`, …) for `network` errors. */
  readonly code: string | undefined;
  readonly call: CallRecord;

  constructor(fields: { kind: KajabiErrorKind; status?: number; reason: string; pointer?: string; isAuthFailure?: boolean; retryAfterMs?: number | null; mayHaveBeenApplied?: boolean; code?: string; call: CallRecord; method: string; path: string }) {
    super(`Kajabi ${fields.method} ${fields.path}: ${fields.status === undefined ? '' : `HTTP ${fields.status}: `}${fields.reason}`);
    this.name = 'KajabiApiError';
    this.kind = fields.kind;
    this.status = fields.status;
    this.reason = fields.reason;
    this.pointer = fields.pointer;
    this.isAuthFailure = fields.isAuthFailure ?? false;
    this.retryAfterMs = fields.retryAfterMs ?? null;
    this.mayHaveBeenApplied = fields.mayHaveBeenApplied ?? false;
    this.code = fields.code;
    this.call = fields.call;
  }
}

/**
 * What a Kajabi failure means for the job: `retry` with the breaker opening for a refused key;
 * `retry` for 429 (at Retry-After), 408, 409, 5xx and connections that never carried the request;
 * `unknown` for a write that may have been applied; `failed` for every other 4xx and a request
 * that cannot be built. Anything but a `KajabiApiError` is thrown again (ShadowStop, bugs).
 */
export function kajabiErrorResult(error: unknown, extra: { readonly facts?: Readonly<Record<string, unknown>> } = {}): ActionResult {
  if (!(error instanceof KajabiApiError)) throw error;
  const record = { call: error.call, ...(extra.facts ? { facts: extra.facts } : {}) };
  const text = error.message;
  if (error.isAuthFailure) return { outcome: 'retry', error: `${text} (check the Public API key's client id and secret)`, opensBreaker: true, ...record };
  if (error.kind === 'network') {
    if (error.code === 'invalid_request') return { outcome: 'failed', error: `${text} (check the destination's baseUrl)`, ...record };
    return error.mayHaveBeenApplied ? { outcome: 'unknown', error: `${text} (the call may have been applied)`, ...record } : { outcome: 'retry', error: text, ...record };
  }
  if (error.kind === 'invalid_response') return error.mayHaveBeenApplied ? { outcome: 'unknown', error: text, ...record } : { outcome: 'retry', error: text, ...record };
  const status = error.status ?? 0;
  if (status === 429) return { outcome: 'retry', error: text, ...(error.retryAfterMs === null ? {} : { retryAfterMs: error.retryAfterMs }), ...record };
  if (status >= 500 || status === 408 || status === 409 || status === 401) return { outcome: 'retry', error: text, ...record };
  return { outcome: 'failed', error: text, ...record };
}

/**
 * The error for a result that is not a 2xx (or no answer). `isTokenCall`: the token endpoint
 * refusing the key is an `oauth` error, and a token call is never "may have been applied".
 */
export function kajabiFailure(result: HttpResult, method: string, path: string, call: CallRecord, isTokenCall: boolean, now: () => number): KajabiApiError {
  if (result.kind === 'network_error') {
    return new KajabiApiError({ kind: 'network', reason: `${result.code}: ${result.message}`, code: result.code, mayHaveBeenApplied: method !== 'GET' && !isTokenCall && mayHaveBeenApplied(result), call, method, path });
  }
  const { status } = result;
  const { reason, pointer } = readErrorBody(result.body);
  const retryAfterMs = status === 429 ? (parseRetryAfter(result.headers['retry-after'], now()) ?? null) : null;
  // The token endpoint refusing the key (400/401 invalid_client) or a second 401 after a fresh token.
  const isAuthFailure = isTokenCall ? status === 401 || (status === 400 && /invalid_client|unauthorized_client/.test(reason)) : status === 401;
  return new KajabiApiError({ kind: isTokenCall && status < 500 && status !== 429 ? 'oauth' : 'http', status, reason, ...(pointer === undefined ? {} : { pointer }), isAuthFailure, retryAfterMs, call, method, path });
}

/** `title: detail (at pointer)` for each JSON:API error; OAuth's `{"error":"…"}`; else the body's start. */
export function readErrorBody(body: Buffer): { reason: string; pointer?: string } {
  const parsed = parseJsonBody(body);
  if (isRecord(parsed) && Array.isArray(parsed.errors) && parsed.errors.length > 0) {
    const errors = parsed.errors.filter(isRecord);
    const pointerOf = (e: Record<string, unknown>) => (isRecord(e.source) && typeof e.source.pointer === 'string' ? e.source.pointer : undefined);
    const reason = errors
      .map((e) => {
        const words = [text(e.title), text(e.detail)].filter((w): w is string => w !== undefined);
        const pointer = pointerOf(e);
        return `${words.join(': ') || 'error'}${pointer === undefined ? '' : ` (at ${pointer})`}`;
      })
      .join('; ');
    const pointer = errors.map(pointerOf).find((p) => p !== undefined);
    return pointer === undefined ? { reason } : { reason, pointer };
  }
  if (isRecord(parsed) && typeof parsed.error === 'string') {
    const description = text(parsed.error_description);
    return { reason: description ? `${parsed.error}: ${description}` : parsed.error };
  }
  return { reason: body.subarray(0, 200).toString('utf8').trim() || 'no body' };
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** Undefined for what Kajabi no longer has (404): not settled by it. */
export async function unlessGone<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof KajabiApiError && error.status === 404) return undefined;
    throw error;
  }
}
