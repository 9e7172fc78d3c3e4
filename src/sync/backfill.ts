/**
 * Backfill: pull every Kit subscriber (with their tags) into the subscriber mirror, page by page,
 * within the shared rate budget. After each page is written, its cursor is saved in a checkpoint;
 * an interrupted run (killed, crashed, out of budget) resumes after the last page it wrote. A page
 * written twice (a crash between the write and the checkpoint) is harmless: the mirror is keyed by
 * Kit id, so nothing is missed or doubled.
 *
 * Pages are read in ascending id order, so subscribers created during a long backfill land on later
 * pages instead of before the cursor (Kit's default order is descending, reference/kit.md §5).
 */
import type { KitClient, KitSubscriber } from '../kit/client/index.js';
import type { Store, SubscriberSnapshot, SyncCheckpoint } from '../store/types.js';

export const BACKFILL_CHECKPOINT = 'kit-backfill';

export interface BackfillProgress {
  readonly written: number;
  readonly pages: number;
  /** Kit's total, when it said (first page only). */
  readonly total?: number;
  readonly isResumed: boolean;
}

export interface BackfillOptions {
  readonly client: KitClient;
  readonly store: Store;
  readonly now: () => number;
  /** @default 500 */
  readonly pageSize?: number;
  /** Start over even if an unfinished run left a checkpoint. @default false */
  readonly isRestart?: boolean;
  /** Stop (with the checkpoint saved) after this many pages: for tests and for bounded runs. */
  readonly maxPages?: number;
  readonly onProgress?: (progress: BackfillProgress) => void;
  readonly signal?: AbortSignal;
}

export interface BackfillResult extends BackfillProgress {
  readonly isComplete: boolean;
}

export function toSnapshot(subscriber: KitSubscriber): SubscriberSnapshot {
  const created = Date.parse(subscriber.created_at);
  return {
    kitId: subscriber.id,
    email: subscriber.email_address.trim().toLowerCase(),
    firstName: subscriber.first_name,
    state: subscriber.state,
    fields: subscriber.fields ?? {},
    createdAt: Number.isNaN(created) ? null : created,
    // Only when Kit included them: otherwise the mirror keeps the tags it has.
    ...(subscriber.tags ? { tags: subscriber.tags.map((tag) => ({ id: tag.id, name: tag.name })) } : {}),
  };
}

export async function runBackfill(options: BackfillOptions): Promise<BackfillResult> {
  const { client, store, now } = options;
  const saved = await store.getCheckpoint(BACKFILL_CHECKPOINT);
  const isResumed = Boolean(saved && saved.completedAt === null && !options.isRestart);
  let checkpoint: SyncCheckpoint = isResumed && saved ? saved : { name: BACKFILL_CHECKPOINT, cursor: null, data: { written: 0, pages: 0 }, startedAt: now(), updatedAt: now(), completedAt: null };
  if (!isResumed) await store.saveCheckpoint(checkpoint);
  let written = Number(checkpoint.data.written ?? 0);
  let pages = Number(checkpoint.data.pages ?? 0);
  let total = typeof checkpoint.data.total === 'number' ? checkpoint.data.total : undefined;
  let pagesThisRun = 0;

  const iterator = client.listSubscribers({
    status: 'all',
    include: ['tags'],
    sortField: 'id',
    sortOrder: 'asc',
    perPage: options.pageSize ?? 500,
    after: checkpoint.cursor,
    includeTotalCount: !isResumed,
  });
  for await (const page of iterator) {
    if (options.signal?.aborted) break;
    if (page.pagination.total_count !== undefined) total = page.pagination.total_count;
    await store.upsertSubscribers(page.items.map(toSnapshot), 'backfill', now());
    written += page.items.length;
    pages += 1;
    pagesThisRun += 1;
    checkpoint = { ...checkpoint, cursor: page.cursor, data: { written, pages, ...(total !== undefined ? { total } : {}) }, updatedAt: now() };
    await store.saveCheckpoint(checkpoint);
    options.onProgress?.({ written, pages, ...(total !== undefined ? { total } : {}), isResumed });
    if (!page.pagination.has_next_page) {
      await store.saveCheckpoint({ ...checkpoint, completedAt: now() });
      return { written, pages, ...(total !== undefined ? { total } : {}), isResumed, isComplete: true };
    }
    if (options.maxPages !== undefined && pagesThisRun >= options.maxPages) break;
  }
  return { written, pages, ...(total !== undefined ? { total } : {}), isResumed, isComplete: false };
}
