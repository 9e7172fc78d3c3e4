/**
 * Expected membership follows Kit's webhooks (issue 10: "Webhooks update the expected membership
 * as they arrive"): a tag added or removed, an unsubscribe, a bounce, a complaint changes the
 * subscriber mirror in the ingest transaction, and the event follower (ingest/follow.ts) hands
 * the changed subscribers here, where each audience's selection decides again what it should hold
 * for them. Nothing is sent: the audience's next run sends the difference. That run still reads
 * the whole mirror, so it stays the backstop for what no event reports (a backfill, a subscriber
 * deleted from the mirror: `expireAudienceMembersNotInMirror`).
 */
import type { MirrorSubscriber } from '../../store/types.js';
import type { FollowContext } from '../types.js';
import type { MetaDestinationConfig } from './schema.js';
import { membershipOf } from './selection.js';
import { audienceKey } from './upload.js';

/** Sets every audience's expected row for these subscribers from their mirror rows now. */
export async function followAudiences(ctx: FollowContext<MetaDestinationConfig>, subscribers: readonly MirrorSubscriber[]): Promise<void> {
  if (subscribers.length === 0) return;
  for (const [name, audience] of Object.entries(ctx.destination.audiences)) {
    // State, not a change: setting it twice (a crash before the follower saved its place) is harmless.
    const members = subscribers.map((subscriber) => membershipOf(subscriber, audience).member);
    await ctx.store.setAudienceMembers(audienceKey(ctx.destinationName, name), members, ctx.now);
  }
}
