/**
 * Kajabi's two outbound webhook systems as sources (reference/destinations.md §5.2), both at
 * `/hooks/in/<destination>/<source>/<token>`:
 *
 * - `hooks`: the public-API hooks `kitrelay kajabi hooks sync` registers, `{"id","event","payload":
 *   [JSON:API resources]}` for `purchase`, `payment_succeeded`, `order_created` (and `tag_added`,
 *   `tag_removed`, `form_submission`, stored without jobs);
 * - `dashboard`: the webhooks set in Kajabi's dashboard, flat fields, `purchase.created` and
 *   `payment.succeeded`. Their field names are not all documented [U], so every shape seen is read:
 *   `member{…}`/`offers[]`/`offer{…}`, the older `payload.member_email`/`payload.offer_id`, and
 *   top-level `member_email`.
 *
 * Neither system signs anything [V by absence]: the URL token is the only proof of origin.
 *
 * Each delivery is one event, id `<event>:<id>` (a `purchase` hook's id is its purchase's), so
 * Kajabi's retries and copies are duplicates and plan nothing. What Kajabi said about offers becomes
 * facts (facts.ts) in one `enrol` job, ordered by the person's email. Events without facts (tags,
 * forms, unknown ones, a payment not yet succeeded) are stored for the rules, never refused. A
 * recognised event that lacks what its facts need (an email, an offer id) is quarantined, naming
 * the field. Kajabi documents no refund or cancel webhook (§5.1); an event named so is read anyway.
 */
import { secretsMatch } from '../../lib/compare.js';
import { isRecord } from '../../lib/json.js';
import type { InboundRequest, SourceAuth, SourceDefinition, SourceEvent, SourceParse } from '../types.js';
import { ENROL_ACTION, enrolParamsSchema, personOrderKey, type EnrolParamsInput, type FactOrigin, type KajabiFactInput, type KajabiPerson } from './facts.js';
import type { KajabiDestinationConfig } from './schema.js';

export const HOOKS_SOURCE = 'hooks';
export const DASHBOARD_SOURCE = 'dashboard';

type Json = Record<string, unknown>;
type Quarantined = { readonly reason: string; readonly detail: string; readonly body: Buffer };

