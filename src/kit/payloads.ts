/**
 * Schemas for the bodies Kit delivers, legacy and signed. They are deliberately tolerant: Kit
 * publishes few payload shapes (reference/kit.md §7A, §10) and the AsyncAPI seed says to treat
 * payloads as additive. So every object keeps unknown fields (`looseObject`), and only what
 * kitrelay relies on is checked: the identity of the subscriber, purchase or custom field, and the
 * signed envelope's structure. Everything else is read leniently by extract.ts.
 *
 * These schemas answer "is this an event?"; they never reshape the payload, which is stored exactly
 * as Kit sent it.
 */
import { z } from 'zod';
import type { LegacyEventSpec } from './events.js';

/** A Kit id: an integer, or its digits as a string (tolerated: relays and older tools send strings). */
export const kitIdSchema = z.union([z.number().int().nonnegative(), z.string().trim().regex(/^\d+$/, 'expected digits')]);

const hasText = (value: string | null | undefined): boolean => typeof value === 'string' && value.trim() !== '';

/**
 * A subscriber as Kit embeds it: `{id, first_name, email_address, state, created_at, fields}`
 * (reference/kit.md §4). Only the identity is checked: an id or an email address, since a job with
 * neither could not be ordered per subscriber nor acted on. `fields` is not checked: an empty PHP
 * or Ruby hash can serialise as `[]`, and a malformed value must not cost the whole event.
 */
export const subscriberSchema = z
  .looseObject({
    id: kitIdSchema.nullish(),
    email_address: z.string().nullish(),
  })
  .refine((s) => s.id != null || hasText(s.email_address), {
    message: 'subscriber needs an integer id or an email_address',
    path: ['id'],
  });
export type Subscriber = z.infer<typeof subscriberSchema>;

/** The body of every legacy `subscriber.*` event: `{"subscriber": {…}}` (reference/kit.md §7A). */
export const legacySubscriberBodySchema = z.looseObject({ subscriber: subscriberSchema });
export type LegacySubscriberBody = z.infer<typeof legacySubscriberBodySchema>;

/**
 * A purchase: `{id, transaction_id, status, email_address, subscriber_id (S2 only), currency,
 * transaction_time, subtotal, shipping, discount, tax, total, products[]}` (reference/kit.md §4).
 * It needs an id or a transaction id to be recognisable at all.
 */
export const purchaseSchema = z
  .looseObject({
    id: kitIdSchema.nullish(),
    transaction_id: z.union([z.string(), z.number()]).nullish(),
    email_address: z.string().nullish(),
    subscriber_id: kitIdSchema.nullish(),
    products: z.array(z.unknown()).nullish(),
  })
  .refine((p) => p.id != null || (p.transaction_id != null && String(p.transaction_id).trim() !== ''), {
    message: 'purchase needs an id or a transaction_id',
    path: ['id'],
  });
export type Purchase = z.infer<typeof purchaseSchema>;

/**
 * `purchase.purchase_create` body. The v3 docs show the purchase bare at the top level; the
 * AsyncAPI seed models it wrapped as `{purchase: {…}}`. Neither is verified in real traffic
 * [UNC, reference/kit.md §7A], so both are accepted: a `purchase` object means wrapped.
 */
const wrappedPurchaseBodySchema = z.looseObject({ purchase: purchaseSchema });
export const legacyPurchaseBodySchema = z.union([wrappedPurchaseBodySchema, purchaseSchema]);
export type LegacyPurchaseBody = z.infer<typeof legacyPurchaseBodySchema>;

/** A custom field: `{id, name: "ck_field_<id>_<key>", key, label}` (reference/kit.md §4). */
export const customFieldSchema = z
  .looseObject({
    id: kitIdSchema.nullish(),
    key: z.string().nullish(),
    label: z.string().nullish(),
    name: z.string().nullish(),
  })
  .refine((f) => f.id != null || hasText(f.key) || hasText(f.label), {
    message: 'custom_field needs an id, a key or a label',
    path: ['id'],
  });
export type CustomField = z.infer<typeof customFieldSchema>;

