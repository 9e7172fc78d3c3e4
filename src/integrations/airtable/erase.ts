/**
 * Erasure's part in Airtable (`kitrelay erase <email>`): the person's row leaves every sync's
 * table, whatever `onDelete` says (marking would keep their data), before the store forgets them.
 * Their row is found by the Kit id kitrelay wrote and by the email field, so a row kitrelay holds
 * no state for (written before, matched by email) goes too.
 */
import { formulaValue, fieldRef } from './client.js';
import { kitIdFormula, syncKey } from './records.js';
import { matchOf } from './schema.js';
import type { AirtableClient } from './client.js';
import type { AirtableErrorOutcome } from './errors.js';
import type { AirtableSyncConfig } from './schema.js';
import type { IntegrationSyncStore } from '../types.js';

export interface EraseDeps {
  readonly store: IntegrationSyncStore;
  readonly client: AirtableClient;
  readonly destinationName: string;
  readonly syncName: string;
  readonly sync: AirtableSyncConfig;
}

export type EraseFromSync = { readonly ok: true; readonly deleted: number } | { readonly ok: false; readonly error: string };

/** Deletes the rows of this person (by Kit id, and by email when the sync maps one), and forgets them. */
export async function eraseFromSync(deps: EraseDeps, person: { readonly kitId?: number; readonly email: string }): Promise<EraseFromSync> {
  const { client, sync } = deps;
  const key = syncKey(deps.destinationName, deps.syncName);
  const match = matchOf(sync);
  const clauses = [
    ...(person.kitId !== undefined ? [kitIdFormula(sync, person.kitId)] : []),
    ...(match && match.source === 'email' ? [`LOWER(TRIM(${fieldRef(match.field)}))=${formulaValue(person.email.trim().toLowerCase())}`] : []),
  ];
  const ids = new Set<string>();
  if (person.kitId !== undefined) for (const state of await deps.store.getAirtableRecords(key, [person.kitId])) ids.add(state.recordId);
  if (clauses.length > 0) {
    let offset: string | undefined;
    do {
      const page = await client.list(sync.baseId, sync.table, { filterByFormula: clauses.length === 1 ? clauses[0]! : `OR(${clauses.join(',')})`, fields: [sync.kitIdField], ...(offset !== undefined ? { offset } : {}) });
      if (page.outcome.kind !== 'ok' || !page.body) return { ok: false, error: `reading ${sync.table} failed: ${(page.outcome as AirtableErrorOutcome).message}` };
      for (const record of page.body.records) ids.add(record.id);
      offset = page.body.offset;
    } while (offset !== undefined);
  }
  let deleted = 0;
  const all = [...ids];
  for (let i = 0; i < all.length; i += 10) {
    const chunk = all.slice(i, i + 10);
    const sent = await client.remove(sync.baseId, sync.table, chunk);
    const isGone = sent.outcome.kind === 'not_found' || (sent.outcome.kind === 'invalid' && sent.outcome.type === 'ROW_DOES_NOT_EXIST');
    if (sent.outcome.kind !== 'ok' && !(isGone && chunk.length === 1)) {
      if (isGone) {
        // One of them is gone already: the rest one by one.
        for (const id of chunk) {
          const one = await client.remove(sync.baseId, sync.table, [id]);
          if (one.outcome.kind === 'ok') deleted += 1;
          else if (!(one.outcome.kind === 'not_found' || (one.outcome.kind === 'invalid' && one.outcome.type === 'ROW_DOES_NOT_EXIST'))) return { ok: false, error: `deleting ${id} failed: ${(one.outcome as AirtableErrorOutcome).message}` };
        }
        continue;
      }
      return { ok: false, error: `deleting rows failed: ${(sent.outcome as AirtableErrorOutcome).message}` };
    }
    deleted += sent.outcome.kind === 'ok' ? chunk.length : 0;
  }
  if (person.kitId !== undefined) await deps.store.forgetAirtableRecords(key, [person.kitId]);
  return { ok: true, deleted };
}
