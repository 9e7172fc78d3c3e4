/**
 * Mutations of one event payload (a legacy body, or one element of a signed `events` array) and of
 * a whole body's bytes. Each mutation says what the relay must make of the result:
 *
 * - `good`: still a valid event (the relay must commit it);
 * - `bad`: no longer one (the relay must quarantine it, byte-exact);
 * - `either`: the spec does not decide (odd numbers, duplicate keys…): only the generic properties
 *   apply (no 5xx; committed or quarantined, never lost).
 *
 * Depth is not decided here: the properties measure it on the bytes sent (see `maxDepth`), so a
 * `good` payload nested past the limit is expected in quarantine with reason `too_deep`.
 */
import fc from 'fast-check';
import { arr, deep, editObject, obj, raw, render, setAt, str, withKey, type DeepKind, type JsonNode, type Layout } from './json-text.js';

export type Expect = 'good' | 'bad' | 'either';

export interface Variant {
  readonly node: JsonNode;
  readonly expect: Expect;
  readonly label: string;
}

/** How a value of a checked key is typed: a Kit id (integer or digits) or a string. */
type KeyType = 'id' | 'string';

/** Where a payload keeps what its schema checks (src/kit/payloads.ts). */
export interface Shape {
  readonly node: JsonNode;
  /** Path to the object carrying the identity (subscriber, purchase, custom field); [] is the root. */
  readonly holder: readonly string[];
  /** Keys of which at least one must be present. */
  readonly identity: readonly string[];
  /** Keys whose type the schema checks: a value of another type makes the payload bad. */
  readonly typed: ReadonlyArray<readonly [string, KeyType]>;
  /** Path to the subscriber's `fields`, when there is one. */
  readonly fields?: readonly string[];
  /** False when nothing checks the holder (a signed type kitrelay does not know). */
  readonly checked: boolean;
}

const WRONG: Record<KeyType, readonly string[]> = {
  id: ['"abc"', '-5', '1.5', 'true', '{}', '[]', '"  "', '"1e3"'],
  string: ['1', 'true', '{}', '[]'],
};
const NOT_OBJECT = ['"x"', '1', '[]', 'null', 'true', '"{}"'];
export const ODD_NUMBERS = ['1e400', '-1e400', '9007199254740993', '-0', '1E-400', '123456789012345678901234567890', '-0.0', '1E+2', '0e0'];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Strings a payload may legitimately carry: any code point, escapes, separators, markup. */
export const benignString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('\u0000', '\ufeff', '\u2028\u2029', 'a"b\\c/', '<script>alert(1)</script>', '😀👍🏽', '\ud800', 'NaN', ''),
  // Brackets and quotes inside strings: a depth count or a slicer that reads raw bytes must skip them.
  fc.constantFrom('['.repeat(300), '{'.repeat(200) + '"', ']}],', 'x\\', '\\"[[[[', '"}]'),
);

/** Mostly shallow, then around the default limit (128), then far past it (up to 10,000). */
export const depthArb = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 120, max: 136 }), fc.integer({ min: 500, max: 10_000 }));

const places = (shape: Shape): Array<readonly string[]> => [[], ...(shape.holder.length > 0 ? [shape.holder] : []), ...(shape.fields ? [shape.fields] : [])];
const pick = <T>(items: readonly T[]) => fc.constantFrom(...items);
const nth = <T>(items: readonly T[], i: number): T => items[i % items.length]!;
const addAt = (node: JsonNode, path: readonly string[], key: string, value: JsonNode) => editObject(node, path, (e) => withKey(e, key, value));
const where = (path: readonly string[]) => (path.length === 0 ? 'root' : path.join('.'));

/**
 * A mutation, drawn without knowing the payload it applies to (places and keys are indexes taken
 * modulo what the payload has). Drawing recipes instead of chaining on the payload keeps
 * generation cheap and lets fast-check shrink every part.
 */
