/**
 * What a Graph API answer means (reference/destinations.md §2.2, §2.6). Errors come in one
 * envelope, usually with HTTP 400 (some auth errors 401/403, [U]):
 * `{"error":{message, type, code, error_subcode?, error_user_title?, error_user_msg?, is_transient?, fbtrace_id}}`.
 * The code, not the status, says what happened; `classifyGraphResult` turns an answer into one of
 * a few outcomes, and `toActionResult` maps those to the integration port's results.
 *
 * Adding and removing users (`POST`/`DELETE /{audience}/users`) is idempotent: members are keyed by
 * their hashes, so sending a batch twice leaves the audience as sending it once. A call whose fate
 * is unknown (a timeout after sending) may therefore simply be sent again.
 */
import { mayHaveBeenApplied } from '../outbound.js';
import type { HttpResult } from '../../lib/http.js';
import { parseRetryAfter } from '../../lib/http.js';
import type { ActionResult, CallRecord } from '../types.js';
import { readUsage, REGAIN_MARGIN_MS, type UsageOptions } from './usage.js';
import { isRecord, parseJsonBody } from '../../lib/json.js';

/** What Meta said about an error (all optional: a 502 from a proxy carries none of it). */
export interface GraphErrorInfo {
  readonly status?: number;
  readonly code?: number;
  readonly subcode?: number;
  readonly fbtraceId?: string;
  /** A sentence for the audit record and the dead job: Meta's message, with the fix where kitrelay knows it. */
  readonly message: string;
  readonly type?: string;
  readonly userTitle?: string;
  readonly userMessage?: string;
}

export type GraphOutcome =
  /** 2xx with a JSON body: `body` is it, parsed. */
  | { readonly kind: 'ok'; readonly status: number; readonly body: Readonly<Record<string, unknown>> }
  /** A rate limit: wait `retryAfterMs` (Meta's regain time and `REGAIN_MARGIN_MS`, a Retry-After, or the default backoff). */
  | ({ readonly kind: 'throttled'; readonly retryAfterMs: number } & GraphErrorInfo)
  /** Meta or the network failed before acting: send again (`retryAfterMs` when Meta said when). */
  | ({ readonly kind: 'transient'; readonly retryAfterMs?: number } & GraphErrorInfo)
  /** The token is expired, revoked or lacks `ads_management`: every call fails alike until it is replaced. */
  | ({ readonly kind: 'auth' } & GraphErrorInfo)
  /** The audience is flagged (operation_status 471): Meta blocks uploads to it. */
  | ({ readonly kind: 'flagged' } & GraphErrorInfo)
  /** A removal Meta refused because the audience would become too small. Nothing to retry. */
  | ({ readonly kind: 'too_small' } & GraphErrorInfo)
  /** The request itself is wrong (bad schema, too many rows, policy): permanent as sent. */
  | ({ readonly kind: 'invalid' } & GraphErrorInfo)
  /**
   * The call may have been applied (a timeout or reset after sending). `isIdempotentResend`: the
   * call was a read or a users add/remove, so sending it again is safe.
   */
  | ({ readonly kind: 'unknown'; readonly isIdempotentResend: boolean } & GraphErrorInfo);

export interface ClassifyOptions extends UsageOptions {
  /** The wait after a throttling error when neither Meta's usage headers nor a Retry-After say how long. @default 300_000 (5 minutes) */
  readonly throttleBackoffMs?: number;
  /**
   * Subcodes that mean "the audience would be too small". Meta documents none that we have read
   * ([U]), so the message is matched as well (`TOO_SMALL_MESSAGE`).
   * @default []
   */
  readonly tooSmallSubcodes?: readonly number[];
}

/** App (4), user (17), page (32), custom (613) and business use-case (80000–80014) limits; 341 "application limit reached". */
export function isThrottleCode(code: number): boolean {
  return code === 4 || code === 17 || code === 32 || code === 341 || code === 613 || (code >= 80000 && code <= 80014);
}

