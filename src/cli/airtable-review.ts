/**
 * `kitrelay airtable deletes …` and `kitrelay airtable conflicts …`: what waits for an operator.
 * A row deleted in Airtable never unsubscribes anyone until approved here; a field both sides
 * changed under the `manual` policy is written neither way until resolved here. Each answer is
 * recorded and queued as a job that the running service carries out (integrations/airtable/review.ts).
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { createSecretResolver } from '../config/secrets.js';
import type { AirtableDestinationConfig } from '../integrations/airtable/index.js';
import { approveDelete, rejectDelete, resolveConflict, ReviewError, type ReviewDeps } from '../integrations/airtable/review.js';
import { integrationScheduleDeps } from '../main.js';
import type { AirtableDeleteStatus, AirtableFieldDecision } from '../store/types.js';
import type { AnyStore } from '../store/index.js';
import { CliError, iso, printJson, printTable, withStore } from './context.js';

const DELETE_STATUSES = ['pending', 'approved', 'rejected', 'withdrawn', 'all'] as const;
const DECISION_STATUSES = ['held', 'decided', 'resolved', 'all'] as const;

/** The destination a store key (`<destination>/<sync>`) names, as review needs it. */
function reviewDeps(store: AnyStore, loaded: LoadedConfig, key: string): ReviewDeps {
  const slash = key.indexOf('/');
  const destinationName = key.slice(0, slash);
  const destination = Object.hasOwn(loaded.config.destinations, destinationName) ? loaded.config.destinations[destinationName] : undefined;
  if (!destination || destination.type !== 'airtable') throw new CliError('no_sync', `${key}: no airtable destination "${destinationName}" in the config`, 2);
  const airtable: AirtableDestinationConfig = destination;
  const deps = integrationScheduleDeps({ config: loaded.config, store, secrets: createSecretResolver(process.env) }, destinationName, airtable);
  return { store, destinationName, destination: airtable, ingest: (poller, events) => deps.ingest(poller, events), now: Date.now() };
}

function parseId(value: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0) throw new CliError('bad_id', `"${value}" is not an id (a whole number, from the list)`, 2);
  return id;
}

async function answer<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ReviewError) throw new CliError(error.code, error.message, error.code === 'decided' ? 1 : 2);
    throw error;
  }
}

const show = (value: unknown): string => (value === null || value === undefined ? '(empty)' : typeof value === 'string' ? value : JSON.stringify(value));

