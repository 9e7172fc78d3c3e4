/**
 * The Meta simulator's objects as Graph shows them (reference/destinations.md §2.2, §2.5): an
 * audience's fields, a session, and the whole account for `GET /_sim/state`.
 *
 * Audience size is never exact on Graph (§2.5 [C]): the simulator reports the matched member
 * count between `approximate_count_lower_bound` and `approximate_count_upper_bound`, each the
 * count rounded down and up to two significant digits (12,345 → 12,000–13,000); below
 * `countFloor` (default 1,000) Meta hides the size, so the bounds are 0 and the floor [U]. The
 * bounds always hold the true count.
 */
import { errors, failure, ok, type GraphOutcome } from './simulator-graph.js';
import type { MetaAudience, MetaSession, MetaState } from './simulator-state.js';

/** Below this many matched people an audience cannot deliver ads [U: Meta's UI says 100]. */
const DELIVERY_MINIMUM = 100;

export const AUDIENCE_FIELDS = [
  'id',
  'account_id',
  'name',
  'description',
  'subtype',
  'customer_file_source',
  'approximate_count_lower_bound',
  'approximate_count_upper_bound',
  'operation_status',
  'delivery_status',
  'time_created',
  'time_updated',
  'data_source',
  'is_value_based',
] as const;

export const SESSION_FIELDS = ['session_id', 'start_time', 'end_time', 'num_received', 'num_matched', 'num_invalid_entries', 'progress', 'stage'] as const;

export function countBounds(count: number, floor: number): { readonly lower: number; readonly upper: number } {
  if (count < floor) return { lower: 0, upper: floor };
  if (count < 100) return { lower: count, upper: count };
  const step = 10 ** (Math.floor(Math.log10(count)) - 1);
  return { lower: Math.floor(count / step) * step, upper: Math.ceil(count / step) * step };
}

const seconds = (ms: number) => Math.floor(ms / 1000);

function audienceValues(audience: MetaAudience, state: MetaState, countFloor: number): Record<(typeof AUDIENCE_FIELDS)[number], unknown> {
  const matched = state.matchedCount(audience);
  const bounds = countBounds(matched, countFloor);
  return {
    id: audience.id,
    account_id: state.accountId,
    name: audience.name,
    description: audience.description,
    subtype: audience.subtype,
    customer_file_source: audience.customerFileSource,
    approximate_count_lower_bound: bounds.lower,
    approximate_count_upper_bound: bounds.upper,
    // [C] 200 Normal and 471 flagged; the 471 description is [U].
    operation_status: audience.isFlagged
      ? { code: 471, description: 'This audience has been flagged for a possible violation of our terms. Resolve its restrictions in Audience Manager.' }
      : { code: 200, description: 'Normal' },
    delivery_status: matched >= DELIVERY_MINIMUM ? { code: 200, description: 'This audience is ready for use.' } : { code: 300, description: 'This audience is too small to deliver ads.' },
    time_created: seconds(audience.createdAt),
    time_updated: seconds(audience.updatedAt),
    data_source: { type: 'FILE_IMPORTED', sub_type: 'HASHES_OR_USER_IDS', creation_params: '[]' },
    is_value_based: false,
  };
}

/** The fields asked for; without `fields`, only `id`, as Graph answers a node by default [U]. */
export function audienceJson(audience: MetaAudience, state: MetaState, countFloor: number, fields: readonly string[] | undefined): GraphOutcome<Record<string, unknown>> {
  return pick(audienceValues(audience, state, countFloor), fields ?? ['id'], 'CustomAudience');
}

/** Every field of the session object is a string on Graph (custom-audience-session reference [V]). */
function sessionValues(session: MetaSession): Record<(typeof SESSION_FIELDS)[number], string> {
  const estimated = session.estimatedTotal;
  const progress = session.stage === 'processed' ? 100 : estimated ? Math.min(99, Math.floor((session.received / estimated) * 100)) : 0;
  return {
    session_id: session.id,
    start_time: String(seconds(session.startTime)),
    end_time: String(session.endTime === undefined ? 0 : seconds(session.endTime)),
    num_received: String(session.received),
    num_matched: String(session.matched),
    num_invalid_entries: String(session.invalid),
    progress: String(progress),
    stage: session.stage,
  };
}

/** Without `fields`, every field: a session has no id to fall back to. */
export function sessionJson(session: MetaSession, fields: readonly string[] | undefined): GraphOutcome<Record<string, unknown>> {
  return pick(sessionValues(session), fields ?? SESSION_FIELDS, 'CustomAudienceSession');
}

function pick(values: Record<string, unknown>, fields: readonly string[], nodeType: string): GraphOutcome<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    if (!Object.hasOwn(values, field)) return failure(errors.nonexistingField(field, nodeType));
    out[field] = values[field];
  }
  return ok(out);
}

/** `GET /_sim/state`: every audience with its members (identities and values), size and sessions. */
export function snapshot(state: MetaState, countFloor: number): Record<string, unknown> {
  return {
    adAccountId: state.adAccountId,
    matchRate: state.matchRate,
    minimumSize: state.minimumSize ?? null,
    audiences: [...state.audiences.values()].map((audience) => {
      const matched = state.matchedCount(audience);
      return {
        id: audience.id,
        name: audience.name,
        description: audience.description,
        customerFileSource: audience.customerFileSource,
        isFlagged: audience.isFlagged,
        isDeleted: audience.isDeleted,
        size: audience.members.size,
        matched,
        bounds: countBounds(matched, countFloor),
        members: [...audience.members.values()],
        sessions: audience.sessions.map((s) => ({ ...sessionValues(s), operation: s.operation, batches: s.batches })),
        replace: audience.replace ? { session_id: audience.replace.session.id, members: audience.replace.members.size } : null,
      };
    }),
  };
}