export type Recipe =
  | { readonly m: 'pristine' }
  | { readonly m: 'extra-field'; readonly place: number; readonly key: string; readonly value: JsonNode; readonly large?: number }
  | { readonly m: 'deep'; readonly place: number; readonly depth: number; readonly kind: DeepKind }
  | { readonly m: 'number'; readonly target: number; readonly n: string }
  | { readonly m: 'wrong-type'; readonly target: number; readonly v: number }
  | { readonly m: 'no-identity'; readonly viaProto: boolean }
  | { readonly m: 'proto-key'; readonly place: number; readonly key: string; readonly value: number }
  | { readonly m: 'duplicate-key'; readonly place: number; readonly key: number; readonly v: string; readonly first: boolean }
  /** Signed events only: the event's own fields (`{id, type, created, data}`), each change fatal. */
  | { readonly m: 'event-field'; readonly key: 'id' | 'type' | 'data' | 'created'; readonly v: number }
  | { readonly m: 'event-missing'; readonly key: 'id' | 'type' | 'data' }
  | { readonly m: 'event-id-in-__proto__' }
  | { readonly m: 'event-not-object'; readonly v: string };

const extraValue = fc.oneof(
  { weight: 4, arbitrary: benignString.map((s) => str(s)) },
  { weight: 2, arbitrary: benignString.map((s) => str(s, true)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => raw(JSON.stringify(v))) },
);
const EXTRA_KEYS = ['note', 'x-extra', 'ünïcode', ''];
const PROTO_VALUES = [obj([['polluted', raw('true')]]), obj([['id', raw('1')], ['email_address', str('p@example.com')]]), arr([]), str('x'), raw('null')];
const EVENT_WRONG = { id: ['1', '""', '"   "', 'null', '{}', 'true'], type: ['1', '""', '"   "', 'null', '{}', 'true'], data: ['"x"', '1', 'null', 'true'], created: ['{}', '[]', 'true'] };

export interface RecipeOptions {
  /** Whether unknown fields may hold strings of 10–300 kB (not in batches of 100 events: 1 MiB limit). */
  readonly large: boolean;
  /** Whether the payload is an element of a signed `events` array. */
  readonly isEvent: boolean;
}

export function recipeArb(options: RecipeOptions): fc.Arbitrary<Recipe> {
  const place = fc.nat(2);
  const large = fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: options.large ? 1 : 0, arbitrary: fc.integer({ min: 10_000, max: 300_000 }) });
  const eventKey = pick(['id', 'type', 'data', 'created'] as const);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant({ m: 'pristine' as const }) },
    { weight: 2, arbitrary: fc.record({ m: fc.constant('extra-field' as const), place, key: pick(EXTRA_KEYS), value: extraValue, large }) },
    { weight: 2, arbitrary: fc.record({ m: fc.constant('deep' as const), place, depth: depthArb, kind: pick(['array', 'object', 'mixed'] as const) }) },
    { weight: 1, arbitrary: fc.record({ m: fc.constant('number' as const), target: fc.nat(5), n: pick(ODD_NUMBERS) }) },
    { weight: 1, arbitrary: fc.record({ m: fc.constant('wrong-type' as const), target: fc.nat(4), v: fc.nat(7) }) },
    { weight: 1, arbitrary: fc.record({ m: fc.constant('no-identity' as const), viaProto: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ m: fc.constant('proto-key' as const), place, key: pick(PROTO_KEYS), value: fc.nat(PROTO_VALUES.length - 1) }) },
    { weight: 1, arbitrary: fc.record({ m: fc.constant('duplicate-key' as const), place, key: fc.nat(3), v: pick([...NOT_OBJECT, '"dup@example.com"', '42']), first: fc.boolean() }) },
    { weight: options.isEvent ? 1 : 0, arbitrary: fc.record({ m: fc.constant('event-field' as const), key: eventKey, v: fc.nat(5) }) },
    { weight: options.isEvent ? 1 : 0, arbitrary: fc.record({ m: fc.constant('event-missing' as const), key: pick(['id', 'type', 'data'] as const) }) },
    { weight: options.isEvent ? 1 : 0, arbitrary: fc.constant({ m: 'event-id-in-__proto__' as const }) },
    { weight: options.isEvent ? 1 : 0, arbitrary: fc.record({ m: fc.constant('event-not-object' as const), v: pick(['"x"', '1', 'null', '[]', 'true']) }) },
  );
}

