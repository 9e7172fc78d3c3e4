/**
 * Record writes as Airtable applies them (reference/destinations.md §3.3): create (`records[]` or
 * a single `fields`), PATCH (merge) and PUT (replace) by id, upsert (`performUpsert`), delete.
 * Shared by the REST routes (source `publicApi`) and the edits tests make "as a person in
 * Airtable" (source `client`).
 *
 * A request is one transaction and all or nothing: every record and every value is checked before
 * anything changes, so a 422 leaves the table as it was. At most 10 records per request [V].
 *
 * Upsert [V]: `performUpsert.fieldsToMergeOn` names 1–3 fields; a record without an `id` is matched
 * on those fields' values — none matches: created; one: updated; several: the whole request fails
 * with 422. A record with an `id` ignores the merge fields. The answer adds `createdRecords` and
 * `updatedRecords` (ids) next to `records`. Matching compares stored values exactly [U], through an
 * index kept by every write (simulator-index.ts).
 */
import { errors, fail, ok, type Result } from './simulator-errors.js';
import type { CellValue } from './simulator-fields.js';
import { lookup } from './simulator-index.js';
import { fieldOf, type AirtableState, type ChangeSource, type ParsedFields, type SimBase, type SimRecord, type SimTable, type SimUser } from './simulator-state.js';
import { recordJson, type RecordJson } from './simulator-views.js';

export const MAX_RECORDS_PER_WRITE = 10;

export interface WriteContext {
  readonly state: AirtableState;
  readonly base: SimBase;
  readonly table: SimTable;
  readonly source: ChangeSource;
  readonly user: SimUser;
}

type Json = Record<string, unknown>;

