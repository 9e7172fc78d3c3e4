/** Audit records: what each attempt sent and got back; and what Meta audiences were sent about someone. */
import { hashKey } from '../integrations/meta/normalize.js';
import type { AttemptFilter, AttemptRecord, AudienceSentItem } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

/** Audit records matching the filter, newest first. */
export function listAuditRecords(deps: ServiceDeps, filter: AttemptFilter): Promise<AttemptRecord[]> {
  return deps.store.listAttempts(filter);
}

export type AudienceSendsResult =
  | { readonly kind: 'found'; readonly matchKey: string; readonly sends: readonly AudienceSentItem[] }
  | { readonly kind: 'invalid_email'; readonly reason: string };

/**
 * "What did we send Meta about X, and when?": X's address normalised and hashed as every batch
 * hashed it, then every batch row with that hash (only those of `audiences`, `<destination>/<name>`,
 * when given), oldest first. The address itself was never sent, nor stored with the batches.
 */
export async function audienceSends(deps: ServiceDeps, email: string, audiences?: readonly string[]): Promise<AudienceSendsResult> {
  const hashed = hashKey('EMAIL', email);
  if (!hashed.ok) return { kind: 'invalid_email', reason: hashed.reason };
  const sends = await deps.store.findAudienceItems(hashed.value, 10_000);
  return { kind: 'found', matchKey: hashed.value, sends: audiences ? sends.filter((s) => audiences.includes(s.batch.audience)) : sends };
}
