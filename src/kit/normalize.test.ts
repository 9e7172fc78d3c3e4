import { describe, expect, it } from 'vitest';
import type { EventRecord, EventSource } from '../store/types.js';
import { legacyEventSpec, type LegacyEventSpec } from './events.js';
import {
  jsonBody,
  legacyCustomFieldBody,
  legacyFixture,
  legacyFixtures,
  legacyPurchaseBody,
  legacySubscriberBody,
  signedEnvelope,
  signedEvent,
  signedFormSubscribedEvent,
  signedTagAddedEvent,
  signedUnknownEvent,
  subscriberObject,
} from './fixtures.js';
import { legacyFingerprint, parseLegacyDelivery, parseSignedDelivery, toKitEvent, type NormalizedEvent } from './normalize.js';

function spec(name: string): LegacyEventSpec {
  const found = legacyEventSpec(name);
  if (!found) throw new Error(`no spec ${name}`);
  return found;
}

function legacyOk(name: string, body: unknown, scopeValue?: string): NormalizedEvent {
  const result = parseLegacyDelivery({ spec: spec(name), scopeValue, body: jsonBody(body) });
  if (!result.ok) throw new Error(`expected ok, got ${result.reason}: ${result.detail}`);
  return result.event;
}

function signedOk(events: Record<string, unknown>[]): NormalizedEvent[] {
  const result = parseSignedDelivery(jsonBody(signedEnvelope(events)));
  if (!result.ok) throw new Error(`expected ok, got ${result.reason}: ${result.detail}`);
  return result.events.map((e) => {
    if (!e.ok) throw new Error(`event ${e.index}: ${e.detail}`);
    return e.event;
  });
}

/** What the store would hand back for a normalised event. */
function asRecord(event: NormalizedEvent, source: EventSource): Pick<EventRecord, 'type' | 'kitType' | 'source' | 'kitEventId' | 'scope' | 'payload' | 'occurredAt'> {
  return {
    type: event.type,
    kitType: event.kitType,
    source,
    kitEventId: event.kitEventId ?? null,
    scope: event.scope ?? null,
    occurredAt: event.occurredAt ?? null,
    // Through JSON, as a database column would.
    payload: JSON.parse(JSON.stringify(event.payload)) as unknown,
  };
}

