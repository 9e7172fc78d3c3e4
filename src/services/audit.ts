/** Audit records: what each attempt sent and got back. */
import type { AttemptFilter, AttemptRecord } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

/** Audit records matching the filter, newest first. */
export function listAuditRecords(deps: ServiceDeps, filter: AttemptFilter): Promise<AttemptRecord[]> {
  return deps.store.listAttempts(filter);
}
