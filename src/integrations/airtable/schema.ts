/**
 * The Airtable destination's config (reference/destinations.md §3): one personal access token and
 * its **syncs**, each keeping one table of one base in step with a selection of Kit subscribers,
 * one record per subscriber, keyed by the Kit subscriber id in a field of its own.
 *
 * ```ts
 * airtable: {
 *   type: 'airtable',
 *   token: env('AIRTABLE_TOKEN'),              // a PAT with data.records:read and data.records:write
 *   monthlyCallBudget: 100_000,                // the plan's monthly API calls, if it has a cap
 *   syncs: {
 *     subscribers: {
 *       baseId: 'appXXXXXXXXXXXXXX',
 *       table: 'Subscribers',                  // the table's name, or its tbl… id
 *       select: { states: ['active'] },
 *       fields: { Email: 'email', Name: 'first_name', State: 'state', Tags: 'tags', Company: { customField: 'company' } },
 *     },
 *   },
 * }
 * ```
 */
import { z } from 'zod';
import { RATE_LIMIT_PENALTY_MS } from './errors.js';
import { envRefSchema } from '../../lib/env-ref.js';
import { destinationCommon, rateLimitSchema } from '../destination.js';
import { selectionSchema } from '../selection.js';

/**
 * Airtable allows 50 requests a second per token across bases, and 5 a second per base (§3.5).
 * The destination's `rateLimit` is the first, its `subKeyRateLimit` the second (jobs' sub-key is
 * their base); both also pace the calls every process makes, through the store (budget.ts).
 */
export const AIRTABLE_TOKEN_RATE_LIMIT = { perSecond: 50, burst: 50 } as const;
export const AIRTABLE_BASE_RATE_LIMIT = { perSecond: 5, burst: 5 } as const;

/** What a field can be filled from: a subscriber's own values. */
export const FIELD_SOURCES = ['email', 'first_name', 'state', 'created_at', 'tags', 'kit_id'] as const;
export type FieldSource = (typeof FIELD_SOURCES)[number];

/** How a value is written: the Airtable field's type (a single select takes `text`). */
export const FIELD_KINDS = ['text', 'number', 'checkbox', 'date', 'dateTime', 'multipleSelects'] as const;
export type FieldKind = (typeof FIELD_KINDS)[number];

/** Each source's kind when `as` is not given, and the kinds it can be written as. */
export const SOURCE_KINDS: Readonly<Record<FieldSource, { readonly default: FieldKind; readonly allowed: readonly FieldKind[] }>> = {
  email: { default: 'text', allowed: ['text'] },
  first_name: { default: 'text', allowed: ['text'] },
  state: { default: 'text', allowed: ['text'] },
  created_at: { default: 'dateTime', allowed: ['dateTime', 'date', 'text'] },
  tags: { default: 'multipleSelects', allowed: ['multipleSelects', 'text'] },
  kit_id: { default: 'number', allowed: ['number', 'text'] },
};

const kind = z.enum(FIELD_KINDS);

/**
 * One Airtable field's source: a subscriber value by name (`'email'`), the same with the kind it
 * is written as (`{ source: 'tags', as: 'text' }`: comma-separated), or a Kit custom field by its
 * key (`{ customField: 'company' }`, written as text unless `as` says otherwise).
 */
export const fieldMappingSchema = z.union([
  z.enum(FIELD_SOURCES),
  z.object({ source: z.enum(FIELD_SOURCES), as: kind.optional() }).strict(),
  z.object({ customField: z.string().min(1), as: kind.optional() }).strict(),
]);
export type FieldMapping = z.output<typeof fieldMappingSchema>;

/** A mapping resolved: where the value comes from and how it is written. */
export type ResolvedField =
  | { readonly source: FieldSource; readonly as: FieldKind }
  | { readonly customField: string; readonly as: FieldKind };

export function resolveField(mapping: FieldMapping): ResolvedField {
  if (typeof mapping === 'string') return { source: mapping, as: SOURCE_KINDS[mapping].default };
  if ('source' in mapping) return { source: mapping.source, as: mapping.as ?? SOURCE_KINDS[mapping.source].default };
  return { customField: mapping.customField, as: mapping.as ?? 'text' };
}

