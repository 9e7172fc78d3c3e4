/**
 * fast-check arbitraries for inbound webhooks, valid and hostile. Bodies start from the payload
 * shapes of src/kit/payloads.ts and the fixtures (reference/kit.md §7A legacy, §7B signed), then are
 * mutated (mutations.ts). Authentication is described, not computed: tokens and signatures depend on
 * the running relay and the time of sending, so properties.ts resolves them per request.
 */
import fc from 'fast-check';
import { LEGACY_EVENTS } from '../../src/kit/events.js';
import {
  legacyFixture,
  signedEvent,
  signedFormSubscribedEvent,
  signedTagAddedEvent,
  signedUnknownEvent,
  subscriberObject,
  type SubscriberOverrides,
} from '../../src/kit/fixtures.js';
import { arr, deep, fromValue, obj, raw, render, str, type DeepKind, type JsonNode, type Layout } from './json-text.js';
import { applyRecipe, benignString, byteLabel, byteMutationArb, extraNumberArb, keepsValue, recipeArb, toBytes, withNumber, type ByteMutation, type Expect, type Shape, type Variant } from './mutations.js';
import { lazyCase } from './describe.js';
import { deliveryHeaderArb, signatureArb, unauthTargetArb, type Signing, type UnauthTarget } from './auth.js';

export type { Expect } from './mutations.js';

interface CaseBase {
  readonly body: Buffer;
  readonly contentType: string | undefined;
  /** What was done to the body, for reports and failure families. */
  readonly label: string;
  /** Sent twice in a row: the second must not grow quarantine. */
  readonly repeat: boolean;
}

/** A legacy delivery on its own route with the right token. */
export interface LegacyCase extends CaseBase {
  readonly kind: 'legacy';
  readonly event: string;
  readonly expect: Expect;
}

/** A signed delivery with a valid signature. `elements` says what each element of `events` must become. */
export interface SignedCase extends CaseBase {
  readonly kind: 'signed';
  readonly signing: Signing;
  readonly deliveryHeader: string | undefined;
  readonly elements: readonly Expect[];
  readonly elementLabels: readonly string[];
}

/** A request that must be refused before anything is stored (bad credentials, route, type, size). */
export interface UnauthCase extends CaseBase {
  readonly kind: 'unauth';
  readonly target: UnauthTarget;
}

export type FuzzCase = LegacyCase | SignedCase | UnauthCase;

const layoutArb: fc.Arbitrary<Layout> = fc.constantFrom('compact', 'compact', 'spaced', 'pretty');
const jsonTypeArb = fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8');
const repeatArb = fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const fieldKeyArb = fc.string({ maxLength: 12 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));

const subscriberArb: fc.Arbitrary<SubscriberOverrides> = fc.record({
  id: fc.integer({ min: 1, max: 2_000_000_000 }),
  // fc.emailAddress costs ten times the rest of a subscriber: mostly a cheaper local part.
  email: fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.+_-'), minLength: 1, maxLength: 16 }).map((local) => `${local}@example.com`) },
    { weight: 1, arbitrary: fc.emailAddress() },
    { weight: 1, arbitrary: fc.constantFrom('Ada@Example.COM', '  spaced@example.com ', 'ünï@exämple.com', '"quoted local"@example.com') },
  ),
  firstName: fc.option(benignString, { nil: null }),
  state: fc.constantFrom('active', 'inactive', 'cancelled', 'bounced', 'complained', 'something_new'),
  fields: fc.dictionary(fieldKeyArb, fc.option(benignString, { nil: null }), { maxKeys: 4 }),
});

const SUBSCRIBER_TYPED = [['id', 'id'], ['email_address', 'string']] as const;

const legacyParamsArb = fc.record({
  spec: fc.constantFrom(...LEGACY_EVENTS),
  s: subscriberArb,
  purchaseId: fc.nat(),
  wrapped: fc.boolean(),
  customFieldId: fc.nat(),
  // A bare custom field needs a label or key with text (payloads.ts), so never a blank label.
  fieldLabel: fc.string({ minLength: 1, maxLength: 20 }).filter((label) => label.trim() !== ''),
  bare: fc.boolean(),
});

type LegacyParams = typeof legacyParamsArb extends fc.Arbitrary<infer P> ? P : never;