describe('parseLegacyDelivery: the 15 legacy events', () => {
  const expected: Array<[string, string, { param: string; value: string } | undefined, string | undefined]> = [
    ['subscriber.subscriber_activate', 'subscriber.activated', undefined, 'id:1'],
    ['subscriber.subscriber_unsubscribe', 'subscriber.unsubscribed', undefined, 'id:1'],
    ['subscriber.subscriber_bounce', 'subscriber.bounced', undefined, 'id:1'],
    ['subscriber.subscriber_complain', 'subscriber.complained', undefined, 'id:1'],
    ['subscriber.form_subscribe', 'subscriber.subscribed_to_form', { param: 'form_id', value: '1234' }, 'id:1'],
    ['subscriber.course_subscribe', 'subscriber.added_to_sequence', { param: 'sequence_id', value: '5678' }, 'id:1'],
    ['subscriber.course_complete', 'subscriber.sequence_completed', { param: 'sequence_id', value: '5678' }, 'id:1'],
    ['subscriber.link_click', 'subscriber.link_clicked', { param: 'initiator_value', value: 'https://example.com/offer' }, 'id:1'],
    ['subscriber.product_purchase', 'subscriber.product_purchased', { param: 'product_id', value: '777' }, 'id:1'],
    ['subscriber.tag_add', 'subscriber.tag_added', { param: 'tag_id', value: '4242' }, 'id:1'],
    ['subscriber.tag_remove', 'subscriber.tag_removed', { param: 'tag_id', value: '4242' }, 'id:1'],
    // A legacy purchase names its buyer by email only (subscriber_id is S2-only, reference/kit.md §4).
    ['purchase.purchase_create', 'purchase.created', undefined, 'email:john@example.com'],
    ['custom_field.field_created', 'custom_field.created', undefined, undefined],
    ['custom_field.field_deleted', 'custom_field.deleted', undefined, undefined],
    ['custom_field.field_value_updated', 'subscriber.custom_field_value_updated', { param: 'custom_field_id', value: '99' }, 'id:1'],
  ];

  it('covers every legacy fixture', () => {
    expect(legacyFixtures().map((f) => f.spec.legacyName)).toEqual(expected.map(([name]) => name));
  });

  it.each(expected)('%s → %s', (name, canonical, scope, subscriberKey) => {
    const fixture = legacyFixture(name);
    const result = parseLegacyDelivery({ spec: fixture.spec, scopeValue: fixture.scopeValue, body: jsonBody(fixture.body) });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const { event } = result;
    expect(event).toMatchObject({ type: canonical, kitType: name, scope, subscriberKey, payload: fixture.body });
    expect(event.kitEventId).toBeUndefined();
    expect(event.occurredAt).toBeUndefined();
    expect(event.kitEvent).toMatchObject({ type: canonical, kitType: name, system: 'legacy', scope, payload: fixture.body });
    if (subscriberKey) expect(event.kitEvent.subscriber?.email).toBe('john@example.com');
  });

  it('reads the subscriber: id as text, email trimmed and lower-cased, state, first name, fields', () => {
    const event = legacyOk('subscriber.subscriber_unsubscribe', legacyFixture('subscriber_unsubscribe', { id: 77, email: '  Jane@Example.COM ' }).body);
    expect(event).toMatchObject({ subscriberId: '77', email: 'jane@example.com', subscriberKey: 'id:77' });
    expect(event.kitEvent.subscriber).toEqual({ id: 77, email: 'jane@example.com', firstName: 'John', state: 'cancelled', fields: { last_name: 'Doe' } });
  });

  it('accepts a numeric-string id, and an email alone', () => {
    expect(legacyOk('subscriber.tag_add', { subscriber: { id: '0042', email_address: 'a@b.c' } }, '1')).toMatchObject({
      subscriberId: '42',
      subscriberKey: 'id:42',
    });
    const byEmail = legacyOk('subscriber.tag_add', { subscriber: { email_address: 'A@B.c' } }, '1');
    expect(byEmail).toMatchObject({ email: 'a@b.c', subscriberKey: 'email:a@b.c' });
    expect(byEmail.subscriberId).toBeUndefined();
  });

  it('keeps unknown fields in the payload untouched', () => {
    const body = { subscriber: { ...subscriberObject(), referrer: 'https://x.test' }, extra: { nested: [1, 2] } };
    expect(legacyOk('subscriber.subscriber_activate', body).payload).toEqual(body);
  });

  it('has no scope when the route gave none', () => {
    expect(legacyOk('subscriber.tag_add', legacySubscriberBody()).scope).toBeUndefined();
  });
});

describe('parseLegacyDelivery: custom fields by label and by key', () => {
  it('keys fields by key, and adds the key form of labels while keeping the labels', () => {
    const body = legacySubscriberBody({ fields: { 'Last name': 'Doe', company: 'Acme', ' Favourite Colour! ': 'blue', 'Prénom': 'Zoë', 'Empty': null } });
    expect(legacyOk('subscriber.subscriber_activate', body).kitEvent.subscriber?.fields).toEqual({
      'Last name': 'Doe',
      last_name: 'Doe',
      company: 'Acme',
      ' Favourite Colour! ': 'blue',
      favourite_colour: 'blue',
      'Prénom': 'Zoë',
      prenom: 'Zoë',
      Empty: null,
      empty: null,
    });
  });

  it('lets a real key win over a label that maps onto it', () => {
    const body = legacySubscriberBody({ fields: { 'Last name': 'from label', last_name: 'from key' } });
    expect(legacyOk('subscriber.subscriber_activate', body).kitEvent.subscriber?.fields.last_name).toBe('from key');
  });

  it('tolerates fields that are not an object or not strings', () => {
    const arrayFields = { subscriber: { id: 1, fields: [] } };
    expect(legacyOk('subscriber.subscriber_activate', arrayFields).kitEvent.subscriber?.fields).toEqual({});
    const odd = { subscriber: { id: 1, fields: { score: 12, vip: true, tags: ['a'] } } };
    expect(legacyOk('subscriber.subscriber_activate', odd).kitEvent.subscriber?.fields).toEqual({ score: '12', vip: 'true', tags: '["a"]' });
  });

  it('keeps a __proto__ field as data, not as a prototype', () => {
    const body = JSON.parse('{"subscriber":{"id":1,"fields":{"__proto__":"x"}}}') as unknown;
    const fields = legacyOk('subscriber.subscriber_activate', body).kitEvent.subscriber?.fields ?? {};
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(fields, '__proto__')?.value).toBe('x');
  });
});