/** Sometimes an odd number to add besides the recipe, so bad payloads carry them too. */
export const extraNumberArb = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: pick(ODD_NUMBERS) });

/**
 * Adds an odd number (`1e400`, `-0`…) at the root. A bad payload must still be quarantined as
 * the bytes sent (a parse and re-serialisation would write `null` and `0`); whether a good one
 * stays good is left open, as for every odd number.
 */
export function withNumber(v: Variant, n: string | undefined): Variant {
  if (n === undefined || v.node.t !== 'obj') return v;
  return { node: editObject(v.node, [], (e) => [...e, ['odd', raw(n)]]), expect: v.expect === 'good' ? 'either' : v.expect, label: `${v.label}+number` };
}

/** Applies a recipe to a payload: the mutated payload, what it must become, and a label. */
export function applyRecipe(shape: Shape, r: Recipe): Variant {
  const node = shape.node;
  const checked: Expect = shape.checked ? 'bad' : 'either';
  switch (r.m) {
    case 'pristine':
      return { node, expect: 'good', label: 'pristine' };
    case 'extra-field': {
      // Payloads are additive (src/kit/payloads.ts): unknown fields never make an event bad.
      const path = nth(places(shape), r.place);
      const value = r.large === undefined ? r.value : str('é'.repeat(r.large / 2));
      return { node: addAt(node, path, r.key, value), expect: 'good', label: `${r.large === undefined ? 'extra-field' : 'large-string'}@${where(path)}` };
    }
    case 'deep': {
      const path = nth(places(shape), r.place);
      return { node: addAt(node, path, 'nested', deep(r.depth, r.kind, str('leaf'))), expect: 'good', label: `deep@${where(path)}` };
    }
    case 'number': {
      const targets = [...places(shape).map((p) => [...p, 'n']), ...shape.typed.filter(([, t]) => t === 'id').map(([k]) => [...shape.holder, k])];
      const path = nth(targets, r.target);
      return { node: setAt(node, path, raw(r.n)), expect: 'either', label: `number@${where(path)}` };
    }
    case 'wrong-type': {
      const targets: Array<readonly [readonly string[], readonly string[]]> = [[shape.holder, NOT_OBJECT], ...shape.typed.map(([k, type]) => [[...shape.holder, k], WRONG[type]] as const)];
      const [path, values] = nth(targets, r.target);
      return { node: setAt(node, path, raw(nth(values, r.v))), expect: checked, label: `wrong-type@${where(path)}` };
    }
    case 'no-identity': {
      // Without its identity the payload is no event, even when `__proto__` offers one.
      const stripped = editObject(node, shape.holder, (e) => e.filter(([k]) => !shape.identity.includes(k)));
      const decoy = obj(shape.identity.map((k) => [k, k.includes('email') ? str('decoy@example.com') : raw('7')] as const));
      const expect = shape.identity.length > 0 ? checked : 'either';
      return r.viaProto ? { node: addAt(stripped, shape.holder, '__proto__', decoy), expect, label: 'identity-in-__proto__' } : { node: stripped, expect, label: 'no-identity' };
    }
    case 'proto-key': {
      const path = nth(places(shape), r.place);
      return { node: addAt(node, path, r.key, nth(PROTO_VALUES, r.value)), expect: 'either', label: `proto-key@${where(path)}` };
    }
    case 'duplicate-key': {
      // Which of two equal keys counts is the parser's business: the outcome is left open.
      const path = nth(places(shape), r.place);
      const key = nth([...shape.identity, 'state'], r.key);
      return { node: editObject(node, path, (e) => (r.first ? [[key, raw(r.v)], ...e] : [...e, [key, raw(r.v)]])), expect: 'either', label: `duplicate-key@${where(path)}` };
    }
    case 'event-field':
      return { node: editObject(node, [], (e) => withKey(e, r.key, raw(nth(EVENT_WRONG[r.key], r.v)))), expect: 'bad', label: `wrong-type@${r.key}` };
    case 'event-missing':
      return { node: editObject(node, [], (e) => e.filter(([k]) => k !== r.key)), expect: 'bad', label: `missing@${r.key}` };
    case 'event-id-in-__proto__':
      return { node: editObject(node, [], (e) => [...e.filter(([k]) => k !== 'id'), ['__proto__', obj([['id', str('decoy')]])]]), expect: 'bad', label: 'id-in-__proto__' };
    case 'event-not-object':
      return { node: raw(r.v), expect: 'bad', label: 'event-not-object' };
  }
}

