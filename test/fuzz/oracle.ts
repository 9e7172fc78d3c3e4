/**
 * What the bytes of a body decide on their own, whatever the generator meant: not UTF-8 JSON,
 * nested too deep, not a signed envelope. Read once per body (a repeated case is checked twice)
 * with the fuzzer's own readers (json-text.ts), never the relay's.
 */
import type { LegacyCase } from './arbitraries.js';
import { eventSlices, maxDepth, parseBody } from './json-text.js';
import type { Expect } from './mutations.js';

/** `server.maxJsonDepth`'s default: the deepest nesting one event payload may have. */
export const DEPTH_LIMIT = 128;

export interface Element {
  /** The element's bytes, a view into the body. */
  readonly bytes: Buffer;
  readonly depth: number;
}

interface Reading {
  readonly value: { readonly ok: true; readonly value: unknown } | { readonly ok: false };
  readonly depth: number;
  /** The elements of `events`, when the body is JSON with an `events` array. */
  readonly elements: readonly Element[] | undefined;
}

const readings = new WeakMap<Buffer, Reading>();

function read(body: Buffer): Reading {
  let reading = readings.get(body);
  if (!reading) {
    const value = parseBody(body);
    const slices = value.ok ? eventSlices(body) : undefined;
    const elements = slices?.map((s) => ({ bytes: body.subarray(s.start, s.end), depth: maxDepth(body, s.start, s.end) }));
    reading = { value, depth: maxDepth(body), elements };
    readings.set(body, reading);
  }
  return reading;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A legacy body: bad when it is no JSON object, `too_deep` past the limit, else as generated. */
export function legacyVerdict(c: LegacyCase): { readonly expect: Expect; readonly reason?: string } {
  const { value, depth } = read(c.body);
  if (!value.ok) return { expect: 'bad' };
  if (depth > DEPTH_LIMIT) return { expect: 'bad', reason: 'too_deep' };
  return { expect: isPlainObject(value.value) ? c.expect : 'bad' };
}

/** Whether a body is a signed envelope (`{delivery_id?, events: [1–100]}`), as far as the bytes decide. */
export function envelopeVerdict(body: Buffer): 'ok' | 'bad' | 'either' {
  const { value, depth, elements = [] } = read(body);
  if (!value.ok || !isPlainObject(value.value)) return 'bad';
  const { events, delivery_id: id } = value.value;
  if (!Array.isArray(events) || events.length < 1 || events.length > 100) return 'bad';
  // zod refuses a non-finite number; whether 1e400 is a delivery id is not the property's business.
  if (typeof id === 'number' && !Number.isFinite(id)) return 'either';
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') return 'bad';
  // Nesting outside the events (a deep extra field) is not covered by the rule on event depth.
  return depth > DEPTH_LIMIT + 2 && elements.every((e) => e.depth + 2 < depth) ? 'either' : 'ok';
}

/** The elements of a body's `events` array, byte-exact. */
export function elementsOf(body: Buffer): readonly Element[] | undefined {
  return read(body).elements;
}
