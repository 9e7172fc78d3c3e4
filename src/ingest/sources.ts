/**
 * Integrations' inbound routes (the port's sources): `POST /hooks/in/<destination>/<source>/<token>`.
 * Each source authenticates the integration's way (a URL token, an HMAC signature, a MAC) and
 * parses the body into events; what it received then goes through the same commit step as Kit's
 * webhooks: stored before the 2xx, deduplicated by the event's id, quarantined when authenticated
 * but malformed, routed by rules. Events carry their origin (the integration's type).
 *
 * The URL token is HMAC(route secret, destination/source), like Kit's legacy routes: stable, so
 * registering the URL with the remote side is idempotent, and unguessable. Sources that sign
 * their requests may ignore it.
 */
import { createHmac } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { IntegrationRegistry, type AnyIntegration, type InboundRequest, type SecretResolver, type SourceAuth, type SourceDefinition, type SourceEvent, type SourceResponse } from '../integrations/index.js';
import { sourceEventType, sourceKitEvent } from '../integrations/source-event.js';
import { routeEvent, type CompiledRule } from '../rules/route.js';
import { StoreUnavailableError, type EventInput, type PlannedJob, type QuarantineInput, type Store } from '../store/types.js';
import { commitInput } from './commit.js';
import type { IngestOutcome } from './outcome.js';

export const SOURCE_PATH_PREFIX = '/hooks/in';
export const SOURCE_ROUTE_PATTERN = `${SOURCE_PATH_PREFIX}/:destination/:source`;
export const SOURCE_ROUTE_WITH_REST_PATTERN = `${SOURCE_PATH_PREFIX}/:destination/:source/*`;

const HOUR = 3_600_000;

export interface SourceRoute {
  readonly destinationName: string;
  readonly destination: unknown;
  readonly integration: AnyIntegration;
  readonly source: SourceDefinition<unknown>;
  readonly token: string;
  /** `/hooks/in/<destination>/<source>/<token>` */
  readonly path: string;
  readonly url: string;
}

export function sourceToken(routeSecret: string, destination: string, source: string): string {
  return createHmac('sha256', routeSecret).update(`kitrelay-source-route:${destination}/${source}`).digest('base64url').slice(0, 32);
}

/** Every enabled source of every configured destination, by `<destination>/<source>`. */
export function buildSourceRoutes(config: Config, routeSecret: string, publicBaseUrl: string, registry = new IntegrationRegistry()): Map<string, SourceRoute> {
  const routes = new Map<string, SourceRoute>();
  for (const [destinationName, destination] of Object.entries(config.destinations)) {
    const integration = registry.get(destination.type);
    for (const source of integration?.sources ?? []) {
      if (source.isEnabled && !source.isEnabled(destination)) continue;
      const token = sourceToken(routeSecret, destinationName, source.name);
      const path = `${SOURCE_PATH_PREFIX}/${destinationName}/${source.name}/${token}`;
      routes.set(`${destinationName}/${source.name}`, { destinationName, destination, integration: integration as AnyIntegration, source: source as SourceDefinition<unknown>, token, path, url: `${publicBaseUrl}${path}` });
    }
  }
  return routes;
}

export interface SourceIngestDeps {
  readonly store: Store;
  readonly config: Config;
  readonly rules: readonly CompiledRule[];
  readonly secrets: SecretResolver;
}

/**
 * What one request to a source came to: an ingest outcome, with the source's own answer when it
 * gives one (sent instead of the JSON ack once committed), or only an answer (nothing stored).
 */
export type SourceOutcome =
  | { readonly kind: 'ingested'; readonly outcome: IngestOutcome; readonly respond?: SourceResponse }
  | { readonly kind: 'answered'; readonly respond: SourceResponse };

