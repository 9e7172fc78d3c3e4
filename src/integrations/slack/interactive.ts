/**
 * Slack's requests to kitrelay, the `interactive` source (reference/destinations.md §1.5, §1.6):
 * button presses (`block_actions`, a form with one field `payload=<JSON>`) and slash commands (a
 * form of Slack's fields), at `/hooks/in/<destination>/interactive/<token>`, the URL to paste as
 * the Slack app's Interactivity Request URL and its slash command's Request URL.
 *
 * Authenticated twice: by the URL token, like every source (so an `ssl_check`, which Slack does
 * not sign, still needs the unguessable URL), and by `X-Slack-Signature` over the raw body with
 * the destination's `signingSecret`, its timestamp within 5 minutes either way.
 *
 * Slack gives up on an app after 3 s (§1.6), so nothing slow happens here: a Replay press or a
 * `/kitrelay <email>` lookup becomes a job of the `interaction` action on this destination,
 * committed with the event, and the worker posts the answer to the request's `response_url`.
 * The request itself is answered at once: an empty 200 to a press, an ephemeral "Looking up…" to
 * the command. `ssl_check` and `url_verification` are answered and nothing is stored.
 */
import { z } from 'zod';
import { DEFAULT_MAX_JSON_DEPTH } from '../../kit/normalize.js';
import { secretsMatch } from '../../lib/compare.js';
import { jsonDepth } from '../../lib/json-scan.js';
import type { InboundRequest, SourceAuth, SourceDefinition, SourceEvent, SourceJob, SourceParse, SourceResponse } from '../types.js';
import { escapeMrkdwn } from './blocks.js';
import { isReplayActionId } from './format.js';
import { INTERACTION_ACTION, INTERACTIVE_SUB_KEY, type InteractionParams } from './interaction.js';
import type { SlackDestinationConfig } from './schema.js';
import { verifySlackRequest, type SlackVerifyFailure } from './signature.js';

export const INTERACTIVE_SOURCE = 'interactive';

/** A press is acknowledged with an empty 200: what Slack expects of block_actions (§1.6). */
const EMPTY_OK: SourceResponse = { status: 200, body: '' };

const REFUSALS: Readonly<Record<SlackVerifyFailure, { readonly code: 'missing_signature' | 'bad_signature' | 'stale_timestamp'; readonly reason: string }>> = {
  missing_headers: { code: 'missing_signature', reason: 'Missing X-Slack-Signature or X-Slack-Request-Timestamp.' },
  bad_version: { code: 'bad_signature', reason: 'X-Slack-Signature is not a v0 signature.' },
  stale: { code: 'stale_timestamp', reason: 'X-Slack-Request-Timestamp is more than 5 minutes old.' },
  future: { code: 'stale_timestamp', reason: 'X-Slack-Request-Timestamp is more than 5 minutes ahead.' },
  mismatch: { code: 'bad_signature', reason: 'X-Slack-Signature does not match: check the destination\'s signingSecret.' },
};

export const interactiveSource: SourceDefinition<SlackDestinationConfig> = {
  name: INTERACTIVE_SOURCE,
  description: 'Slack button presses (Replay on dead-letter alerts) and the slash command (`/kitrelay <email>`), signed by Slack',
  isEnabled: (destination) => destination.signingSecret !== undefined,
  authenticate(request, ctx): SourceAuth {
    if (!secretsMatch(ctx.urlToken, request.subpath.replace(/^\//, ''))) {
      return { ok: false, status: 401, code: 'bad_token', reason: 'Wrong or missing URL token: use the interactive URL `kitrelay routes` prints.' };
    }
    // Slack does not sign its ssl_check (§1.5; bolt accepts it unverified): it is answered and
    // nothing else, so the URL token is all it needs.
    if (isSslCheck(request.body)) return { ok: true };
    const ref = ctx.destination.signingSecret;
    if (!ref) return { ok: false, status: 404, reason: 'This destination has no signingSecret: its interactive source is off.' };
    let secret: string;
    try {
      secret = ctx.secrets(ref);
    } catch (error) {
      return { ok: false, status: 401, code: 'bad_signature', reason: `Cannot verify Slack's signature: ${error instanceof Error ? error.message : String(error)}` };
    }
    const verified = verifySlackRequest({ signingSecrets: [secret], headers: request.headers, rawBody: request.body, now: ctx.now });
    if (verified.ok) return { ok: true };
    return { ok: false, status: 401, ...REFUSALS[verified.reason] };
  },
  parse: (request) => parseSlackRequest(request),
};

function isSslCheck(body: Buffer): boolean {
  return !looksJson(body) && new URLSearchParams(body.toString('utf8')).get('ssl_check') === '1';
}

/** JSON (url_verification) or a form (everything else), told apart by the bytes: a quarantined body is re-read without its headers. */
function looksJson(body: Buffer): boolean {
  return body.toString('utf8', 0, Math.min(body.length, 64)).trimStart().startsWith('{');
}

export function parseSlackRequest(request: Pick<InboundRequest, 'body'>): SourceParse {
  const text = request.body.toString('utf8');
  if (looksJson(request.body)) return parseJsonRequest(text);
  const form = new URLSearchParams(text);
  if (form.has('ssl_check')) return { kind: 'answer', respond: EMPTY_OK };
  const payload = form.get('payload');
  if (payload !== null) return parseInteraction(payload);
  if (form.get('command') !== null) return parseSlashCommand(form);
  return { kind: 'malformed', reason: 'invalid_payload', detail: 'neither an interaction (payload=<JSON>) nor a slash command (command=…)' };
}

/** Slack's URL handshake: answered with its challenge. Other JSON (Events API callbacks) is not taken here. */
function parseJsonRequest(text: string): SourceParse {
  const body = parseObject(text);
  if (!body) return { kind: 'malformed', reason: 'invalid_json', detail: 'the body is not a JSON object' };
  if (body.type === 'url_verification' && typeof body.challenge === 'string') {
    return { kind: 'answer', respond: { status: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ challenge: body.challenge }) } };
  }
  return { kind: 'malformed', reason: 'unsupported_payload', detail: `a JSON body of type "${typeof body.type === 'string' ? body.type : '?'}": this URL takes interactions and slash commands only` };
}

const blockActionsSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1), username: z.string().optional(), name: z.string().optional() }),
  trigger_id: z.string().min(1).optional(),
  response_url: z.string().min(1).optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional(), action_ts: z.string().optional() })),
});

function parseInteraction(json: string): SourceParse {
  const payload = parseObject(json);
  if (!payload || typeof payload.type !== 'string') return { kind: 'malformed', reason: 'invalid_payload', detail: 'payload is not a JSON object with a type' };
  const stored = withoutToken(payload);
  if (payload.type !== 'block_actions') {
    // Another kind of interaction (a shortcut, a modal): stored for rules, nothing planned.
    return events({ type: payload.type, payload: stored, ...idOf(payload.trigger_id) }, EMPTY_OK);
  }
  const parsed = blockActionsSchema.safeParse(payload);
  if (!parsed.success) return { kind: 'malformed', reason: 'invalid_payload', detail: `block_actions: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
  const { user, actions, response_url: responseUrl } = parsed.data;
  const [first] = actions;
  // One press, one id: trigger_id is unique per interaction; without one, the action's ts and who pressed.
  const id = parsed.data.trigger_id ?? (first?.action_ts !== undefined ? `${first.action_ts}:${user.id}` : undefined);
  const userName = user.username ?? user.name;
  const jobs: SourceJob[] =
    responseUrl === undefined
      ? []
      : actions
          .filter((action) => isReplayActionId(action.action_id))
          .map((action) => job({ kind: 'replay', jobId: action.value ?? '', userId: user.id, ...(userName !== undefined ? { userName } : {}), responseUrl }));
  const seconds = Number(first?.action_ts);
  return events({ type: 'block_actions', payload: stored, ...(id !== undefined ? { id } : {}), ...(Number.isFinite(seconds) ? { occurredAt: Math.round(seconds * 1000) } : {}), jobs }, EMPTY_OK);
}

const emailSchema = z.email();

/**
 * `/kitrelay <email>`: whatever the app named its command, its text is an email to look up. Anything
 * else is answered with the usage and stored nowhere.
 */
function parseSlashCommand(form: URLSearchParams): SourceParse {
  const command = form.get('command') ?? '/kitrelay';
  const userId = form.get('user_id');
  const responseUrl = form.get('response_url');
  if (!userId || !responseUrl) return { kind: 'malformed', reason: 'invalid_payload', detail: 'a slash command without user_id or response_url' };
  const text = (form.get('text') ?? '').trim();
  const email = emailSchema.safeParse(text);
  if (!email.success) {
    const usage = `Usage: \`${escapeMrkdwn(command)} <email>\` shows that subscriber's recent events and jobs in kitrelay.`;
    return { kind: 'answer', respond: ephemeral(text === '' || text === 'help' ? usage : `"${escapeMrkdwn(text)}" is not an email address. ${usage}`) };
  }
  const address = email.data.toLowerCase();
  const fields = withoutToken(Object.fromEntries(form));
  const triggerId = form.get('trigger_id');
  return events(
    { type: 'slash_command', payload: fields, ...idOf(triggerId), jobs: [job({ kind: 'lookup', email: address, userId, responseUrl })] },
    ephemeral(`Looking up ${escapeMrkdwn(address)}…`),
  );
}

function job(params: InteractionParams): SourceJob {
  return { action: INTERACTION_ACTION, params, subKey: INTERACTIVE_SUB_KEY };
}

function events(event: SourceEvent, respond: SourceResponse): SourceParse {
  return { kind: 'events', events: [event], quarantine: [], respond };
}

function ephemeral(text: string): SourceResponse {
  return { status: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ response_type: 'ephemeral', text }) };
}

function idOf(value: unknown): { id?: string } {
  return typeof value === 'string' && value !== '' ? { id: value } : {};
}

/** The legacy verification token rides along in every payload: a credential, so it is not stored. */
function withoutToken(payload: Record<string, unknown>): Record<string, unknown> {
  const { token: _token, ...rest } = payload;
  return rest;
}

/** A JSON object, or undefined; one nested past the store's limit is refused before it is parsed. */
function parseObject(text: string): Record<string, unknown> | undefined {
  if (jsonDepth(Buffer.from(text), DEFAULT_MAX_JSON_DEPTH) > DEFAULT_MAX_JSON_DEPTH) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
