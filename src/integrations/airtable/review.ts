/**
 * What an operator decides about Airtable syncs (`kitrelay airtable deletes|conflicts`): a row
 * deleted in Airtable, and a field both sides changed under the `manual` policy. Each answer is
 * recorded in the store and carried out by a job (committed as a poller's, `review`), so it runs
 * in the service's worker with its audit record, retries and dead-letter queue.
 *
 * - Approving a delete unsubscribes the subscriber in Kit (Kit's API deletes no one): `kit_update`
 *   with `unsubscribe`. Rejecting it forgets the row kitrelay held and writes it again (`upsert`).
 * - Resolving a conflict for Kit writes Kit's value over the cell (`upsert`, the synced value set to
 *   the cell's so the write sees Kit's side as the change); for Airtable, the cell's value goes to
 *   Kit (`kit_update`).
 */
import { KitrelayError } from '../../lib/errors.js';
import type { AirtableDeleteRequest, AirtableFieldDecision } from '../../store/airtable-types.js';
import type { IntegrationSyncStore, PolledIngest, SourceEvent } from '../types.js';
import { syncedCell } from './cells.js';
import { kitWriteFor } from './inbound.js';
import type { KitUpdateParams } from './kit-update.js';
import type { AirtableDestinationConfig } from './schema.js';

export const REVIEW_POLLER = 'review';

export interface ReviewDeps {
  readonly store: IntegrationSyncStore;
  readonly destinationName: string;
  readonly destination: AirtableDestinationConfig;
  readonly ingest: (poller: string, events: readonly SourceEvent[]) => Promise<PolledIngest>;
  readonly now: number;
}

/** An answer that cannot be carried out; `code` says why (`decided`: someone answered first). */
export class ReviewError extends KitrelayError {
  override name = 'ReviewError';
  constructor(
    override readonly code: 'not_found' | 'decided' | 'no_sync' | 'not_in_mirror',
    message: string,
  ) {
    super(code, message, code === 'not_found' ? 404 : 409);
  }
}

/** The sync's config name from a store key (`<destination>/<sync>`), checked against this destination. */
function syncNameOf(deps: ReviewDeps, key: string): string {
  const prefix = `${deps.destinationName}/`;
  const name = key.startsWith(prefix) ? key.slice(prefix.length) : undefined;
  if (name === undefined || !Object.hasOwn(deps.destination.syncs, name)) throw new ReviewError('no_sync', `${key} is not a sync of ${deps.destinationName} in the config`);
  return name;
}

async function pendingDelete(deps: ReviewDeps, id: number): Promise<AirtableDeleteRequest> {
  const request = await deps.store.getAirtableDelete(id);
  if (!request) throw new ReviewError('not_found', `no delete request ${id} (see \`kitrelay airtable deletes list\`)`);
  if (request.status !== 'pending') throw new ReviewError('decided', `delete request ${id} is ${request.status} already${request.note ? ` (${request.note})` : ''}: nothing changed`);
  return request;
}

/** Approved: the subscriber is unsubscribed in Kit by a queued job. */
export async function approveDelete(deps: ReviewDeps, id: number, note: string): Promise<AirtableDeleteRequest> {
  const request = await pendingDelete(deps, id);
  const sync = syncNameOf(deps, request.sync);
  const decided = await deps.store.decideAirtableDelete(id, 'approved', deps.now, note);
  if (!decided) throw new ReviewError('decided', `delete request ${id} was decided meanwhile: nothing changed`);
  const params: KitUpdateParams = { sync, kitId: request.kitId, recordId: request.recordId, unsubscribe: true, deleteRequestId: id };
  await deps.ingest(REVIEW_POLLER, [{ type: 'delete_approved', id: `delete-${id}`, subscriberId: String(request.kitId), ...(request.email ? { email: request.email } : {}), payload: { request: decided }, jobs: [{ action: 'kit_update', params, subKey: 'kit' }] }]);
  return decided;
}

/** Rejected: the subscriber stays, and their row is written again. */
export async function rejectDelete(deps: ReviewDeps, id: number, note: string): Promise<AirtableDeleteRequest> {
  const request = await pendingDelete(deps, id);
  const sync = syncNameOf(deps, request.sync);
  const decided = await deps.store.decideAirtableDelete(id, 'rejected', deps.now, note);
  if (!decided) throw new ReviewError('decided', `delete request ${id} was decided meanwhile: nothing changed`);
  await deps.store.forgetAirtableRecords(request.sync, [request.kitId]);
  await deps.ingest(REVIEW_POLLER, [{ type: 'delete_rejected', id: `delete-${id}`, subscriberId: String(request.kitId), ...(request.email ? { email: request.email } : {}), payload: { request: decided }, jobs: [{ action: 'upsert', params: { sync, kitId: request.kitId }, subKey: deps.destination.syncs[sync]!.baseId }] }]);
  return decided;
}

/** An operator's answer to a held conflict, carried out by a job. */
export async function resolveConflict(deps: ReviewDeps, id: number, winner: 'kit' | 'airtable', note: string): Promise<AirtableFieldDecision> {
  const held = await deps.store.getAirtableDecision(id);
  if (!held) throw new ReviewError('not_found', `no conflict ${id} (see \`kitrelay airtable conflicts list\`)`);
  if (held.status !== 'held') throw new ReviewError('decided', `conflict ${id} is ${held.status} already (${held.winner ?? 'no'} winner): nothing changed`);
  const syncName = syncNameOf(deps, held.sync);
  const sync = deps.destination.syncs[syncName]!;
  const [subscriber] = await deps.store.listSubscribers({ kitIds: [held.kitId], limit: 1 });
  if (!subscriber) throw new ReviewError('not_in_mirror', `subscriber ${held.kitId} is not in the mirror: run \`kitrelay kit backfill\` first`);
  const resolved = await deps.store.resolveAirtableDecision(id, winner, deps.now, note);
  if (!resolved) throw new ReviewError('decided', `conflict ${id} was resolved meanwhile: nothing changed`);
  // Older conflicts of the same field (edited again while held) are settled by this answer too.
  for (const other of await deps.store.listAirtableDecisions({ sync: held.sync, status: 'held', kitId: held.kitId, limit: 100 })) {
    if (other.field === held.field) await deps.store.resolveAirtableDecision(other.id, winner, deps.now, `settled with conflict ${id}: ${note}`);
  }
  const base = { type: 'conflict_resolved', id: `conflict-${id}`, subscriberId: String(held.kitId), ...(subscriber.email ? { email: subscriber.email } : {}), payload: { decision: resolved } };
  if (winner === 'kit') {
    const [state] = await deps.store.getAirtableRecords(held.sync, [held.kitId]);
    if (state) await deps.store.setAirtableRecords(held.sync, [{ kitId: held.kitId, recordId: state.recordId, hash: state.hash, synced: { [held.field]: syncedCell(held.airtableValue) } }], deps.now);
    await deps.ingest(REVIEW_POLLER, [{ ...base, jobs: [{ action: 'upsert', params: { sync: syncName, kitId: held.kitId, settled: true }, subKey: sync.baseId }] }]);
    return resolved;
  }
  const toKit = kitWriteFor(sync, held.field, held.airtableValue, subscriber);
  if (toKit) {
    const params: KitUpdateParams = { sync: syncName, kitId: held.kitId, recordId: held.recordId, ...toKit };
    await deps.ingest(REVIEW_POLLER, [{ ...base, jobs: [{ action: 'kit_update', params, subKey: 'kit' }] }]);
  }
  return resolved;
}