/** The flagged-audience subcode of code 100 (`error_user_title` "Audience Upload Blocked"). */
export const FLAGGED_SUBCODE = 1713230;

/** [U] No documented code for a removal that would shrink an audience too far: matched on Meta's wording. */
export const TOO_SMALL_MESSAGE = /\b(too small|minimum (audience )?size|below the minimum|fewer than \d[\d,]* (people|users|members))\b/i;

/** Codes 190 (invalid token) and 102 (session), by subcode: what happened, in words. */
const TOKEN_PROBLEMS: Readonly<Record<number, string>> = {
  458: 'the app was removed from the user who owns the access token',
  459: 'the user who owns the access token must log in to Facebook to clear a checkpoint',
  460: 'the access token was invalidated by a password change',
  463: 'the access token expired',
  464: 'the user who owns the access token is not confirmed',
  467: 'the access token is invalid (logged out or revoked)',
  492: 'the access token belongs to a user without a role on the Business Manager',
};

const TOKEN_FIX = 'create a new System User token with ads_management and set it as the destination\'s access token (META_ACCESS_TOKEN)';
const PERMISSION_FIX = 'give the System User ads_management and access to the ad account and audience, then create a new token';

/**
 * A Graph answer, classified. `now` (epoch ms, the injected clock) measures an HTTP-date
 * Retry-After; `result.request` says whether a lost call may be sent again.
 */
export function classifyGraphResult(result: HttpResult, now: number, options: ClassifyOptions = {}): GraphOutcome {
  if (result.kind === 'network_error') {
    const message = `Meta: ${result.code}: ${result.message}`;
    if (result.code === 'invalid_request') return { kind: 'invalid', message: `${message} (the request could not be built: check the destination's config)` };
    if (!mayHaveBeenApplied(result)) return { kind: 'transient', message };
    return { kind: 'unknown', isIdempotentResend: isIdempotent(result.request.method, result.request.url), message: `${message} (the call may have been applied)` };
  }
  const parsed = parseJsonBody(result.body);
  const envelope = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
  const { status } = result;
  if (status >= 200 && status < 300 && envelope === undefined) {
    if (isRecord(parsed)) return { kind: 'ok', status, body: parsed };
    // Applied or not, we cannot tell without the answer; the users calls may be sent again.
    const message = `Meta answered HTTP ${status} with a body that is not JSON${result.isTruncated ? ' (truncated)' : ''}`;
    return { kind: 'unknown', status, isIdempotentResend: isIdempotent(result.request.method, result.request.url), message };
  }
  const info = envelope ? errorInfo(envelope, status) : { status, message: `Meta answered HTTP ${status}${bodyStart(result.body)}` };
  const retryAfterMs = parseRetryAfter(result.headers['retry-after'], now);
  const { code, subcode } = info;

  if (code === 190 || code === 102) return { kind: 'auth', ...info, message: `${info.message} — ${TOKEN_PROBLEMS[subcode ?? -1] ?? 'the access token is not valid'}: ${TOKEN_FIX}` };
  if (code === 10 || code === 294 || (code !== undefined && code >= 200 && code <= 299)) return { kind: 'auth', ...info, message: `${info.message} — a permission is missing: ${PERMISSION_FIX}` };
  if ((code !== undefined && isThrottleCode(code)) || (code === undefined && status === 429)) {
    // Waited as the upload's pacing waits it (usage.ts), so the job is not held back again on its return.
    const regain = readUsage(result.headers, options).regainAccessMs;
    return { kind: 'throttled', ...info, retryAfterMs: regain !== undefined ? regain + REGAIN_MARGIN_MS : (retryAfterMs ?? options.throttleBackoffMs ?? 300_000) };
  }
  if (code === 100 && subcode === FLAGGED_SUBCODE) return { kind: 'flagged', ...info, message: `${info.message} — Meta has blocked uploads to this audience (flagged); see the audience in Ads Manager` };
  if (isTooSmall(info, options)) return { kind: 'too_small', ...info };
  const isTransient = envelope?.is_transient === true || code === 1 || code === 2 || status >= 500 || (code === undefined && (status === 408 || status === 425));
  if (isTransient) return { kind: 'transient', ...info, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  if (code === undefined && (status === 401 || status === 403)) return { kind: 'auth', ...info, message: `${info.message}: ${TOKEN_FIX}` };
  // 100 (invalid parameter, schema mismatch), 105, 368, 2650 and codes we do not know: sending the same request again changes nothing.
  return { kind: 'invalid', ...info };
}

/**
 * A Graph outcome as the port's action result. Throttled and transient outcomes are retried;
 * auth fails and opens the destination's breaker; flagged, too small and invalid fail; unknown
 * is retried when the call may be sent again (users add/remove), else stays unknown.
 * Meta's fbtrace_id joins the call's correlation ids, for Meta's support.
 */
export function toActionResult(outcome: GraphOutcome, call?: CallRecord): ActionResult {
  if (outcome.kind === 'ok') return { outcome: 'succeeded', ...(call ? { call } : {}) };
  const traced = call && outcome.fbtraceId ? { ...call, correlation: { ...call.correlation, fbtraceId: outcome.fbtraceId } } : call;
  const record = traced ? { call: traced } : {};
  const error = errorText(outcome);
  switch (outcome.kind) {
    case 'throttled': return { outcome: 'retry', error, retryAfterMs: outcome.retryAfterMs, ...record };
    case 'transient': return { outcome: 'retry', error, ...(outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }), ...record };
    case 'auth': return { outcome: 'failed', error, opensBreaker: true, ...record };
    case 'flagged': case 'too_small': case 'invalid': return { outcome: 'failed', error, ...record };
    case 'unknown': return outcome.isIdempotentResend ? { outcome: 'retry', error: `${error}; sent again, as the call is idempotent`, ...record } : { outcome: 'unknown', error, ...record };
  }
}