describe('parseLegacyDelivery: purchases', () => {
  it('accepts the purchase bare at the top level (v3 docs)', () => {
    const body = legacyPurchaseBody();
    const event = legacyOk('purchase.purchase_create', body);
    expect(event.kitEvent.purchase).toEqual(body);
    expect(event).toMatchObject({ email: 'john@example.com', subscriberKey: 'email:john@example.com' });
  });

  it('accepts the purchase wrapped as {purchase: {…}} (AsyncAPI seed)', () => {
    const body = legacyPurchaseBody({ wrapped: true });
    const event = legacyOk('purchase.purchase_create', body);
    expect(event.kitEvent.purchase).toEqual(body.purchase);
    expect(event.payload).toEqual(body);
    expect(event.email).toBe('john@example.com');
  });

  it('uses subscriber_id when the purchase carries one', () => {
    const body = { ...legacyPurchaseBody(), subscriber_id: 555 };
    expect(legacyOk('purchase.purchase_create', body)).toMatchObject({ subscriberId: '555', subscriberKey: 'id:555' });
    expect(legacyOk('purchase.purchase_create', body).kitEvent.subscriber).toMatchObject({ id: 555, email: 'john@example.com' });
  });

  it('rejects a purchase with neither id nor transaction id, bare or wrapped', () => {
    for (const body of [{ status: 'paid' }, { purchase: { status: 'paid' } }, { purchase: 'nope' }]) {
      const result = parseLegacyDelivery({ spec: spec('purchase.purchase_create'), body: jsonBody(body) });
      expect(result).toMatchObject({ ok: false, reason: 'invalid_payload' });
    }
  });
});

describe('parseLegacyDelivery: custom field bodies (undocumented, all tolerated)', () => {
  it('reads {custom_field: {…}} for field_created', () => {
    const event = legacyOk('custom_field.field_created', legacyCustomFieldBody({ customFieldId: 5, label: 'Company' }));
    expect(event.kitEvent.customField).toEqual({ id: 5, name: 'ck_field_5_company', key: 'company', label: 'Company' });
    expect(event.subscriberKey).toBeUndefined();
  });

  it('reads a bare custom field', () => {
    const bare = { id: 5, label: 'Company', key: 'company', name: 'ck_field_5_company' };
    expect(legacyOk('custom_field.field_deleted', bare).kitEvent.customField).toEqual(bare);
  });

  it('reads a subscriber-only body for field_value_updated', () => {
    const event = legacyOk('custom_field.field_value_updated', legacySubscriberBody({ id: 9 }), '99');
    expect(event).toMatchObject({ subscriberKey: 'id:9', scope: { param: 'custom_field_id', value: '99' } });
    expect(event.kitEvent.customField).toBeUndefined();
  });

  it('takes the scope from the body when the route has none', () => {
    const event = legacyOk('custom_field.field_value_updated', legacyCustomFieldBody({ customFieldId: 12, withSubscriber: true }));
    expect(event.scope).toEqual({ param: 'custom_field_id', value: '12' });
  });

  it('rejects a body that is none of the three shapes', () => {
    const result = parseLegacyDelivery({ spec: spec('custom_field.field_created'), body: jsonBody({ hello: 'world' }) });
    expect(result).toMatchObject({ ok: false, reason: 'invalid_payload' });
  });
});

