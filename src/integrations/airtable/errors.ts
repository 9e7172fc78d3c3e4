/**
 * What an Airtable Web API answer means (reference/destinations.md §3.4, §3.5). Errors come as
 * `{"error":{"type":"<TYPE>","message":"…"}}`, some 404s as `{"error":"NOT_FOUND"}`, and 429s
 * possibly as `{"errors":[{"error":"RATE_LIMIT_REACHED",…}]}`; the status says the class and the
 * type the detail. `classifyAirtableResult` turns an answer into one of a few outcomes, and
 * `resultOf` maps those to the integration port's results.
 *
 * Every write kitrelay makes may be sent twice with one effect: upserts merge on the Kit id field,
 * updates and deletes name the record. So a call whose fate is unknown (a timeout after sending)
 * is simply sent again.
 */
import { mayHaveBeenApplied } from '../outbound.js';
import { isRecord, parseJsonBody } from '../../lib/json.js';
import { parseRetryAfter, type HttpResult } from '../../lib/http.js';
import type { ActionResult, CallRecord } from '../types.js';

/** After a 429 Airtable answers nothing from that base for 30 seconds (§3.5). */
export const RATE_LIMIT_PENALTY_MS = 30_000;

export interface AirtableErrorInfo {
  readonly status?: number;
  /** Airtable's error type (`UNKNOWN_FIELD_NAME`), when it gave one. */
  readonly type?: string;
  /** A sentence for the audit record and the dead job: Airtable's type and message, and the fix where kitrelay knows it. */
  readonly message: string;
}

export type AirtableOutcome =
  | { readonly kind: 'ok'; readonly status: number; readonly body: Readonly<Record<string, unknown>> }
  /** 429: the base (or token) is penalised; nothing gets through for `retryAfterMs`. */
  | ({ readonly kind: 'throttled'; readonly retryAfterMs: number } & AirtableErrorInfo)
  /** Airtable or the network failed before acting (5xx, a refused connection): send again. */
  | ({ readonly kind: 'transient'; readonly retryAfterMs?: number } & AirtableErrorInfo)
  /** The call may have been applied (a timeout after sending); kitrelay's writes may be sent again. */
  | ({ readonly kind: 'unknown' } & AirtableErrorInfo)
  /** 401/403: the token is wrong, revoked, lacks a scope or the base: every call fails alike. */
  | ({ readonly kind: 'auth' } & AirtableErrorInfo)
  /** 413, or more records than a request takes: send fewer at a time. */
  | ({ readonly kind: 'too_large' } & AirtableErrorInfo)
  /** 404: the record (for calls naming one) or the table is not there. */
  | ({ readonly kind: 'not_found' } & AirtableErrorInfo)
  /**
   * The request is wrong as sent (400, 422). `isPerRecord`: the fault may lie with one record of
   * several (a value a field refuses, an unknown select option, a Kit id on two rows), so the
   * others may go through on their own.
   */
  | ({ readonly kind: 'invalid'; readonly isPerRecord: boolean } & AirtableErrorInfo)
  /** Not sent: the base's (or token's) turn is further away than the caller may wait (budget.ts). */
  | ({ readonly kind: 'paced'; readonly retryAfterMs: number } & AirtableErrorInfo)
  /** Not sent: the month's call budget is spent (budget.ts). */
  | ({ readonly kind: 'over_budget' } & AirtableErrorInfo);

export type AirtableErrorOutcome = Exclude<AirtableOutcome, { readonly kind: 'ok' }>;

/** 422 types that may be one record's fault in a request of several. */
const PER_RECORD_TYPES: ReadonlySet<string> = new Set(['INVALID_VALUE_FOR_COLUMN', 'INVALID_MULTIPLE_CHOICE_OPTIONS', 'ROW_DOES_NOT_EXIST', 'INVALID_RECORDS', 'CANNOT_UPDATE_MULTIPLE_RECORDS']);

/** An upsert whose merge value is on several rows (§3.3: "Cannot update more than one record"). */
const SEVERAL_MATCHES = /more than one record|multiple records? match|several records/i;
/** Too many records in one request ([U]: the type is not documented, the words are). */
const TOO_MANY_RECORDS = /too many records|at most 10 records|more than 10 records|maximum of 10/i;

const FIXES: Readonly<Record<string, string>> = {
  AUTHENTICATION_REQUIRED: "the token is missing or not valid: create a personal access token and set it as the destination's token (AIRTABLE_TOKEN)",
  INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND: "give the token data.records:read and data.records:write and access to the base, and check the base id and table name",
  INVALID_PERMISSIONS: "the token may not write this table: give it data.records:write and access to the base",
  NOT_AUTHORIZED: "give the token data.records:read and data.records:write and access to the base",
  UNKNOWN_FIELD_NAME: "create the field in the table, or fix its name in the sync's fields (names are case-sensitive)",
  INVALID_MULTIPLE_CHOICE_OPTIONS: 'add the option to the field in Airtable, or set typecast: true on the sync so Airtable creates it',
  INVALID_VALUE_FOR_COLUMN: "the field's type does not take this value: set the mapping's `as` to the field's type, or typecast: true",
  TABLE_NOT_FOUND: "check the sync's table (its name, or its tbl… id) and base id",
};

