/**
 * `kitrelay sandbox airtable-edit <email> <Field=value>…`: in a running sandbox, edit a person's row
 * in the Airtable simulator standing in for an Airtable destination, as a person in Airtable's app
 * would (the simulator's `/_sim/person`): its webhook pings kitrelay, and the edit reaches the
 * simulated Kit once quiet.
 */
import type { Command } from 'commander';
import { airtableDestinationSchema, matchOf, resolveField, type AirtableDestinationConfig } from '../integrations/airtable/index.js';
import { CliError } from './context.js';
import { callSimulator, findStandIn } from './sandbox-sim.js';

interface Target {
  readonly simulatorUrl: string;
  readonly destination: AirtableDestinationConfig;
  readonly syncName: string;
}

export function registerSandboxAirtable(sandbox: Command): void {
  sandbox
    .command('airtable-edit <email> <assignments...>')
    .description("in the sandbox's Airtable simulator, edit a person's row as a person in Airtable would (Name=\"Ada L.\" Tags=vip,customer); the edit reaches the simulated Kit")
    .option('--sync <name>', 'the sync whose table holds the row (default: the first)')
    .action(async (email: string, assignments: string[], flags: { sync?: string }, command: Command) => {
      const found = await findStandIn(command, 'airtable', airtableDestinationSchema, 'No Airtable simulator is running in the sandbox: the config needs an airtable destination whose token is unset');
      const syncName = flags.sync ?? Object.keys(found.destination.syncs)[0];
      if (syncName === undefined || !Object.hasOwn(found.destination.syncs, syncName)) throw new CliError('no_sync', `No sync "${flags.sync ?? ''}" (syncs: ${Object.keys(found.destination.syncs).join(', ')})`, 2);
      const target: Target = { simulatorUrl: found.url, destination: found.destination, syncName };
      const sync = target.destination.syncs[target.syncName]!;
      const fields = Object.fromEntries(assignments.map((assignment) => cellOf(assignment, sync.fields)));
      const match = matchOf(sync);
      if (!match || match.source !== 'email') throw new CliError('no_email_field', `Sync ${target.syncName} maps no email field: its rows cannot be found by address`, 2);
      // Found through the simulator's own state, not its API: the API's 5 calls a second belong to the relay.
      const state = (await call(`${target.simulatorUrl}/_sim/state`, {})) as { bases?: { id: string; tables: { name: string; records: { id: string; fields: Record<string, unknown> }[] }[] }[] };
      const table = state.bases?.find((b) => b.id === sync.baseId)?.tables.find((t) => t.name === sync.table);
      const address = email.trim().toLowerCase();
      const rows = (table?.records ?? []).filter((r) => typeof r.fields[match.field] === 'string' && (r.fields[match.field] as string).trim().toLowerCase() === address);
      if (rows.length === 0) throw new CliError('not_found', `No row for ${email} in ${sync.table} (run \`npx kitrelay airtable backfill ${target.syncName}\` first)`, 1);
      await call(`${target.simulatorUrl}/_sim/person`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'update', table: sync.table, baseId: sync.baseId, recordId: rows[0]!.id, fields }) });
      process.stdout.write(`edited ${email}'s row ${rows[0]!.id} in ${sync.table}: ${Object.keys(fields).join(', ')}; kitrelay applies it once it has been quiet ${sync.inbound.quietMs / 1000} s\n`);
    });
}

/** `Name=Ada` → the cell, typed as the field is mapped (a list for a multiple select, a number). */
function cellOf(assignment: string, mapping: AirtableDestinationConfig['syncs'][string]['fields']): [string, unknown] {
  const at = assignment.indexOf('=');
  if (at <= 0) throw new CliError('bad_assignment', `"${assignment}" is not Field=value`, 2);
  const name = assignment.slice(0, at);
  const value = assignment.slice(at + 1);
  const field = Object.hasOwn(mapping, name) ? resolveField(mapping[name]!) : undefined;
  if (field?.as === 'multipleSelects') return [name, value.split(',').map((v) => v.trim()).filter(Boolean)];
  if (field?.as === 'number') return [name, value === '' ? null : Number(value)];
  if (field?.as === 'checkbox') return [name, /^(true|yes|1|x)$/i.test(value)];
  return [name, value === '' ? null : value];
}

const call = (url: string, init: RequestInit = {}) => callSimulator('Airtable', url, init);