describe('parseLegacyDelivery: failures', () => {
  const tagAdd = spec('subscriber.tag_add');

  it('reports bytes that are not JSON', () => {
    const result = parseLegacyDelivery({ spec: tagAdd, scopeValue: '1', body: Buffer.from('{"subscriber":') });
    expect(result).toMatchObject({ ok: false, reason: 'invalid_json' });
  });

  it('reports bytes that are not UTF-8', () => {
    const result = parseLegacyDelivery({ spec: tagAdd, body: Buffer.from([0x7b, 0xff, 0x7d]) });
    expect(result).toEqual({ ok: false, reason: 'invalid_json', detail: 'body is not valid UTF-8' });
  });

  it('accepts a body with a UTF-8 byte order mark', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), jsonBody(legacySubscriberBody())]);
    expect(parseLegacyDelivery({ spec: tagAdd, body }).ok).toBe(true);
  });

  it.each([
    ['an array', [], '(body)'],
    ['null', null, '(body)'],
    ['no subscriber', { tag: { id: 1 } }, 'subscriber'],
    ['a subscriber with neither id nor email', { subscriber: { first_name: 'x' } }, 'subscriber.id'],
    ['a subscriber with a non-numeric id and no email', { subscriber: { id: 'abc' } }, 'subscriber.id'],
    ['a subscriber with a fractional id', { subscriber: { id: 1.5, email_address: 'a@b.c' } }, 'subscriber.id'],
    ['a subscriber with a blank email only', { subscriber: { email_address: '  ' } }, 'subscriber.id'],
  ])('reports valid JSON that is not a subscriber event: %s', (_name, body, path) => {
    const result = parseLegacyDelivery({ spec: tagAdd, body: jsonBody(body) });
    expect(result).toMatchObject({ ok: false, reason: 'invalid_payload' });
    if (!result.ok) expect(result.detail.startsWith(`${path}:`)).toBe(true);
  });
});

