/**
 * The Slack simulator's other routes: incoming webhooks (reference/destinations.md §1.3), the
 * response URLs it hands out in interaction payloads and slash commands, and its not-found and
 * error answers.
 *
 * Incoming webhooks answer with real statuses and plain-text bodies, unlike the Web API: 200 `ok`;
 * 400 `invalid_payload` / `no_text` / `invalid_blocks`; 403 `invalid_token` (a wrong secret); 404
 * `no_service` (no such hook) / `channel_not_found`; 410 `channel_is_archived`; 429 with
 * Retry-After at about 1 a second per webhook. `rollup_error` (500) comes only as a fault. The
 * channel is the hook's: `channel`, `username` and icon overrides in the payload are ignored.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { pathOf, send } from '../../simulators/index.js';
import { readContent } from './simulator-api.js';
import type { TokenBuckets } from './simulator-rate.js';
import type { SlackState } from './simulator-state.js';

export interface WebhookDeps {
  readonly state: SlackState;
  readonly perWebhook: TokenBuckets | undefined;
  readonly rawBody: (request: FastifyRequest) => Buffer | undefined;
  readonly now: () => number;
}

/** The plain-text code a `readContent` failure becomes on a webhook [C]: exact strings and statuses [U]. */
const WEBHOOK_CODES: Readonly<Record<string, string>> = {
  no_text: 'no_text',
  invalid_blocks: 'invalid_blocks',
  invalid_blocks_format: 'invalid_blocks',
  msg_too_long: 'msg_too_long',
  too_many_attachments: 'too_many_attachments',
};

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookDeps): void {
  const { state } = deps;
  const text = (status: number, body: string, headers: Record<string, string> = {}) => ({ status, headers, body });

  app.post('/services/:team/:hook/:secret', (request, reply) => {
    const params = request.params as { team: string; hook: string; secret: string };
    const hook = state.webhook(params.hook);
    if (!hook || params.team !== state.teamId) return send(reply, text(404, 'no_service'));
    if (params.secret !== hook.secret) return send(reply, text(403, 'invalid_token'));
    const channel = state.channel(hook.channel);
    if (!channel) return send(reply, text(404, 'channel_not_found'));
    if (channel.isArchived) return send(reply, text(410, 'channel_is_archived'));
    const payload = readPayload(request, deps.rawBody(request));
    if (payload === undefined) return send(reply, text(400, 'invalid_payload'));
    const content = readContent(payload);
    if ('kind' in content) return send(reply, text(400, WEBHOOK_CODES[content.error] ?? 'invalid_payload'));
    if (deps.perWebhook) {
      const decision = deps.perWebhook.check(hook.id);
      if (!decision.isAllowed) return send(reply, text(429, 'rate_limited', { 'retry-after': String(decision.retryAfterSeconds) }));
      deps.perWebhook.spend(hook.id);
    }
    const { text: _text, blocks: _blocks, attachments: _attachments, thread_ts: _threadTs, ...extra } = payload;
    state.post(channel, { ...content, via: 'webhook', webhook: hook.id, extra });
    return send(reply, text(200, 'ok'));
  });

  // Where an app answers an interaction: recorded, never faulted (a `/_sim` route). Slack answers `ok` [C].
  app.post('/_sim/response/:id', (request, reply) => {
    // Parsed by the shared server (JSON, form, else text); `/_sim` routes keep no raw bytes.
    const body: unknown = request.body ?? '';
    state.recordResponse({ id: (request.params as { id: string }).id, contentType: String(request.headers['content-type'] ?? ''), body, receivedAt: deps.now() });
    return send(reply, text(200, 'ok'));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    // Slack's answer to a method it does not have [U]: the SDK sees an HTTP error.
    if (path.startsWith('/api/')) return send(reply, { status: 404, body: { ok: false, error: 'unknown_method', req_method: path.slice('/api/'.length) } });
    return send(reply, text(404, path.startsWith('/services/') ? 'no_service' : 'Not Found'));
  });
  app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    // Only a body too large or unreadable gets here, or a simulator bug (500, with its cause).
    if (pathOf(request.url).startsWith('/api/')) return send(reply, { status, body: { ok: false, error: status >= 500 ? 'fatal_error' : 'invalid_form_data', cause: error.message } });
    return send(reply, text(status, status >= 500 ? 'rollup_error' : 'invalid_payload'));
  });
}

/** JSON as sent, whatever the content type, or a form's `payload` field holding JSON; undefined when neither parses to an object. */
function readPayload(request: FastifyRequest, raw: Buffer | undefined): Record<string, unknown> | undefined {
  const type = String(request.headers['content-type'] ?? '').toLowerCase();
  let source = raw?.toString('utf8') ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const field = new URLSearchParams(source).get('payload');
    if (field === null) return undefined;
    source = field;
  }
  try {
    const parsed: unknown = JSON.parse(source);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
