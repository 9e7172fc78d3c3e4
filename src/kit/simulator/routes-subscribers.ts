/**
 * `/v4/subscribers` (reference/kit.md §5 Subscribers): list with filters, upsert, get, update,
 * unsubscribe and a subscriber's tags.
 */
import type { FastifyInstance } from 'fastify';
import { subscriberFilter } from './filters.js';
import { NOT_FOUND, bodyOf, idOf, isTrue, param, queryOf, sendErrors, sendNoContent, text, type RouteContext } from './http.js';
import { isRecord, isSubscriberState, isValidEmail, isoSeconds, tagJson, type SubscriberData } from './model.js';
import { paginate, paginateById, parsePageRequest, type KeyKind } from './pagination.js';
import { canceledAtJson, type SortField } from './subscribers.js';

export const EMAIL_INVALID = 'Email address is invalid';
export const EMAIL_TAKEN = 'Email address has already been taken';
export const CANCELLED_SORT = 'The status param must be `cancelled` if sort_field is `cancelled_at`';
/** Kit writes more than this many custom fields asynchronously and answers 202. */
export const SYNC_FIELDS_LIMIT = 10;
export const MAX_FIELDS = 140;

/** `fields` of a write: values as strings or null; the error message when it is not an object. */
export function parseFields(raw: unknown): { values: Record<string, string | null> | undefined; count: number } | { error: string } {
  if (raw === undefined || raw === null) return { values: undefined, count: 0 };
  if (!isRecord(raw)) return { error: 'Fields must be an object' };
  const values: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(raw)) values[key] = value === null ? null : typeof value === 'string' ? value : JSON.stringify(value);
  const count = Object.keys(values).length;
  if (count > MAX_FIELDS) return { error: `Cannot update more than ${MAX_FIELDS} custom fields at a time` };
  return { values, count };
}

function firstName(raw: unknown): string | null | undefined {
  if (raw === null) return null;
  return text(raw);
}

