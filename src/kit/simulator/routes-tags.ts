/**
 * `/v4/tags` (reference/kit.md §5 Tags): list, create (case-insensitive upsert by name), rename,
 * a tag's subscribers, tag and untag by subscriber id or by email.
 */
import type { FastifyInstance } from 'fastify';
import { NOT_FOUND, bodyOf, param, queryOf, sendErrors, sendNoContent, text, type RouteContext } from './http.js';
import { sendJoined, sendMembers, subscriberFromRequest } from './members.js';
import { isoSeconds, type Tag } from './model.js';
import { paginateById, parsePageRequest } from './pagination.js';

export const NAME_BLANK = "Name can't be blank";
export const NAME_TAKEN = 'Name has already been taken';
export const TAG_EMAIL_REQUIRED = 'Either subscriber id or email address is required to tag subscriber';
export const UNTAG_EMAIL_REQUIRED = 'Either subscriber id or email address is required to remove tag from subscriber';

function tagBody(tag: Tag): Record<string, unknown> {
  return { id: tag.id, name: tag.name, created_at: isoSeconds(tag.createdAt) };
}

export function registerTagRoutes(app: FastifyInstance, { state }: RouteContext): void {
  const { catalog } = state;

  app.get('/v4/tags', (request, reply) => {
    const page = parsePageRequest(queryOf(request), 'id');
    if ('error' in page) return sendErrors(reply, 422, page.error);
    const { items, pagination } = paginateById(catalog.tags, page);
    return reply.send({ tags: items.map(tagBody), pagination });
  });

  app.post('/v4/tags', (request, reply) => {
    const created = catalog.createTag(text(bodyOf(request).name) ?? '');
    if (created === 'blank') return sendErrors(reply, 422, NAME_BLANK);
    return reply.code(created.isNew ? 201 : 200).send({ tag: tagBody(created.tag) });
  });

  app.put('/v4/tags/:id', (request, reply) => {
    const id = param(request, 'id');
    const renamed = id === undefined ? undefined : catalog.renameTag(id, text(bodyOf(request).name) ?? '');
    if (renamed === undefined) return sendErrors(reply, 404, NOT_FOUND);
    if (renamed === 'blank') return sendErrors(reply, 422, NAME_BLANK);
    if (renamed === 'taken') return sendErrors(reply, 422, NAME_TAKEN);
    return reply.send({ tag: tagBody(renamed) });
  });

  app.get('/v4/tags/:tag_id/subscribers', (request, reply) => {
    const tagId = param(request, 'tag_id');
    return sendMembers(request, reply, state, state.taggings, tagId, tagId !== undefined && catalog.tag(tagId) !== undefined);
  });

  app.post('/v4/tags/:tag_id/subscribers/:id', (request, reply) => {
    const tagId = param(request, 'tag_id');
    const id = param(request, 'id');
    if (tagId === undefined || id === undefined) return sendErrors(reply, 404, NOT_FOUND);
    return sendJoined(reply, state, state.taggings, state.tagSubscriber(tagId, id));
  });

  app.post('/v4/tags/:tag_id/subscribers', (request, reply) => {
    const tagId = param(request, 'tag_id');
    if (tagId === undefined || !catalog.tag(tagId)) return sendErrors(reply, 404, NOT_FOUND);
    const id = subscriberFromRequest(request, state);
    if (id === 'missing') return sendErrors(reply, 422, TAG_EMAIL_REQUIRED);
    // Tagging by email never creates the subscriber (reference/kit.md §5): unknown → 404.
    if (id === 'unknown') return sendErrors(reply, 404, NOT_FOUND);
    return sendJoined(reply, state, state.taggings, state.tagSubscriber(tagId, id));
  });

  app.delete('/v4/tags/:tag_id/subscribers/:id', (request, reply) => {
    const tagId = param(request, 'tag_id');
    const id = param(request, 'id');
    const outcome = tagId === undefined || id === undefined ? 'collection_not_found' : state.untagSubscriber(tagId, id);
    // Removing a tag the subscriber does not have answers 204 too (and changes nothing) [UNC].
    return typeof outcome === 'boolean' ? sendNoContent(reply) : sendErrors(reply, 404, NOT_FOUND);
  });

  app.delete('/v4/tags/:tag_id/subscribers', (request, reply) => {
    const tagId = param(request, 'tag_id');
    if (tagId === undefined || !catalog.tag(tagId)) return sendErrors(reply, 404, NOT_FOUND);
    const id = subscriberFromRequest(request, state);
    if (id === 'missing') return sendErrors(reply, 422, UNTAG_EMAIL_REQUIRED);
    if (id === 'unknown') return sendErrors(reply, 404, NOT_FOUND);
    state.untagSubscriber(tagId, id);
    return sendNoContent(reply);
  });
}