function tokenAuth(request: InboundRequest, urlToken: string, where: string): SourceAuth {
  if (secretsMatch(urlToken, request.subpath.replace(/^\//, ''))) return { ok: true };
  return { ok: false, status: 401, code: 'bad_token', reason: `Wrong or missing URL token: use the URL ${where} prints.` };
}

export const hooksSource: SourceDefinition<KajabiDestinationConfig> = {
  name: HOOKS_SOURCE,
  description: "Kajabi's public-API hooks (purchase, payment_succeeded, order_created, …), unsigned: `kitrelay kajabi hooks sync` registers the URL",
  authenticate: (request, ctx) => tokenAuth(request, ctx.urlToken, '`kitrelay routes` or `kitrelay kajabi hooks sync`'),
  parse: (request, ctx) => parseHookDelivery(request.body, ctx.destinationName),
};

export const dashboardSource: SourceDefinition<KajabiDestinationConfig> = {
  name: DASHBOARD_SOURCE,
  description: "Kajabi's dashboard outbound webhooks (purchase.created, payment.succeeded), unsigned: paste the URL `kitrelay routes` prints into Kajabi",
  authenticate: (request, ctx) => tokenAuth(request, ctx.urlToken, '`kitrelay routes`'),
  parse: (request, ctx) => parseDashboardDelivery(request.body, ctx.destinationName),
};

/** What one delivery says, before it becomes an event (or a quarantine entry). */
interface Reading {
  readonly type: string;
  readonly id?: string;
  readonly person?: Partial<KajabiPerson>;
  readonly facts: readonly KajabiFactInput[];
  readonly at?: number;
  /** What the event's facts need and the body lacks (`email`, `offer_id`, …): quarantined as `missing_<field>`. */
  readonly missing?: { readonly field: string; readonly detail: string };
}

/**
 * A public-API hook delivery: the request's bytes (or text), or a body already parsed.
 * `receivedAt` stands in for a time the body does not give.
 */
export function parseHookDelivery(body: unknown, destinationName: string, receivedAt = Date.now()): SourceParse {
  const read = readJson(body, 'a Kajabi hook delivery: {"id","event","payload":[…]} expected');
  return 'kind' in read ? read : toParse(readHook(read.json, receivedAt), read, destinationName, 'hook');
}

/** A dashboard webhook delivery: the request's bytes (or text), or a body already parsed. */
export function parseDashboardDelivery(body: unknown, destinationName: string, receivedAt = Date.now()): SourceParse {
  const read = readJson(body, 'a Kajabi dashboard webhook: {"id","event",…} expected');
  return 'kind' in read ? read : toParse(readDashboard(read.json, receivedAt), read, destinationName, 'dashboard');
}

type Read = { readonly json: Json & { readonly event: string }; readonly raw: Buffer };

function readJson(body: unknown, expected: string): Read | Extract<SourceParse, { kind: 'malformed' }> {
  let json: unknown = body;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    try {
      json = JSON.parse(body.toString());
    } catch (error) {
      return { kind: 'malformed', reason: 'invalid_json', detail: error instanceof Error ? error.message : String(error) };
    }
  }
  if (!isRecord(json) || typeof json.event !== 'string' || json.event.trim() === '') return { kind: 'malformed', reason: 'not_kajabi_webhook', detail: `not ${expected}` };
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(json));
  return { json: json as Json & { event: string }, raw };
}

function toParse(reading: Reading, read: Read, destinationName: string, origin: FactOrigin): SourceParse {
  const quarantine = (reason: string, detail: string): SourceParse => ({ kind: 'events', events: [], quarantine: [{ reason, detail: `${reading.id ?? reading.type}: ${detail}`, body: read.raw } satisfies Quarantined] });
  if (reading.missing) return quarantine(`missing_${reading.missing.field}`, reading.missing.detail);
  const email = reading.person?.email;
  const event: SourceEvent = {
    type: reading.type,
    ...(reading.id ? { id: reading.id } : {}),
    ...(email ? { email, orderKey: personOrderKey(destinationName, email) } : {}),
    ...(reading.at !== undefined ? { occurredAt: reading.at } : {}),
    payload: read.json,
  };
  if (reading.facts.length === 0) return { kind: 'events', events: [event], quarantine: [] };
  if (!email) return quarantine('missing_email', origin === 'hook' ? 'no email: the customers resource has no attributes.email' : 'no email: none of member.email, payload.member_email, member_email');
  const params: EnrolParamsInput = { person: { ...reading.person, email }, facts: [...reading.facts], origin };
  const checked = enrolParamsSchema.safeParse(params);
  if (!checked.success) return quarantine('invalid_facts', checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return { kind: 'events', events: [{ ...event, jobs: [{ action: ENROL_ACTION, params }] }], quarantine: [] };
}

// ---- public-API hooks -------------------------------------------------------------------------

interface Resource {
  readonly type: string;
  readonly id: string;
  readonly attributes: Json;
  readonly relationships: Json;
}

function readHook(body: Json & { event: string }, receivedAt: number): Reading {
  const type = body.event;
  const bodyId = idOf(body.id);
  const resources = Array.isArray(body.payload) ? body.payload.flatMap(asResource) : isRecord(body.payload) ? asResource(body.payload) : [];
  const person = hookPerson(resources);
  const base = { type, ...(bodyId ? { id: `${type}:${bodyId}` } : {}), ...(person ? { person } : {}) };
  switch (type) {
    case 'purchase':
      return hookPurchase(base, resources, bodyId, receivedAt);
    case 'payment_succeeded': {
      const transaction = resources.find((r) => r.type === 'transactions');
      if (!transaction) return { ...base, facts: [], missing: { field: 'transaction', detail: 'no transactions resource in payload' } };
      const at = timeOf(transaction.attributes.created_at) ?? timeOf(transaction.attributes.updated_at) ?? receivedAt;
      return { ...base, facts: transactionFacts(transaction, at), at };
    }
    case 'order_created':
      return hookOrder(base, resources, bodyId, receivedAt);
    default:
      // tag_added, tag_removed, form_submission and whatever Kajabi adds: kept for the rules.
      return { ...base, facts: [] };
  }
}

function hookPurchase(base: Omit<Reading, 'facts'>, resources: readonly Resource[], bodyId: string | undefined, receivedAt: number): Reading {
  const purchase = resources.find((r) => r.type === 'purchases');
  const purchaseId = purchase?.id ?? bodyId;
  const offerId = (purchase && relId(purchase, 'offer')) ?? resources.find((r) => r.type === 'offers')?.id;
  // The purchase's id, not the body's: the dedupe key is the purchase whatever the body says.
  const reading = { ...base, ...(purchaseId ? { id: `purchase:${purchaseId}` } : {}) };
  if (!offerId) return { ...reading, facts: [], missing: { field: 'offer_id', detail: 'no offer id: neither purchases.relationships.offer nor an offers resource' } };
  const offer = resources.find((r) => r.type === 'offers' && r.id === offerId);
  const attributes = purchase?.attributes ?? {};
  const amountInCents = centsOf(attributes.amount_in_cents);
  const at = timeOf(attributes.created_at) ?? timeOf(attributes.effective_start_at) ?? receivedAt;
  const transactionId = purchase && relId(purchase, 'transaction');
  const offerTitle = textOf(offer?.attributes.title);
  const isFree = amountInCents === 0 || attributes.payment_type === 'free' || offer?.attributes.free === true;
  const fact: KajabiFactInput = { kind: 'purchase', offerId, ...(offerTitle ? { offerTitle } : {}), ...(purchaseId ? { purchaseId } : {}), ...(transactionId ? { transactionId } : {}), ...(amountInCents !== undefined ? { amountInCents } : {}), isFree, at };
  return { ...reading, facts: [fact], at };
}

function hookOrder(base: Omit<Reading, 'facts'>, resources: readonly Resource[], bodyId: string | undefined, receivedAt: number): Reading {
  const transaction = resources.find((r) => r.type === 'transactions');
  const order = resources.find((r) => r.type === 'orders');
  const items = resources.filter((r) => r.type === 'order_items');
  const offerItems = items.filter((r) => r.attributes.item_type === 'Offer' && idOf(r.attributes.item_id));
  const transactionId = transaction?.id ?? bodyId;
  if (!transactionId) return { ...base, facts: [], missing: { field: 'transaction_id', detail: 'no transaction id: no transactions resource and no body id' } };
  if (items.length === 0) return { ...base, facts: [], missing: { field: 'offer_id', detail: 'no offer id: no order_items resource in payload' } };
  const at = timeOf(transaction?.attributes.created_at) ?? timeOf(order?.attributes.fulfilled_at) ?? receivedAt;
  // An order of anything but offers says nothing about enrolments.
  if (offerItems.length === 0) return { ...base, facts: [], at };
  const total = centsOf(order?.attributes.total_price_in_cents) ?? centsOf(transaction?.attributes.amount_in_cents);
  const purchases = offerItems.map((item): KajabiFactInput => {
    const offerTitle = textOf(item.attributes.title);
    const price = centsOf(item.attributes.price_in_cents) ?? (offerItems.length === 1 ? total : undefined);
    return { kind: 'purchase', offerId: idOf(item.attributes.item_id) as string, ...(offerTitle ? { offerTitle } : {}), transactionId, ...(price !== undefined ? { amountInCents: price } : {}), isFree: total === 0 || price === 0, at };
  });
  return { ...base, facts: [...purchases, ...(transaction ? transactionFacts(transaction, at) : [])], at };
}

/** A succeeded transaction: a payment, or refunds of its offer should Kajabi ever post a refund (§5.3: `action: refund`, negative amount). */
function transactionFacts(transaction: Resource, at: number): KajabiFactInput[] {
  if (transaction.attributes.state !== 'succeeded') return [];
  const amountInCents = centsOf(transaction.attributes.amount_in_cents);
  const offerId = relId(transaction, 'offer');
  const offerIds = offerId ? [offerId] : [];
  const purchaseIds = relIds(transaction, 'purchases');
  const amount = amountInCents !== undefined ? { amountInCents } : {};
  if (transaction.attributes.action === 'refund' || (amountInCents ?? 0) < 0) {
    // A bundle's transaction names no offer (only purchases): the refund poller finds those.
    const purchaseId = purchaseIds.length === 1 ? { purchaseId: purchaseIds[0] as string } : {};
    return offerIds.map((id) => ({ kind: 'refund', offerId: id, ...purchaseId, transactionId: transaction.id, ...amount, at }));
  }
  return [{ kind: 'payment', transactionId: transaction.id, offerIds, purchaseIds, ...amount, at }];
}

function hookPerson(resources: readonly Resource[]): Partial<KajabiPerson> | undefined {
  const customer = resources.find((r) => r.type === 'customers');
  const who = customer ?? resources.find((r) => r.type === 'contacts' && textOf(r.attributes.email));
  if (!who) return undefined;
  const email = textOf(who.attributes.email);
  const name = textOf(who.attributes.name);
  const contactId = who.type === 'contacts' ? who.id : relId(who, 'contact');
  const customerId = who.type === 'customers' ? who.id : relId(who, 'customer');
  return { ...(email ? { email } : {}), ...(name ? { name } : {}), ...(customerId ? { customerId } : {}), ...(contactId ? { contactId } : {}) };
}

function asResource(value: unknown): Resource[] {
  if (!isRecord(value) || typeof value.type !== 'string') return [];
  const id = idOf(value.id);
  if (!id) return [];
  return [{ type: value.type, id, attributes: isRecord(value.attributes) ? value.attributes : {}, relationships: isRecord(value.relationships) ? value.relationships : {} }];
}

function relId(resource: Resource, name: string): string | undefined {
  const rel = resource.relationships[name];
  return isRecord(rel) && isRecord(rel.data) ? idOf(rel.data.id) : undefined;
}

function relIds(resource: Resource, name: string): string[] {
  const rel = resource.relationships[name];
  const data = isRecord(rel) ? rel.data : undefined;
  return Array.isArray(data) ? data.flatMap((d) => (isRecord(d) && idOf(d.id) ? [idOf(d.id) as string] : [])) : [];
}

// ---- dashboard webhooks -----------------------------------------------------------------------

function readDashboard(body: Json & { event: string }, receivedAt: number): Reading {
  const type = body.event;
  const flat = isRecord(body.payload) ? body.payload : {};
  const paid = isRecord(body.payment_transaction) ? body.payment_transaction : {};
  const transactionId = idOf(body.id) ?? idOf(paid.id) ?? idOf(flat.transaction_id);
  const person = dashboardPerson(body, flat);
  const offers = dashboardOffers(body, flat);
  const amountInCents = centsOf(paid.amount_paid_in_cents) ?? dollarsToCents(paid.amount_paid) ?? dollarsToCents(flat.amount_paid) ?? dollarsToCents(body.amount_paid) ?? centsOf(body.amount_paid_in_cents);
  const at = timeOf(paid.created_at) ?? timeOf(body.created_at) ?? timeOf(flat.created_at) ?? receivedAt;
  const base = { type, ...(idOf(body.id) ? { id: `${type}:${idOf(body.id)}` } : {}), ...(person ? { person } : {}), at };
  const amount = amountInCents !== undefined ? { amountInCents } : {};
  const name = type.toLowerCase();
  if (name === 'purchase.created') {
    if (offers.length === 0) return { ...base, facts: [], missing: { field: 'offer_id', detail: 'no offer id: none of offers[].id, offer.id, payload.offer_id' } };
    // A bundle's amount is the transaction's total, not each offer's.
    const each = offers.length === 1 ? amount : {};
    return { ...base, facts: offers.map((o) => ({ kind: 'purchase', offerId: o.id, ...(o.title ? { offerTitle: o.title } : {}), ...(transactionId ? { transactionId } : {}), ...each, isFree: amountInCents === 0, at })) };
  }
  if (name === 'payment.succeeded') {
    if (!transactionId) return { ...base, facts: [], missing: { field: 'transaction_id', detail: 'no transaction id: none of id, payment_transaction.id' } };
    if ((amountInCents ?? 0) < 0) return { ...base, facts: offers.map((o) => ({ kind: 'refund', offerId: o.id, transactionId, ...amount, at })) };
    return { ...base, facts: [{ kind: 'payment', transactionId, offerIds: offers.map((o) => o.id), purchaseIds: [], ...amount, at }] };
  }
  // Kajabi documents none of these (§5.1); should one come, it ends the offers it names.
  const purchaseId = idOf(body.purchase_id) ?? idOf(flat.purchase_id) ?? (isRecord(body.purchase) ? idOf(body.purchase.id) : undefined);
  if (name.includes('refund') && transactionId) return { ...base, facts: offers.map((o) => ({ kind: 'refund', offerId: o.id, ...(purchaseId ? { purchaseId } : {}), transactionId, ...amount, at })) };
  if (name.includes('deactivat') && purchaseId) return { ...base, facts: offers.map((o) => ({ kind: 'deactivation', offerId: o.id, purchaseId, at })) };
  if (name.includes('cancel')) return { ...base, facts: offers.map((o) => ({ kind: 'cancellation', offerId: o.id, ...(purchaseId ? { purchaseId } : {}), at })) };
  // cart_purchase, form_submission, anything else: kept for the rules.
  return { ...base, facts: [] };
}

function dashboardPerson(body: Json, flat: Json): Partial<KajabiPerson> | undefined {
  const member = isRecord(body.member) ? body.member : {};
  const pick = (field: string): string | undefined => textOf(member[field]) ?? textOf(flat[`member_${field}`]) ?? textOf(body[`member_${field}`]);
  const email = pick('email');
  const name = pick('name') ?? ([pick('first_name'), pick('last_name')].filter(Boolean).join(' ') || undefined);
  // `member.id` is left out: whether it is the Public API's customer id is not documented [U].
  return email || name ? { ...(email ? { email } : {}), ...(name ? { name } : {}) } : undefined;
}

function dashboardOffers(body: Json, flat: Json): Array<{ readonly id: string; readonly title?: string }> {
  const listed = (value: unknown) => (Array.isArray(value) ? value.flatMap((o) => (isRecord(o) ? one(o.id, o.title) : [])) : []);
  const one = (id: unknown, title: unknown) => {
    const offerId = idOf(id);
    const offerTitle = textOf(title);
    return offerId ? [{ id: offerId, ...(offerTitle ? { title: offerTitle } : {}) }] : [];
  };
  const offer = isRecord(body.offer) ? body.offer : {};
  for (const found of [listed(body.offers), one(offer.id, offer.title), listed(flat.offers), one(flat.offer_id, flat.offer_title), one(body.offer_id, body.offer_title)]) {
    if (found.length > 0) return found;
  }
  return [];
}

// ---- tolerant scalar readers ------------------------------------------------------------------

/** An id: a non-empty string or an integer (Kajabi's ids are numeric strings; a number is read alike). */
function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  return typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : undefined;
}

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function centsOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  return typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

/** `"148.00"`, `"$1,148.5"`, `148`: dollars as Kajabi's dashboard writes them, in cents. */
function dollarsToCents(value: unknown): number | undefined {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim().replace(/[$,\s]/g, '') : '';
  return /^-?\d+(\.\d+)?$/.test(text) ? Math.round(Number(text) * 100) : undefined;
}

function timeOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  const at = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(at) ? at : undefined;
}