/** The error sentence for the job: the message, Meta's code and subcode, and the fbtrace_id Meta's support asks for. */
export function errorText(info: GraphErrorInfo): string {
  const ids = [info.code === undefined ? '' : `code ${info.code}${info.subcode === undefined ? '' : `/${info.subcode}`}`, info.fbtraceId ? `fbtrace_id ${info.fbtraceId}` : ''].filter(Boolean);
  return ids.length > 0 ? `${info.message} [${ids.join(', ')}]` : info.message;
}

function errorInfo(envelope: Record<string, unknown>, status: number): GraphErrorInfo {
  const code = integer(envelope.code);
  const subcode = integer(envelope.error_subcode);
  const userTitle = nonEmpty(envelope.error_user_title);
  const userMessage = nonEmpty(envelope.error_user_msg);
  const base = nonEmpty(envelope.message) ?? `Graph error${code === undefined ? '' : ` ${code}`}`;
  const user = [userTitle, userMessage].filter((s): s is string => s !== undefined && !base.includes(s));
  return {
    status,
    code,
    subcode,
    fbtraceId: nonEmpty(envelope.fbtrace_id),
    message: `Meta: ${base}${user.length > 0 ? ` (${user.join(': ')})` : ''}`,
    type: nonEmpty(envelope.type),
    userTitle,
    userMessage,
  };
}

function isTooSmall(info: GraphErrorInfo, options: ClassifyOptions): boolean {
  if (info.subcode !== undefined && options.tooSmallSubcodes?.includes(info.subcode)) return true;
  return [info.message, info.userTitle, info.userMessage].some((text) => text !== undefined && TOO_SMALL_MESSAGE.test(text));
}

/** Reads, and adds or removals of users (keyed by their hashes), may be sent twice with one effect. */
function isIdempotent(method: string, url: string): boolean {
  if (method === 'GET') return true;
  if (method !== 'POST' && method !== 'DELETE') return false;
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return false;
  }
  return /\/users\/?$/.test(path);
}

function bodyStart(body: Buffer): string {
  const text = body.subarray(0, 200).toString('utf8').trim();
  return text === '' ? '' : `: ${text}`;
}

function integer(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) ? n : undefined;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

