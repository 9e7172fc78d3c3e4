/**
 * The Slack simulator: a real HTTP server on loopback that behaves like slack.com's Web API and
 * hooks.slack.com (reference/destinations.md §1, §6, §8), and that sends to an app what Slack
 * sends — signed interactions and slash commands. Built on the shared simulator server, so it
 * also takes faults on demand and records what it receives (`/_sim/requests`, `/_sim/faults`,
 * `/_sim/state`).
 *
 * - Web API (simulator-api.ts): `POST|GET /api/chat.postMessage`, `/api/auth.test`,
 *   `/api/conversations.info`; HTTP 200 `{ok:false,error}` for logical errors, 429 with an integer
 *   Retry-After at about 1 message a second per channel (with a burst).
 * - Incoming webhooks (simulator-webhooks.ts): `POST /services/T…/B…/<secret>`, real statuses
 *   and plain-text bodies.
 * - Sender (simulator-signer.ts): `sendInteraction`, `sendSlashCommand`, `blockActionsPayload`,
 *   whose `response_url` is this simulator's `POST /_sim/response/<id>`; over HTTP for another
 *   process, `POST /_sim/press` and `POST /_sim/command`.
 *
 *   const sim = await startSlackSimulator();
 *   const web = new WebClient(sim.credentials.token, { slackApiUrl: sim.apiUrl });
 *   await web.chat.postMessage({ channel: '#sales', text: 'New subscriber' });
 *   expect(sim.messages('#sales')).toMatchObject([{ text: 'New subscriber' }]);
 *
 * Faults: a status fault without a body answers the webhook vocabulary as text (500
 * `rollup_error`, 404 `no_service`…); for a Web API logical error use
 * `{ kind: 'status', status: 200, body: { ok: false, error: 'fatal_error' } }`. A `rate_limited`
 * fault answers the Web API's 429 (Retry-After 1 unless given).
 */
