/**
 * A destination sync's pull from Kit (issue 10: "refreshes the Kit side from the mirror and by
 * cursor-paginated pulls within Kit's shared rate budget"): before an audience run reads the
 * subscriber mirror, the subscribers Kit changed since the last pull are read page by page
 * (cursor pagination, every call through the shared rate budget the service's other Kit work
 * spends too) and written to the mirror.
 *
 * With no finished backfill, the pull is the backfill (resumable from its checkpoint): the mirror
 * would otherwise hold only who webhooks happened to mention.
 */
import type { KitSubscriberPull, KitPullResult } from '../integrations/types.js';
import type { KitClient } from '../kit/client/index.js';
import type { Store } from '../store/types.js';
import { BACKFILL_CHECKPOINT, runBackfill, toSnapshot } from './backfill.js';

/** List endpoints lag writes by up to ~5 minutes (reference/kit.md §9.4): look back this far. */
const LIST_LAG_MS = 5 * 60_000;
const PAGE_SIZE = 1000;

export function kitSubscriberPull(deps: { readonly client: KitClient; readonly store: Store; readonly now: () => number }): KitSubscriberPull {
  const { client, store, now } = deps;
  return {
    async pull(options): Promise<KitPullResult> {
      const backfill = await store.getCheckpoint(BACKFILL_CHECKPOINT);
      if (!backfill?.completedAt) {
        const result = await runBackfill({
          client,
          store,
          now,
          pageSize: PAGE_SIZE,
          ...(options.signal ? { signal: options.signal } : {}),
          onProgress: (progress) => options.onPage?.({ written: progress.written, ...(progress.total !== undefined ? { total: progress.total } : {}) }),
        });
        if (!result.isComplete) throw new Error(`the Kit backfill stopped after ${result.written} subscribers; the next run resumes it`);
        return { kind: 'backfill', written: result.written, pages: result.pages };
      }
      // Since the last pull (or the backfill's start, which saw everyone before it), less the lag.
      const since = (options.since ?? backfill.startedAt) - LIST_LAG_MS;
      let written = 0;
      let pages = 0;
      const iterator = client.listSubscribers({ status: 'all', include: ['tags'], updatedAfter: new Date(since), sortField: 'id', sortOrder: 'asc', perPage: PAGE_SIZE });
      for await (const page of iterator) {
        options.signal?.throwIfAborted();
        await store.upsertSubscribers(page.items.map(toSnapshot), 'reconcile', now());
        written += page.items.length;
        pages += 1;
        options.onPage?.({ written });
      }
      return { kind: 'changed', written, pages, since };
    },
  };
}
