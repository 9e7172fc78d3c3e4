/**
 * Kit → Airtable in near real time: the event follower (ingest/follow.ts) hands over the mirror
 * rows of the subscribers Kit's events changed, and each sync decides whether their record needs
 * a write: their record as it should be now differs from what was last written (its content hash),
 * or they left and have a row. Each such subscriber gets one `upsert` job, through the same commit
 * as a poller's findings, made to run `coalesceMs` later.
 *
 * Coalescing: the job's event id is `<sync>:<kit id>:<window>`, the window being the follow time
 * rounded down to `coalesceMs`, so more changes in the same window find the event already
 * committed and make no second job; the job runs at the earliest when its window has ended, and
 * reads the mirror then, so it writes every change of its window (and any later one). A change
 * followed after the job ran falls in a later window and makes a job of its own. Jobs of one
 * subscriber run in order (their subscriber key), so two never write the same row at once.
 */
import type { MirrorSubscriber, AirtableRecordState } from '../../store/types.js';
import type { FollowContext, SourceEvent } from '../types.js';
import { planRecord, syncKey } from './records.js';
import type { AirtableDestinationConfig } from './schema.js';

/** The poller name the follower's events are committed under (`airtable:record_changed`, source `poll`). */
export const FOLLOW_POLLER = 'follow';

/** Plans one delayed write per sync for each subscriber whose record needs one. */
export async function followSyncs(ctx: FollowContext<AirtableDestinationConfig>, subscribers: readonly MirrorSubscriber[]): Promise<void> {
  const syncs = Object.entries(ctx.destination.syncs);
  if (subscribers.length === 0 || syncs.length === 0) return;
  if (!ctx.ingest) throw new Error(`the event follower gave ${ctx.destinationName} no way to queue jobs (a kitrelay bug): Airtable records are not kept up to date`);
  const kitIds = subscribers.map((s) => s.kitId);
  const events: SourceEvent[] = [];
  for (const [name, sync] of syncs) {
    const states = new Map<number, AirtableRecordState>((await ctx.store.getAirtableRecords(syncKey(ctx.destinationName, name), kitIds)).map((s) => [s.kitId, s]));
    const window = sync.coalesceMs > 0 ? Math.floor(ctx.now / sync.coalesceMs) : ctx.now;
    for (const subscriber of subscribers) {
      const plan = planRecord(subscriber.kitId, subscriber, states.get(subscriber.kitId), sync);
      if (plan.kind === 'none') continue;
      events.push({
        type: 'record_changed',
        id: `${name}:${subscriber.kitId}:${window}`,
        subscriberId: String(subscriber.kitId),
        payload: { sync: name, kitId: subscriber.kitId, change: plan.kind === 'write' ? 'write' : 'remove' },
        jobs: [{ action: 'upsert', params: { sync: name, kitId: subscriber.kitId }, subKey: sync.baseId, delayMs: sync.coalesceMs }],
      });
    }
  }
  if (events.length > 0) await ctx.ingest(FOLLOW_POLLER, events);
}