import type { FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { createSimServer, type FaultRules, type RunningSimulator, type SimAnswer, type SimRequest, type SimulatorStartOptions, type SimView, type WaitOptions } from '../../simulators/index.js';
import { RATE_LIMITED_BODY, registerApiRoutes } from './simulator-api.js';
import { TokenBuckets, type BucketLimit } from './simulator-rate.js';
import { createSigner, registerSenderRoutes, type ButtonPress, type SendOptions, type SentAnswer, type SlashCommand } from './simulator-signer.js';
import { SlackState, type ChannelSpec, type SlackChannel, type SlackMessage, type SlackResponse, type WebhookSpec } from './simulator-state.js';
import { registerWebhookRoutes } from './simulator-webhooks.js';

export type { BucketLimit } from './simulator-rate.js';
export type { ButtonPress, SendOptions, SentAnswer, SlashCommand } from './simulator-signer.js';
export { signSlackRequest } from './simulator-signer.js';
export type { ChannelSpec, SlackChannel, SlackMessage, SlackResponse, SlackState, SlackWebhook, WebhookSpec } from './simulator-state.js';
export { SEEDED_CHANNELS } from './simulator-state.js';
export { MAX_BLOCKS } from './simulator-blocks.js';

/** A bot token's scopes when none are given: enough for everything the simulator serves. */
export const DEFAULT_SCOPES: readonly string[] = ['chat:write', 'channels:read', 'groups:read'];

export interface SlackTokenGrant {
  readonly token: string;
  /** `[]` or a list without `chat:write` to see `missing_scope`. @default DEFAULT_SCOPES */
  readonly scopes?: readonly string[];
}

export interface SlackRateLimits {
  /** chat.postMessage per channel: "1 per second, short bursts" (§1.4). @default { perSecond: 1, burst: 3 } */
  readonly perChannel?: BucketLimit | false;
  /** chat.postMessage across the workspace (Slack's is undisclosed). @default false */
  readonly workspace?: BucketLimit | false;
  /** Each incoming webhook (§1.3). @default { perSecond: 1, burst: 3 } */
  readonly perWebhook?: BucketLimit | false;
}

export interface SlackSimulatorOptions extends SimulatorStartOptions {
  /** The bot token (`credentials.token`). @default `xoxb-sim-…`, from the seed */
  readonly token?: string;
  /** The bot token's scopes. @default DEFAULT_SCOPES */
  readonly scopes?: readonly string[];
  /** More accepted tokens, each with its scopes. @default none */
  readonly tokens?: readonly SlackTokenGrant[];
  /** Tokens answered `token_revoked`. @default none */
  readonly revokedTokens?: readonly string[];
  /** What signs interactions and slash commands (`credentials.signingSecret`). @default 32 hex digits, from the seed */
  readonly signingSecret?: string;
  /** The workspace's channels, replacing the seeded ones. @default SEEDED_CHANNELS */
  readonly channels?: readonly ChannelSpec[];
  /** Incoming webhooks, each bound to a channel (one naming no channel answers 404 `channel_not_found`). @default one per channel */
  readonly webhooks?: readonly WebhookSpec[];
  /** `false` for no limits at all. @default { perChannel: { perSecond: 1, burst: 3 }, perWebhook: { perSecond: 1, burst: 3 } } */
  readonly rateLimit?: SlackRateLimits | false;
  /** Requests kept in `requests`. @default 10_000 */
  readonly maxRequests?: number;
  /** Drives message ts, rate limits and signature timestamps. @default Date.now */
  readonly now?: () => number;
}

/** What the simulator accepts and the ids it seeded. A type, not an interface: it must fit RunningSimulator's `Record<string, unknown>`. */
export type SlackCredentials = {
  readonly token: string;
  readonly signingSecret: string;
  readonly team_id: string;
  readonly team_domain: string;
  readonly app_id: string;
  readonly bot_id: string;
  readonly bot_user_id: string;
  /** The person who presses buttons and runs slash commands. */
  readonly user_id: string;
  readonly channels: ReadonlyArray<{ readonly id: string; readonly name: string }>;
  readonly webhooks: ReadonlyArray<{ readonly url: string; readonly channel: string }>;
};

export interface SlackSimulator extends RunningSimulator {
  readonly name: 'slack';
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `${url}/api/`: the `slackApiUrl` of `@slack/web-api`, trailing slash included. */
  readonly apiUrl: string;
  readonly credentials: SlackCredentials;
  readonly state: SlackState;
  /** `sim.faults.add({ kind, method?, path?, times?, … })`; see simulators/faults.ts. */
  readonly faults: FaultRules;
  /** Every request received (not `/_sim/*`), oldest first. */
  readonly requests: readonly SimRequest[];
  /** Every channel, as configured now (mutable: archive one, remove the bot). */
  channels(): readonly SlackChannel[];
  /** Messages of a channel (id or name), or of all; posted through the API and webhooks alike. */
  messages(channel?: string): readonly SlackMessage[];
  /** What was posted to response URLs, oldest first. */
  responses(): readonly SlackResponse[];
  /** The incoming webhook URL bound to this channel (id or name), if any. */
  webhookUrl(channel: string): string | undefined;
  /** Posts `payload=<JSON>` to `url`, signed as Slack does. */
  sendInteraction(url: string, payload: unknown, options?: SendOptions): Promise<SentAnswer>;
  /** Posts a slash command's form to `url`, signed as Slack does. */
  sendSlashCommand(url: string, command: SlashCommand, options?: SendOptions): Promise<SentAnswer>;
  /** A `block_actions` payload for a button press, its response_url pointing here. */
  blockActionsPayload(press: ButtonPress): Record<string, unknown>;
  /** `X-Slack-Request-Timestamp` and `X-Slack-Signature` for a raw body. */
  signatureHeaders(rawBody: string, options?: Pick<SendOptions, 'signingSecret' | 'timestamp'>): Record<string, string>;
  waitFor(predicate: (view: SimView<SimRequest, SlackState>) => boolean, options?: WaitOptions): Promise<SimView<SimRequest, SlackState>>;
  resetRateLimits(): void;
  close(): Promise<void>;
}

const DEFAULT_BUCKET: BucketLimit = { perSecond: 1, burst: 3 };

export async function startSlackSimulator(options: SlackSimulatorOptions = {}): Promise<SlackSimulator> {
  const now = options.now ?? Date.now;
  const state = new SlackState({ seed: options.seed ?? 1, now, token: options.token, signingSecret: options.signingSecret, channels: options.channels, webhooks: options.webhooks });
  const tokens = new Map<string, readonly string[]>([[state.token, options.scopes ?? DEFAULT_SCOPES]]);
  for (const grant of options.tokens ?? []) tokens.set(grant.token, grant.scopes ?? DEFAULT_SCOPES);
  const limits = options.rateLimit === false ? {} : options.rateLimit ?? {};
  const buckets = (limit: BucketLimit | false | undefined, fallback: BucketLimit | undefined) => {
    const chosen = options.rateLimit === false || limit === false ? undefined : (limit ?? fallback);
    return chosen && new TokenBuckets(chosen, now);
  };
  const perChannel = buckets(limits.perChannel, DEFAULT_BUCKET);
  const workspace = buckets(limits.workspace, undefined);
  const perWebhook = buckets(limits.perWebhook, DEFAULT_BUCKET);

  const rawBodies = new WeakMap<FastifyRequest, Buffer>();
  const rawBody = (request: FastifyRequest) => rawBodies.get(request);
  const server = createSimServer<SimRequest, SlackState>({
    name: 'slack',
    host: options.host,
    port: options.port,
    now,
    maxRequests: options.maxRequests,
    // Bad JSON is the routes' to answer, in Slack's words (`invalid_json`, `invalid_payload`).
    isInvalidJsonRejected: false,
    state,
    snapshot: () => state.snapshot(),
    answers: { status: faultAnswer, rateLimited },
    toEntry: (request, context) => {
      rawBodies.set(context.request, context.bytes);
      return request;
    },
  });
  registerApiRoutes(server.app, { state, tokens, revokedTokens: new Set(options.revokedTokens ?? []), perChannel, workspace, rawBody });
  const signer = createSigner({ state, url: () => server.url, now });
  registerSenderRoutes(server.app, signer);
  registerWebhookRoutes(server.app, { state, perWebhook, rawBody, now });
  await server.listen();

  const webhookUrl = (hook: { id: string; secret: string }) => `${server.url}/services/${state.teamId}/${hook.id}/${hook.secret}`;
  const credentials: SlackCredentials = {
    token: state.token,
    signingSecret: state.signingSecret,
    team_id: state.teamId,
    team_domain: state.teamDomain,
    app_id: state.appId,
    bot_id: state.botId,
    bot_user_id: state.botUserId,
    user_id: state.userId,
    channels: state.channels.map((c) => ({ id: c.id, name: c.name })),
    webhooks: state.webhooks.map((w) => ({ url: webhookUrl(w), channel: w.channel })),
  };
  return {
    name: 'slack',
    url: server.url,
    apiUrl: `${server.url}/api/`,
    credentials,
    state,
    faults: server.faults,
    requests: server.requests,
    channels: () => state.channels,
    messages: (channel) => state.messages(channel),
    responses: () => state.responses(),
    webhookUrl(channel) {
      const target = state.channel(channel);
      const hook = state.webhooks.find((w) => (target ? state.channel(w.channel) === target : w.channel === channel));
      return hook && webhookUrl(hook);
    },
    sendInteraction: (url, payload, sendOptions) => signer.sendInteraction(url, payload, sendOptions),
    sendSlashCommand: (url, command, sendOptions) => signer.sendSlashCommand(url, command, sendOptions),
    blockActionsPayload: (press) => signer.blockActionsPayload(press),
    signatureHeaders: (body, signOptions) => signer.signatureHeaders(body, signOptions),
    waitFor: (predicate, waitOptions) => server.waitFor(predicate, waitOptions),
    resetRateLimits() {
      for (const limiter of [perChannel, workspace, perWebhook]) limiter?.reset();
    },
    close: () => server.close(),
  };
}

/** The incoming webhooks' plain-text vocabulary (§1.3), whatever the path: a status fault has no path to go by. */
function faultAnswer(status: number): SimAnswer {
  const words: Record<number, string> = { 400: 'invalid_payload', 403: 'action_prohibited', 404: 'no_service', 410: 'channel_is_archived', 429: 'rate_limited', 500: 'rollup_error' };
  return { status, body: words[status] ?? STATUS_CODES[status] ?? 'error' };
}

/** The Web API's 429 (§1.4): an integer Retry-After, 1 s unless the fault says otherwise. */
function rateLimited(retryAfter: number | false | undefined): SimAnswer {
  const seconds = retryAfter ?? 1;
  return { status: 429, headers: seconds === false ? {} : { 'retry-after': String(seconds) }, body: RATE_LIMITED_BODY };
}
