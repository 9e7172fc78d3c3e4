/**
 * Slack's two ways in (reference/destinations.md §1.1, §1.3), through the attempt's `ActionHttp`,
 * and what their answers mean. The Web API answers HTTP 200 with `{ok:false, error}` for logical
 * errors and 429 with an integer `Retry-After` when limited; incoming webhooks answer with real
 * statuses and plain-text errors.
 */
import { parseRetryAfter, type HttpResult } from '../../lib/http.js';
import { callRecordOf, networkOutcome } from '../outbound.js';
import type { ActionHttp, ActionResult } from '../types.js';
import type { SlackMessage } from './blocks.js';

/** Errors no retry can fix: the job is dead with Slack's code (§1.1). */
const PERMANENT_ERRORS: ReadonlySet<string> = new Set([
  'channel_not_found', 'not_in_channel', 'is_archived', 'msg_too_long', 'no_text', 'too_many_attachments',
  'restricted_action', 'restricted_action_read_only_channel', 'restricted_action_thread_only_channel', 'as_user_not_supported',
  'ekm_access_denied', 'no_permission', 'invalid_arguments', 'invalid_arg_name', 'invalid_charset', 'invalid_form_data',
  'invalid_post_type', 'missing_post_type', 'invalid_blocks', 'invalid_blocks_format', 'msg_blocks_too_long', 'duplicate_channel_not_found',
]);

/** The credential is wrong for every job alike: dead, and the destination's breaker opens. */
const AUTH_ERRORS: ReadonlySet<string> = new Set(['not_authed', 'invalid_auth', 'account_inactive', 'token_revoked', 'token_expired', 'missing_scope', 'not_allowed_token_type']);

/** Slack's side failed or was busy: try again. */
const RETRY_ERRORS: ReadonlySet<string> = new Set(['ratelimited', 'rate_limited', 'internal_error', 'fatal_error', 'request_timeout', 'service_unavailable', 'team_added_to_org']);

export interface WebApiTarget {
  readonly apiUrl: string;
  readonly token: string;
  readonly userAgent: string;
}

export function postMessage(http: ActionHttp, target: WebApiTarget, channel: string, message: SlackMessage, metadata: Record<string, string>): Promise<HttpResult> {
  return http.send({
    method: 'POST',
    url: `${target.apiUrl.replace(/\/+$/, '')}/chat.postMessage`,
    headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json; charset=utf-8', 'user-agent': target.userAgent },
    // The job is named in the message's metadata, so a later lookup can recognise it.
    body: JSON.stringify({ channel, text: message.text, blocks: message.blocks, unfurl_links: false, metadata: { event_type: 'kitrelay_job', event_payload: metadata } }),
    secretHeaderNames: ['authorization'],
  });
}

export function postToWebhook(http: ActionHttp, url: string, message: SlackMessage, userAgent: string): Promise<HttpResult> {
  return http.send({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', 'user-agent': userAgent },
    body: JSON.stringify({ text: message.text, blocks: message.blocks }),
    isSecretUrl: true,
  });
}

/** A chat.postMessage answer as an action result; `facts` carry the message's channel and ts. */
export function fromWebApi(result: HttpResult, now: number, correlation: Record<string, string>): ActionResult {
  const call = callRecordOf(result, correlation);
  if (result.kind === 'network_error') return networkOutcome(result, call, 'the message may have been posted');
  if (result.status === 429) return { outcome: 'retry', error: 'Slack answered 429 ratelimited', call, ...retryAfter(result, now) };
  if (result.status !== 200) {
    return result.status >= 500 ? { outcome: 'unknown', error: `Slack answered HTTP ${result.status} (the message may have been posted)`, call } : { outcome: 'failed', error: `Slack answered HTTP ${result.status}`, call };
  }
  const answer = parseJson(result.body);
  if (answer?.ok === true) {
    const ts = typeof answer.ts === 'string' ? answer.ts : undefined;
    const channel = typeof answer.channel === 'string' ? answer.channel : undefined;
    return { outcome: 'succeeded', call: { ...call, correlation: { ...call.correlation, ...(ts ? { ts } : {}), ...(channel ? { channel } : {}) } }, facts: { ...(ts ? { ts } : {}), ...(channel ? { channel } : {}) } };
  }
  const code = typeof answer?.error === 'string' ? answer.error : 'unreadable_answer';
  const detail = slackDetail(answer);
  const error = `Slack: ${code}${detail}`;
  if (AUTH_ERRORS.has(code)) return { outcome: 'failed', error: `${error} (check the bot token and its scopes)`, call, opensBreaker: true };
  if (RETRY_ERRORS.has(code)) return { outcome: 'retry', error, call, ...retryAfter(result, now) };
  if (PERMANENT_ERRORS.has(code)) return { outcome: 'failed', error, call };
  // An error Slack documents nowhere we read: sending the same request again will not change it.
  return { outcome: 'failed', error: `${error} (an error code kitrelay does not know: treated as permanent)`, call };
}

/** An incoming webhook's answer: 200 `ok`, or a status with a plain-text code (§1.3). */
export function fromWebhook(result: HttpResult, now: number, correlation: Record<string, string>): ActionResult {
  const call = callRecordOf(result, correlation);
  if (result.kind === 'network_error') return networkOutcome(result, call, 'the message may have been posted');
  const text = result.body.subarray(0, 200).toString('utf8').trim();
  if (result.status >= 200 && result.status < 300) return { outcome: 'succeeded', call };
  const error = `Slack webhook answered HTTP ${result.status}${text ? ` ${text}` : ''}`;
  if (result.status === 429) return { outcome: 'retry', error, call, ...retryAfter(result, now) };
  if (result.status >= 500) return { outcome: 'unknown', error: `${error} (the message may have been posted)`, call };
  // A revoked or wrong webhook fails every job alike.
  if (result.status === 403 || text === 'no_service' || text === 'invalid_token') return { outcome: 'failed', error: `${error} (check the webhook URL)`, call, opensBreaker: true };
  return { outcome: 'failed', error, call };
}

/** The destination's Retry-After (seconds or an HTTP date), when it sent one. */
function retryAfter(result: Extract<HttpResult, { kind: 'response' }>, now: number): { retryAfterMs?: number } {
  const ms = parseRetryAfter(result.headers['retry-after'], now);
  return ms === undefined ? {} : { retryAfterMs: ms };
}

/** `needed`/`provided` scopes and `response_metadata.messages`, when Slack gives them. */
function slackDetail(answer: Record<string, unknown> | undefined): string {
  if (!answer) return '';
  const parts: string[] = [];
  if (typeof answer.needed === 'string') parts.push(`needed ${answer.needed}`);
  if (typeof answer.provided === 'string') parts.push(`provided ${answer.provided}`);
  const metadata = answer.response_metadata;
  if (typeof metadata === 'object' && metadata !== null) {
    const messages = (metadata as { messages?: unknown }).messages;
    if (Array.isArray(messages)) parts.push(...messages.filter((m): m is string => typeof m === 'string').slice(0, 3));
  }
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