/** One record of a write, checked: update `record`, or create when there is none. */
interface Planned {
  readonly record: SimRecord | undefined;
  readonly fields: ParsedFields;
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function recordsOf(body: Json, verb: 'created' | 'updated'): Result<readonly unknown[]> {
  const { records } = body;
  if (!Array.isArray(records) || records.length === 0) return fail(errors.invalidRequest('"records" must be a non-empty array'));
  if (records.length > MAX_RECORDS_PER_WRITE) return fail(errors.tooManyRecords(verb, records.length));
  return ok(records);
}

function render(ctx: WriteContext, body: Json) {
  return (record: SimRecord): RecordJson => recordJson(ctx.table, record, { isByFieldId: body.returnFieldsByFieldId === true });
}

/** Applies checked records as one transaction. */
function apply(ctx: WriteContext, planned: readonly Planned[], isReplace: boolean): SimRecord[] {
  for (const p of planned) ctx.state.addChoices(ctx.table, p.fields.newChoices);
  const writer = ctx.state.begin(ctx.base, ctx.table, ctx.source, ctx.user);
  const out = planned.map((p) => {
    if (!p.record) return writer.create(p.fields.cells);
    writer.update(p.record, p.fields.cells, isReplace);
    return p.record;
  });
  writer.commit();
  return out;
}

/** `POST /v0/{base}/{table}`: `{records: [{fields}], typecast?}` answers `{records}`; `{fields, typecast?}` answers the record. */
export function createRecords(ctx: WriteContext, body: unknown): Result<unknown> {
  if (!isObject(body)) return fail(errors.missingFields());
  const isTypecast = body.typecast === true;
  const isBatch = 'records' in body;
  let items: readonly unknown[];
  if (isBatch) {
    const records = recordsOf(body, 'created');
    if ('error' in records) return records;
    items = records.ok;
  } else items = [body];
  const planned: Planned[] = [];
  for (const item of items) {
    if (!isObject(item) || !('fields' in item)) return fail(errors.missingFields());
    const fields = ctx.state.parseFields(ctx.table, item.fields, isTypecast);
    if ('error' in fields) return fields;
    planned.push({ record: undefined, fields: fields.ok });
  }
  const created = apply(ctx, planned, false).map(render(ctx, body));
  return ok(isBatch ? { records: created } : created[0]);
}

/** `PATCH|PUT /v0/{base}/{table}`: `{records: [{id?, fields}], typecast?, performUpsert?}`. */
export function updateRecords(ctx: WriteContext, body: unknown, isReplace: boolean): Result<Json> {
  if (!isObject(body)) return fail(errors.invalidRequest('the body must be a JSON object'));
  const records = recordsOf(body, 'updated');
  if ('error' in records) return records;
  const isTypecast = body.typecast === true;
  const mergeOn = mergeFields(ctx.table, body.performUpsert);
  if ('error' in mergeOn) return mergeOn;
  const planned: Planned[] = [];
  for (const item of records.ok) {
    if (!isObject(item) || !('fields' in item)) return fail(errors.missingFields());
    const fields = ctx.state.parseFields(ctx.table, item.fields, isTypecast);
    if ('error' in fields) return fields;
    if (typeof item.id === 'string') {
      const record = ctx.table.records.get(item.id);
      if (!record) return fail(errors.rowDoesNotExist(item.id));
      planned.push({ record, fields: fields.ok });
    } else if (item.id !== undefined) {
      return fail(errors.invalidRequest('"id" must be a record id'));
    } else if (mergeOn.ok === undefined) {
      return fail(errors.invalidRequest('every record needs an "id" unless performUpsert is given'));
    } else {
      const match = upsertMatch(ctx.table, fields.ok.cells, mergeOn.ok);
      if ('error' in match) return match;
      planned.push({ record: match.ok, fields: fields.ok });
    }
  }
  const isCreated = planned.map((p) => p.record === undefined);
  const written = apply(ctx, planned, isReplace);
  const answer: Json = { records: written.map(render(ctx, body)) };
  if (mergeOn.ok !== undefined) {
    answer.createdRecords = written.filter((_, i) => isCreated[i]).map((r) => r.id);
    answer.updatedRecords = written.filter((_, i) => !isCreated[i]).map((r) => r.id);
  }
  return ok(answer);
}

/** `PATCH|PUT /v0/{base}/{table}/{recordId}`: `{fields, typecast?}` answers the record. */
export function updateRecord(ctx: WriteContext, recordId: string, body: unknown, isReplace: boolean): Result<RecordJson> {
  const record = ctx.table.records.get(recordId);
  if (!record) return fail(errors.recordNotFound());
  if (!isObject(body) || !('fields' in body)) return fail(errors.missingFields());
  const fields = ctx.state.parseFields(ctx.table, body.fields, body.typecast === true);
  if ('error' in fields) return fields;
  apply(ctx, [{ record, fields: fields.ok }], isReplace);
  return ok(render(ctx, body)(record));
}

/** `DELETE /v0/{base}/{table}?records[]=…` answers `{records: [{id, deleted: true}]}`; a single id answers `{id, deleted: true}`. */
export function deleteRecords(ctx: WriteContext, ids: readonly string[]): Result<Json> {
  if (ids.length === 0) return fail(errors.invalidRequest('name the records to delete with records[]'));
  if (ids.length > MAX_RECORDS_PER_WRITE) return fail(errors.tooManyRecords('deleted', ids.length));
  const records: SimRecord[] = [];
  for (const id of ids) {
    const record = ctx.table.records.get(id);
    // [U] what Airtable answers for an unknown id in a batch delete.
    if (!record) return fail(errors.recordNotFound());
    records.push(record);
  }
  const writer = ctx.state.begin(ctx.base, ctx.table, ctx.source, ctx.user);
  for (const record of new Set(records)) writer.destroy(record);
  writer.commit();
  return ok({ records: ids.map((id) => ({ id, deleted: true })) });
}

/** The merge fields' ids, or undefined without `performUpsert`. */
function mergeFields(table: SimTable, performUpsert: unknown): Result<readonly string[] | undefined> {
  if (performUpsert === undefined || performUpsert === null) return ok(undefined);
  const names = isObject(performUpsert) ? performUpsert.fieldsToMergeOn : undefined;
  if (!Array.isArray(names) || names.length < 1 || names.length > 3 || !names.every((n) => typeof n === 'string')) return fail(errors.invalidRequest('performUpsert.fieldsToMergeOn must name 1 to 3 fields'));
  const ids: string[] = [];
  for (const name of names) {
    const field = fieldOf(table, name);
    if (!field) return fail(errors.unknownField(name));
    ids.push(field.id);
  }
  return ok(ids);
}

/** The one record whose merge fields hold these values; undefined when none does. */
function upsertMatch(table: SimTable, cells: ReadonlyMap<string, CellValue | undefined>, mergeOn: readonly string[]): Result<SimRecord | undefined> {
  for (const id of mergeOn) {
    // [U] Airtable's answer for a record without a value for a merge field.
    if (cells.get(id) === undefined) return fail(errors.invalidRequest(`every record must give a value for each field to merge on (${fieldOf(table, id)?.name ?? id})`));
  }
  const matches = lookup(table, mergeOn, cells);
  if (matches.length > 1) return fail(errors.severalUpsertMatches(mergeOn.map((id) => fieldOf(table, id)?.name ?? id)));
  return ok(matches[0] === undefined ? undefined : table.records.get(matches[0]));
}
