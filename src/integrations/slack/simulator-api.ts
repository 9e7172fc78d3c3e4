/**
 * The Slack simulator's Web API under `/api/` (reference/destinations.md §1.1, §1.4, §6):
 * `chat.postMessage`, `auth.test`, `conversations.info`. Logical errors are HTTP 200
 * `{"ok":false,"error":"<code>"}` (the official SDK reads only 200 and 429); throttling is HTTP 429
 * with an integer `Retry-After` and `{"ok":false,"error":"ratelimited"}`.
 *
 * Arguments come as a form (`blocks` and `attachments` as JSON strings inside it, `token` allowed
 * as a field: what `@slack/web-api` sends, §8) or as JSON (the token then only in
 * `Authorization: Bearer`), merged over the query string. Every answer carries `X-OAuth-Scopes`
 * (the token's scopes) and `X-Accepted-OAuth-Scopes` (what the method takes), as Slack's do.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { send } from '../../simulators/index.js';
import { blockProblems, readBlocks } from './simulator-blocks.js';
import { takeAll, type TokenBuckets } from './simulator-rate.js';
import type { SlackChannel, SlackState } from './simulator-state.js';

export const MAX_TEXT = 40_000;
export const MAX_ATTACHMENTS = 100;
export const RATE_LIMITED_BODY = { ok: false, error: 'ratelimited' } as const;

export interface ApiDeps {
  readonly state: SlackState;
  /** Every accepted token and its scopes. */
  readonly tokens: ReadonlyMap<string, readonly string[]>;
  readonly revokedTokens: ReadonlySet<string>;
  readonly perChannel: TokenBuckets | undefined;
  readonly workspace: TokenBuckets | undefined;
  /** The body as received (the shared server keeps it). */
  readonly rawBody: (request: FastifyRequest) => Buffer | undefined;
}

type Args = Record<string, unknown>;
type Extra = Record<string, unknown>;

/** A logical error: HTTP 200 `{"ok":false,"error":code,...extra}`. */
export interface ApiFailure {
  readonly kind: 'failure';
  readonly error: string;
  readonly extra?: Extra;
}

/** What a method answers: its success body, a failure, or a 429. */
type Outcome = { readonly kind: 'ok'; readonly body: Extra } | ApiFailure | { readonly kind: 'rate_limited'; readonly retryAfterSeconds: number };

export function fail(error: string, extra?: Extra): ApiFailure {
  return { kind: 'failure', error, ...(extra ? { extra } : {}) };
}

const ok = (body: Extra): Outcome => ({ kind: 'ok', body });

interface Call {
  readonly args: Args;
  readonly scopes: readonly string[];
  /** `missing_charset` for JSON sent without one [U]. */
  readonly warnings: readonly string[];
}

