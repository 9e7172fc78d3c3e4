/**
 * Airtable's Webhooks API as the simulator keeps it (reference/destinations.md §3.6): webhooks per
 * base, the payloads each one collects, their cursors, expiry and refresh. Pings are sent by
 * simulator-pings.ts; the HTTP routes are in simulator-webhook-routes.ts.
 *
 * - Create answers `id`, `macSecretBase64` (only then, never again [V]) and `expirationTime`, 7
 *   days on [C]. At most 10 webhooks per base [V].
 * - Every committed transaction (simulator-state.ts) that the webhook's specification lets through
 *   becomes one payload: `timestamp`, `baseTransactionNumber`, `actionMetadata` (`source`
 *   `publicApi` for API writes, `client` for a person's edits, with the user), `payloadFormat`
 *   `v0`, and `changedTablesById` with `createdRecordsById`, `changedRecordsById` (`current`; with
 *   `includes`, `previous` and `unchanged`) and `destroyedRecordIds`, cell values by field id in
 *   the V2 format [V: webhooks-payload, webhooks-table-changed].
 * - Payloads are numbered from 1 per webhook (the cursor); `GET …/payloads?cursor=n` answers up to
 *   `limit` (≤ 50) from n, the next `cursor` and `mightHaveMore` [V]. They are kept 7 days [V].
 * - A webhook expires at `expirationTime`: it collects nothing more and pings no more; its past
 *   payloads stay readable 7 more days, then it is gone [V]. Refreshing, and listing payloads
 *   while active, move the expiry to 7 days from then [V].
 */
import { errors, fail, ok, type Result } from './simulator-errors.js';
import { v2Value, type CellValue } from './simulator-fields.js';
import type { AirtableState, SimBase, SimTable, Transaction } from './simulator-state.js';

const DAY = 86_400_000;
const DATA_TYPES = ['tableData', 'tableFields', 'tableMetadata'];
const SOURCES = ['client', 'publicApi', 'formSubmission', 'formPageSubmission', 'automation', 'system', 'sync', 'anonymousUser', 'unknown'];
const CHANGE_TYPES = ['add', 'remove', 'update'];

export interface NotificationResult {
  readonly success: boolean;
  readonly error?: { readonly message: string };
  readonly completionTimestamp: string;
  readonly durationMs: number;
  readonly retryNumber: number;
  readonly willBeRetried?: boolean;
}

export interface SimWebhook {
  readonly id: string;
  readonly baseId: string;
  readonly notificationUrl: string | null;
  /** As given at creation. */
  readonly specification: unknown;
  readonly filters: {
    readonly dataTypes: readonly string[];
    /** The table the webhook watches (a view's table for a view id); undefined: every table. */
    readonly tableId: string | undefined;
    readonly fromSources: readonly string[] | undefined;
    readonly changeTypes: readonly string[] | undefined;
    readonly watchDataInFieldIds: readonly string[] | undefined;
  };
  readonly includes: { readonly previous: boolean; readonly cellValuesInFieldIds: 'all' | readonly string[] | undefined };
  /** Only ever answered by create. */
  readonly macSecretBase64: string;
  readonly createdTime: number;
  expirationTime: number;
  areNotificationsEnabled: boolean;
  /** Oldest first; `cursor` is each one's number. */
  readonly payloads: Array<{ readonly cursor: number; readonly at: number; readonly body: Record<string, unknown> }>;
  nextCursor: number;
  lastNotificationResult: NotificationResult | null;
  lastSuccessfulNotificationTime: number | null;
}

export interface WebhookOptions {
  /** From creation or the last refresh to expiry [C]. @default 7 days */
  readonly lifetimeMs?: number;
  /** [V] @default 10 */
  readonly maxPerBase?: number;
}

type Json = Record<string, unknown>;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const strings = (v: unknown, allowed?: readonly string[]): string[] | undefined | 'bad' =>
  v === undefined ? undefined : Array.isArray(v) && v.every((s) => typeof s === 'string' && (!allowed || allowed.includes(s))) ? (v as string[]) : 'bad';

export class Webhooks {
  readonly #state: AirtableState;
  readonly #lifetimeMs: number;
  readonly #maxPerBase: number;
  readonly #hooks = new Map<string, SimWebhook>();
  /** Called with each webhook that just got a payload (to ping it). */
  onPayload: (hook: SimWebhook) => void = () => undefined;