/** Who wins a field changed on both sides since the last sync (store/airtable-types.ts). */
export const conflictPolicySchema = z.enum(['kit-wins', 'airtable-wins', 'newest-wins', 'manual']);

/** A match value's source, for rows that lack the Kit id (first sync into an existing table). */
const matchSourceSchema = z.union([z.enum(FIELD_SOURCES), z.object({ customField: z.string().min(1) }).strict()]);

export const syncSchema = z
  .object({
    /** The base: `app` and 14 letters or digits (in the base's URL). */
    baseId: z.string().regex(/^app[A-Za-z0-9]{14}$/, "must be the base id from the base's URL: 'app' and 14 letters or digits"),
    /** The table: its name, or its `tbl…` id (stable when the table is renamed). */
    table: z.string().min(1),
    /** Which subscribers the table holds. @default every active subscriber */
    select: selectionSchema.default(selectionSchema.parse({})),
    /**
     * The field holding the Kit subscriber id: what every write merges on, so a record is never
     * created twice (`performUpsert.fieldsToMergeOn`). @default 'Kit ID'
     */
    kitIdField: z.string().min(1).default('Kit ID'),
    /** The Kit id field's type: a Number field, or text. @default 'number' */
    kitIdAs: z.enum(['number', 'text']).default('number'),
    /** Airtable field name → what fills it. */
    fields: z.record(z.string().min(1), fieldMappingSchema).default({}),
    /**
     * How a row that lacks the Kit id is recognised as a subscriber's (the first sync into a table
     * that already has rows): the row's `field` equals the subscriber's `source` (compared
     * trimmed, case-insensitively). @default the field mapped from `email`, if one is
     */
    match: z.object({ field: z.string().min(1), source: matchSourceSchema }).strict().optional(),
    /** Let Airtable convert text to the field's type (and create missing select options). @default false */
    typecast: z.boolean().default(false),
    /** A checkbox field: a row with it checked is left alone (never written, never deleted). */
    pauseField: z.string().min(1).optional(),
    /**
     * A subscriber who leaves the selection (or Kit): their row is deleted, or kept with this
     * checkbox field checked (`{ mark: 'Left' }`; unchecked again if they come back). @default 'delete'
     */
    onDelete: z.union([z.literal('delete'), z.object({ mark: z.string().min(1) }).strict()]).default('delete'),
    /** Changes to one subscriber within this long become one write. @default 2000 */
    coalesceMs: z.number().int().min(0).max(3_600_000).default(2000),
    /**
     * The out-of-sync check (`kitrelay airtable check <sync>`), scheduled as
     * `airtable-check:<destination>:<sync>`: when it runs (cron), and whether it repairs what it
     * finds or only reports it. @default { schedule: '0 3 * * *', repair: false }
     */
    check: z
      .object({ schedule: z.string().min(1).default('0 3 * * *'), repair: z.boolean().default(false) })
      .strict()
      .default({ schedule: '0 3 * * *', repair: false }),
    /**
     * Rows that lack the Kit id and are matched to a subscriber (the first sync into a table with
     * rows): whose values the matched row keeps. `kit`: the row is written from Kit; `airtable`:
     * only the Kit id is written, and the row's values go to Kit as edits made in Airtable.
     * @default 'kit'
     */
    firstSyncWinner: z.enum(['kit', 'airtable']).default('kit'),
    /**
     * Airtable → Kit: edits made in Airtable to fields mapped from a first name, tags or a custom
     * field go back to Kit. Detected by the base's webhook (`kitrelay airtable webhooks sync`), or by
     * polling `LAST_MODIFIED_TIME()` when webhooks are off or failing.
     */
    inbound: z
      .object({
        /** `webhook` (polling while none works), `poll` only, or `off` (one way, Kit → Airtable). @default 'webhook' */
        mode: z.enum(['webhook', 'poll', 'off']).default('webhook'),
        /** A record is applied once it has not changed for this long, so a half-typed value is not synced. @default 5000 */
        quietMs: z.number().int().min(0).max(3_600_000).default(5000),
        /** Fields to keep one way (Kit → Airtable) although their source could go back. */
        exclude: z.array(z.string().min(1)).default([]),
        /** A webhook is refreshed once it has less than this long to live (Airtable: 7 days from the last refresh). @default 1 day */
        refreshBeforeMs: z.number().int().positive().max(6 * 86_400_000).default(86_400_000),
        /**
         * How often changes are looked for without a ping: the webhook's payloads (pings that never
         * came), or a poll when webhooks are off or failing. Each look is one call or more, counted
         * in the month's budget. @default 60_000
         */
        pollIntervalMs: z.number().int().min(1000).default(60_000),
        /** When quiet changes are applied (six fields: seconds first); reads Airtable only when some wait. @default every 5 seconds */
        schedule: z.string().min(1).default('*/5 * * * * *'),
      })
      .strict()
      .default({ mode: 'webhook', quietMs: 5000, exclude: [], refreshBeforeMs: 86_400_000, pollIntervalMs: 60_000, schedule: '*/5 * * * * *' }),
    /**
     * A field changed on both sides since the last sync: whose value wins, by field name, with
     * `default` for the rest. `manual` holds it for `kitrelay airtable conflicts resolve`.
     * @default { default: 'newest-wins' }
     */
    conflicts: z
      .object({ default: conflictPolicySchema.default('newest-wins'), fields: z.record(z.string().min(1), conflictPolicySchema).default({}) })
      .strict()
      .default({ default: 'newest-wins', fields: {} }),
  })
  .strict()
  .superRefine((sync, ctx) => {
    for (const [name, mapping] of Object.entries(sync.fields)) {
      const resolved = resolveField(mapping);
      if ('source' in resolved && !SOURCE_KINDS[resolved.source].allowed.includes(resolved.as)) {
        ctx.addIssue({ code: 'custom', path: ['fields', name, 'as'], message: `${resolved.source} cannot be written as ${resolved.as}: use ${SOURCE_KINDS[resolved.source].allowed.map((k) => `'${k}'`).join(' or ')}` });
      }
    }
  });