export function registerApiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { state } = deps;

  /** Runs a method: reads the arguments, authenticates, checks the scope, answers what `run` gives. */
  const method = (name: string, accepted: readonly string[], run: (call: Call) => Outcome) => {
    app.route({
      method: ['GET', 'POST'],
      url: `/api/${name}`,
      handler: (request, reply) => {
        const scopeHeaders = (scopes: readonly string[]) => ({ 'x-oauth-scopes': scopes.join(','), 'x-accepted-oauth-scopes': accepted.join(',') });
        const read = readArgs(request, deps);
        if ('kind' in read) return answer(reply, read, [], {});
        const auth = authenticate(request, read.args, deps);
        if ('kind' in auth) return answer(reply, auth, read.warnings, {});
        const headers = scopeHeaders(auth.scopes);
        if (accepted.length > 0 && !accepted.some((scope) => auth.scopes.includes(scope))) {
          return answer(reply, fail('missing_scope', { needed: accepted.join(','), provided: auth.scopes.join(',') }), read.warnings, headers);
        }
        const outcome = run({ args: read.args, scopes: auth.scopes, warnings: read.warnings });
        if (outcome.kind === 'rate_limited') return send(reply, { status: 429, headers: { ...headers, 'retry-after': String(outcome.retryAfterSeconds) }, body: RATE_LIMITED_BODY });
        return answer(reply, outcome, read.warnings, headers);
      },
    });
  };

  method('chat.postMessage', ['chat:write', 'chat:write:bot'], ({ args, scopes }) => {
    const channel = findChannel(state, args);
    if ('kind' in channel) return channel;
    if (channel.isArchived) return fail('is_archived');
    if (!channel.isMember && !(scopes.includes('chat:write.public') && !channel.isPrivate)) return fail('not_in_channel');
    const content = readContent(args);
    if ('kind' in content) return content;
    const decision = takeAll([
      [deps.workspace, state.teamId],
      [deps.perChannel, channel.id],
    ]);
    if (!decision.isAllowed) return { kind: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds };
    const { token: _token, channel: _channel, text: _text, blocks: _blocks, attachments: _attachments, thread_ts: _threadTs, ...extra } = args;
    const message = state.post(channel, { ...content, via: 'api', extra });
    const { via: _via, extra: _extra, channel: _id, ...shown } = message;
    return ok({ channel: channel.id, ts: message.ts, message: { user: state.botUserId, app_id: state.appId, team: state.teamId, ...shown } });
  });

  method('auth.test', [], () =>
    ok({
    url: `https://${state.teamDomain}.slack.com/`,
    team: state.teamName,
    user: 'kitrelay',
    team_id: state.teamId,
    user_id: state.botUserId,
    bot_id: state.botId,
    is_enterprise_install: false,
    }),
  );

  // By id only, as Slack; a private channel the bot is not in is invisible to it.
  method('conversations.info', ['channels:read', 'groups:read', 'mpim:read', 'im:read'], ({ args, scopes }) => {
    const ref = stringArg(args, 'channel');
    if (ref === undefined) return invalidArguments('missing required field: channel');
    const channel = state.channelById(ref);
    if (!channel || (channel.isPrivate && !channel.isMember)) return fail('channel_not_found');
    const needed = channel.isPrivate ? 'groups:read' : 'channels:read';
    if (!scopes.includes(needed)) return fail('missing_scope', { needed, provided: scopes.join(',') });
    return ok({ channel: channelJson(channel, state) });
  });
}

function answer(reply: FastifyReply, outcome: ApiFailure | { readonly kind: 'ok'; readonly body: Extra }, warnings: readonly string[], headers: Record<string, string>): FastifyReply {
  const body: Extra = outcome.kind === 'failure' ? { ok: false, error: outcome.error, ...outcome.extra } : { ok: true, ...outcome.body };
  const withWarnings = warnings.length === 0 ? body : { ...body, warning: warnings.join(','), response_metadata: { ...(body.response_metadata as Extra | undefined), warnings } };
  return send(reply, { status: 200, headers, body: withWarnings });
}

function invalidArguments(message: string): ApiFailure {
  return fail('invalid_arguments', { response_metadata: { messages: [`[ERROR] ${message}`] } });
}

