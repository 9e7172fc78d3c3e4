/**
 * Airtable's Web API for records (reference/destinations.md §3.2, §3.3): list a table page by
 * page, upsert on the Kit id field, update by record id, delete by record id, at most 10 records a
 * write; and the base's tables and Webhooks API (§3.6: create, list, refresh, delete, payloads). Every call first spends from the call budget (budget.ts: the base's and the token's turn,
 * the month's allowance) and answers a value: the outcome (errors.ts), the parsed body, and the raw
 * result for the audit record. The token travels as `Authorization: Bearer` (never in a URL).
 *
 * Hand-written rather than through the `airtable` package: it keeps a global config, retries 429s
 * on its own for minutes and throws from inside its own callbacks (§8); kitrelay needs each call on
 * its own shared client, with its own timeout, abort, budget and audit record.
 */
import type { HttpResult } from '../../lib/http.js';
import { isRecord } from '../../lib/json.js';
import type { OutboundRequest } from '../types.js';
import type { CallBudget } from './budget.js';
import { classifyAirtableResult, RATE_LIMIT_PENALTY_MS, type AirtableOutcome } from './errors.js';
import type { RecordFields } from './fields.js';

/** Most records one write takes (§3.3). */
export const MAX_RECORDS_PER_WRITE = 10;
/** Most records one list page holds (§3.2). */
export const MAX_PAGE_SIZE = 100;

export type AirtableSend = (request: OutboundRequest) => Promise<HttpResult>;

export interface AirtableTarget {
  readonly apiUrl: string;
  readonly token: string;
  readonly userAgent: string;
}

