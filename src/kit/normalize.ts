/**
 * Bytes → events. Ingest hands over the raw body of a delivery (already authenticated) and gets
 * back normalised events, or the reason the bytes are not events (they go to quarantine).
 *
 * A legacy body carries no event name, id, timestamp or scope (reference/kit.md §7A): the route
 * learns them from the URL it registered with Kit, and passes them in. A signed delivery names
 * everything itself (§7B).
 */
import { createHash } from 'node:crypto';
import { jsonDepth, topLevelArrayExtents, valueDepth } from '../lib/json-scan.js';
import type { EventRecord, EventScope } from '../store/types.js';
import {
  LEGACY_EVENTS,
  SCOPE_OF,
  SIGNED_EVENT_TYPES,
  canonicalEventType,
  isScopeParam,
  legacyEventSpec,
  type KitEvent,
  type LegacyEventSpec,
} from './events.js';
import {
  assembleKitEvent,
  identityOf,
  idText,
  isRecord,
  readParts,
  signedScopeValue,
  type JsonObject,
  type PayloadKind,
} from './extract.js';
import {
  checkLegacyBody,
  checkSchema,
  signedEnvelopeSchema,
  signedEventSchema,
  signedSubscriberDataSchema,
} from './payloads.js';

export { fieldKey } from './extract.js';

/** Everything an `EventInput` needs except routing (jobs, decisions, dedupe), plus the KitEvent. */
export interface NormalizedEvent {
  readonly kitEvent: KitEvent;
  /** Canonical type. */
  readonly type: string;
  /** The type as Kit named it (the full legacy name for legacy deliveries). */
  readonly kitType: string;
  readonly kitEventId?: string;
  readonly scope?: EventScope;
  readonly subscriberId?: string;
  /** Trimmed, lower-cased. */
  readonly email?: string;
  readonly subscriberKey?: string;
  readonly occurredAt?: number;
  /** Legacy: the whole body. Signed: the one element of `events`. */
  readonly payload: unknown;
}

/**
 * How deep one event's payload may nest (`server.maxJsonDepth`'s default). Kit's payloads nest 3
 * deep; the limit keeps every stored value small enough for the recursive steps after parsing
 * (serialising, copying between threads) whatever a sender nests.
 */
export const DEFAULT_MAX_JSON_DEPTH = 128;

export type LegacyParseResult =
  | { readonly ok: true; readonly event: NormalizedEvent }
  | { readonly ok: false; readonly reason: 'invalid_json' | 'invalid_payload' | 'too_deep'; readonly detail: string };

/** Where a bad event's bytes sit in the delivery body, so quarantine keeps them exactly as sent. */
export interface ByteRange {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

export type SignedEventResult =
  | { readonly ok: true; readonly index: number; readonly event: NormalizedEvent }
  | {
      readonly ok: false;
      readonly index: number;
      readonly raw: unknown;
      readonly reason: 'invalid_event' | 'too_deep';
      readonly detail: string;
      /** Undefined only if the element could not be located (the caller keeps the whole body). */
      readonly range?: ByteRange;
    };

export type SignedParseResult =
  | { readonly ok: false; readonly reason: 'invalid_json' | 'invalid_envelope'; readonly detail: string }
  | { readonly ok: true; readonly deliveryId?: string; readonly events: readonly SignedEventResult[] };

export interface LegacyDeliveryInput {
  /** The event the route was registered for. */
  readonly spec: LegacyEventSpec;
  /** The route's scope value (tag id, form id, link URL…), when the event has a scope parameter. */
  readonly scopeValue?: string;
  readonly body: Buffer;
  /** @default DEFAULT_MAX_JSON_DEPTH */
  readonly maxDepth?: number;
}

function tooDeepDetail(maxDepth: number): string {
  return `nested deeper than ${maxDepth} levels (the limit is server.maxJsonDepth)`;
}

type JsonResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly detail: string };

// fatal: bytes that are not UTF-8 are refused rather than silently replaced, so what is stored
// is what Kit sent. A leading BOM is dropped (the decoder's default).
const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(body: Buffer): JsonResult {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { ok: false, detail: 'body is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : 'body is not JSON' };
  }
}

