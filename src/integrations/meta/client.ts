/**
 * Meta's Graph API for customer-file Custom Audiences (reference/destinations.md §2): create and
 * read an audience, add / remove / replace users in sessions, read sessions. Every call answers a
 * value: the Graph outcome (errors.ts), Meta's usage (usage.ts, for pacing) and the raw result for
 * the audit record. The token travels as `Authorization: Bearer` (never in a URL, so it is never
 * in a log or an audit record).
 *
 * Hand-written rather than through `facebook-nodejs-business-sdk`: the SDK keeps a global API
 * singleton, retries on its own and sends removals in the query string; kitrelay needs each call
 * on its own shared client, with its own timeout, abort and audit record. A test runs the SDK
 * against the simulator to keep the two honest.
 */
import type { HttpResult } from '../../lib/http.js';
import type { OutboundRequest } from '../types.js';
import { classifyGraphResult, type ClassifyOptions, type GraphOutcome } from './errors.js';
import type { MatchKey } from './normalize.js';
import { readUsage, type Usage } from './usage.js';

export type GraphSend = (request: OutboundRequest) => Promise<HttpResult>;

export interface GraphTarget {
  readonly graphUrl: string;
  readonly apiVersion: string;
  readonly accessToken: string;
  readonly userAgent: string;
  readonly classify?: ClassifyOptions;
}

export interface GraphCall<B = Readonly<Record<string, unknown>>> {
  readonly outcome: GraphOutcome;
  /** The parsed body when the outcome is ok. */
  readonly body?: B;
  readonly usage: Usage;
  readonly result: HttpResult;
}

/** `session` of a users call (§2.2): one id per run, batches 1…n, the last one flagged. */
export interface UploadSession {
  readonly sessionId: string;
  readonly batchSeq: number;
  readonly isLast: boolean;
  readonly estimatedTotal?: number;
}

export type UploadOp = 'add' | 'remove' | 'replace';

export interface UploadInput {
  readonly audienceId: string;
  readonly op: UploadOp;
  readonly schema: readonly MatchKey[];
  readonly rows: readonly (readonly string[])[];
  readonly session: UploadSession;
}

/** Meta's answer to a users call. */
export interface UploadAnswer {
  readonly audience_id?: string;
  readonly session_id?: string;
  readonly num_received?: number;
  readonly num_invalid_entries?: number;
  readonly invalid_entry_samples?: Readonly<Record<string, string>>;
}

export interface AudienceFields {
  readonly id: string;
  readonly name?: string;
  readonly approximate_count_lower_bound?: number;
  readonly approximate_count_upper_bound?: number;
  readonly operation_status?: { readonly code?: number; readonly description?: string };
  readonly delivery_status?: { readonly code?: number; readonly description?: string };
  readonly time_updated?: number;
}

export interface SessionInfo {
  readonly session_id: string;
  readonly start_time?: number;
  readonly end_time?: number;
  readonly num_received?: number;
  readonly num_matched?: number;
  readonly num_invalid_entries?: number;
  readonly progress?: number;
  readonly stage?: string;
}

export const AUDIENCE_FIELDS = ['id', 'name', 'approximate_count_lower_bound', 'approximate_count_upper_bound', 'operation_status', 'delivery_status', 'time_updated'] as const;

function url(target: GraphTarget, path: string, query: Readonly<Record<string, string>> = {}): string {
  const base = `${target.graphUrl.replace(/\/+$/, '')}/${target.apiVersion}/${path.replace(/^\/+/, '')}`;
  const search = new URLSearchParams(query).toString();
  return search ? `${base}?${search}` : base;
}

function headers(target: GraphTarget, hasBody: boolean): Record<string, string> {
  return { authorization: `Bearer ${target.accessToken}`, 'user-agent': target.userAgent, accept: 'application/json', ...(hasBody ? { 'content-type': 'application/json' } : {}) };
}

async function call<B>(send: GraphSend, target: GraphTarget, request: OutboundRequest, now: () => number): Promise<GraphCall<B>> {
  const result = await send({ ...request, secretHeaderNames: ['authorization'] });
  const outcome = classifyGraphResult(result, now(), target.classify);
  const usage = readUsage(result.kind === 'response' ? result.headers : {}, target.classify);
  return { outcome, usage, result, ...(outcome.kind === 'ok' ? { body: outcome.body as B } : {}) };
}

export interface GraphClientOptions {
  readonly now?: () => number;
}

/** The calls kitrelay makes, bound to one destination's Graph URL, version and token. */
export function graphClient(send: GraphSend, target: GraphTarget, options: GraphClientOptions = {}) {
  const now = options.now ?? Date.now;
  return {
    /** `POST /act_<id>/customaudiences` → `{ id }`. */
    createAudience(adAccountId: string, audience: { readonly name: string; readonly description?: string }): Promise<GraphCall<{ readonly id: string }>> {
      const body = JSON.stringify({ name: audience.name, subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY', ...(audience.description ? { description: audience.description } : {}) });
      return call(send, target, { method: 'POST', url: url(target, `${adAccountId}/customaudiences`), headers: headers(target, true), body }, now);
    },

    /** `GET /{audience}?fields=…`: the size estimate and status. */
    readAudience(audienceId: string): Promise<GraphCall<AudienceFields>> {
      return call(send, target, { method: 'GET', url: url(target, audienceId, { fields: AUDIENCE_FIELDS.join(',') }), headers: headers(target, false) }, now);
    },

    /**
     * One batch: `POST /{audience}/users` (add), `DELETE /{audience}/users` (remove) or
     * `POST /{audience}/usersreplace` (replace), with the payload and session as a JSON body.
     */
    upload(input: UploadInput): Promise<GraphCall<UploadAnswer>> {
      const session = {
        session_id: Number(input.session.sessionId),
        batch_seq: input.session.batchSeq,
        last_batch_flag: input.session.isLast,
        ...(input.session.estimatedTotal !== undefined ? { estimated_num_total: input.session.estimatedTotal } : {}),
      };
      const schema = input.schema.length === 1 ? singleKeySchema(input.schema[0]!) : input.schema;
      // A single-key name takes a flat array of values; an array schema takes rows.
      const data = typeof schema === 'string' ? input.rows.map((row) => row[0] ?? '') : input.rows;
      const body = JSON.stringify({ payload: { schema, data }, session });
      const path = input.op === 'replace' ? `${input.audienceId}/usersreplace` : `${input.audienceId}/users`;
      return call(send, target, { method: input.op === 'remove' ? 'DELETE' : 'POST', url: url(target, path), headers: headers(target, true), body }, now);
    },

    /** `GET /{audience}/sessions`: the newest sessions, with `num_matched` (the match rate). */
    listSessions(audienceId: string, limit = 25): Promise<GraphCall<{ readonly data?: readonly SessionInfo[] }>> {
      return call(send, target, { method: 'GET', url: url(target, `${audienceId}/sessions`, { limit: String(limit) }), headers: headers(target, false) }, now);
    },
  };
}

export type GraphClient = ReturnType<typeof graphClient>;

/**
 * A one-key schema is sent as Meta's single-key name (`EMAIL_SHA256`, a flat `data` array) when
 * Meta has one; the others stay a one-element array (§2.2).
 */
function singleKeySchema(key: MatchKey): string | readonly MatchKey[] {
  switch (key) {
    case 'EMAIL':
      return 'EMAIL_SHA256';
    case 'PHONE':
      return 'PHONE_SHA256';
    case 'MADID':
      return 'MOBILE_ADVERTISER_ID';
    default:
      return [key];
  }
}