describe('parseSignedDelivery', () => {
  it('reads a tag_added delivery: id, type, time, scope from data.tag, subscriber', () => {
    const raw = signedTagAddedEvent({ id: 3, email: 'X@Y.z', tagId: 42, eventId: 'evt-1' });
    const result = parseSignedDelivery(jsonBody(signedEnvelope([raw], { deliveryId: 987 })));
    expect(result).toMatchObject({ ok: true, deliveryId: '987' });
    const [event] = signedOk([raw]);
    expect(event).toMatchObject({
      type: 'subscriber.tag_added',
      kitType: 'subscriber.tag_added',
      kitEventId: 'evt-1',
      scope: { param: 'tag_id', value: '42' },
      subscriberId: '3',
      email: 'x@y.z',
      subscriberKey: 'id:3',
      occurredAt: Date.parse('2026-07-29T14:32:10Z'),
      payload: raw,
    });
    expect(event?.kitEvent).toMatchObject({ system: 'signed', kitEventId: 'evt-1', tag: { id: 42, name: 'Customer' } });
  });

  it('reads the form of subscribed_to_form', () => {
    const [event] = signedOk([signedFormSubscribedEvent({ formId: 1234 })]);
    expect(event?.scope).toEqual({ param: 'form_id', value: '1234' });
  });

  it('keeps an unknown type under its own name, unscoped', () => {
    const [event] = signedOk([signedUnknownEvent({ id: 8 })]);
    expect(event).toMatchObject({ type: 'subscriber.referral_completed', kitType: 'subscriber.referral_completed', subscriberKey: 'id:8' });
    expect(event?.scope).toBeUndefined();
  });

  it('keeps an unknown type with no subscriber at all', () => {
    const [event] = signedOk([signedEvent('broadcast.archived', { broadcast: { id: 1 } })]);
    expect(event).toMatchObject({ type: 'broadcast.archived' });
    expect(event?.subscriberKey).toBeUndefined();
  });

  it.each([
    ['subscriber.tag_removed', { tag_id: 7 }, { param: 'tag_id', value: '7' }],
    ['subscriber.added_to_sequence', { sequence: { id: 5 } }, { param: 'sequence_id', value: '5' }],
    ['subscriber.sequence_completed', { sequence_id: '6' }, { param: 'sequence_id', value: '6' }],
    ['subscriber.custom_field_value_updated', { custom_field: { id: 99 } }, { param: 'custom_field_id', value: '99' }],
    ['subscriber.product_purchased', { product: { id: 777 } }, { param: 'product_id', value: '777' }],
    ['subscriber.product_purchased', { product_id: 778 }, { param: 'product_id', value: '778' }],
    ['subscriber.link_clicked', { link: { url: 'https://a.test/x' } }, { param: 'initiator_value', value: 'https://a.test/x' }],
    ['subscriber.link_clicked', { url: 'https://a.test/y' }, { param: 'initiator_value', value: 'https://a.test/y' }],
    ['subscriber.link_clicked', { initiator_value: 'https://a.test/z' }, { param: 'initiator_value', value: 'https://a.test/z' }],
    ['subscriber.tag_added', { tag: { name: 'no id' } }, undefined],
  ])('reads the scope of %s from %j', (type, extra, scope) => {
    const [event] = signedOk([signedEvent(type, { subscriber: subscriberObject(), ...extra })]);
    expect(event?.scope).toEqual(scope);
  });

  it('isolates one bad event among good ones', () => {
    const good = signedTagAddedEvent({ id: 1 });
    const noSubscriber = signedEvent('subscriber.tag_added', { tag: { id: 1 } });
    const noId = { type: 'subscriber.tag_added', data: {} };
    const result = parseSignedDelivery(jsonBody(signedEnvelope([good, noSubscriber, signedTagAddedEvent({ id: 2 }), noId])));
    if (!result.ok) throw new Error(result.detail);
    expect(result.events.map((e) => e.ok)).toEqual([true, false, true, false]);
    expect(result.events[1]).toMatchObject({ ok: false, index: 1, reason: 'invalid_event', raw: noSubscriber });
    expect(result.events[1]?.ok === false && result.events[1].detail).toMatch(/^data\.subscriber:/);
    expect(result.events[3]).toMatchObject({ ok: false, index: 3, raw: noId });
    expect(result.events[3]?.ok === false && result.events[3].detail).toMatch(/^id:/);
  });

  it.each([
    ['data that is an array', { id: 'e', type: 'tag.created', data: [] }],
    ['a numeric id', { id: 5, type: 'tag.created', data: {} }],
    ['an empty type', { id: 'e', type: ' ', data: {} }],
    ['not an object', 'subscriber.tag_added'],
  ])('rejects an event with %s', (_name, raw) => {
    const result = parseSignedDelivery(jsonBody({ delivery_id: 1, events: [raw] }));
    expect(result.ok && result.events[0]).toMatchObject({ ok: false, reason: 'invalid_event' });
  });

  it('tolerates a missing or unreadable created, and a numeric one in seconds', () => {
    const events = signedOk([
      { ...signedTagAddedEvent(), created: undefined },
      { ...signedTagAddedEvent(), created: 'yesterday' },
      { ...signedTagAddedEvent(), created: 1_785_335_530 },
    ]);
    expect(events.map((e) => e.occurredAt)).toEqual([undefined, undefined, 1_785_335_530_000]);
  });

  it('has no deliveryId when the envelope has none', () => {
    const result = parseSignedDelivery(jsonBody({ events: [signedTagAddedEvent()] }));
    expect(result.ok && result.deliveryId).toBeUndefined();
  });

  it('reports bytes that are not JSON', () => {
    expect(parseSignedDelivery(Buffer.from('nope'))).toMatchObject({ ok: false, reason: 'invalid_json' });
  });

  it.each([
    ['an array', []],
    ['no events', { delivery_id: 1 }],
    ['events that is not an array', { delivery_id: 1, events: {} }],
    ['zero events', { delivery_id: 1, events: [] }],
    ['101 events', signedEnvelope(Array.from({ length: 101 }, (_, i) => signedTagAddedEvent({ id: i + 1 })))],
  ])('rejects an envelope with %s', (_name, envelope) => {
    expect(parseSignedDelivery(jsonBody(envelope))).toMatchObject({ ok: false, reason: 'invalid_envelope' });
  });

  it('accepts 100 events', () => {
    const envelope = signedEnvelope(Array.from({ length: 100 }, (_, i) => signedTagAddedEvent({ id: i + 1 })));
    const result = parseSignedDelivery(jsonBody(envelope));
    expect(result.ok && result.events.every((e) => e.ok)).toBe(true);
  });
});