  constructor(state: AirtableState, options: WebhookOptions = {}) {
    this.#state = state;
    this.#lifetimeMs = options.lifetimeMs ?? 7 * DAY;
    this.#maxPerBase = options.maxPerBase ?? 10;
    state.onCommit((tx) => this.#record(tx));
  }

  isActive(hook: SimWebhook): boolean {
    return this.#state.now() < hook.expirationTime;
  }

  /** The base's webhooks, expired ones too until their payloads are gone (7 days more). */
  list(base: SimBase): SimWebhook[] {
    const now = this.#state.now();
    for (const hook of this.#hooks.values()) if (now >= hook.expirationTime + 7 * DAY) this.#hooks.delete(hook.id);
    return [...this.#hooks.values()].filter((h) => h.baseId === base.id);
  }

  get(base: SimBase, id: string): SimWebhook | undefined {
    return this.list(base).find((h) => h.id === id);
  }

  all(): SimWebhook[] {
    return [...this.#hooks.values()];
  }

  create(base: SimBase, body: unknown): Result<Json> {
    if (!isObject(body) || !isObject(body.specification) || !isObject(body.specification.options)) return fail(errors.invalidRequest('"specification.options" is required'));
    const url = body.notificationUrl;
    if (url !== undefined && url !== null && (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url))) return fail(errors.invalidRequest('"notificationUrl" must be an http(s) URL'));
    const options = body.specification.options;
    const filters = isObject(options.filters) ? options.filters : {};
    const includes = isObject(options.includes) ? options.includes : {};
    const dataTypes = strings(filters.dataTypes, DATA_TYPES);
    if (dataTypes === undefined || dataTypes === 'bad' || dataTypes.length === 0) return fail(errors.invalidRequest(`filters.dataTypes must list some of ${DATA_TYPES.join(', ')}`));
    const [fromSources, changeTypes, watched] = [strings(filters.fromSources, SOURCES), strings(filters.changeTypes, CHANGE_TYPES), strings(filters.watchDataInFieldIds)];
    if (fromSources === 'bad' || changeTypes === 'bad' || watched === 'bad') return fail(errors.invalidFilters('fromSources, changeTypes and watchDataInFieldIds must be lists of known values'));
    const scope = filters.recordChangeScope;
    let table: SimTable | undefined;
    if (scope !== undefined) {
      table = typeof scope === 'string' ? base.tables.find((t) => t.id === scope || t.views.some((v) => v.id === scope)) : undefined;
      if (!table) return fail(errors.invalidFilters(`recordChangeScope ${JSON.stringify(scope)} is not a table or view id of this base`));
    }
    const cellValues = includes.includeCellValuesInFieldIds;
    if (cellValues !== undefined && cellValues !== 'all' && strings(cellValues) === 'bad') return fail(errors.invalidRequest('includes.includeCellValuesInFieldIds must be "all" or field ids'));
    if (this.list(base).length >= this.#maxPerBase) return fail(errors.tooManyWebhooks());
    const now = this.#state.now();
    const hook: SimWebhook = {
      id: this.#state.newId('ach'),
      baseId: base.id,
      notificationUrl: typeof url === 'string' ? url : null,
      specification: body.specification,
      filters: { dataTypes, tableId: table?.id, fromSources, changeTypes, watchDataInFieldIds: watched },
      includes: { previous: includes.includePreviousCellValues === true, cellValuesInFieldIds: cellValues as 'all' | string[] | undefined },
      macSecretBase64: this.#state.bytes(32).toString('base64'),
      createdTime: now,
      expirationTime: now + this.#lifetimeMs,
      areNotificationsEnabled: true,
      payloads: [],
      nextCursor: 1,
      lastNotificationResult: null,
      lastSuccessfulNotificationTime: null,
    };
    this.#hooks.set(hook.id, hook);
    return ok({ id: hook.id, macSecretBase64: hook.macSecretBase64, expirationTime: iso(hook.expirationTime) });
  }

  delete(base: SimBase, id: string): boolean {
    return this.get(base, id) !== undefined && this.#hooks.delete(id);
  }

  /** 7 more days from now, while active. */
  refresh(hook: SimWebhook): Result<Json> {
    if (!this.isActive(hook)) return fail(errors.webhookExpired());
    hook.expirationTime = this.#state.now() + this.#lifetimeMs;
    return ok({ expirationTime: iso(hook.expirationTime) });
  }

  /** Ends a webhook's life now (as if 7 days had passed). */
  expire(hook: SimWebhook): void {
    hook.expirationTime = Math.min(hook.expirationTime, this.#state.now());
  }

  payloads(hook: SimWebhook, cursor: number, limit: number): Json {
    const now = this.#state.now();
    // Listing extends an active webhook's life [V].
    if (this.isActive(hook)) hook.expirationTime = now + this.#lifetimeMs;
    const kept = hook.payloads.filter((p) => p.cursor >= cursor && p.at > now - 7 * DAY);
    const page = kept.slice(0, limit);
    const last = page.at(-1);
    return { payloads: page.map((p) => p.body), cursor: last === undefined ? cursor : last.cursor + 1, mightHaveMore: kept.length > page.length };
  }

  /** A webhook as `GET /v0/bases/{baseId}/webhooks` lists it [C]. */
  json(hook: SimWebhook): Json {
    return {
      id: hook.id,
      areNotificationsEnabled: hook.areNotificationsEnabled,
      cursorForNextPayload: hook.nextCursor,
      isHookEnabled: this.isActive(hook),
      lastSuccessfulNotificationTime: iso(hook.lastSuccessfulNotificationTime),
      notificationUrl: hook.notificationUrl,
      expirationTime: iso(hook.expirationTime),
      specification: hook.specification,
      lastNotificationResult: hook.lastNotificationResult,
    };
  }

  #record(tx: Transaction): void {
    for (const hook of this.#hooks.values()) {
      if (hook.baseId !== tx.base.id || !this.isActive(hook)) continue;
      const body = payloadFor(hook, tx);
      if (!body) continue;
      hook.payloads.push({ cursor: hook.nextCursor, at: tx.at, body });
      hook.nextCursor += 1;
      // Airtable deletes payloads after a week [V]; so does the simulator, to stay bounded.
      const kept = hook.payloads.findIndex((p) => p.at > tx.at - 7 * DAY);
      if (kept > 0) hook.payloads.splice(0, kept);
      this.onPayload(hook);
    }
  }
}

/** The payload one transaction makes for one webhook, or none when its specification filters it all out. */
export function payloadFor(hook: SimWebhook, tx: Transaction): Record<string, unknown> | undefined {
  const { filters, includes } = hook;
  if (!filters.dataTypes.includes('tableData')) return undefined;
  if (filters.tableId !== undefined && filters.tableId !== tx.table.id) return undefined;
  if (filters.fromSources && !filters.fromSources.includes(tx.source)) return undefined;
  const wants = (type: string) => !filters.changeTypes || filters.changeTypes.includes(type);
  const watched = filters.watchDataInFieldIds && new Set(filters.watchDataInFieldIds);
  const fields = new Map(tx.table.fields.map((f) => [f.id, f]));
  const cells = (entries: Iterable<[string, CellValue | undefined]>) => {
    const out: Json = {};
    for (const [id, value] of entries) {
      const field = fields.get(id);
      if (field) out[id] = v2Value(field, value);
    }
    return { cellValuesByFieldId: out };
  };
  const change: Json = {};
  const created = wants('add') ? tx.created.filter((r) => !watched || [...r.cells.keys()].some((id) => watched.has(id))) : [];
  if (created.length > 0) change.createdRecordsById = Object.fromEntries(created.map((r) => [r.id, { createdTime: iso(r.createdTime), ...cells(r.cells) }]));
  const changed = wants('update') ? tx.changed.filter((c) => !watched || [...c.current.keys()].some((id) => watched.has(id))) : [];
  if (changed.length > 0) {
    change.changedRecordsById = Object.fromEntries(
      changed.map((c) => {
        const entry: Json = { current: cells(c.current) };
        if (includes.previous) entry.previous = cells(c.previous);
        const unchangedIds = includes.cellValuesInFieldIds === 'all' ? [...fields.keys()] : (includes.cellValuesInFieldIds ?? []);
        const unchanged = unchangedIds.filter((id) => !c.current.has(id)).map((id): [string, CellValue | undefined] => [id, c.record.cells.get(id)]);
        if (unchanged.length > 0) entry.unchanged = cells(unchanged);
        return [c.record.id, entry];
      }),
    );
  }
  if (wants('remove') && tx.destroyed.length > 0) change.destroyedRecordIds = [...tx.destroyed];
  if (Object.keys(change).length === 0) return undefined;
  const user = { id: tx.user.id, email: tx.user.email, permissionLevel: tx.user.permissionLevel, name: tx.user.name };
  return {
    timestamp: iso(tx.at),
    baseTransactionNumber: tx.number,
    actionMetadata: { source: tx.source, sourceMetadata: tx.source === 'client' || tx.source === 'publicApi' ? { user } : {} },
    payloadFormat: 'v0',
    changedTablesById: { [tx.table.id]: change },
  };
}