/** A record as Airtable answers it: empty cells are left out of `fields`. */
export interface AirtableRecord {
  readonly id: string;
  readonly createdTime?: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface AirtableCall<B> {
  readonly outcome: AirtableOutcome;
  /** The parsed body when the outcome is ok. */
  readonly body?: B;
  /** Undefined when nothing was sent (the budget said no). */
  readonly result?: HttpResult;
}

export interface ListPage {
  readonly records: readonly AirtableRecord[];
  /** Where the next page starts; absent on the last. */
  readonly offset?: string;
}

export interface UpsertAnswer {
  readonly records: readonly AirtableRecord[];
  readonly createdRecords: readonly string[];
  readonly updatedRecords: readonly string[];
}

export interface ListOptions {
  /** @default 100 */
  readonly pageSize?: number;
  readonly offset?: string;
  readonly filterByFormula?: string;
  /** Only these fields (the rest are left out of each record). */
  readonly fields?: readonly string[];
}

/** A webhook as the Webhooks API lists it (§3.6); times in epoch ms. */
export interface WebhookInfo {
  readonly id: string;
  readonly notificationUrl: string | null;
  readonly expirationTime: number | null;
  /** False once it expired: it collects no more payloads. */
  readonly isHookEnabled: boolean;
  readonly areNotificationsEnabled: boolean;
  readonly cursorForNextPayload?: number;
  /** The table (or view) its specification watches. */
  readonly recordChangeScope?: string;
  readonly lastNotification?: { readonly success: boolean; readonly at?: number; readonly error?: string };
}

/** One page of a webhook's payloads (§3.6): each as Airtable sent it, the next cursor, whether more wait. */
export interface PayloadPage {
  readonly payloads: readonly Readonly<Record<string, unknown>>[];
  readonly cursor: number;
  readonly mightHaveMore: boolean;
}

/** Most payloads one call answers (§3.6). */
export const MAX_PAYLOADS_PER_CALL = 50;

/** A record to write: with `id` it updates that record; without, the upsert merges on the merge fields. */
export interface RecordWrite {
  readonly id?: string;
  readonly fields: RecordFields;
}

export interface ClientOptions {
  /** Spent from before each call; none: calls go at once (tests of the wire format). */
  readonly budget?: CallBudget;
  /** Epoch ms now (for Retry-After dates and the 429 penalty). */
  readonly now: () => number;
  /** How long a call may wait for its turn before it answers `paced`. @default Infinity */
  readonly maxWaitMs?: number;
  readonly signal?: AbortSignal;
  /** How long a base is left alone after a 429. @default RATE_LIMIT_PENALTY_MS (30 s, Airtable's) */
  readonly penaltyMs?: number;
}

/** The calls kitrelay makes, bound to one token and API URL. */
export function airtableClient(send: AirtableSend, target: AirtableTarget, options: ClientOptions) {
  const headers = (hasBody: boolean): Record<string, string> => ({
    authorization: `Bearer ${target.token}`,
    'user-agent': target.userAgent,
    accept: 'application/json',
    ...(hasBody ? { 'content-type': 'application/json' } : {}),
  });

  async function call<B>(baseId: string, request: OutboundRequest, read: (body: Readonly<Record<string, unknown>>) => B | undefined): Promise<AirtableCall<B>> {
    if (options.budget) {
      const take = await options.budget.take(baseId, { maxWaitMs: options.maxWaitMs ?? Number.POSITIVE_INFINITY, ...(options.signal ? { signal: options.signal } : {}) });
      if (!take.ok) {
        if (take.reason === 'rate') return { outcome: { kind: 'paced', retryAfterMs: take.retryAfterMs, message: take.message } };
        if (take.reason === 'budget') return { outcome: { kind: 'over_budget', message: take.message } };
        return { outcome: { kind: 'paced', retryAfterMs: 0, message: take.message } };
      }
    }
    const result = await send({ ...request, secretHeaderNames: ['authorization'] });
    const penaltyMs = options.penaltyMs ?? RATE_LIMIT_PENALTY_MS;
    const outcome = classifyAirtableResult(result, options.now(), penaltyMs);
    if (outcome.kind === 'throttled') await options.budget?.penalise(baseId, options.now() + Math.max(outcome.retryAfterMs, penaltyMs));
    if (outcome.kind !== 'ok') return { outcome, result };
    const body = read(outcome.body);
    // 2xx without what every answer of this call carries: applied or not, we cannot tell.
    if (body === undefined) return { outcome: { kind: 'unknown', status: outcome.status, message: `Airtable answered HTTP ${outcome.status} without the records it should carry` }, result };
    return { outcome, body, result };
  }

  const tableUrl = (baseId: string, table: string, query?: URLSearchParams): string => {
    const url = `${target.apiUrl.replace(/\/+$/, '')}/v0/${encodeURIComponent(baseId)}/${encodeURIComponent(table)}`;
    const search = query?.toString() ?? '';
    return search === '' ? url : `${url}?${search}`;
  };

  const v0 = (path: string, query?: URLSearchParams): string => {
    const search = query?.toString() ?? '';
    return `${target.apiUrl.replace(/\/+$/, '')}/v0/${path}${search === '' ? '' : `?${search}`}`;
  };
  const hooksPath = (baseId: string, webhookId?: string) => `bases/${encodeURIComponent(baseId)}/webhooks${webhookId === undefined ? '' : `/${encodeURIComponent(webhookId)}`}`;

  return {
    /** `GET /v0/meta/bases/{base}/tables`: the base's tables, by id and name (needs `schema.bases:read`). */
    listTables(baseId: string): Promise<AirtableCall<{ readonly tables: readonly { readonly id: string; readonly name: string }[] }>> {
      return call(baseId, { method: 'GET', url: v0(`meta/bases/${encodeURIComponent(baseId)}/tables`), headers: headers(false) }, (body) => {
        if (!Array.isArray(body.tables)) return undefined;
        return { tables: body.tables.filter(isRecord).map((t) => ({ id: String(t.id), name: String(t.name) })) };
      });
    },

    /**
     * `POST /v0/bases/{base}/webhooks`: a webhook on one table's records, pinging `notificationUrl`.
     * The answer holds the MAC secret, given this once only (§3.6): keep it, never log it.
     */
    createWebhook(baseId: string, hook: { readonly notificationUrl: string; readonly tableId: string }): Promise<AirtableCall<{ readonly id: string; readonly macSecretBase64: string; readonly expirationTime: number | null }>> {
      const body = JSON.stringify({ notificationUrl: hook.notificationUrl, specification: { options: { filters: { dataTypes: ['tableData'], recordChangeScope: hook.tableId } } } });
      return call(baseId, { method: 'POST', url: v0(hooksPath(baseId)), headers: headers(true), body }, (answer) => {
        if (typeof answer.id !== 'string' || typeof answer.macSecretBase64 !== 'string') return undefined;
        return { id: answer.id, macSecretBase64: answer.macSecretBase64, expirationTime: timeOf(answer.expirationTime) };
      });
    },

    /** `GET /v0/bases/{base}/webhooks`: every webhook of the base, kitrelay's or not (no secrets). */
    listWebhooks(baseId: string): Promise<AirtableCall<{ readonly webhooks: readonly WebhookInfo[] }>> {
      return call(baseId, { method: 'GET', url: v0(hooksPath(baseId)), headers: headers(false) }, (answer) => (Array.isArray(answer.webhooks) ? { webhooks: answer.webhooks.filter(isRecord).map(webhookOf) } : undefined));
    },

    /** `POST …/webhooks/{id}/refresh`: 7 more days from now, while it has not expired (§3.6). */
    refreshWebhook(baseId: string, webhookId: string): Promise<AirtableCall<{ readonly expirationTime: number | null }>> {
      return call(baseId, { method: 'POST', url: v0(`${hooksPath(baseId, webhookId)}/refresh`), headers: headers(false) }, (answer) => ({ expirationTime: timeOf(answer.expirationTime) }));
    },

    /** `DELETE …/webhooks/{id}`. */
    deleteWebhook(baseId: string, webhookId: string): Promise<AirtableCall<Readonly<Record<string, unknown>>>> {
      return call(baseId, { method: 'DELETE', url: v0(hooksPath(baseId, webhookId)), headers: headers(false) }, (answer) => answer);
    },

    /** `GET …/webhooks/{id}/payloads?cursor=&limit=`: up to 50 payloads from `cursor` (the first is 1). */
    listPayloads(baseId: string, webhookId: string, page: { readonly cursor: number; readonly limit?: number }): Promise<AirtableCall<PayloadPage>> {
      const query = new URLSearchParams({ cursor: String(page.cursor), limit: String(Math.min(page.limit ?? MAX_PAYLOADS_PER_CALL, MAX_PAYLOADS_PER_CALL)) });
      return call(baseId, { method: 'GET', url: v0(`${hooksPath(baseId, webhookId)}/payloads`, query), headers: headers(false) }, (answer) => {
        if (!Array.isArray(answer.payloads) || typeof answer.cursor !== 'number') return undefined;
        return { payloads: answer.payloads.filter(isRecord), cursor: answer.cursor, mightHaveMore: answer.mightHaveMore === true };
      });
    },

    /** `GET /v0/{base}/{table}`: one page (≤ 100 records), filtered and with only the fields asked for. */
    list(baseId: string, table: string, list: ListOptions = {}): Promise<AirtableCall<ListPage>> {
      const query = new URLSearchParams({ pageSize: String(Math.min(list.pageSize ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE)) });
      if (list.offset !== undefined) query.set('offset', list.offset);
      if (list.filterByFormula !== undefined) query.set('filterByFormula', list.filterByFormula);
      for (const field of list.fields ?? []) query.append('fields[]', field);
      return call(baseId, { method: 'GET', url: tableUrl(baseId, table, query), headers: headers(false) }, (body) => {
        const records = recordsOf(body);
        if (!records) return undefined;
        return typeof body.offset === 'string' && body.offset !== '' ? { records, offset: body.offset } : { records };
      });
    },

    /**
     * `PATCH /v0/{base}/{table}` with `performUpsert`: records without an id are merged on
     * `mergeOn` (created when no row matches, updated when one does; several matches fail the
     * request), records with an id update that record. At most 10.
     */
    upsert(baseId: string, table: string, write: { readonly records: readonly RecordWrite[]; readonly mergeOn: readonly string[]; readonly typecast: boolean }): Promise<AirtableCall<UpsertAnswer>> {
      const body = JSON.stringify({ performUpsert: { fieldsToMergeOn: write.mergeOn }, records: write.records.map(recordBody), typecast: write.typecast });
      return call(baseId, { method: 'PATCH', url: tableUrl(baseId, table), headers: headers(true), body }, (answer) => {
        const records = recordsOf(answer);
        if (!records) return undefined;
        return { records, createdRecords: idsOf(answer.createdRecords), updatedRecords: idsOf(answer.updatedRecords) };
      });
    },

    /** `PATCH /v0/{base}/{table}`: only the given fields of these records change. At most 10. */
    update(baseId: string, table: string, write: { readonly records: readonly (RecordWrite & { readonly id: string })[]; readonly typecast: boolean }): Promise<AirtableCall<{ readonly records: readonly AirtableRecord[] }>> {
      const body = JSON.stringify({ records: write.records.map(recordBody), typecast: write.typecast });
      return call(baseId, { method: 'PATCH', url: tableUrl(baseId, table), headers: headers(true), body }, (answer) => {
        const records = recordsOf(answer);
        return records ? { records } : undefined;
      });
    },

    /** `DELETE /v0/{base}/{table}?records[]=…`: at most 10 records by id. */
    remove(baseId: string, table: string, ids: readonly string[]): Promise<AirtableCall<{ readonly records: readonly { readonly id: string; readonly deleted: boolean }[] }>> {
      const query = new URLSearchParams();
      for (const id of ids) query.append('records[]', id);
      return call(baseId, { method: 'DELETE', url: tableUrl(baseId, table, query), headers: headers(false) }, (answer) => {
        if (!Array.isArray(answer.records)) return undefined;
        return { records: answer.records.filter(isRecord).map((r) => ({ id: String(r.id), deleted: r.deleted === true })) };
      });
    },
  };
}

export type AirtableClient = ReturnType<typeof airtableClient>;

function recordBody(record: RecordWrite): Record<string, unknown> {
  return record.id === undefined ? { fields: record.fields } : { id: record.id, fields: record.fields };
}

function recordsOf(body: Readonly<Record<string, unknown>>): AirtableRecord[] | undefined {
  if (!Array.isArray(body.records)) return undefined;
  return body.records.filter(isRecord).map((record) => ({
    id: String(record.id),
    ...(typeof record.createdTime === 'string' ? { createdTime: record.createdTime } : {}),
    fields: isRecord(record.fields) ? record.fields : {},
  }));
}

/** An ISO time as epoch ms; null when absent or unreadable. */
function timeOf(value: unknown): number | null {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(ms) ? ms : null;
}

function webhookOf(hook: Readonly<Record<string, unknown>>): WebhookInfo {
  const filters = isRecord(hook.specification) && isRecord(hook.specification.options) && isRecord(hook.specification.options.filters) ? hook.specification.options.filters : {};
  const last = isRecord(hook.lastNotificationResult) ? hook.lastNotificationResult : undefined;
  const at = last ? timeOf(last.completionTimestamp) : null;
  const error = last && isRecord(last.error) && typeof last.error.message === 'string' ? last.error.message : undefined;
  return {
    id: String(hook.id),
    notificationUrl: typeof hook.notificationUrl === 'string' ? hook.notificationUrl : null,
    expirationTime: timeOf(hook.expirationTime),
    isHookEnabled: hook.isHookEnabled !== false,
    areNotificationsEnabled: hook.areNotificationsEnabled !== false,
    ...(typeof hook.cursorForNextPayload === 'number' ? { cursorForNextPayload: hook.cursorForNextPayload } : {}),
    ...(typeof filters.recordChangeScope === 'string' ? { recordChangeScope: filters.recordChangeScope } : {}),
    ...(last ? { lastNotification: { success: last.success === true, ...(at !== null ? { at } : {}), ...(error !== undefined ? { error } : {}) } } : {}),
  };
}

function idsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((id): id is string => typeof id === 'string') : [];
}

/**
 * A formula value as Airtable's formula language reads it: a number as is, text in double quotes
 * with `"` and `\` escaped.
 */
export function formulaValue(value: string | number): string {
  return typeof value === 'number' ? String(value) : `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `{Field Name}`: a field reference (`}` cannot be escaped in Airtable formulas, so names holding it are refused by the caller). */
export function fieldRef(name: string): string {
  return `{${name}}`;
}