describe('legacyFingerprint', () => {
  const body = { subscriber: { id: 1, email_address: 'a@b.c', fields: { b: null, a: 'x' } } };

  it('matches an independently computed digest', () => {
    // python3: sha256(b'tag_add:4242\n' + json.dumps(body, sort_keys=True, separators=(',',':')))
    expect(legacyFingerprint('tag_add:4242', body)).toBe('f50b13f787fc36e551933eef4c6807da9eb9246160674711b8c9bf4c2efa62f2');
  });

  it('is the same whatever the key order', () => {
    const reordered = JSON.parse('{"subscriber":{"fields":{"a":"x","b":null},"email_address":"a@b.c","id":1}}') as unknown;
    expect(legacyFingerprint('r', reordered)).toBe(legacyFingerprint('r', body));
  });

  it('differs across routes and bodies', () => {
    expect(legacyFingerprint('r1', body)).not.toBe(legacyFingerprint('r2', body));
    expect(legacyFingerprint('r', body)).not.toBe(legacyFingerprint('r', { subscriber: { ...body.subscriber, id: 2 } }));
    // Array order is data, not formatting.
    expect(legacyFingerprint('r', [1, 2])).not.toBe(legacyFingerprint('r', [2, 1]));
  });
});

describe('toKitEvent', () => {
  it.each(legacyFixtures().map((f) => [f.spec.legacyName, f] as const))('rebuilds the KitEvent of a stored legacy %s', (_name, f) => {
    const event = legacyOk(f.spec.legacyName, f.body, f.scopeValue);
    expect(toKitEvent(asRecord(event, 'legacy'))).toEqual(event.kitEvent);
  });

  it('rebuilds a wrapped purchase', () => {
    const event = legacyOk('purchase.purchase_create', legacyPurchaseBody({ wrapped: true }));
    expect(toKitEvent(asRecord(event, 'legacy'))).toEqual(event.kitEvent);
  });

  it('rebuilds signed events, known and unknown', () => {
    for (const event of signedOk([signedTagAddedEvent(), signedFormSubscribedEvent(), signedUnknownEvent()])) {
      expect(toKitEvent(asRecord(event, 'signed'))).toEqual(event.kitEvent);
    }
  });

  it('keeps what the payload implies for re-ingested and reconciled events', () => {
    const [signed] = signedOk([signedTagAddedEvent()]);
    if (!signed) throw new Error('no event');
    expect(toKitEvent({ ...asRecord(signed, 'reingest'), kitEventId: null }).system).toBe('signed');
    const legacy = legacyOk('subscriber.tag_add', legacySubscriberBody(), '4242');
    expect(toKitEvent(asRecord(legacy, 'reingest'))).toEqual(legacy.kitEvent);
    expect(toKitEvent(asRecord(legacy, 'reconciled')).system).toBe('legacy');
  });

  it('still yields an event when retention removed the payload', () => {
    const legacy = legacyOk('subscriber.tag_add', legacySubscriberBody(), '4242');
    const event = toKitEvent({ ...asRecord(legacy, 'legacy'), payload: null });
    expect(event).toMatchObject({ type: 'subscriber.tag_added', system: 'legacy', scope: { param: 'tag_id', value: '4242' }, payload: null });
    expect(event.subscriber).toBeUndefined();
  });

  it('drops a stored scope whose parameter is not a Kit scope parameter', () => {
    const legacy = legacyOk('subscriber.tag_add', legacySubscriberBody(), '4242');
    expect(toKitEvent({ ...asRecord(legacy, 'legacy'), scope: { param: 'colour', value: 'red' } }).scope).toBeUndefined();
  });
});
