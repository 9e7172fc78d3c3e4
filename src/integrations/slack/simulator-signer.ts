/**
 * The Slack simulator as a sender: it posts interactions and slash commands to an app (kitrelay)
 * the way Slack does (reference/destinations.md §1.5, §1.6): `application/x-www-form-urlencoded`,
 * signed with `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>`, where the hex is
 * `HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + raw body)` over the exact bytes sent.
 *
 * The signing lives here, not in the relay's verifier (slack/signature.ts): a test then checks the
 * verifier against an independent signer, and both against Slack's published vector.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { send } from '../../simulators/index.js';
import type { SlackMessage, SlackState } from './simulator-state.js';

/** `v0=<hex HMAC-SHA256(signingSecret, "v0:{timestamp}:{rawBody}")>`. */
export function signSlackRequest(signingSecret: string, timestamp: number | string, rawBody: string | Buffer): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

export interface SendOptions {
  /** @default the simulator's `credentials.signingSecret` */
  readonly signingSecret?: string;
  /** Unix seconds sent and signed. @default now, by the simulator's clock */
  readonly timestamp?: number;
  /** Slack gives up on an app after 3 s (§1.6); so does this, with an error. @default 3_000 */
  readonly timeoutMs?: number;
  /** More headers (`X-Slack-Retry-Num`…), or ones replacing the signature to test a refusal. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What the app answered, and what was sent. */
export interface SentAnswer {
  readonly status: number;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The raw form body sent and signed. */
  readonly sent: string;
  readonly timestamp: number;
  readonly signature: string;
}

/** A slash command's form fields (§1.6); those left out are filled from the seeded workspace. */
export interface SlashCommand {
  readonly command: string;
  readonly text?: string;
  readonly user_id?: string;
  readonly user_name?: string;
  /** An id or a name (`#sales`). @default the first channel */
  readonly channel_id?: string;
  readonly team_id?: string;
  readonly team_domain?: string;
  readonly response_url?: string;
  readonly trigger_id?: string;
  readonly api_app_id?: string;
  /** The legacy verification token. */
  readonly token?: string;
}

/** A button press. With `message` (one the simulator stored), the button is found in its blocks by `actionId`. */
export interface ButtonPress {
  readonly actionId: string;
  readonly message?: SlackMessage;
  /** An id or a name. @default the message's, else the first channel */
  readonly channel?: string;
  /** @default the message's ts, else a fresh one */
  readonly messageTs?: string;
  /** @default the button's, else `actions` */
  readonly blockId?: string;
  /** @default the button's */
  readonly value?: string;
  /** The button's label. @default the button's, else the action id */
  readonly text?: string;
  /** @default the seeded user */
  readonly userId?: string;
  readonly userName?: string;
}

export interface Signer {
  /** A fresh response URL on this simulator (`POST /_sim/response/<id>` records what it gets). */
  responseUrl(): string;
  sendInteraction(url: string, payload: unknown, options?: SendOptions): Promise<SentAnswer>;
  sendSlashCommand(url: string, command: SlashCommand, options?: SendOptions): Promise<SentAnswer>;
  blockActionsPayload(press: ButtonPress): Record<string, unknown>;
  /** The headers Slack would send with this raw body. */
  signatureHeaders(rawBody: string, options?: Pick<SendOptions, 'signingSecret' | 'timestamp'>): Record<string, string>;
}

export function createSigner(deps: { readonly state: SlackState; readonly url: () => string; readonly now: () => number }): Signer {
  const { state } = deps;
  const responseUrl = () => `${deps.url()}/_sim/response/${state.responseId()}`;
  const seconds = (ms: number) => `${Math.floor(ms / 1000)}.${String(Math.floor(ms % 1000) * 1000).padStart(6, '0')}`;
  const channelOf = (ref: string | undefined) => (ref === undefined ? state.channels[0] : state.channel(ref)) ?? { id: ref ?? '', name: ref ?? '' };

  const post = async (url: string, body: string, options: SendOptions = {}): Promise<SentAnswer> => {
    const timestamp = options.timestamp ?? Math.floor(deps.now() / 1000);
    const signature = signSlackRequest(options.signingSecret ?? state.signingSecret, timestamp, body);
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': signature,
        ...options.headers,
      },
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 3_000),
    });
    return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text(), sent: body, timestamp, signature };
  };

  return {
    responseUrl,

    sendInteraction: (url, payload, options) => post(url, new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), options),

    sendSlashCommand(url, command, options) {
      const channel = channelOf(command.channel_id);
      // The order Slack sends them in (§1.5's vector).
      const fields: Record<string, string> = {
        token: command.token ?? state.verificationToken,
        team_id: command.team_id ?? state.teamId,
        team_domain: command.team_domain ?? state.teamDomain,
        channel_id: channel.id,
        channel_name: channel.name,
        user_id: command.user_id ?? state.userId,
        user_name: command.user_name ?? state.userName,
        command: command.command,
        text: command.text ?? '',
        api_app_id: command.api_app_id ?? state.appId,
        response_url: command.response_url ?? responseUrl(),
        trigger_id: command.trigger_id ?? state.triggerId(),
      };
      return post(url, new URLSearchParams(fields).toString(), options);
    },

    blockActionsPayload(press) {
      const channel = channelOf(press.channel ?? press.message?.channel);
      const button = press.message ? findButton(press.message.blocks, press.actionId) : undefined;
      const messageTs = press.messageTs ?? press.message?.ts ?? seconds(deps.now());
      const label = press.text ?? button?.text ?? press.actionId;
      const value = press.value ?? button?.value;
      return {
        type: 'block_actions',
        user: { id: press.userId ?? state.userId, username: press.userName ?? state.userName, name: press.userName ?? state.userName, team_id: state.teamId },
        api_app_id: state.appId,
        token: state.verificationToken,
        container: { type: 'message', message_ts: messageTs, channel_id: channel.id, is_ephemeral: false },
        trigger_id: state.triggerId(),
        team: { id: state.teamId, domain: state.teamDomain },
        enterprise: null,
        is_enterprise_install: false,
        channel: { id: channel.id, name: channel.name },
        message: press.message ? { type: 'message', subtype: 'bot_message', bot_id: press.message.bot_id, text: press.message.text, ts: messageTs, ...(press.message.blocks ? { blocks: press.message.blocks } : {}) } : { type: 'message', ts: messageTs, text: '' },
        state: { values: {} },
        response_url: responseUrl(),
        actions: [{ type: 'button', action_id: press.actionId, block_id: press.blockId ?? button?.blockId ?? 'actions', text: { type: 'plain_text', text: label, emoji: true }, ...(value === undefined ? {} : { value }), action_ts: seconds(deps.now()) }],
      };
    },

    signatureHeaders(rawBody, options = {}) {
      const timestamp = options.timestamp ?? Math.floor(deps.now() / 1000);
      return { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signSlackRequest(options.signingSecret ?? state.signingSecret, timestamp, rawBody) };
    },
  };
}

