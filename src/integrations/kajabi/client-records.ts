/**
 * What kitrelay reads from Kajabi's JSON:API (reference/destinations.md §5.3): the resource and
 * document schemas, relationship ids, and the records (sites, purchases, transactions, customers,
 * contacts, hooks) parsed from resources. Pure: no I/O.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// JSON:API

const idSchema = z.union([z.string().min(1), z.number()]).transform(String);
const identifier = z.looseObject({ type: z.string(), id: idSchema });
const relationship = z.looseObject({ data: z.union([identifier, z.array(identifier), z.null()]).optional() });
export const resourceSchema = z.looseObject({
  type: z.string(),
  id: idSchema,
  attributes: z.record(z.string(), z.unknown()).nullish().transform((a) => a ?? {}),
  relationships: z.record(z.string(), relationship).nullish().transform((r) => r ?? {}),
});
export type JsonApiResource = z.output<typeof resourceSchema>;

export const listDocument = z.looseObject({
  data: z.array(resourceSchema),
  links: z.looseObject({ next: z.string().nullish() }).nullish(),
  meta: z.looseObject({ total_pages: z.number().nullish(), current_page: z.number().nullish(), total_count: z.number().nullish() }).nullish(),
});
export const oneDocument = z.looseObject({ data: resourceSchema });
export const identifiersDocument = z.looseObject({ data: z.array(identifier) });

/** The id in `relationships.<name>.data`, or null. */
export function relationshipId(resource: JsonApiResource, name: string): string | null {
  const data = resource.relationships[name]?.data;
  return data && !Array.isArray(data) ? data.id : null;
}

export function relationshipIds(resource: JsonApiResource, name: string): string[] {
  const data = resource.relationships[name]?.data;
  return Array.isArray(data) ? data.map((d) => d.id) : data ? [data.id] : [];
}

// ---------------------------------------------------------------------------------------------
// Records

export interface KajabiSiteRecord {
  readonly id: string;
  readonly title: string;
}

export interface KajabiPurchaseRecord {
  readonly id: string;
  readonly offerId: string;
  readonly customerId: string;
  readonly transactionId: string | null;
  readonly amountInCents: number;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly deactivatedAt: number | null;
  readonly deactivationReason: string | null;
}

export interface KajabiTransactionRecord {
  readonly id: string;
  /** charge | refund | subscribe | subscription_charge | free_purchase | test | dispute | subscription_update (§5.3). */
  readonly action: string;
  /** initialized | succeeded | failed. */
  readonly state: string;
  /** Negative for a refund. */
  readonly amountInCents: number;
  readonly customerId: string;
  /** Null for a bundle (since 1.1.0 `purchases` replaces it, §5.3). */
  readonly offerId: string | null;
  readonly purchaseIds: readonly string[];
  readonly createdAt: number;
}

export interface KajabiCustomerRecord {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly contactId: string | null;
}

export interface KajabiContactRecord {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly customerId: string | null;
  readonly offerIds: readonly string[];
}

export interface KajabiHookRecord {
  readonly id: string;
  readonly event: string;
  readonly targetUrl: string;
  readonly resourceId: string | null;
  readonly siteId: string | null;
}

const when = z.string().nullish().transform((s) => {
  const ms = s == null ? Number.NaN : Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
});
const cents = z.number().nullish().transform((n) => n ?? 0);
const words = z.string().nullish().transform((s) => s ?? '');
const optionalId = z.union([z.string(), z.number()]).nullish().transform((v) => (v == null ? null : String(v)));

const purchaseAttributes = z.looseObject({ amount_in_cents: cents, created_at: when, deactivated_at: when, deactivation_reason: z.string().nullish().transform((s) => s ?? null) });
const transactionAttributes = z.looseObject({ action: words, state: words, amount_in_cents: cents, created_at: when });
const personAttributes = z.looseObject({ email: words, name: words });
const hookAttributes = z.looseObject({ event: words, target_url: words, resource_id: optionalId });
const siteAttributes = z.looseObject({ title: words });

export function siteOf(resource: JsonApiResource): KajabiSiteRecord {
  return { id: resource.id, title: siteAttributes.parse(resource.attributes).title };
}

export function purchaseOf(resource: JsonApiResource): KajabiPurchaseRecord {
  const a = purchaseAttributes.parse(resource.attributes);
  return { id: resource.id, offerId: relationshipId(resource, 'offer') ?? '', customerId: relationshipId(resource, 'customer') ?? '', transactionId: relationshipId(resource, 'transaction'), amountInCents: a.amount_in_cents, createdAt: a.created_at ?? 0, deactivatedAt: a.deactivated_at, deactivationReason: a.deactivation_reason };
}

export function transactionOf(resource: JsonApiResource): KajabiTransactionRecord {
  const a = transactionAttributes.parse(resource.attributes);
  return { id: resource.id, action: a.action, state: a.state, amountInCents: a.amount_in_cents, customerId: relationshipId(resource, 'customer') ?? '', offerId: relationshipId(resource, 'offer'), purchaseIds: relationshipIds(resource, 'purchases'), createdAt: a.created_at ?? 0 };
}

export function customerOf(resource: JsonApiResource): KajabiCustomerRecord {
  const a = personAttributes.parse(resource.attributes);
  return { id: resource.id, email: a.email, name: a.name, contactId: relationshipId(resource, 'contact') };
}

export function contactOf(resource: JsonApiResource): KajabiContactRecord {
  const a = personAttributes.parse(resource.attributes);
  return { id: resource.id, email: a.email, name: a.name, customerId: relationshipId(resource, 'customer'), offerIds: relationshipIds(resource, 'offers') };
}

export function hookOf(resource: JsonApiResource): KajabiHookRecord {
  const a = hookAttributes.parse(resource.attributes);
  return { id: resource.id, event: a.event, targetUrl: a.target_url, resourceId: a.resource_id, siteId: relationshipId(resource, 'site') };
}