export const airtableDestinationSchema = z
  .object({
    type: z.literal('airtable'),
    /** A personal access token (or OAuth token) with data.records:read and data.records:write on the bases: env('AIRTABLE_TOKEN'). */
    token: envRefSchema,
    /** @default 'https://api.airtable.com' */
    apiUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://api.airtable.com'),
    /**
     * The plan's API calls per calendar month (UTC), when it has a cap: every call is counted in
     * the store; past the budget calls are refused. Unset: counted, never refused.
     */
    monthlyCallBudget: z.number().int().positive().optional(),
    /** The share of `monthlyCallBudget` at which a warning is logged (once a month). @default 0.8 */
    budgetWarnShare: z.number().positive().max(1).default(0.8),
    /**
     * How long a base is left alone after Airtable's 429: Airtable documents 30 s [V]; a proxy in
     * front of it (or a test's simulator) may differ. @default 30_000
     */
    rateLimitPenaltyMs: z.number().int().positive().default(RATE_LIMIT_PENALTY_MS),
    syncs: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, - or _'), syncSchema).default({}),
    ...destinationCommon,
    /** Requests per second for this token across bases (Airtable: 50). @default { perSecond: 50, burst: 50 } */
    rateLimit: rateLimitSchema.default(AIRTABLE_TOKEN_RATE_LIMIT),
    /** Requests per second per base (Airtable: 5; a 429 stops the base for 30 s). @default { perSecond: 5, burst: 5 } */
    subKeyRateLimit: rateLimitSchema.default(AIRTABLE_BASE_RATE_LIMIT),
    /** An attempt may wait for its base's turn (5 a second, shared). @default 20_000 */
    timeoutMs: z.number().int().positive().default(20_000),
  })
  .strict();

export type AirtableDestinationConfig = z.output<typeof airtableDestinationSchema>;
export type AirtableSyncConfig = z.output<typeof syncSchema>;

