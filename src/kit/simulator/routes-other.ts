/**
 * Custom fields, forms, sequences and the account (reference/kit.md §5).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NOT_FOUND, bodyOf, param, queryOf, sendErrors, sendNoContent, text, type RouteContext } from './http.js';
import { sendJoined, sendMembers, subscriberFromRequest } from './members.js';
import { customFieldJson, formJson, sequenceJson } from './model.js';
import { paginateById, parsePageRequest } from './pagination.js';

export const LABEL_BLANK = "Label can't be blank";
export const LABEL_TAKEN = 'Label has already been taken';
export const FORM_EMAIL_REQUIRED = 'Either subscriber id or email address is required to add subscriber to form';
/** Wording by analogy with the form and tag messages [UNC]. */
export const SEQUENCE_EMAIL_REQUIRED = 'Either subscriber id or email address is required to add subscriber to sequence';

/** The account `GET /v4/account` describes; fixed, like a real account. */
const ACCOUNT = {
  user: { id: 1, email: 'owner@example.com' },
  account: {
    id: 1001,
    name: 'Kit Simulator',
    plan_type: 'creator',
    primary_email_address: 'owner@example.com',
    created_at: '2021-06-01T09:00:00Z',
    timezone: { name: 'Etc/UTC', friendly_name: 'UTC', utc_offset: '+00:00' },
    sending_addresses: [{ id: 1, email_address: 'owner@example.com', default: true }],
  },
} as const;

function sendPage<T extends { readonly id: number }>(request: FastifyRequest, reply: FastifyReply, key: string, items: readonly T[], render: (item: T) => unknown): FastifyReply {
  const page = parsePageRequest(queryOf(request), 'id');
  if ('error' in page) return sendErrors(reply, 422, page.error);
  const { items: pageItems, pagination } = paginateById(items, page);
  return reply.send({ [key]: pageItems.map(render), pagination });
}

export function registerOtherRoutes(app: FastifyInstance, { state }: RouteContext): void {
  const { catalog } = state;

  app.get('/v4/custom_fields', (request, reply) => sendPage(request, reply, 'custom_fields', catalog.customFields, customFieldJson));

  app.post('/v4/custom_fields', (request, reply) => {
    const field = state.createCustomField(text(bodyOf(request).label) ?? '');
    if (field === 'blank') return sendErrors(reply, 422, LABEL_BLANK);
    if (field === 'taken') return sendErrors(reply, 422, LABEL_TAKEN);
    return reply.code(201).send({ custom_field: customFieldJson(field) });
  });

  app.put('/v4/custom_fields/:id', (request, reply) => {
    const id = param(request, 'id');
    const field = id === undefined ? undefined : catalog.relabelCustomField(id, text(bodyOf(request).label) ?? '');
    if (field === undefined) return sendErrors(reply, 404, NOT_FOUND);
    if (field === 'blank') return sendErrors(reply, 422, LABEL_BLANK);
    if (field === 'taken') return sendErrors(reply, 422, LABEL_TAKEN);
    return reply.send({ custom_field: customFieldJson(field) });
  });

  app.delete('/v4/custom_fields/:id', (request, reply) => {
    const id = param(request, 'id');
    return id !== undefined && state.deleteCustomField(id) ? sendNoContent(reply) : sendErrors(reply, 404, NOT_FOUND);
  });

  app.get('/v4/forms', (request, reply) => {
    const query = queryOf(request);
    const status = text(query.status) ?? 'active';
    const type = text(query.type);
    const forms = catalog.forms.filter(
      (f) => (status === 'all' || (status === 'archived') === f.archived) && status !== 'trashed' && (type === undefined || f.type === type),
    );
    return sendPage(request, reply, 'forms', forms, formJson);
  });

  app.get('/v4/forms/:form_id/subscribers', (request, reply) => {
    const formId = param(request, 'form_id');
    return sendMembers(request, reply, state, state.formSubscriptions, formId, formId !== undefined && catalog.form(formId) !== undefined);
  });

  app.post('/v4/forms/:form_id/subscribers/:id', (request, reply) => {
    const formId = param(request, 'form_id');
    const id = param(request, 'id');
    if (formId === undefined || id === undefined) return sendErrors(reply, 404, NOT_FOUND);
    return sendJoined(reply, state, state.formSubscriptions, state.addToForm(formId, id, text(bodyOf(request).referrer) ?? null));
  });

  app.post('/v4/forms/:form_id/subscribers', (request, reply) => {
    const formId = param(request, 'form_id');
    if (formId === undefined || !catalog.form(formId)) return sendErrors(reply, 404, NOT_FOUND);
    const id = subscriberFromRequest(request, state);
    if (id === 'missing') return sendErrors(reply, 422, FORM_EMAIL_REQUIRED);
    if (id === 'unknown') return sendErrors(reply, 404, NOT_FOUND);
    return sendJoined(reply, state, state.formSubscriptions, state.addToForm(formId, id, text(bodyOf(request).referrer) ?? null));
  });

  app.get('/v4/sequences', (request, reply) => sendPage(request, reply, 'sequences', catalog.sequences, sequenceJson));

  app.get('/v4/sequences/:sequence_id/subscribers', (request, reply) => {
    const sequenceId = param(request, 'sequence_id');
    return sendMembers(request, reply, state, state.sequenceSubscriptions, sequenceId, sequenceId !== undefined && catalog.sequence(sequenceId) !== undefined);
  });

  app.post('/v4/sequences/:sequence_id/subscribers/:id', (request, reply) => {
    const sequenceId = param(request, 'sequence_id');
    const id = param(request, 'id');
    if (sequenceId === undefined || id === undefined) return sendErrors(reply, 404, NOT_FOUND);
    return sendJoined(reply, state, state.sequenceSubscriptions, state.addToSequence(sequenceId, id));
  });

  app.post('/v4/sequences/:sequence_id/subscribers', (request, reply) => {
    const sequenceId = param(request, 'sequence_id');
    if (sequenceId === undefined || !catalog.sequence(sequenceId)) return sendErrors(reply, 404, NOT_FOUND);
    const id = subscriberFromRequest(request, state);
    if (id === 'missing') return sendErrors(reply, 422, SEQUENCE_EMAIL_REQUIRED);
    if (id === 'unknown') return sendErrors(reply, 404, NOT_FOUND);
    return sendJoined(reply, state, state.sequenceSubscriptions, state.addToSequence(sequenceId, id));
  });

  app.get('/v4/account', (_request, reply) => reply.send(ACCOUNT));
}