export function parseLegacyDelivery({ spec, scopeValue, body, maxDepth = DEFAULT_MAX_JSON_DEPTH }: LegacyDeliveryInput): LegacyParseResult {
  // Measured on the bytes before anything is built from them: what nests too deep never reaches
  // the recursive steps (schema checks, field extraction, serialisation).
  if (jsonDepth(body, maxDepth) > maxDepth) return { ok: false, reason: 'too_deep', detail: `(body): ${tooDeepDetail(maxDepth)}` };
  const json = parseJson(body);
  if (!json.ok) return { ok: false, reason: 'invalid_json', detail: json.detail };
  if (!isRecord(json.value)) return { ok: false, reason: 'invalid_payload', detail: '(body): expected a JSON object' };
  const checked = checkLegacyBody(spec.payload, json.value);
  if (!checked.ok) return { ok: false, reason: 'invalid_payload', detail: checked.detail };
  return { ok: true, event: legacyEvent(spec, scopeValue, json.value) };
}

function legacyEvent(spec: LegacyEventSpec, scopeValue: string | undefined, body: JsonObject): NormalizedEvent {
  const parts = readParts(spec.payload, body);
  const scope = legacyScope(spec, scopeValue, parts.customField);
  const kitEvent = assembleKitEvent(
    { type: spec.canonical, kitType: spec.legacyName, system: 'legacy', scope, payload: body },
    parts,
  );
  return { kitEvent, type: spec.canonical, kitType: spec.legacyName, scope, ...identityOf(parts.rawSubscriber), payload: body };
}

/**
 * The route's scope value wins: Kit only delivers to a scoped webhook when its own scope matched.
 * A `field_value_updated` body that names its custom field fills in a missing route value.
 */
function legacyScope(spec: LegacyEventSpec, scopeValue: string | undefined, customField: JsonObject | undefined): KitEvent['scope'] {
  if (!spec.scopeParam) return undefined;
  const value = scopeValue?.trim() || (spec.scopeParam === 'custom_field_id' ? idText(customField?.id) : undefined);
  return value ? { param: spec.scopeParam, value } : undefined;
}

/** Known 2.0 `subscriber.*` types, which must name their subscriber (reference/kit.md §7B). */
const SIGNED_SUBSCRIBER_TYPES: ReadonlySet<string> = new Set(SIGNED_EVENT_TYPES.filter((t) => t.startsWith('subscriber.')));

/**
 * Parses a signed delivery. JSON.parse does not recurse, so a body of any depth parses; each event
 * nested deeper than `maxDepth` is then refused alone (`too_deep`), before anything recursive
 * reads it, and the good events of the batch still go through. Every bad event carries its byte
 * range in `body`.
 */
export function parseSignedDelivery(body: Buffer, maxDepth = DEFAULT_MAX_JSON_DEPTH): SignedParseResult {
  const json = parseJson(body);
  if (!json.ok) return { ok: false, reason: 'invalid_json', detail: json.detail };
  const envelope = checkSchema(signedEnvelopeSchema, json.value);
  if (!envelope.ok) return { ok: false, reason: 'invalid_envelope', detail: envelope.detail };
  const deliveryId = envelope.data.delivery_id == null ? undefined : String(envelope.data.delivery_id);
  // The envelope and the events array add two levels; only a body deeper than that can hold a deep event.
  const isDeep = jsonDepth(body, maxDepth + 2) > maxDepth + 2;
  let extents = isDeep ? eventExtents(body, envelope.data.events.length) : undefined;
  const events = envelope.data.events.map((raw, index): SignedEventResult => {
    const depth = isDeep ? (extents?.[index]?.depth ?? valueDepth(raw, maxDepth)) : 0;
    if (depth > maxDepth) return { ok: false, index, raw, reason: 'too_deep', detail: tooDeepDetail(maxDepth) };
    return signedEvent(raw, index);
  });
  if (events.every((event) => event.ok)) return { ok: true, deliveryId, events };
  extents ??= eventExtents(body, envelope.data.events.length);
  const located = events.map((event) => (event.ok || !extents?.[event.index] ? event : { ...event, range: extents[event.index]! }));
  return { ok: true, deliveryId, events: located };
}

/** The byte extents of the events, when the scan agrees with JSON.parse on how many there are. */
function eventExtents(body: Buffer, count: number): readonly (ByteRange & { readonly depth: number })[] | undefined {
  const extents = topLevelArrayExtents(body, 'events');
  return extents?.length === count ? extents : undefined;
}