const SEVERAL_MATCHES_FIX = 'two or more rows hold this Kit id: delete the extra rows in Airtable (kitrelay never merges rows)';

/** An Airtable answer, classified; `now` (epoch ms, the injected clock) reads an HTTP-date Retry-After. */
export function classifyAirtableResult(result: HttpResult, now: number, penaltyMs: number = RATE_LIMIT_PENALTY_MS): AirtableOutcome {
  if (result.kind === 'network_error') {
    const message = `Airtable: ${result.code}: ${result.message}`;
    if (result.code === 'invalid_request') return { kind: 'invalid', isPerRecord: false, message: `${message} (the request could not be built: check the destination's apiUrl)` };
    return mayHaveBeenApplied(result) ? { kind: 'unknown', message: `${message} (the call may have been applied)` } : { kind: 'transient', message };
  }
  const { status } = result;
  const parsed = parseJsonBody(result.body);
  if (status >= 200 && status < 300) {
    if (isRecord(parsed)) return { kind: 'ok', status, body: parsed };
    return { kind: 'unknown', status, message: `Airtable answered HTTP ${status} with a body that is not JSON${result.isTruncated ? ' (truncated)' : ''}` };
  }
  const info = errorInfo(parsed, status, result.body);
  const retryAfterMs = parseRetryAfter(result.headers['retry-after'], now);
  if (status === 429) return { kind: 'throttled', ...info, retryAfterMs: Math.max(retryAfterMs ?? 0, penaltyMs) };
  if (status === 401 || status === 403) return { kind: 'auth', ...info };
  if (status === 413 || TOO_MANY_RECORDS.test(info.message)) return { kind: 'too_large', ...info };
  if (status === 404) return { kind: 'not_found', ...info };
  if (status >= 500 || status === 408) return { kind: 'transient', ...info, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  const isPerRecord = (info.type !== undefined && PER_RECORD_TYPES.has(info.type)) || SEVERAL_MATCHES.test(info.message);
  return { kind: 'invalid', isPerRecord, ...info };
}

/**
 * An outcome as the port's result for one job. Throttled, transient and unknown outcomes are
 * retried (writes may be sent again), and so is a call that waits for its turn (paced); auth
 * fails and opens the destination's breaker; the rest fail (a spent monthly budget too): the job
 * goes to the dead-letter queue with Airtable's type and message, or the budget's fix.
 */
export function resultOf(outcome: AirtableErrorOutcome, call?: CallRecord): ActionResult {
  const record = call ? { call } : {};
  const error = outcome.message;
  switch (outcome.kind) {
    case 'throttled':
    case 'paced':
      return { outcome: 'retry', error, retryAfterMs: outcome.retryAfterMs, ...record };
    case 'transient':
      return { outcome: 'retry', error, ...(outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }), ...record };
    case 'unknown':
      return { outcome: 'retry', error: `${error}; sent again, as kitrelay's writes merge on the Kit id`, ...record };
    case 'auth':
      return { outcome: 'failed', error, opensBreaker: true, ...record };
    case 'too_large':
    case 'not_found':
    case 'invalid':
    case 'over_budget':
      return { outcome: 'failed', error, ...record };
  }
}

function errorInfo(parsed: unknown, status: number, body: Buffer): AirtableErrorInfo {
  let type: string | undefined;
  let text: string | undefined;
  if (isRecord(parsed)) {
    const { error, errors } = parsed;
    if (isRecord(error)) {
      type = nonEmpty(error.type);
      text = nonEmpty(error.message);
    } else if (typeof error === 'string') {
      type = nonEmpty(error);
    } else if (Array.isArray(errors) && isRecord(errors[0])) {
      type = nonEmpty(errors[0].error) ?? nonEmpty(errors[0].type);
      text = nonEmpty(errors[0].message);
    }
  }
  const described = text ?? (type === undefined ? bodyStart(body) : undefined);
  const base = `Airtable: HTTP ${status}${type === undefined ? '' : ` ${type}`}${described ? `: ${described}` : ''}`;
  const fix = fixOf(type, text, status);
  return { status, ...(type === undefined ? {} : { type }), message: fix ? `${base} — ${fix}` : base };
}

function fixOf(type: string | undefined, text: string | undefined, status: number): string | undefined {
  if (text !== undefined && SEVERAL_MATCHES.test(text)) return SEVERAL_MATCHES_FIX;
  if (type !== undefined && FIXES[type] !== undefined) return FIXES[type];
  if (status === 401) return FIXES.AUTHENTICATION_REQUIRED;
  if (status === 403) return FIXES.INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND;
  return undefined;
}

function bodyStart(body: Buffer): string | undefined {
  const text = body.subarray(0, 200).toString('utf8').trim();
  return text === '' ? undefined : text;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}
