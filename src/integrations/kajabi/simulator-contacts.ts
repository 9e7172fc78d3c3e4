/**
 * `/v1/contacts` and the offer grants (reference/destinations.md §5.3): create (422 with a
 * `source.pointer` for a bad one), find by `filter[search]`/`filter[email_contains]`/
 * `filter[has_offer_id]` within `filter[site_id]`, update, delete (422 while the contact still has
 * access to a paid offer, standing in for "active Kajabi Payments subscriptions"), and
 * `POST|DELETE|PATCH …/relationships/offers` under contacts and customers (200 listing the offers).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { send } from '../../simulators/index.js';
import { documentAnswer, errorAnswer, ref } from './simulator-jsonapi.js';
import { dataOf, filterOf, identifiersOf, recordOf, relationshipId, sendList, sendNotFound, sendOne } from './simulator-http.js';
import { contactResource } from './simulator-resources.js';
import type { KajabiContact, KajabiState } from './simulator-state.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const invalid = (reply: FastifyReply, detail: string, pointer: string) => send(reply, errorAnswer(422, 'Unprocessable Entity', detail, pointer));

export function registerContactRoutes(app: FastifyInstance, state: KajabiState): void {
  app.get('/v1/contacts', (request, reply) => {
    const siteId = filterOf(request, 'site_id');
    const search = filterOf(request, 'search')?.toLowerCase();
    const contains = filterOf(request, 'email_contains')?.toLowerCase();
    const offerId = filterOf(request, 'has_offer_id');
    const contacts = [...state.contacts.values()].filter(
      (c) =>
        (siteId === undefined || c.siteId === siteId) &&
        (search === undefined || c.email.toLowerCase().includes(search) || c.name.toLowerCase().includes(search)) &&
        (contains === undefined || c.email.toLowerCase().includes(contains)) &&
        (offerId === undefined || c.offerIds.has(offerId)),
    );
    return sendList(request, reply, contacts.map(contactResource));
  });

  app.get<{ Params: { id: string } }>('/v1/contacts/:id', (request, reply) => {
    const contact = state.contacts.get(request.params.id);
    return sendOne(request, reply, contact && contactResource(contact));
  });

  app.post('/v1/contacts', (request, reply) => {
    const data = dataOf(request.body);
    if (!data || data.type !== 'contacts') return invalid(reply, 'data must be a contacts resource', '/data');
    const attributes = recordOf(data.attributes);
    const email = typeof attributes.email === 'string' ? attributes.email.trim() : '';
    if (!EMAIL.test(email)) return invalid(reply, email === '' ? "can't be blank" : 'is invalid', '/data/attributes/email');
    const siteId = relationshipId(data, 'site');
    if (siteId === undefined || !state.sites.has(siteId)) return invalid(reply, 'site must exist', '/data/relationships/site');
    if ('external_user_id' in attributes) return invalid(reply, 'cannot be set on create', '/data/attributes/external_user_id');
    if (state.contactByEmail(siteId, email)) return invalid(reply, 'has already been taken', '/data/attributes/email');
    const contact = state.createContact({ siteId, email, name: typeof attributes.name === 'string' ? attributes.name : '', phoneNumber: typeof attributes.phone_number === 'string' ? attributes.phone_number : null, isSubscribed: attributes.subscribed === true });
    return sendOne(request, reply, contactResource(contact), 201);
  });

  app.patch<{ Params: { id: string } }>('/v1/contacts/:id', (request, reply) => {
    const contact = state.contacts.get(request.params.id);
    if (!contact) return sendNotFound(reply);
    const attributes = recordOf(dataOf(request.body)?.attributes);
    if (attributes.email !== undefined) {
      if (typeof attributes.email !== 'string' || !EMAIL.test(attributes.email.trim())) return invalid(reply, 'is invalid', '/data/attributes/email');
      contact.email = attributes.email.trim();
    }
    if (typeof attributes.name === 'string') contact.name = attributes.name;
    if (typeof attributes.subscribed === 'boolean') contact.isSubscribed = attributes.subscribed;
    state.touch(contact);
    return sendOne(request, reply, contactResource(contact));
  });

  app.delete<{ Params: { id: string } }>('/v1/contacts/:id', (request, reply) => {
    const contact = state.contacts.get(request.params.id);
    if (!contact) return sendNotFound(reply);
    const hasPaid = [...contact.offerIds].some((id) => (state.offers.get(id)?.priceInCents ?? 0) > 0);
    if (hasPaid) return send(reply, errorAnswer(422, 'Unprocessable Entity', 'Contact has active Kajabi Payments subscriptions', undefined));
    state.contacts.delete(contact.id);
    return reply.code(204).send();
  });

  for (const owner of ['contacts', 'customers'] as const) {
    const find = (id: string): KajabiContact | undefined => (owner === 'contacts' ? state.contacts.get(id) : state.contactOfCustomer(id));
    const path = `/v1/${owner}/:id/relationships/offers`;
    app.get<{ Params: { id: string } }>(path, (request, reply) => {
      const contact = find(request.params.id);
      return contact ? offersAnswer(reply, contact) : sendNotFound(reply);
    });
    for (const method of ['POST', 'DELETE', 'PATCH'] as const) {
      app.route<{ Params: { id: string } }>({ method, url: path, handler: (request, reply) => changeOffers(state, method, find(request.params.id), request, reply) });
    }
  }
}

function changeOffers(state: KajabiState, method: 'POST' | 'DELETE' | 'PATCH', contact: KajabiContact | undefined, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (!contact) return sendNotFound(reply);
  const ids = identifiersOf(request.body, 'offers');
  if (!ids) return invalid(reply, 'data must be an array of offers identifiers', '/data');
  const unknown = ids.findIndex((id) => state.offers.get(id)?.siteId !== contact.siteId);
  if (unknown !== -1) return send(reply, errorAnswer(404, 'Not Found', `Offer ${ids[unknown]} not found`, `/data/${unknown}/id`));
  if (method === 'DELETE') state.revoke(contact, ids);
  else {
    if (method === 'PATCH') state.revoke(contact, [...contact.offerIds]);
    state.grant(contact, ids);
  }
  return offersAnswer(reply, contact);
}

function offersAnswer(reply: FastifyReply, contact: KajabiContact): FastifyReply {
  return send(reply, documentAnswer(200, { data: [...contact.offerIds].map((id) => ref('offers', id)) }));
}
