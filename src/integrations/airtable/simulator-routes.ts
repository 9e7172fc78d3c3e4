/**
 * The Airtable simulator's records API (reference/destinations.md §3.1–§3.4), under `/v0`:
 *
 * - `GET /{baseId}/{table}` list (query parameters), `POST /{baseId}/{table}/listRecords` (the same
 *   in a JSON body, for long formulas), `GET /{baseId}/{table}/{recordId}`;
 * - `POST /{baseId}/{table}` create; `PATCH|PUT /{baseId}/{table}` update or upsert;
 *   `PATCH|PUT /{baseId}/{table}/{recordId}`; `DELETE /{baseId}/{table}?records[]=…` and
 *   `DELETE /{baseId}/{table}/{recordId}`;
 * - `GET /meta/bases` and `GET /meta/bases/{baseId}/tables` (the schema: field ids, types, options).
 *
 * A table is named by id or by its URL-encoded name. The paths also take a trailing slash:
 * airtable.js writes `/{table}/` for creates and updates (§8). Unknown routes answer 404 with the
 * bare `{"error":"NOT_FOUND"}`; an unknown table, 403 like a base the token cannot use.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pathOf, send } from '../../simulators/index.js';
import { NOT_FOUND_ANSWER, errorAnswer, errors, type Result } from './simulator-errors.js';
import { bodyParams, queryParams, type Iterators, type ListParams } from './simulator-list.js';
import type { AirtableState, SimBase, SimTable, SimUser } from './simulator-state.js';
import { recordJson, tablesJson } from './simulator-views.js';
import { createRecords, deleteRecords, updateRecord, updateRecords, type WriteContext } from './simulator-writes.js';

export const READ_SCOPE = 'data.records:read';
export const WRITE_SCOPE = 'data.records:write';
export const SCHEMA_SCOPE = 'schema.bases:read';

export interface RecordRouteDeps {
  readonly state: AirtableState;
  readonly iterators: Iterators;
  /** The token's owner: who API writes are made by, in webhook payloads. */
  readonly apiUser: SimUser;
  /** The bases the request's token may use. */
  readonly basesFor: (request: FastifyRequest) => SimBase[];
}

type Params = { baseId: string; table: string; recordId?: string };

export function registerRecordRoutes(app: FastifyInstance, deps: RecordRouteDeps): void {
  const { state, iterators } = deps;
  const answer = (reply: FastifyReply, result: Result<unknown>) => ('error' in result ? send(reply, errorAnswer(result.error)) : send(reply, { status: 200, body: result.ok }));
  /** Runs `handler` on the table the path names; an unknown table is refused like an unknown base. */
  const onTable = (handler: (table: SimTable, base: SimBase, request: FastifyRequest) => Result<unknown>) => (request: FastifyRequest, reply: FastifyReply) => {
    const params = request.params as Params;
    // The guard has checked the base exists and the token may use it.
    const base = state.bases.get(params.baseId) as SimBase;
    const table = state.table(base, params.table);
    return table ? answer(reply, handler(table, base, request)) : send(reply, errorAnswer(errors.invalidPermissions()));
  };
  const writing = (table: SimTable, base: SimBase): WriteContext => ({ state, base, table, source: 'publicApi', user: deps.apiUser });
  const list = (params: Result<ListParams>, table: SimTable) => ('error' in params ? params : iterators.page(table, params.ok));
  const both = (path: string) => [path, `${path}/`];
  const read = { config: { scope: READ_SCOPE } };
  const write = { config: { scope: WRITE_SCOPE } };

  app.get('/v0/meta/bases', { config: { scope: SCHEMA_SCOPE } }, (request, reply) => send(reply, { status: 200, body: { bases: deps.basesFor(request).map((b) => ({ id: b.id, name: b.name, permissionLevel: 'create' })) } }));
  app.get('/v0/meta/bases/:baseId/tables', { config: { scope: SCHEMA_SCOPE } }, (request, reply) => send(reply, { status: 200, body: tablesJson(state.bases.get((request.params as Params).baseId) as SimBase) }));

  for (const path of both('/v0/:baseId/:table')) {
    app.get(path, read, onTable((table, _base, request) => list(queryParams(request.url), table)));
    app.post(path, write, onTable((table, base, request) => createRecords(writing(table, base), request.body)));
    app.patch(path, write, onTable((table, base, request) => updateRecords(writing(table, base), request.body, false)));
    app.put(path, write, onTable((table, base, request) => updateRecords(writing(table, base), request.body, true)));
    app.delete(path, write, onTable((table, base, request) => deleteRecords(writing(table, base), recordIdsOf(request.url))));
  }
  app.post('/v0/:baseId/:table/listRecords', read, onTable((table, _base, request) => list(bodyParams(request.body, request.url), table)));
  app.get(
    '/v0/:baseId/:table/:recordId',
    read,
    onTable((table, _base, request) => {
      const record = table.records.get((request.params as Params).recordId ?? '');
      const byId = new URLSearchParams(request.url.split('?')[1] ?? '').get('returnFieldsByFieldId');
      return record ? { ok: recordJson(table, record, { isByFieldId: byId === 'true' || byId === '1' }) } : { error: errors.recordNotFound() };
    }),
  );
  app.patch('/v0/:baseId/:table/:recordId', write, onTable((table, base, request) => updateRecord(writing(table, base), (request.params as Params).recordId ?? '', request.body, false)));
  app.put('/v0/:baseId/:table/:recordId', write, onTable((table, base, request) => updateRecord(writing(table, base), (request.params as Params).recordId ?? '', request.body, true)));
  app.delete(
    '/v0/:baseId/:table/:recordId',
    write,
    onTable((table, base, request) => {
      const id = (request.params as Params).recordId ?? '';
      if (!table.records.has(id)) return { error: errors.recordNotFound() };
      const deleted = deleteRecords(writing(table, base), [id]);
      return 'error' in deleted ? deleted : { ok: { id, deleted: true } };
    }),
  );

  app.setNotFoundHandler((_request, reply) => send(reply, NOT_FOUND_ANSWER));
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    if (status === 413) return send(reply, errorAnswer(errors.tooLarge()));
    if (status === 400) return send(reply, errorAnswer(errors.badJson()));
    // A 500 here is a simulator bug: answered in Airtable's words, with the cause alongside.
    if (status >= 500) {
      const { type, message } = errors.server(status);
      return send(reply, { status, body: { error: { type, message }, cause: `${request.method} ${pathOf(request.url)}: ${error.message}` } });
    }
    return send(reply, errorAnswer({ status, type: 'INVALID_REQUEST_UNKNOWN', message: error.message }));
  });
}

/** `records[]=a&records[]=b` (as airtable.js writes it), `records[0]=a` or `records=a`. */
function recordIdsOf(url: string): string[] {
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  return [...query].filter(([key]) => /^records(\[\d*\])?$/.test(key)).map(([, value]) => value);
}