/** The shape of a legacy body for one event, as Kit sends it (§7A; custom fields [UNC]). */
function legacyShape({ spec, s, purchaseId, wrapped, customFieldId, fieldLabel, bare }: LegacyParams): Shape {
  if (spec.payload === 'subscriber') {
    return { node: fromValue(legacyFixture(spec.legacyName, s).body), holder: ['subscriber'], identity: ['id', 'email_address'], typed: SUBSCRIBER_TYPED, fields: ['subscriber', 'fields'], checked: true };
  }
  if (spec.payload === 'purchase') {
    return {
      node: fromValue(legacyFixture(spec.legacyName, { ...s, purchaseId, wrapped }).body),
      holder: wrapped ? ['purchase'] : [],
      identity: ['id', 'transaction_id'],
      typed: [['id', 'id'], ['email_address', 'string'], ['subscriber_id', 'id']],
      checked: true,
    };
  }
  const typed = [['id', 'id'], ['key', 'string'], ['label', 'string'], ['name', 'string']] as const;
  const body = legacyFixture(spec.legacyName, { ...s, customFieldId, label: fieldLabel }).body;
  // A bare custom field (`{id, label, key}`, how the v4 API returns one) is accepted too.
  if (bare && spec.scopeParam === undefined) return { node: fromValue(body.custom_field), holder: [], identity: ['id'], typed, checked: true };
  return { node: fromValue(body), holder: ['custom_field'], identity: ['id', 'key', 'label'], typed, ...(body.subscriber ? { fields: ['subscriber', 'fields'] } : {}), checked: true };
}

const expectAfter = (tree: Expect, m: ByteMutation): Expect => (keepsValue(m) ? tree : 'bad');

export const legacyCaseArb: fc.Arbitrary<LegacyCase> = fc
  .record({ params: legacyParamsArb, recipe: recipeArb({ large: true, isEvent: false }), n: extraNumberArb, layout: layoutArb, bytes: byteMutationArb, contentType: jsonTypeArb, repeat: repeatArb })
  .map(({ params, recipe, n, layout, bytes, contentType, repeat }) => {
    const variant = withNumber(applyRecipe(legacyShape(params), recipe), n);
    const fields = { kind: 'legacy' as const, event: params.spec.legacyName, contentType, label: bytes.kind === 'none' ? variant.label : byteLabel(bytes), expect: expectAfter(variant.expect, bytes), repeat };
    return lazyCase<LegacyCase>(fields, () => toBytes(variant.node, layout, bytes));
  });

// ---------------------------------------------------------------- signed

const SUBSCRIBER_HOLDER = ['data', 'subscriber'];

/** One element of `events`, from the fixtures; `checked` is false for types kitrelay does not know. */
const elementShapeArb: fc.Arbitrary<Shape> = fc
  .record({ s: subscriberArb, eventId: fc.uuid(), kind: fc.constantFrom('tag_added', 'form', 'created', 'unknown', 'tag') })
  .map(({ s, eventId, kind }) => {
    const o = { ...s, eventId };
    const base = { holder: SUBSCRIBER_HOLDER, identity: ['id', 'email_address'], typed: SUBSCRIBER_TYPED, fields: [...SUBSCRIBER_HOLDER, 'fields'], checked: true };
    switch (kind) {
      case 'tag_added':
        return { ...base, node: fromValue(signedTagAddedEvent(o)) };
      case 'form':
        return { ...base, node: fromValue(signedFormSubscribedEvent(o)) };
      case 'created':
        return { ...base, node: fromValue(signedEvent('subscriber.created', { subscriber: subscriberObject(o) }, o)) };
      case 'unknown':
        return { ...base, node: fromValue(signedUnknownEvent(o)), checked: false };
      case 'tag':
        return { node: fromValue(signedEvent('tag.created', { tag: { id: s.id, name: s.firstName ?? 'tag' } }, o)), holder: ['data', 'tag'], identity: [], typed: [], checked: false };
    }
  });

const elementArb = (large: boolean): fc.Arbitrary<Variant> =>
  fc.tuple(elementShapeArb, recipeArb({ large, isEvent: true }), extraNumberArb).map(([shape, recipe, n]) => withNumber(applyRecipe(shape, recipe), n));
const pristineElementArb: fc.Arbitrary<Variant> = elementShapeArb.map((shape) => applyRecipe(shape, { m: 'pristine' }));

/**
 * Mostly a few events, sometimes a full batch of 90–100 (Kit sends 1–100, reference/kit.md §7B)
 * with a few mutated among them.
 */
const elementsArb = fc.oneof(
  { weight: 14, arbitrary: fc.array(elementArb(true), { minLength: 1, maxLength: 5 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof({ weight: 15, arbitrary: pristineElementArb }, { weight: 1, arbitrary: elementArb(false) }), { minLength: 90, maxLength: 100 }) },
);

const signedByteMutationArb = fc.oneof({ weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) }, { weight: 1, arbitrary: byteMutationArb });

type EnvelopeEdit = { readonly label: string; readonly edit: (events: JsonNode, deliveryId: JsonNode) => JsonNode };

const envelope = (events: JsonNode, deliveryId: JsonNode, extra: ReadonlyArray<readonly [string, JsonNode]> = []) =>
  obj([['delivery_id', deliveryId], ['events', events], ...extra]);

