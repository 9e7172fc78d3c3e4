/**
 * The generic inbound webhook (the port's source, proved with the simplest sender): any system that
 * can POST JSON to a URL. Authenticated by the URL token (the sender has no way to sign), each
 * object of the body is one event: its type, id (dedupe) and subscriber read from configured fields.
 */
import { secretsMatch } from '../../lib/compare.js';
import type { InboundRequest, SourceDefinition, SourceEvent, SourceParse } from '../types.js';
import type { WebhookDestinationConfig } from './schema.js';

type Inbound = NonNullable<WebhookDestinationConfig['inbound']>;

export const webhookInboundSource: SourceDefinition<WebhookDestinationConfig> = {
  name: 'inbound',
  description: 'JSON events POSTed to the destination\'s inbound URL (`kitrelay routes` prints it)',
  isEnabled: (destination) => destination.inbound !== undefined,
  authenticate(request, ctx) {
    const token = request.subpath.replace(/^\//, '');
    if (!secretsMatch(ctx.urlToken, token)) return { ok: false, status: 401, reason: 'Wrong or missing URL token: use the inbound URL `kitrelay routes` prints.' };
    return { ok: true };
  },
  parse: (request, ctx) => parseInbound(request, ctx.destination.inbound ?? { typeField: 'type', idField: 'id', emailField: 'email' }),
};

export function parseInbound(request: InboundRequest, fields: Inbound): SourceParse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body.toString('utf8')) as unknown;
  } catch (error) {
    return { kind: 'malformed', reason: 'invalid_json', detail: error instanceof Error ? error.message : String(error) };
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  const events: SourceEvent[] = [];
  const quarantine: { reason: string; detail: string; body: Buffer }[] = [];
  for (const [index, item] of items.entries()) {
    const type = isRecord(item) ? item[fields.typeField] : undefined;
    if (!isRecord(item) || typeof type !== 'string' || type === '') {
      quarantine.push({ reason: 'invalid_event', detail: `element ${index}: not an object with a text "${fields.typeField}" field`, body: Buffer.from(JSON.stringify(item) ?? 'null') });
      continue;
    }
    const id = fields.idField ? scalar(item[fields.idField]) : undefined;
    const email = fields.emailField ? scalar(item[fields.emailField]) : undefined;
    const subscriberId = fields.subscriberIdField ? scalar(item[fields.subscriberIdField]) : undefined;
    events.push({ type, payload: item, ...(id ? { id } : {}), ...(email ? { email } : {}), ...(subscriberId ? { subscriberId } : {}) });
  }
  if (events.length === 0 && quarantine.length > 0) return { kind: 'malformed', reason: 'invalid_event', detail: quarantine.map((q) => q.detail).join('; ') };
  return { kind: 'events', events, quarantine };
}

function scalar(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