function signedEvent(raw: unknown, index: number): SignedEventResult {
  const parsed = checkSchema(signedEventSchema, raw);
  if (!parsed.ok) return { ok: false, index, raw, reason: 'invalid_event', detail: parsed.detail };
  // Trimmed by the schema.
  const { id: kitEventId, type: kitType, created, data } = parsed.data;
  const type = canonicalEventType(kitType);
  if (SIGNED_SUBSCRIBER_TYPES.has(type)) {
    const checked = checkSchema(signedSubscriberDataSchema, data, 'data');
    if (!checked.ok) return { ok: false, index, raw, reason: 'invalid_event', detail: checked.detail };
  }
  const event = buildSigned({ type, kitType, kitEventId, occurredAt: parseCreated(created), payload: raw, data });
  return { ok: true, index, event };
}

interface SignedHead {
  readonly type: string;
  readonly kitType: string;
  readonly kitEventId: string | undefined;
  readonly occurredAt: number | undefined;
  readonly payload: unknown;
  readonly data: JsonObject;
}

function buildSigned({ type, kitType, kitEventId, occurredAt, payload, data }: SignedHead): NormalizedEvent {
  const param = SCOPE_OF.get(type);
  const value = param ? signedScopeValue(type, data) : undefined;
  const scope = param && value ? { param, value } : undefined;
  const parts = readParts('signed', data);
  const kitEvent = assembleKitEvent({ type, kitType, system: 'signed', kitEventId, scope, occurredAt, payload }, parts);
  return { kitEvent, type, kitType, kitEventId, scope, ...identityOf(parts.rawSubscriber), occurredAt, payload };
}

/**
 * `created` is ISO-8601 in Kit's example (reference/kit.md §7B). A number is tolerated as unix
 * seconds (or milliseconds when it is too large to be seconds); anything unreadable → undefined.
 */
function parseCreated(created: string | number | null | undefined): number | undefined {
  if (typeof created === 'number') return Number.isFinite(created) ? (created < 1e11 ? created * 1000 : created) : undefined;
  if (typeof created !== 'string') return undefined;
  const ms = Date.parse(created);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The dedupe key of a legacy delivery: sha256 over the route id and a key-order-independent JSON
 * serialisation of the parsed body. Legacy bodies carry no id (reference/kit.md §7A), so an
 * identical body re-sent to the same route is the best sign of a duplicate.
 */
export function legacyFingerprint(routeId: string, body: unknown): string {
  return createHash('sha256').update(routeId).update('\n').update(stableJson(body)).digest('hex');
}

/** JSON with object keys sorted at every depth; otherwise what JSON.stringify would write. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? 'null' : stableJson(item))).join(',')}]`;
  if (isRecord(value)) {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => value[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${stableJson(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

type StoredEvent = Pick<EventRecord, 'type' | 'kitType' | 'source' | 'kitEventId' | 'scope' | 'payload' | 'occurredAt'>;

/**
 * Rebuilds the KitEvent of a stored event (the queue worker does this before calling a connector).
 *
 * `system` is 'signed' when the event came through a signed delivery or has a Kit event id, and
 * 'legacy' when it came through a legacy route. An event of another source (re-ingested from
 * quarantine, reconciled by a sync job) keeps what its payload implies: a signed event's payload
 * is `{id, type, data}`, a legacy body never has all three. The payload is always read leniently:
 * a stored event always yields an event, even after retention nulled its payload.
 */
export function toKitEvent(record: StoredEvent): KitEvent {
  const { type, kitType, payload } = record;
  // A scope the store holds under a name Kit does not use cannot be a KitEvent scope.
  const scope = record.scope && isScopeParam(record.scope.param) ? { param: record.scope.param, value: record.scope.value } : undefined;
  const kitEventId = record.kitEventId ?? undefined;
  const head = { type, kitType, kitEventId, scope, occurredAt: record.occurredAt ?? undefined, payload };
  if (systemOf(record) === 'signed') {
    const data = isRecord(payload) && isRecord(payload.data) ? payload.data : {};
    return assembleKitEvent({ ...head, system: 'signed' }, readParts('signed', data));
  }
  return assembleKitEvent({ ...head, system: 'legacy' }, readParts(legacyKind(record), isRecord(payload) ? payload : {}));
}

function systemOf(record: StoredEvent): KitEvent['system'] {
  if (record.source === 'signed' || record.kitEventId != null) return 'signed';
  if (record.source === 'legacy') return 'legacy';
  const p = record.payload;
  return isRecord(p) && typeof p.id === 'string' && typeof p.type === 'string' && isRecord(p.data) ? 'signed' : 'legacy';
}

function legacyKind(record: StoredEvent): PayloadKind {
  const spec = legacyEventSpec(record.kitType) ?? LEGACY_EVENTS.find((e) => e.canonical === record.type);
  return spec?.payload ?? 'subscriber';
}