/** The query, overlaid by a form or JSON body. */
function readArgs(request: FastifyRequest, deps: ApiDeps): { args: Args; warnings: string[] } | ApiFailure {
  const query = firstValues((request.query ?? {}) as Args);
  const raw = deps.rawBody(request);
  if (request.method === 'GET' || !raw || raw.length === 0) return { args: query, warnings: [] };
  const type = String(request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded')) return { args: { ...query, ...firstValues(request.body as Args) }, warnings: [] };
  if (/^application\/json\b/.test(type)) {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('invalid_json');
    // A JSON body cannot carry the token (§1.1): it must come in the Authorization header.
    const { token: _ignored, ...args } = body as Args;
    return { args: { ...query, ...args }, warnings: /charset=/.test(type) ? [] : ['missing_charset'] };
  }
  return fail('invalid_form_data');
}

/** A repeated form field or query parameter counts by its first value. */
function firstValues(args: Args): Args {
  const out: Args = {};
  for (const [key, value] of Object.entries(args)) out[key] = Array.isArray(value) ? (value[0] as unknown) : value;
  return out;
}

/** The token's scopes, or why it is refused. */
function authenticate(request: FastifyRequest, args: Args, deps: ApiDeps): { readonly scopes: readonly string[] } | ApiFailure {
  const header = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
  const token = header ?? stringArg(args, 'token');
  if (token === undefined) return fail('not_authed');
  if (deps.revokedTokens.has(token)) return fail('token_revoked');
  const scopes = deps.tokens.get(token);
  return scopes ? { scopes } : fail('invalid_auth');
}

function stringArg(args: Args, name: string): string | undefined {
  const value = args[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function findChannel(state: SlackState, args: Args): SlackChannel | ApiFailure {
  const ref = stringArg(args, 'channel');
  if (ref === undefined) return invalidArguments('missing required field: channel');
  return state.channel(ref) ?? fail('channel_not_found');
}

export interface MessageContent {
  readonly text: string;
  readonly blocks?: readonly unknown[];
  readonly attachments?: readonly unknown[];
  readonly thread_ts?: string;
}

/**
 * Text, blocks, attachments and thread, checked as chat.postMessage does; incoming webhooks share
 * it and turn each error code into their own status.
 */
export function readContent(args: Args): MessageContent | ApiFailure {
  const read = readBlocks(args.blocks);
  if ('formatError' in read) return fail('invalid_blocks_format', { response_metadata: { messages: [read.formatError] } });
  const { blocks } = read;
  if (blocks) {
    const problems = blockProblems(blocks);
    if (problems.length > 0) return fail('invalid_blocks', { response_metadata: { messages: problems } });
  }
  const attachments = readAttachments(args.attachments);
  if (attachments !== undefined && 'kind' in attachments) return attachments;
  const { text } = args;
  if (text !== undefined && text !== null && typeof text !== 'string' && typeof text !== 'number' && typeof text !== 'boolean') return invalidArguments('text must be a string');
  const shown = text === undefined || text === null ? '' : String(text);
  if (shown === '' && !blocks && !attachments) return fail('no_text');
  if (shown.length > MAX_TEXT) return fail('msg_too_long');
  const thread = args.thread_ts;
  const threadTs = (typeof thread === 'string' && thread !== '') || typeof thread === 'number' ? String(thread) : undefined;
  return { text: shown, ...(blocks ? { blocks } : {}), ...(attachments ? { attachments } : {}), ...(threadTs === undefined ? {} : { thread_ts: threadTs }) };
}

function readAttachments(value: unknown): unknown[] | ApiFailure | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value) as unknown;
    } catch {
      return invalidArguments('failed to parse attachments as JSON');
    }
  }
  if (!Array.isArray(parsed)) return invalidArguments('attachments must be an array');
  if (parsed.length > MAX_ATTACHMENTS) return fail('too_many_attachments');
  return parsed.length === 0 ? undefined : parsed;
}

function channelJson(channel: SlackChannel, state: SlackState): Record<string, unknown> {
  const about = { value: '', creator: '', last_set: 0 };
  return {
    id: channel.id,
    name: channel.name,
    is_channel: true,
    is_group: false,
    is_im: false,
    is_mpim: false,
    is_private: channel.isPrivate,
    created: channel.created,
    is_archived: channel.isArchived,
    is_general: channel.name === 'general',
    unlinked: 0,
    name_normalized: channel.name,
    is_shared: false,
    is_org_shared: false,
    is_ext_shared: false,
    is_pending_ext_shared: false,
    pending_shared: [],
    context_team_id: state.teamId,
    shared_team_ids: [state.teamId],
    updated: channel.created * 1000,
    creator: state.userId,
    is_member: channel.isMember,
    topic: about,
    purpose: about,
    previous_names: [],
  };
}
