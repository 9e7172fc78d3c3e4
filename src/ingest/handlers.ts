/**
 * The two inbound webhook systems, from authenticated bytes to an outcome:
 *
 * - legacy `/v4/webhooks`: one event per POST; the route (from the URL) says which event and scope;
 *   the path token authenticates it; duplicates are recognised by a fingerprint of route + body
 *   within a short window.
 * - signed `/v4/webhook_endpoints`: `X-Kit-Signature` over the raw bytes; 1–100 events per POST,
 *   each deduplicated on its id; bad events are quarantined while the good ones are committed, so
 *   Kit does not retry the whole batch for 41 hours.
 *
 * Unauthenticated bad input is refused before anything is stored. Authenticated but malformed input
 * is never thrown away: its raw bytes go to quarantine.
 */
import { parseLegacyDelivery, parseSignedDelivery } from '../kit/normalize.js';
import { verifySignature } from '../kit/signature.js';
import type { SignedEndpointConfig } from '../config/schema.js';
import type { QuarantineInput } from '../store/types.js';
import { commit, type CommitDeps, type ParsedEvent } from './commit.js';
import type { IngestOutcome } from './outcome.js';
import type { LegacyRoute } from './routes.js';
import type { EndpointSecrets } from './secrets.js';
import { secretsMatch } from '../lib/compare.js';

export interface InboundRequest {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly receivedAt: number;
}

/** Headers kept with quarantined bytes: enough to trace the request, nothing secret. */
const KEPT_HEADERS = ['content-type', 'content-length', 'user-agent', 'x-kit-delivery', 'traceparent', 'tracestate', 'x-request-id'];

export function keptHeaders(headers: InboundRequest['headers']): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = headers[name];
    if (value !== undefined) kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}

export const LEGACY_MESSAGES = {
  unknownRoute: (id: string) => `No legacy route "${id}". List routes with \`kitrelay routes\`.`,
  badToken: 'The route token does not match. Use the URL `kitrelay routes` prints.',
} as const;

export async function ingestLegacy(deps: CommitDeps, route: LegacyRoute, token: string, request: InboundRequest): Promise<IngestOutcome> {
  if (!secretsMatch(route.token, token)) return { kind: 'rejected', reason: 'bad_token', message: LEGACY_MESSAGES.badToken };
  const delivery = { system: 'legacy' as const, route: route.id, receivedAt: request.receivedAt, bodyBytes: request.body.length };
  const parsed = parseLegacyDelivery({
    spec: route.spec,
    ...(route.scopeValue !== undefined ? { scopeValue: route.scopeValue } : {}),
    body: request.body,
    maxDepth: deps.config.server.maxJsonDepth,
  });
  if (!parsed.ok) {
    const entry: QuarantineInput = { system: 'legacy', route: route.id, reason: parsed.reason, detail: parsed.detail, headers: keptHeaders(request.headers), body: request.body, receivedAt: request.receivedAt };
    return commit(deps, delivery, [], [entry], { isWholeBodyBad: true });
  }
  return commit(deps, delivery, [{ event: parsed.event, source: 'legacy', legacyRouteId: route.id, payloadJson: bodyText(request.body) }], []);
}

/**
 * A legacy body is its event's payload, so its text is the payload's JSON: the store keeps it as
 * sent instead of serialising the parsed body again. Already checked to be UTF-8 JSON by the parse;
 * a leading BOM is dropped, as the parse did.
 */
export function bodyText(body: Buffer): string {
  const text = body.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export async function ingestSigned(
  deps: CommitDeps,
  endpoint: SignedEndpointConfig,
  secrets: EndpointSecrets,
  request: InboundRequest,
): Promise<IngestOutcome> {
  const header = request.headers['x-kit-signature'];
  const verdict = verifySignature({
    header: Array.isArray(header) ? header.join(',') : header,
    body: request.body,
    secrets: await secrets(endpoint),
    now: request.receivedAt,
    toleranceSeconds: endpoint.toleranceSeconds,
  });
  if (!verdict.ok) return { kind: 'rejected', reason: verdict.reason, message: SIGNATURE_MESSAGES[verdict.reason] };

  const kitDelivery = request.headers['x-kit-delivery'];
  const delivery = {
    system: 'signed' as const,
    route: endpoint.name,
    receivedAt: request.receivedAt,
    bodyBytes: request.body.length,
    ...(typeof kitDelivery === 'string' ? { kitDeliveryId: kitDelivery } : {}),
  };
  const headers = keptHeaders(request.headers);
  const parsed = parseSignedDelivery(request.body, deps.config.server.maxJsonDepth);
  if (!parsed.ok) {
    return commit(deps, delivery, [], [{ system: 'signed', route: endpoint.name, reason: parsed.reason, detail: parsed.detail, headers, body: request.body, receivedAt: request.receivedAt }], { isWholeBodyBad: true });
  }
  const events: ParsedEvent[] = [];
  const quarantine: QuarantineInput[] = [];
  for (const item of parsed.events) {
    if (item.ok) {
      events.push({ event: item.event, source: 'signed' });
    } else {
      // Keep the one bad event (not the whole batch) so it can be fixed and re-ingested alone: its
      // bytes exactly as they stand in the delivery (serialising the parsed value again would turn
      // 1e400 into null and round 9007199254740993). Should the element not be found, the whole
      // body is kept instead, with the event's index in the detail.
      const where = `event ${item.index} of delivery ${parsed.deliveryId ?? '?'}`;
      quarantine.push({
        system: 'signed',
        route: endpoint.name,
        reason: item.reason,
        detail: item.range ? `${where}: ${item.detail}` : `${where} (the whole delivery is kept): ${item.detail}`,
        headers,
        body: item.range ? request.body.subarray(item.range.start, item.range.end) : request.body,
        receivedAt: request.receivedAt,
      });
    }
  }
  return commit(deps, delivery, events, quarantine);
}

const SIGNATURE_MESSAGES = {
  missing_signature: 'X-Kit-Signature header is missing.',
  malformed_signature: 'X-Kit-Signature is not of the form t=<unix>,v1=<hex>.',
  bad_signature: 'X-Kit-Signature does not match any configured endpoint secret.',
  stale_timestamp: 'X-Kit-Signature timestamp is outside the tolerance window.',
} as const;