/** A bare custom field at the top level must look like one: an id plus a label or key. */
const bareCustomFieldSchema = customFieldSchema.refine((f) => f.id != null && (hasText(f.key) || hasText(f.label)), {
  message: 'expected {custom_field: {…}}, {subscriber: {…}}, or a custom field with id and label or key',
});

/**
 * Legacy `custom_field.*` bodies are undocumented [UNC, reference/kit.md §7A]. Accepted:
 * `{custom_field: {…}, subscriber?: {…}}` (the AsyncAPI seed's model), `{subscriber: {…}}` (what
 * every other subscriber-scoped legacy event sends, plausible for `field_value_updated`), and a
 * bare custom field `{id, label, key, …}` (how the v4 API returns one).
 */
const wrappedCustomFieldBodySchema = z.looseObject({ custom_field: customFieldSchema, subscriber: subscriberSchema.optional() });
export const legacyCustomFieldBodySchema = z.union([
  wrappedCustomFieldBodySchema,
  legacySubscriberBodySchema,
  bareCustomFieldSchema,
]);
export type LegacyCustomFieldBody = z.infer<typeof legacyCustomFieldBodySchema>;

/** One event of a signed delivery: `{id, type, created, data}` (reference/kit.md §7B). */
export const signedEventSchema = z.looseObject({
  /** A UUID, stable across retries: the dedupe key. */
  id: z.string().trim().min(1),
  type: z.string().trim().min(1),
  /** ISO-8601; tolerated missing or unparseable (then the event has no occurredAt). */
  created: z.union([z.string(), z.number()]).nullish(),
  data: z.record(z.string(), z.unknown()),
});
export type SignedEvent = z.infer<typeof signedEventSchema>;

/** Known `subscriber.*` events carry the subscriber in `data.subscriber` (reference/kit.md §7B). */
export const signedSubscriberDataSchema = z.looseObject({ subscriber: subscriberSchema });

/**
 * A signed delivery: `{delivery_id, events: [1–100]}`. Events stay `unknown` here so that one
 * invalid event is quarantined on its own instead of failing its whole delivery.
 */
export const signedEnvelopeSchema = z.looseObject({
  /** A number in Kit's example, a string in the `X-Kit-Delivery` header: both accepted. */
  delivery_id: z.union([z.string(), z.number()]).nullish(),
  events: z.array(z.unknown()).min(1).max(100),
});
export type SignedEnvelope = z.infer<typeof signedEnvelopeSchema>;

export type Checked<T> = { readonly ok: true; readonly data: T } | { readonly ok: false; readonly detail: string };

/** Checks a parsed legacy body against the shape its route's event implies. */
export function checkLegacyBody(kind: LegacyEventSpec['payload'], body: Record<string, unknown>): Checked<unknown> {
  return checkSchema(legacyBodySchema(kind, body), body);
}

/**
 * Picks the one alternative a body claims to be, so a failure names the field at fault instead of
 * zod's "invalid input" over every union member.
 */
function legacyBodySchema(kind: LegacyEventSpec['payload'], body: Record<string, unknown>): z.ZodType {
  switch (kind) {
    case 'subscriber':
      return legacySubscriberBodySchema;
    case 'purchase':
      return 'purchase' in body ? wrappedPurchaseBodySchema : purchaseSchema;
    case 'custom_field':
      if ('custom_field' in body) return wrappedCustomFieldBodySchema;
      return 'subscriber' in body ? legacySubscriberBodySchema : bareCustomFieldSchema;
  }
}

/**
 * Runs a schema; a failure is condensed into one operator-readable line whose paths start at
 * `prefix` (e.g. `data` for the inside of a signed event).
 */
export function checkSchema<T>(schema: z.ZodType<T>, value: unknown, prefix?: string): Checked<T> {
  const result = schema.safeParse(value);
  return result.success ? { ok: true, data: result.data } : { ok: false, detail: formatIssues(result.error, prefix) };
}

/** `path: message` per issue (at most five), joined by `; `. */
export function formatIssues(error: z.ZodError, prefix?: string): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = [...(prefix ? [prefix] : []), ...issue.path.map(String)];
      return `${path.length > 0 ? path.join('.') : '(body)'}: ${issue.message}`;
    })
    .join('; ');
}
