/**
 * Which Kit subscribers an audience holds, and the row it holds for each: read from the subscriber
 * mirror (kept current by webhooks and backfills), so a run never re-reads Kit in full. Pure.
 */
import type { AudienceMemberInput, MirrorSubscriber } from '../../store/types.js';
import { isSelected } from '../selection.js';
import { buildRow, MATCH_KEYS, type MatchKey, type MatchValues } from './normalize.js';
import type { AudienceConfig } from './schema.js';

export { isSelected };

/** The payload's `schema`: the configured keys in Meta's documented order, so rows never reorder. */
export function schemaOf(audience: Pick<AudienceConfig, 'keys'>): MatchKey[] {
  return MATCH_KEYS.filter((key) => audience.keys[key] !== undefined);
}

export interface Membership {
  readonly member: AudienceMemberInput;
  /** Keys whose value could not be used (a phone that normalises to nothing): dropped from the row only. */
  readonly dropped: readonly { readonly key: MatchKey; readonly reason: string }[];
  /** Why a selected subscriber has no row at all (no usable key), if so. */
  readonly unusable?: string;
}

/** What the audience should hold for this subscriber now: their row, or nothing. */
export function membershipOf(subscriber: MirrorSubscriber, audience: AudienceConfig): Membership {
  const none = (unusable?: string): Membership => ({ member: { subscriberId: subscriber.kitId, row: null, matchKey: null }, dropped: [], ...(unusable ? { unusable } : {}) });
  if (!isSelected(subscriber, audience.select)) return none();
  const schema = schemaOf(audience);
  const built = buildRow(schema, valuesOf(subscriber, audience));
  if (!built.ok) return none(built.reason);
  const email = schema.indexOf('EMAIL');
  const identity = (email >= 0 ? built.row[email] : undefined) || built.row.find((value) => value !== '');
  if (!identity) return none('no usable match key');
  return { member: { subscriberId: subscriber.kitId, row: built.row, matchKey: identity }, dropped: built.dropped };
}

function valuesOf(subscriber: MirrorSubscriber, audience: AudienceConfig): MatchValues {
  const values: Record<string, string | undefined> = {};
  for (const [key, source] of Object.entries(audience.keys)) {
    if (source === undefined) continue;
    if (source !== true) {
      values[key] = subscriber.fields[source.field] ?? undefined;
      continue;
    }
    if (key === 'EMAIL') values[key] = subscriber.email || undefined;
    else if (key === 'EXTERN_ID') values[key] = String(subscriber.kitId);
    else if (key === 'FN') values[key] = subscriber.firstName ?? undefined;
  }
  return values;
}
