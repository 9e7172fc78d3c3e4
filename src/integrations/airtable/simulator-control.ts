/**
 * What a test (or the sandbox, from another process over HTTP) does to the Airtable simulator
 * that no API client can: make bases and tables with a schema, edit records **as a person in
 * Airtable** — source `client` in webhook payloads, unlike the API's `publicApi` — and end
 * iterators, webhooks and rate-limit penalties on demand.
 *
 * Over HTTP (`/_sim` routes: never authenticated, rate-limited, faulted or recorded):
 * - `POST /_sim/bases` `{name, tables: [{name, fields: [{name, type, choices?}], records?}]}`;
 * - `POST /_sim/bases/{baseId}/tables` `{name, fields, records?}`;
 * - `POST /_sim/person` `{action: 'create'|'update'|'replace'|'delete', table, recordId?, fields?, baseId?, user?}`;
 * - `POST /_sim/iterators/expire`, `POST /_sim/webhooks/{id}/expire`, `POST /_sim/rate-limits/reset`;
 * - `GET /_sim/pings`: every ping attempt, oldest first.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { send } from '../../simulators/index.js';
import { errorAnswer, errors, fail, type Result } from './simulator-errors.js';
import { FIELD_TYPES, fieldSchema } from './simulator-fields.js';
import type { AirtableState, BaseSpec, SimBase, SimTable, SimUser, TableSpec } from './simulator-state.js';
import { createRecords, deleteRecords, updateRecord, type WriteContext } from './simulator-writes.js';

/** A person's edit in Airtable's app. */
export type PersonEdit = {
  /** A table id or name. */
  readonly table: string;
  /** @default the first base */
  readonly baseId?: string;
  /** Who, in `actionMetadata.sourceMetadata.user`. @default the simulator's collaborator */
  readonly user?: Partial<SimUser>;
} & (
  | { readonly action: 'create'; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly action: 'update' | 'replace'; readonly recordId: string; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly action: 'delete'; readonly recordId: string }
);

/**
 * Applies a person's edit: one transaction, source `client`. A person may add select options, so
 * values are written as with `typecast`.
 */
export function applyPersonEdit(state: AirtableState, person: SimUser, edit: PersonEdit): Result<unknown> {
  const base = edit.baseId === undefined ? [...state.bases.values()][0] : state.bases.get(edit.baseId);
  const table = base && state.table(base, edit.table);
  if (!base || !table) return fail(errors.invalidPermissions());
  const ctx: WriteContext = { state, base, table, source: 'client', user: { ...person, ...edit.user } };
  switch (edit.action) {
    case 'create':
      return createRecords(ctx, { fields: edit.fields, typecast: true });
    case 'update':
    case 'replace':
      return updateRecord(ctx, edit.recordId, { fields: edit.fields, typecast: true }, edit.action === 'replace');
    case 'delete': {
      if (!table.records.has(edit.recordId)) return fail(errors.recordNotFound());
      const deleted = deleteRecords(ctx, [edit.recordId]);
      return 'error' in deleted ? deleted : { ok: { id: edit.recordId, deleted: true } };
    }
  }
}

export function tableSummary(table: SimTable): Record<string, unknown> {
  return { id: table.id, name: table.name, fields: table.fields.map(fieldSchema), views: table.views };
}

export function baseSummary(base: SimBase): Record<string, unknown> {
  return { id: base.id, name: base.name, tables: base.tables.map(tableSummary) };
}

const fieldJson = z.strictObject({ name: z.string().min(1), type: z.enum(FIELD_TYPES), description: z.string().optional(), choices: z.array(z.string().min(1)).optional() });
const tableJson = z.strictObject({ name: z.string().min(1), description: z.string().optional(), fields: z.array(fieldJson).min(1), records: z.array(z.record(z.string(), z.unknown())).optional() });
const baseJson = z.strictObject({ name: z.string().min(1), tables: z.array(tableJson).min(1) });
const userJson = z.strictObject({ id: z.string(), email: z.string(), name: z.string(), permissionLevel: z.enum(['none', 'read', 'comment', 'edit', 'create', 'owner']) }).partial();
const where = { table: z.string().min(1), baseId: z.string().optional(), user: userJson.optional() };
const personJson = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('create'), fields: z.record(z.string(), z.unknown()), ...where }),
  z.strictObject({ action: z.enum(['update', 'replace']), recordId: z.string(), fields: z.record(z.string(), z.unknown()), ...where }),
  z.strictObject({ action: z.literal('delete'), recordId: z.string(), ...where }),
]);

export interface ControlDeps {
  readonly state: AirtableState;
  readonly person: SimUser;
  readonly expireIterators: () => void;
  readonly expireWebhook: (id: string) => boolean;
  readonly resetRateLimits: () => void;
  readonly pings: () => unknown;
  /** Re-checks `waitFor` predicates after a change made here. */
  readonly notify: () => void;
}

export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { state } = deps;
  const invalid = (error: z.ZodError) => ({ status: 400, body: { error: error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') } });
  /** A spec the state refuses (a duplicate table name…) is the caller's mistake: 400. */
  const build = <T>(make: () => T): { status: number; body: unknown } => {
    try {
      return { status: 201, body: make() };
    } catch (error) {
      if (error instanceof RangeError) return { status: 400, body: { error: error.message } };
      throw error;
    }
  };

  app.post('/_sim/bases', (request, reply) => {
    const parsed = baseJson.safeParse(request.body);
    return send(reply, parsed.success ? build(() => baseSummary(state.createBase(parsed.data as BaseSpec))) : invalid(parsed.error));
  });
  app.post('/_sim/bases/:baseId/tables', (request, reply) => {
    const base = state.bases.get((request.params as { baseId: string }).baseId);
    if (!base) return send(reply, { status: 404, body: { error: 'no such base' } });
    const parsed = tableJson.safeParse(request.body);
    return send(reply, parsed.success ? build(() => tableSummary(state.createTable(base, parsed.data as TableSpec))) : invalid(parsed.error));
  });
  app.post('/_sim/person', (request, reply) => {
    const parsed = personJson.safeParse(request.body);
    if (!parsed.success) return send(reply, invalid(parsed.error));
    const result = applyPersonEdit(state, deps.person, parsed.data);
    deps.notify();
    return send(reply, 'error' in result ? errorAnswer(result.error) : { status: 200, body: result.ok });
  });
  app.post('/_sim/iterators/expire', (_request, reply) => {
    deps.expireIterators();
    return reply.code(204).send();
  });
  app.post('/_sim/webhooks/:id/expire', (request, reply) => (deps.expireWebhook((request.params as { id: string }).id) ? reply.code(204).send() : send(reply, { status: 404, body: { error: 'no such webhook' } })));
  app.post('/_sim/rate-limits/reset', (_request, reply) => {
    deps.resetRateLimits();
    return reply.code(204).send();
  });
  app.get('/_sim/pings', () => deps.pings());
}