const pressSchema = z.object({
  url: z.url(),
  actionId: z.string().min(1),
  value: z.string().optional(),
  userId: z.string().min(1).optional(),
  userName: z.string().min(1).optional(),
  channel: z.string().min(1).optional(),
});

const commandSchema = z.object({
  url: z.url(),
  command: z.string().min(1),
  text: z.string().optional(),
  userId: z.string().min(1).optional(),
  channel: z.string().min(1).optional(),
});

/**
 * The sender over HTTP, for another process (`kitrelay sandbox slack-press`) driving a running
 * simulator: `POST /_sim/press {url, actionId, value?, userId?…}` presses a button,
 * `POST /_sim/command {url, command, text?, userId?…}` runs a slash command. Each signs and posts
 * to `url` as Slack does, and answers what the app answered and the response URL it was given
 * (what the app posts there shows in `GET /_sim/state`'s `responses`, by id).
 */
export function registerSenderRoutes(app: FastifyInstance, signer: Signer): void {
  const relay = async (url: string, responseUrl: string, sending: () => Promise<SentAnswer>) => {
    try {
      const answer = await sending();
      return { status: 200, body: { status: answer.status, body: answer.body, responseUrl, responseId: responseUrl.split('/').at(-1) ?? '' } };
    } catch (error) {
      return { status: 502, body: { error: `could not post to ${url}: ${error instanceof Error ? error.message : String(error)}` } };
    }
  };
  app.post('/_sim/press', async (request, reply) => {
    const press = pressSchema.safeParse(request.body);
    if (!press.success) return send(reply, { status: 400, body: { error: press.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } });
    const { url, userId, userName, channel, value, actionId } = press.data;
    const payload = signer.blockActionsPayload({ actionId, ...(value !== undefined ? { value } : {}), ...(userId ? { userId } : {}), ...(userName ? { userName } : {}), ...(channel ? { channel } : {}) });
    return send(reply, await relay(url, String(payload.response_url), () => signer.sendInteraction(url, payload)));
  });
  app.post('/_sim/command', async (request, reply) => {
    const command = commandSchema.safeParse(request.body);
    if (!command.success) return send(reply, { status: 400, body: { error: command.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } });
    const { url, userId, channel, text } = command.data;
    const responseUrl = signer.responseUrl();
    const fields = { command: command.data.command, response_url: responseUrl, ...(text !== undefined ? { text } : {}), ...(userId ? { user_id: userId } : {}), ...(channel ? { channel_id: channel } : {}) };
    return send(reply, await relay(url, responseUrl, () => signer.sendSlashCommand(url, fields)));
  });
}

interface FoundButton {
  readonly blockId: string | undefined;
  readonly text: string | undefined;
  readonly value: string | undefined;
}

/** The button with this action_id among the blocks' action elements and section accessories. */
function findButton(blocks: readonly unknown[] | undefined, actionId: string): FoundButton | undefined {
  for (const block of blocks ?? []) {
    if (typeof block !== 'object' || block === null) continue;
    const { block_id: blockId, elements, accessory } = block as { block_id?: unknown; elements?: unknown; accessory?: unknown };
    for (const element of [...(Array.isArray(elements) ? (elements as unknown[]) : []), accessory]) {
      if (typeof element !== 'object' || element === null) continue;
      const e = element as { action_id?: unknown; text?: { text?: unknown }; value?: unknown };
      if (e.action_id !== actionId) continue;
      return { blockId: typeof blockId === 'string' ? blockId : undefined, text: typeof e.text?.text === 'string' ? e.text.text : undefined, value: typeof e.value === 'string' ? e.value : undefined };
    }
  }
  return undefined;
}