/** The envelope's own mutations; whether the result is still an envelope is judged on the bytes. */
const envelopeEditArb: fc.Arbitrary<EnvelopeEdit> = fc.oneof(
  // Mostly a well-formed envelope, so most deliveries reach the per-event rules.
  { weight: 30, arbitrary: fc.constant({ label: 'envelope', edit: (ev: JsonNode, id: JsonNode) => envelope(ev, id) }) },
  fc.constantFrom('[]', '"x"', 'null', '{}', '1').map((v) => ({ label: `events=${v}`, edit: (_ev: JsonNode, id: JsonNode) => envelope(raw(v), id) })),
  fc.constantFrom('{}', '[]', 'true', '"42"', '1e400').map((v) => ({ label: `delivery_id=${v}`, edit: (ev: JsonNode) => envelope(ev, raw(v)) })),
  fc.constant({ label: 'no-events', edit: (_ev: JsonNode, id: JsonNode) => obj([['delivery_id', id]]) }),
  // `"\u0065vents"` is `events` to JSON.parse: a reader of the raw bytes must unescape keys too.
  fc.constantFrom('only', 'decoy-first', 'garbage-last').map((variant) => ({
    label: `escaped-events-key(${variant})`,
    edit: (ev: JsonNode, id: JsonNode) => {
      const [events, delivery] = [render(ev), render(id)];
      if (variant === 'only') return raw(`{"delivery_id":${delivery},"\\u0065vents":${events}}`);
      if (variant === 'decoy-first') return raw(`{"\\u0065vents":"x","delivery_id":${delivery},"events":${events}}`);
      return raw(`{"delivery_id":${delivery},"events":${events},"ev\\u0065nts":{"a":1}}`);
    },
  })),
  fc.constant({ label: 'events-in-__proto__', edit: (ev: JsonNode, id: JsonNode) => obj([['delivery_id', id], ['__proto__', obj([['events', ev]])]]) }),
  fc.boolean().map((realLast) => ({ label: `duplicate-events-key(${realLast ? 'real last' : 'real first'})`, edit: (ev: JsonNode, id: JsonNode) => (realLast ? obj([['events', raw('"x"')], ['delivery_id', id], ['events', ev]]) : obj([['events', ev], ['delivery_id', id], ['events', raw('"x"')]])) })),
  fc.constant({ label: '101-events', edit: (ev: JsonNode, id: JsonNode) => envelope(arr(Array.from({ length: 101 }, (_, i) => (ev.t === 'arr' ? ev.items[i % ev.items.length]! : ev))), id) }),
  fc.tuple(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom<DeepKind>('array', 'object', 'mixed')).map(([depth, kind]) => ({ label: 'deep-envelope-field', edit: (ev: JsonNode, id: JsonNode) => envelope(ev, id, [['meta', deep(depth, kind)]]) })),
);

export const signedCaseArb: fc.Arbitrary<SignedCase> = fc
  .record({ elements: elementsArb, deliveryId: fc.oneof(fc.nat().map((n) => raw(String(n))), fc.uuid().map((u) => str(u))), envelope: envelopeEditArb, layout: layoutArb, bytes: signedByteMutationArb, signing: signatureArb, deliveryHeader: deliveryHeaderArb, contentType: jsonTypeArb, repeat: repeatArb })
  .map(({ elements, deliveryId, envelope: env, layout, bytes, signing, deliveryHeader, contentType, repeat }) => {
    const mutated = elements.map((e) => e.label).filter((l) => l !== 'pristine');
    const fields = {
      kind: 'signed' as const,
      contentType,
      signing,
      deliveryHeader,
      elements: elements.map((e) => e.expect),
      elementLabels: elements.map((e) => e.label),
      label: bytes.kind !== 'none' ? byteLabel(bytes) : env.label !== 'envelope' ? env.label : (mutated[0] ?? 'pristine'),
      repeat,
    };
    return lazyCase<SignedCase>(fields, () => toBytes(env.edit(arr(elements.map((e) => e.node)), deliveryId), layout, bytes));
  });

// ---------------------------------------------------------------- unauthenticated

const anyBodyArb: fc.Arbitrary<FuzzCase> = fc.oneof({ weight: 3, arbitrary: legacyCaseArb }, { weight: 1, arbitrary: signedCaseArb });

export const unauthCaseArb: fc.Arbitrary<UnauthCase> = fc
  .record({ target: unauthTargetArb, source: anyBodyArb, contentType: jsonTypeArb })
  .map(({ target, source, contentType }) => {
    const fields = { kind: 'unauth' as const, target, contentType: target.kind === 'content-type' ? target.contentType : contentType, label: target.label, repeat: false };
    return lazyCase<UnauthCase>(fields, () => (target.kind === 'oversize' ? Buffer.alloc(target.bytes, 0x20) : source.body));
  });
