/**
 * The sandbox's stand-in (`kitrelay start` with no AIRTABLE_TOKEN): an Airtable simulator holding,
 * for every base the syncs name, a base with each sync's table and the fields its mapping writes
 * (of the types it writes them as), empty. The destination is pointed at it, with the simulator's
 * base ids in place of the config's (the simulator makes its own, new at each start).
 */
import type { SandboxStandIn } from '../types.js';
import { resolveField, type AirtableDestinationConfig, type AirtableSyncConfig, type FieldKind } from './schema.js';
import { startAirtableSimulator, type FieldSpec, type FieldType, type TableSpec } from './simulator.js';

const TYPE_OF: Readonly<Record<FieldKind, FieldType>> = {
  text: 'singleLineText',
  number: 'number',
  checkbox: 'checkbox',
  date: 'date',
  dateTime: 'dateTime',
  multipleSelects: 'multipleSelects',
};

/** The table a sync writes, as its mapping describes it. */
export function tableSpecOf(sync: AirtableSyncConfig): TableSpec {
  const fields = new Map<string, FieldSpec>();
  fields.set(sync.kitIdField, { name: sync.kitIdField, type: sync.kitIdAs === 'number' ? 'number' : 'singleLineText' });
  for (const [name, mapping] of Object.entries(sync.fields)) {
    const resolved = resolveField(mapping);
    fields.set(name, { name, type: 'source' in resolved && resolved.source === 'email' ? 'email' : TYPE_OF[resolved.as] });
  }
  if (sync.pauseField !== undefined) fields.set(sync.pauseField, { name: sync.pauseField, type: 'checkbox' });
  if (typeof sync.onDelete === 'object') fields.set(sync.onDelete.mark, { name: sync.onDelete.mark, type: 'checkbox' });
  return { name: sync.table, fields: [...fields.values()] };
}

export async function airtableStandIn(destination: AirtableDestinationConfig): Promise<SandboxStandIn<AirtableDestinationConfig>> {
  const byBase = new Map<string, TableSpec[]>();
  for (const sync of Object.values(destination.syncs)) {
    const tables = byBase.get(sync.baseId) ?? [];
    if (!tables.some((t) => t.name === sync.table)) tables.push(tableSpecOf(sync));
    byBase.set(sync.baseId, tables);
  }
  const simulator = await startAirtableSimulator({ bases: [...byBase].map(([baseId, tables]) => ({ name: `Kit (${baseId})`, tables })) });
  const simIds = [...simulator.state.bases.keys()];
  const baseIds = new Map([...byBase.keys()].map((baseId, i) => [baseId, simIds[i] ?? baseId]));
  const syncs = Object.fromEntries(Object.entries(destination.syncs).map(([name, sync]) => [name, { ...sync, baseId: baseIds.get(sync.baseId) ?? sync.baseId }]));
  return { destination: { ...destination, apiUrl: simulator.url, syncs }, overlay: { [destination.token.$env]: simulator.token }, simulator };
}
