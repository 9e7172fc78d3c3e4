/** Quarantine: authenticated input that could not be used, kept raw until re-ingested or discarded. */
import { reingestSource } from '../ingest/sources.js';
import { commit, type CommitDeps } from '../ingest/commit.js';
import { bodyText } from '../ingest/handlers.js';
import type { IngestOutcome } from '../ingest/outcome.js';
import type { RouteTable } from '../ingest/routes.js';
import { parseLegacyDelivery, parseSignedDelivery } from '../kit/normalize.js';
import type { QuarantineFilter, QuarantineRecord } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

/** Quarantine entries matching the filter, newest first. */
export function listQuarantine(deps: ServiceDeps, filter: QuarantineFilter): Promise<QuarantineRecord[]> {
  return deps.store.listQuarantine(filter);
}

export function showQuarantine(deps: ServiceDeps, id: number): Promise<QuarantineRecord | undefined> {
  return deps.store.getQuarantine(id);
}

export type DiscardResult = { readonly kind: 'discarded' } | { readonly kind: 'not_found' } | { readonly kind: 'not_open'; readonly entry: QuarantineRecord };

/** Marks an open entry as not worth re-ingesting; it is kept until retention. */
export async function discardQuarantine(deps: ServiceDeps, id: number): Promise<DiscardResult> {
  if (await deps.store.discardQuarantine(id, deps.clock.now())) return { kind: 'discarded' };
  const entry = await deps.store.getQuarantine(id);
  return entry ? { kind: 'not_open', entry } : { kind: 'not_found' };
}

export interface ReingestDeps extends ServiceDeps, CommitDeps {
  /** A legacy entry is parsed as its route says: the route must still be in the config. */
  readonly routes: RouteTable;
}

export type ReingestResult =
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_open'; readonly entry: QuarantineRecord }
  | { readonly kind: 'route_gone'; readonly entry: QuarantineRecord }
  | { readonly kind: 'still_invalid'; readonly reason: string; readonly detail: string }
  | { readonly kind: 'done'; readonly outcome: IngestOutcome };

/**
 * Re-ingests a quarantined body (optionally replaced by a corrected one). The signature or token
 * was checked when it arrived, so it is not checked again. A body that still fails stays in
 * quarantine untouched; a good one is committed as events (deduplicated as usual) and the entry
 * is marked re-ingested in the same transaction.
 */
/** A re-ingest authenticates nothing (the request was authenticated when it arrived). */
const unusedSecrets = (): never => {
  throw new Error('re-ingest reads no secrets');
};

export async function reingestQuarantine(deps: ReingestDeps, id: number, correctedBody?: Buffer): Promise<ReingestResult> {
  const entry = await deps.store.getQuarantine(id);
  if (!entry) return { kind: 'not_found' };
  if (entry.status !== 'open') return { kind: 'not_open', entry };
  const body = correctedBody ?? entry.body;
  const delivery = { system: 'reingest' as const, route: `quarantine:${id}`, receivedAt: deps.clock.now(), bodyBytes: body.length };

  if (entry.system === 'legacy') {
    const route = deps.routes.legacy.get(entry.route);
    if (!route) return { kind: 'route_gone', entry };
    const parsed = parseLegacyDelivery({
      spec: route.spec,
      ...(route.scopeValue !== undefined ? { scopeValue: route.scopeValue } : {}),
      body,
      maxDepth: deps.config.server.maxJsonDepth,
    });
    if (!parsed.ok) return { kind: 'still_invalid', reason: parsed.reason, detail: parsed.detail };
    return { kind: 'done', outcome: await commit(deps, delivery, [{ event: parsed.event, source: 'reingest', legacyRouteId: route.id, payloadJson: bodyText(body) }], [], { reingestOf: id }) };
  }

  if (entry.system === 'source') {
    const route = deps.routes.sources.get(entry.route);
    if (!route) return { kind: 'route_gone', entry };
    const outcome = await reingestSource({ ...deps, secrets: unusedSecrets }, route, body, deps.clock.now(), id);
    return outcome.kind === 'still_invalid' ? outcome : { kind: 'done', outcome };
  }

  // Signed: the entry is a whole envelope (it failed as a whole) or one event cut from a batch.
  const envelope = asEnvelope(body);
  if (!envelope) return { kind: 'still_invalid', reason: 'invalid_json', detail: 'the body is not JSON' };
  const parsed = parseSignedDelivery(envelope, deps.config.server.maxJsonDepth);
  if (!parsed.ok) return { kind: 'still_invalid', reason: parsed.reason, detail: parsed.detail };
  const bad = parsed.events.find((item) => !item.ok);
  if (bad && !bad.ok) return { kind: 'still_invalid', reason: bad.reason, detail: bad.detail };
  const events = parsed.events.flatMap((item) => (item.ok ? [{ event: item.event, source: 'reingest' as const }] : []));
  return { kind: 'done', outcome: await commit(deps, delivery, events, [], { reingestOf: id }) };
}

/**
 * A signed entry's body as an envelope: kept as it is when it is one (`{"events": [...]}`), else
 * (one event cut from a batch) wrapped around its bytes, not re-serialised, so the numbers stay
 * exactly as Kit wrote them. Undefined when the body is not JSON.
 */
function asEnvelope(body: Buffer): Buffer | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined; // the caller reports it as still invalid
  }
  const isEnvelope = typeof value === 'object' && value !== null && Array.isArray((value as { events?: unknown }).events);
  return isEnvelope ? body : Buffer.concat([Buffer.from('{"events":['), body, Buffer.from(']}')]);
}