export function registerSubscriberRoutes(app: FastifyInstance, { state }: RouteContext): void {
  app.get('/v4/subscribers', (request, reply) => {
    const query = queryOf(request);
    const filter = subscriberFilter(query, ['created', 'updated']);
    if ('error' in filter) return sendErrors(reply, 422, filter.error);
    const sortField = text(query.sort_field) ?? 'id';
    const sort: SortField | undefined = sortField === 'canceled_at' ? 'cancelled_at' : (['id', 'created_at', 'updated_at', 'cancelled_at'] as const).find((s) => s === sortField);
    if (sortField.startsWith('engagement__')) return sendErrors(reply, 422, `sort_field ${sortField} is not supported by the Kit simulator`);
    if (!sort) return sendErrors(reply, 422, 'The sort_field param is invalid');
    if (sort === 'cancelled_at' && (filter.states?.size !== 1 || !filter.states.has('cancelled'))) return sendErrors(reply, 422, CANCELLED_SORT);
    const order = text(query.sort_order) === 'asc' ? 'asc' : 'desc';
    const kind: KeyKind = sort === 'id' ? 'id' : 'time';
    const page = parsePageRequest(query, kind);
    if ('error' in page) return sendErrors(reply, 422, page.error);

    const includes = new Set((text(query.include) ?? '').split(',').map((s) => s.trim()));
    const isSlim = isTrue(query.slim);
    const tagIds = state.catalog.tags.map((t) => t.id);
    const render = (s: SubscriberData): Record<string, unknown> => {
      const json: Record<string, unknown> = { ...state.json(s) };
      if (isSlim) delete json.fields;
      if (includes.has('tags')) {
        json.tags = state.taggings.ofSubscriber(s.id, tagIds).map(({ collectionId }) => tagJson(state.catalog.tag(collectionId) ?? { id: collectionId, name: '', createdAt: 0 }));
      }
      if (includes.has('canceled_at') || includes.has('cancelled_at')) json.canceled_at = canceledAtJson(s);
      return json;
    };
    // The email filter is an exact match (a comma-separated list in S2's example [UNC]): look the ids up, scan nothing.
    const emails = text(query.email_address);
    const sources =
      emails === undefined || emails.trim() === ''
        ? state.subscribers.sources(filter, sort, render)
        : state.subscribers.sourcesFor(
            emails.split(',').flatMap((e) => state.subscribers.idOfEmail(e) ?? []),
            filter,
            sort,
            render,
          );
    const { items, pagination } = paginate(sources, order, page, kind);
    return reply.send({ subscribers: items, pagination });
  });

  app.post('/v4/subscribers', (request, reply) => {
    const body = bodyOf(request);
    const email = text(body.email_address);
    if (email === undefined || !isValidEmail(email)) return sendErrors(reply, 422, EMAIL_INVALID);
    if (body.state !== undefined && body.state !== null && !isSubscriberState(body.state)) return sendErrors(reply, 422, 'State is invalid');
    const fields = parseFields(body.fields);
    if ('error' in fields) return sendErrors(reply, 422, fields.error);
    const outcome = state.upsertSubscriber({
      email,
      firstName: firstName(body.first_name),
      ...(isSubscriberState(body.state) ? { state: body.state } : {}),
      ...(fields.values ? { fields: fields.values } : {}),
    });
    // Kit answers 202 and writes the fields later when there are more than 10; here they are already written.
    const status = fields.count > SYNC_FIELDS_LIMIT ? 202 : outcome.isNew ? 201 : 200;
    return reply.code(status).send({ subscriber: state.json(outcome.subscriber), ...(outcome.warnings.length > 0 ? { warnings: outcome.warnings } : {}) });
  });

  app.get('/v4/subscribers/:id', (request, reply) => {
    const id = param(request, 'id');
    const subscriber = id === undefined ? undefined : state.getSubscriber(id);
    return subscriber ? reply.send({ subscriber }) : sendErrors(reply, 404, NOT_FOUND);
  });

  app.put('/v4/subscribers/:id', (request, reply) => {
    const id = param(request, 'id');
    if (id === undefined) return sendErrors(reply, 404, NOT_FOUND);
    const body = bodyOf(request);
    const email = text(body.email_address);
    if (email !== undefined && !isValidEmail(email)) return sendErrors(reply, 422, EMAIL_INVALID);
    const fields = parseFields(body.fields);
    if ('error' in fields) return sendErrors(reply, 422, fields.error);
    const outcome = state.updateSubscriber(id, {
      ...(email === undefined ? {} : { email }),
      ...('first_name' in body ? { firstName: firstName(body.first_name) ?? null } : {}),
      ...(fields.values ? { fields: fields.values } : {}),
    });
    if (outcome === 'not_found') return sendErrors(reply, 404, NOT_FOUND);
    if (outcome === 'email_taken') return sendErrors(reply, 422, EMAIL_TAKEN);
    const status = fields.count > SYNC_FIELDS_LIMIT ? 202 : 200;
    return reply.code(status).send({ subscriber: state.json(outcome.subscriber), ...(outcome.warnings.length > 0 ? { warnings: outcome.warnings } : {}) });
  });

  app.post('/v4/subscribers/:id/unsubscribe', (request, reply) => {
    const id = param(request, 'id');
    return id !== undefined && state.unsubscribe(id) ? sendNoContent(reply) : sendErrors(reply, 404, NOT_FOUND);
  });

  app.get('/v4/subscribers/:id/tags', (request, reply) => {
    const id = idOf((request.params as Record<string, unknown>).id);
    if (id === undefined || !state.subscribers.get(id)) return sendErrors(reply, 404, NOT_FOUND);
    const page = parsePageRequest(queryOf(request), 'id');
    if ('error' in page) return sendErrors(reply, 422, page.error);
    const tags = state.taggings.ofSubscriber(id, state.catalog.tags.map((t) => t.id)).flatMap(({ collectionId, membership }) => {
      const tag = state.catalog.tag(collectionId);
      return tag ? [{ id: tag.id, name: tag.name, tagged_at: isoSeconds(membership.at) }] : [];
    });
    const { items, pagination } = paginateById(tags, page);
    return reply.send({ tags: items, pagination });
  });
}
