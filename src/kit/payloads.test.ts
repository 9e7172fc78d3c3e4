import { describe, expect, it } from 'vitest';
import { legacyCustomFieldBody, legacyPurchaseBody, signedEnvelope, signedTagAddedEvent, subscriberObject } from './fixtures.js';
import {
  customFieldSchema,
  kitIdSchema,
  legacyCustomFieldBodySchema,
  legacyPurchaseBodySchema,
  legacySubscriberBodySchema,
  signedEnvelopeSchema,
  signedEventSchema,
  subscriberSchema,
} from './payloads.js';

describe('payload schemas', () => {
  it('accept a Kit id as an integer or a digit string, nothing else', () => {
    expect([1, 0, '12', ' 12 '].map((v) => kitIdSchema.safeParse(v).success)).toEqual([true, true, true, true]);
    expect([-1, 1.5, 'a1', '', null, {}].map((v) => kitIdSchema.safeParse(v).success)).toEqual([false, false, false, false, false, false]);
  });

  it('keep unknown fields at every level', () => {
    const body = { subscriber: { ...subscriberObject(), tags: [{ id: 1 }] }, extra: true };
    expect(legacySubscriberBodySchema.parse(body)).toEqual(body);
    const envelope = { ...signedEnvelope([signedTagAddedEvent()]), account_id: 5 };
    expect(signedEnvelopeSchema.parse(envelope)).toEqual(envelope);
    const event = { ...signedTagAddedEvent(), api_version: '2026-08' };
    expect(signedEventSchema.parse(event)).toEqual(event);
  });

  it('require a subscriber to have an id or an email address', () => {
    expect(subscriberSchema.safeParse({ id: 1 }).success).toBe(true);
    expect(subscriberSchema.safeParse({ email_address: 'a@b.c' }).success).toBe(true);
    expect(subscriberSchema.safeParse({ id: null, email_address: null }).success).toBe(false);
    expect(subscriberSchema.safeParse({ first_name: 'x' }).success).toBe(false);
  });

  it('accept a purchase bare or wrapped', () => {
    expect(legacyPurchaseBodySchema.safeParse(legacyPurchaseBody()).success).toBe(true);
    expect(legacyPurchaseBodySchema.safeParse(legacyPurchaseBody({ wrapped: true })).success).toBe(true);
    expect(legacyPurchaseBodySchema.safeParse({ transaction_id: 'txn-1' }).success).toBe(true);
    expect(legacyPurchaseBodySchema.safeParse({ status: 'paid' }).success).toBe(false);
  });

  it('accept the three tolerated custom field bodies', () => {
    expect(legacyCustomFieldBodySchema.safeParse(legacyCustomFieldBody()).success).toBe(true);
    expect(legacyCustomFieldBodySchema.safeParse(legacyCustomFieldBody({ withSubscriber: true })).success).toBe(true);
    expect(legacyCustomFieldBodySchema.safeParse({ subscriber: { id: 1 } }).success).toBe(true);
    expect(legacyCustomFieldBodySchema.safeParse({ id: 3, label: 'Company' }).success).toBe(true);
    expect(legacyCustomFieldBodySchema.safeParse({ id: 3 }).success).toBe(false);
    expect(customFieldSchema.safeParse({ key: 'company' }).success).toBe(true);
  });

  it('bound a signed envelope to 1–100 events', () => {
    expect(signedEnvelopeSchema.safeParse({ events: [] }).success).toBe(false);
    expect(signedEnvelopeSchema.safeParse({ events: Array.from({ length: 100 }, () => ({})) }).success).toBe(true);
    expect(signedEnvelopeSchema.safeParse({ events: Array.from({ length: 101 }, () => ({})) }).success).toBe(false);
  });
});
