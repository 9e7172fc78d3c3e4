/** Maintenance: retention on demand, and online backup. */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { DAY } from '../lib/clock.js';
import type { PurgeInput, PurgeResult } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

export interface RetentionDeps extends ServiceDeps {
  readonly config: Pick<Config, 'retention'>;
}

/** The purge the retention settings ask for at `now`: each cutoff is `now` minus its days. */
export function retentionCutoffs(retention: Config['retention'], now: number): PurgeInput {
  return {
    now,
    eventsBefore: now - retention.eventDays * DAY,
    quarantineBefore: now - retention.quarantineDays * DAY,
    auditScrubBefore: now - retention.auditPersonalDataDays * DAY,
  };
}

export interface RetentionRun {
  readonly cutoffs: PurgeInput;
  readonly removed: PurgeResult;
}

/** Applies the retention settings now (the service also runs them on `retention.schedule`). */
export async function runRetention(deps: RetentionDeps): Promise<RetentionRun> {
  const cutoffs = retentionCutoffs(deps.config.retention, deps.clock.now());
  return { cutoffs, removed: await deps.store.purge(cutoffs) };
}

/**
 * A store that can copy itself while in use (SQLite's online backup API). Not on the Store port:
 * a PostgreSQL deployment backs up with its own tools.
 */
export interface BackupSource {
  /** The database file. */
  readonly path: string;
  backup(target: string): Promise<void>;
}

export type BackupResult =
  | { readonly kind: 'backed_up'; readonly from: string; readonly to: string }
  /** The target is the live database itself: copying a file onto itself would ruin it. */
  | { readonly kind: 'same_file'; readonly path: string };

/** Copies the store to `target` (an absolute path), consistent even while the service writes. */
export async function backupStore(deps: { readonly store: BackupSource }, target: string): Promise<BackupResult> {
  const from = path.resolve(deps.store.path);
  const to = path.resolve(target);
  if (from === to) return { kind: 'same_file', path: to };
  await deps.store.backup(to);
  return { kind: 'backed_up', from: deps.store.path, to };
}