/** Where rows lacking the Kit id are matched from, if anywhere: the config's `match`, else the email field. */
export function matchOf(sync: AirtableSyncConfig): { readonly field: string; readonly source: FieldSource | { readonly customField: string } } | undefined {
  if (sync.match) return sync.match;
  const email = Object.entries(sync.fields).find(([, mapping]) => {
    const resolved = resolveField(mapping);
    return 'source' in resolved && resolved.source === 'email';
  });
  return email ? { field: email[0], source: 'email' } : undefined;
}

/**
 * The mapped fields whose edits in Airtable go back to Kit: those filled from a first name, tags
 * or a custom field (an email, a state, a date or the Kit id are Kit's alone), less `inbound.exclude`.
 */
export function inboundFields(sync: AirtableSyncConfig): Map<string, ResolvedField> {
  const fields = new Map<string, ResolvedField>();
  if (sync.inbound.mode === 'off') return fields;
  for (const [name, mapping] of Object.entries(sync.fields)) {
    const resolved = resolveField(mapping);
    const isReversible = 'customField' in resolved || resolved.source === 'first_name' || resolved.source === 'tags';
    if (isReversible && !sync.inbound.exclude.includes(name)) fields.set(name, resolved);
  }
  return fields;
}

/** The conflict policy of one field. */
export function conflictPolicyOf(sync: AirtableSyncConfig, field: string): z.output<typeof conflictPolicySchema> {
  return Object.hasOwn(sync.conflicts.fields, field) ? sync.conflicts.fields[field]! : sync.conflicts.default;
}

/** Checks across fields the schema cannot express; each message names the field and the fix. */
export function checkAirtable(destination: AirtableDestinationConfig, name: string): string[] {
  const problems: string[] = [];
  const tables = new Map<string, string>();
  for (const [syncName, sync] of Object.entries(destination.syncs)) {
    const at = `destinations.${name}.syncs.${syncName}`;
    const mapped = new Set(Object.keys(sync.fields));
    if (mapped.has(sync.kitIdField)) problems.push(`${at}.fields: "${sync.kitIdField}" is the kitIdField, written by kitrelay itself: remove it from fields`);
    if (sync.pauseField !== undefined) {
      if (mapped.has(sync.pauseField)) problems.push(`${at}.pauseField: "${sync.pauseField}" is also in fields: a pause checkbox is set by people, not by kitrelay; remove it from fields`);
      if (sync.pauseField === sync.kitIdField) problems.push(`${at}.pauseField: "${sync.pauseField}" is the kitIdField: pick a checkbox field of its own`);
    }
    if (typeof sync.onDelete === 'object') {
      const { mark } = sync.onDelete;
      if (mapped.has(mark) || mark === sync.kitIdField) problems.push(`${at}.onDelete.mark: "${mark}" is also written from Kit: pick a checkbox field of its own`);
      if (mark === sync.pauseField) problems.push(`${at}.onDelete.mark: "${mark}" is the pauseField: pick another checkbox field`);
    }
    // Formulas name fields as {Name}, and a } cannot be escaped in them (client.ts).
    for (const [what, field] of [['kitIdField', sync.kitIdField], ['pauseField', sync.pauseField]] as const) {
      if (field?.includes('}')) problems.push(`${at}.${what}: "${field}" holds "}", which Airtable's formulas cannot name: rename the field`);
    }
    if (sync.firstSyncWinner === 'airtable' && sync.inbound.mode === 'off') problems.push(`${at}.firstSyncWinner: 'airtable' needs edits to go back to Kit, but inbound.mode is 'off': set one of them otherwise`);
    for (const field of [...sync.inbound.exclude, ...Object.keys(sync.conflicts.fields)]) {
      if (!mapped.has(field)) problems.push(`${at}: "${field}" is named in inbound.exclude or conflicts.fields but is not in fields: add it to fields or remove it`);
    }
    if (sync.match && sync.match.field === sync.kitIdField) problems.push(`${at}.match.field: rows are matched on "${sync.match.field}" because they lack the Kit id: pick the field holding their email`);
    const table = `${sync.baseId}/${sync.table}`;
    const other = tables.get(table);
    if (other !== undefined) problems.push(`${at}: writes the same table as syncs.${other} (${table}): their rows would overwrite each other; use one sync per table`);
    tables.set(table, syncName);
  }
  return problems;
}