// ---------------------------------------------------------------- bytes

const MARK = 'ZZ-BYTES-HERE-ZZ';
const INVALID_UTF8 = [[0xff], [0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];
const NOT_JSON = ['', ' ', 'hello', '<xml/>', 'subscriber=1&x=2', 'NaN', 'undefined', "{'a':1}", '{a:1}', '{"a":1,}', '[1,]', '\u0000', '{"a":01}', '{"a":"\\x41"}'];
const NOT_OBJECT_JSON = ['[]', '"str"', '123', 'null', 'true', '[{"subscriber":{"id":1}}]'];

export type ByteMutation =
  | { readonly kind: 'none' | 'bom' | 'bom-twice' | 'bom-inside' | 'raw-control-char' }
  | { readonly kind: 'invalid-utf8'; readonly bytes: readonly number[] }
  | { readonly kind: 'truncate'; readonly fraction: number }
  | { readonly kind: 'replace'; readonly text: string }
  | { readonly kind: 'trailing'; readonly text: string };

export const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: pick(['bom', 'bom-twice', 'bom-inside', 'raw-control-char'] as const).map((kind) => ({ kind })) },
  { weight: 1, arbitrary: pick(INVALID_UTF8).map((bytes) => ({ kind: 'invalid-utf8' as const, bytes })) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 0.999, noNaN: true }).map((fraction) => ({ kind: 'truncate' as const, fraction })) },
  { weight: 1, arbitrary: pick([...NOT_JSON, ...NOT_OBJECT_JSON]).map((text) => ({ kind: 'replace' as const, text })) },
  { weight: 1, arbitrary: pick([' \r\n\t', 'x', '{}', ',', '\u0000', '// c']).map((text) => ({ kind: 'trailing' as const, text })) },
);

/** Whether a body still carries the same JSON value after the mutation. */
export function keepsValue(m: ByteMutation): boolean {
  return m.kind === 'none' || m.kind === 'bom' || (m.kind === 'trailing' && m.text.trim() === '');
}

export function byteLabel(m: ByteMutation): string {
  return m.kind === 'replace' ? `replace:${JSON.stringify(m.text).slice(0, 20)}` : m.kind;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Renders a body and applies a byte-level mutation to it. */
export function toBytes(node: JsonNode, layout: Layout, m: ByteMutation): Buffer {
  const marked = m.kind === 'invalid-utf8' || m.kind === 'raw-control-char' ? editObject(node, [], (e) => [['note', str(MARK)], ...e]) : node;
  const text = render(marked, layout);
  const bytes = Buffer.from(text, 'utf8');
  // Inside the marked string when there is one (a root that is no object has none): at the end.
  const splice = (insert: Buffer) => {
    const [before, after] = text.split(MARK);
    return after === undefined ? Buffer.concat([bytes, insert]) : Buffer.concat([Buffer.from(before ?? ''), insert, Buffer.from(after)]);
  };
  switch (m.kind) {
    case 'none':
      return bytes;
    case 'bom':
      return Buffer.concat([BOM, bytes]);
    case 'bom-twice':
      return Buffer.concat([BOM, BOM, bytes]);
    case 'bom-inside':
      return Buffer.concat([bytes.subarray(0, 1), BOM, bytes.subarray(1)]);
    case 'raw-control-char':
      return splice(Buffer.from('a\u0001b\nc'));
    case 'invalid-utf8':
      return splice(Buffer.from(m.bytes));
    case 'truncate':
      return bytes.subarray(0, Math.floor(bytes.length * m.fraction));
    case 'replace':
      return Buffer.from(m.text, 'utf8');
    case 'trailing':
      return Buffer.concat([bytes, Buffer.from(m.text, 'utf8')]);
  }
}