/** Authenticates, parses and commits one inbound request to a source. */
export async function ingestSource(deps: SourceIngestDeps, route: SourceRoute, request: InboundRequest, receivedAt: number): Promise<SourceOutcome> {
  let auth: SourceAuth;
  try {
    auth = await route.source.authenticate(request, { destination: route.destination, destinationName: route.destinationName, secrets: deps.secrets, urlToken: route.token, now: receivedAt, getSetting: (key) => deps.store.getSetting(key) });
  } catch (error) {
    // The store, read for a secret (an Airtable webhook's), could not answer: nothing stored, the sender retries.
    if (error instanceof StoreUnavailableError) return ingested({ kind: 'unavailable', retryAfterSeconds: error.retryAfterSeconds, message: error.message });
    throw error;
  }
  if (!auth.ok) return ingested({ kind: 'rejected', reason: auth.status === 404 ? 'unknown_route' : auth.code ?? 'bad_token', message: auth.reason });
  const routeId = `${route.destinationName}/${route.source.name}`;
  const delivery = { system: 'source' as const, route: routeId, receivedAt, bodyBytes: request.body.length };
  const headers = { 'content-type': request.headers['content-type'] ?? '' };
  const parsed = route.source.parse(request, { destination: route.destination, destinationName: route.destinationName });
  if (parsed.kind === 'answer') return { kind: 'answered', respond: parsed.respond };
  if (parsed.kind === 'malformed') {
    const quarantine: QuarantineInput = { system: 'source', route: routeId, reason: parsed.reason, detail: parsed.detail, headers, body: request.body, receivedAt };
    return ingested(await commitInput(deps.store, { delivery, events: [], quarantine: [quarantine] }, { reason: parsed.reason, detail: parsed.detail }));
  }
  const events = sourceEventInputs(deps, originOf(route), parsed.events, receivedAt);
  const quarantine: QuarantineInput[] = parsed.quarantine.map((q) => ({ system: 'source', route: routeId, reason: q.reason, detail: q.detail, headers, body: q.body, receivedAt }));
  return ingested(await commitInput(deps.store, { delivery, events, quarantine }), parsed.respond);
}

function ingested(outcome: IngestOutcome, respond?: SourceResponse): SourceOutcome {
  return { kind: 'ingested', outcome, ...(respond ? { respond } : {}) };
}

/**
 * Quarantine re-ingest of a source's entry: parsed again by its source (the request was
 * authenticated when it arrived), committed with the entry marked re-ingested. Undefined when the
 * bytes still do not parse into events alone.
 */
export async function reingestSource(deps: SourceIngestDeps, route: SourceRoute, body: Buffer, receivedAt: number, reingestOf: number): Promise<IngestOutcome | { readonly kind: 'still_invalid'; readonly reason: string; readonly detail: string }> {
  const request = { method: 'POST', subpath: '', headers: { 'content-type': 'application/json' }, query: {}, body };
  const parsed = route.source.parse(request, { destination: route.destination, destinationName: route.destinationName });
  if (parsed.kind === 'malformed') return { kind: 'still_invalid', reason: parsed.reason, detail: parsed.detail };
  if (parsed.kind === 'answer') return { kind: 'still_invalid', reason: 'no_events', detail: 'the body is a request about the connection (a liveness check, a URL handshake): nothing to store' };
  const [bad] = parsed.quarantine;
  if (bad) return { kind: 'still_invalid', reason: bad.reason, detail: bad.detail };
  const events = sourceEventInputs(deps, originOf(route), parsed.events, receivedAt).map((event) => ({ ...event, source: 'reingest' as const }));
  return commitInput(deps.store, { delivery: { system: 'reingest', route: `quarantine:${reingestOf}`, receivedAt, bodyBytes: body.length }, events, quarantine: [], reingestOf });
}

/** Where events come from: the integration, its destination, and how long their ids are remembered. */
interface Origin {
  readonly integration: string;
  readonly destinationName: string;
  /** The source's (or poller's) name: jobs a source plans itself are recorded under `<integration>:<via>`. */
  readonly via: string;
  readonly dedupeHours: number;
  readonly source: 'source' | 'poll';
}