export function registerAirtableReview(airtable: Command): void {
  const deletes = airtable.command('deletes').description('rows deleted in Airtable, waiting for approval before anyone is unsubscribed in Kit');
  deletes
    .command('list')
    .description('delete requests, newest first (pending unless --status says otherwise)')
    .option('--status <status>', `${DELETE_STATUSES.join('|')}`, 'pending')
    .option('--sync <destination/sync>', 'only this sync')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(async (flags: { status: string; sync?: string; limit: string; json?: boolean }, command: Command) => {
      if (!(DELETE_STATUSES as readonly string[]).includes(flags.status)) throw new CliError('bad_status', `--status must be one of ${DELETE_STATUSES.join(', ')}`, 2);
      const rows = await withStore(command, (store) =>
        store.listAirtableDeletes({ ...(flags.sync ? { sync: flags.sync } : {}), ...(flags.status !== 'all' ? { status: flags.status as AirtableDeleteStatus } : {}), limit: Number(flags.limit) || 100 }),
      );
      if (flags.json) return printJson(rows);
      printTable(rows.map((r) => ({ id: r.id, sync: r.sync, kitId: r.kitId, email: r.email ?? '', record: r.recordId, seen: `${iso(r.detectedAt)} (${r.detectedBy})`, status: r.status, note: r.note ?? '' })));
    });
  deletes
    .command('approve <id>')
    .description('unsubscribe the subscriber in Kit (queued: the running service does it)')
    .option('--note <text>', 'why, for the record', 'approved by an operator')
    .action(async (id: string, flags: { note: string }, command: Command) => {
      const decided = await withStore(command, (store, loaded) => answer(async () => {
        const request = await store.getAirtableDelete(parseId(id));
        if (!request) throw new ReviewError('not_found', `no delete request ${id} (see \`kitrelay airtable deletes list\`)`);
        return approveDelete(reviewDeps(store, loaded, request.sync), request.id, flags.note);
      }));
      process.stdout.write(`delete request ${decided.id} approved: Kit subscriber ${decided.kitId}${decided.email ? ` (${decided.email})` : ''} will be unsubscribed by the service\n`);
    });
  deletes
    .command('reject <id>')
    .description('keep the subscriber: their row is written to Airtable again')
    .option('--note <text>', 'why, for the record', 'rejected by an operator')
    .action(async (id: string, flags: { note: string }, command: Command) => {
      const decided = await withStore(command, (store, loaded) => answer(async () => {
        const request = await store.getAirtableDelete(parseId(id));
        if (!request) throw new ReviewError('not_found', `no delete request ${id} (see \`kitrelay airtable deletes list\`)`);
        return rejectDelete(reviewDeps(store, loaded, request.sync), request.id, flags.note);
      }));
      process.stdout.write(`delete request ${decided.id} rejected: the row of Kit subscriber ${decided.kitId} will be written again\n`);
    });

  const conflicts = airtable.command('conflicts').description('fields changed on both sides: what each policy decided, and what waits for you');
  conflicts
    .command('list')
    .description('field decisions, newest first (held ones unless --status says otherwise)')
    .option('--status <status>', `${DECISION_STATUSES.join('|')}`, 'held')
    .option('--sync <destination/sync>', 'only this sync')
    .option('--kit-id <id>', 'only this subscriber')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(async (flags: { status: string; sync?: string; kitId?: string; limit: string; json?: boolean }, command: Command) => {
      if (!(DECISION_STATUSES as readonly string[]).includes(flags.status)) throw new CliError('bad_status', `--status must be one of ${DECISION_STATUSES.join(', ')}`, 2);
      const rows = await withStore(command, (store) =>
        store.listAirtableDecisions({
          ...(flags.sync ? { sync: flags.sync } : {}),
          ...(flags.status !== 'all' ? { status: flags.status as AirtableFieldDecision['status'] } : {}),
          ...(flags.kitId ? { kitId: parseId(flags.kitId) } : {}),
          limit: Number(flags.limit) || 100,
        }),
      );
      if (flags.json) return printJson(rows);
      printTable(rows.map((d) => ({ id: d.id, sync: d.sync, kitId: d.kitId, field: d.field, kit: show(d.kitValue), airtable: show(d.airtableValue), was: show(d.syncedValue), policy: d.policy, status: d.status, winner: d.winner ?? '', at: iso(d.detectedAt) })));
    });
  conflicts
    .command('resolve <id>')
    .description("keep one side's value of a held conflict; the other side is brought in line by the service")
    .requiredOption('--winner <side>', 'kit|airtable')
    .option('--note <text>', 'why, for the record', 'resolved by an operator')
    .action(async (id: string, flags: { winner: string; note: string }, command: Command) => {
      if (flags.winner !== 'kit' && flags.winner !== 'airtable') throw new CliError('bad_winner', '--winner must be kit or airtable', 2);
      const winner = flags.winner;
      const resolved = await withStore(command, (store, loaded) => answer(async () => {
        const held = await store.getAirtableDecision(parseId(id));
        if (!held) throw new ReviewError('not_found', `no conflict ${id} (see \`kitrelay airtable conflicts list\`)`);
        return resolveConflict(reviewDeps(store, loaded, held.sync), held.id, winner, flags.note);
      }));
      process.stdout.write(`conflict ${resolved.id} resolved: ${resolved.field} of Kit subscriber ${resolved.kitId} keeps ${winner === 'kit' ? "Kit's" : "Airtable's"} value ${show(winner === 'kit' ? resolved.kitValue : resolved.airtableValue)}\n`);
    });
}
