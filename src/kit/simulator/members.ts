/**
 * What tag, form and sequence routes share: listing a collection's subscribers (with `tagged_at`
 * or `added_at`) and answering an add (201 new, 200 already a member).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { subscriberFilter } from './filters.js';
import { NOT_FOUND, bodyOf, invalidDate, isTrue, queryOf, sendErrors, text, timeWindow } from './http.js';
import { isoSeconds } from './model.js';
import type { Membership, MembershipStore } from './memberships.js';
import { paginate, parsePageRequest } from './pagination.js';
import type { MembershipOutcome, SimState } from './state.js';

/** `tagged_at` for tags, `added_at` for forms and sequences; forms add the referrer (reference/kit.md §4). */
export function membershipFields(store: MembershipStore, m: Membership): Record<string, unknown> {
  if (store.kind === 'tag') return { tagged_at: isoSeconds(m.at) };
  if (store.kind === 'sequence') return { added_at: isoSeconds(m.at) };
  return { added_at: isoSeconds(m.at), referrer: m.referrer, referrer_utm_parameters: utmParameters(m.referrer) };
}

function utmParameters(referrer: string | null): Record<string, string | null> {
  let params: URLSearchParams | undefined;
  try {
    params = referrer ? new URL(referrer).searchParams : undefined;
  } catch {
    // Not a URL (Kit stores what the form sent): it has no UTM parameters.
    params = undefined;
  }
  const get = (name: string) => params?.get(`utm_${name}`) ?? null;
  return { source: get('source'), medium: get('medium'), campaign: get('campaign'), term: get('term'), content: get('content') };
}

/** `GET /v4/{tags|forms|sequences}/{id}/subscribers`: status (default active), created and tagged/added windows, slim. */
export function sendMembers(request: FastifyRequest, reply: FastifyReply, state: SimState, store: MembershipStore, collectionId: number | undefined, exists: boolean): FastifyReply {
  if (collectionId === undefined || !exists) return sendErrors(reply, 404, NOT_FOUND);
  const query = queryOf(request);
  const filter = subscriberFilter(query, ['created']);
  if ('error' in filter) return sendErrors(reply, 422, filter.error);
  const prefix = store.kind === 'tag' ? 'tagged' : 'added';
  const window = timeWindow(query, prefix);
  if ('invalid' in window) return sendErrors(reply, 422, invalidDate(window.invalid));
  const page = parsePageRequest(query, 'id');
  if ('error' in page) return sendErrors(reply, 422, page.error);
  const isSlim = isTrue(query.slim);
  const sources = store.sources(collectionId, filter, window, (subscriberId, membership) => {
    const view = state.subscribers.listView(subscriberId) ?? state.subscribers.get(subscriberId);
    const json: Record<string, unknown> = view ? { ...state.json(view) } : { id: subscriberId };
    if (isSlim) delete json.fields;
    return { ...json, ...membershipFields(store, membership) };
  });
  const { items, pagination } = paginate(sources, text(query.sort_order) === 'asc' ? 'asc' : 'desc', page, 'id');
  return reply.send({ subscribers: items, pagination });
}

/** Answers an add: 201 `{subscriber}` when new, 200 when already a member, 404 when either side is missing. */
export function sendJoined(reply: FastifyReply, state: SimState, store: MembershipStore, outcome: MembershipOutcome): FastifyReply {
  if (outcome === 'collection_not_found' || outcome === 'subscriber_not_found') return sendErrors(reply, 404, NOT_FOUND);
  return reply.code(outcome.isNew ? 201 : 200).send({ subscriber: { ...state.json(outcome.subscriber), ...membershipFields(store, outcome.membership) } });
}

/**
 * The subscriber a by-email (or by-id in the body) request names. Where untag-by-email puts the
 * email is inconsistent across Kit's sources [UNC], so the query, a JSON body and a form body all work.
 */
export function subscriberFromRequest(request: FastifyRequest, state: SimState): number | 'missing' | 'unknown' {
  const body = bodyOf(request);
  const query = queryOf(request);
  const byId = Number(text(body.id) ?? text(query.id));
  if (Number.isSafeInteger(byId) && byId > 0) return state.subscribers.get(byId) ? byId : 'unknown';
  const email = text(body.email_address) ?? text(query.email_address);
  if (email === undefined || email.trim() === '') return 'missing';
  return state.subscribers.idOfEmail(email) ?? 'unknown';
}