function originOf(route: SourceRoute): Origin {
  return { integration: route.integration.type, destinationName: route.destinationName, via: route.source.name, dedupeHours: route.source.dedupeHours ?? 72, source: 'source' };
}

/**
 * What a poller found (a scheduled sync reading an API since its cursor), committed like what an
 * inbound source receives: stored, deduplicated by the events' ids, routed by rules. A poll that
 * reads the same event twice (its cursor moved back after a crash) makes no second job.
 */
export async function ingestPolled(
  deps: SourceIngestDeps,
  from: { readonly integration: string; readonly destinationName: string; readonly poller: string; readonly dedupeHours?: number },
  events: readonly SourceEvent[],
  receivedAt: number,
): Promise<IngestOutcome> {
  const origin: Origin = { integration: from.integration, destinationName: from.destinationName, via: from.poller, dedupeHours: from.dedupeHours ?? 72, source: 'poll' };
  const inputs = sourceEventInputs(deps, origin, events, receivedAt);
  return commitInput(deps.store, { delivery: { system: 'source', route: `${from.destinationName}/${from.poller}`, receivedAt, bodyBytes: 0 }, events: inputs, quarantine: [] });
}

/** A source's events as the store takes them: typed by origin, deduplicated by id, routed. */
function sourceEventInputs(deps: Pick<SourceIngestDeps, 'rules' | 'config'>, from: Origin, sourceEvents: readonly SourceEvent[], receivedAt: number): EventInput[] {
  const origin = from.integration;
  const { dedupeHours } = from;
  return sourceEvents.map((event): EventInput => {
    const type = sourceEventType(origin, event.type);
    const view = sourceKitEvent({ ...event, type });
    const routed = routeEvent(view, deps.rules, deps.config, receivedAt);
    const email = view.subscriber?.email;
    return {
      source: from.source,
      origin,
      type,
      kitType: event.type,
      payload: event.payload,
      ...(event.id !== undefined ? { dedupe: { key: `${origin}:${from.destinationName}:${event.id}`, expiresAt: receivedAt + dedupeHours * HOUR } } : {}),
      ...(event.subscriberId !== undefined ? { subscriberId: event.subscriberId } : {}),
      ...(email !== undefined ? { email } : {}),
      ...(event.orderKey !== undefined
        ? { subscriberKey: `order:${event.orderKey}` }
        : event.subscriberId !== undefined
          ? { subscriberKey: `id:${event.subscriberId}` }
          : email !== undefined
            ? { subscriberKey: `email:${email}` }
            : {}),
      ...(event.occurredAt !== undefined ? { occurredAt: event.occurredAt } : {}),
      jobs: [...routed.jobs, ...sourceJobs(deps.config, from, event, receivedAt)],
      decisions: routed.decisions,
    };
  });
}

/**
 * The jobs a source planned itself, on its own destination (or the one a job names), with that
 * destination's attempt limit. A job naming a destination the config lacks is not planned.
 */
function sourceJobs(config: Config, from: Origin, event: SourceEvent, receivedAt: number): PlannedJob[] {
  if (!event.jobs || event.jobs.length === 0) return [];
  return event.jobs.flatMap((job): PlannedJob[] => {
    const name = job.destination ?? from.destinationName;
    const destination = Object.hasOwn(config.destinations, name) ? config.destinations[name] : undefined;
    if (!destination) return [];
    return [
      {
        rule: `${from.integration}:${from.via}`,
        destination: name,
        action: job.action,
        params: job.params,
        maxAttempts: destination.retry.maxAttempts,
        ...(job.subKey !== undefined ? { subKey: job.subKey } : {}),
        ...(job.delayMs !== undefined && job.delayMs > 0 ? { runAt: receivedAt + job.delayMs } : {}),
      },
    ];
  });
}
