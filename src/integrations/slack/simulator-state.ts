/**
 * The Slack simulator's workspace: the seeded team, bot, channels and incoming webhooks, the
 * messages posted (through the Web API or a webhook) and what was posted to response URLs. Plain
 * data, no I/O; the routes validate, this applies.
 *
 * Words, as Slack uses them:
 * - **channel**: a conversation, found by id (`C…`) or, for chat.postMessage, by name (`#general`
 *   or `general`); archived or not, with the bot a member or not.
 * - **ts**: a message's id within its channel, `"<unix seconds>.<6 digits>"`, unique per channel.
 * - **incoming webhook**: a secret URL `/services/T…/B…/<secret>` bound to one channel.
 * - **response URL**: where an app answers an interaction (a button press, a slash command).
 *
 * Ids and secrets come from a PRNG seeded by the `seed` option: the same seed gives the same
 * workspace.
 */
import { prng } from '../../simulators/random.js';

export interface SlackChannel {
  readonly id: string;
  readonly name: string;
  readonly isPrivate: boolean;
  isArchived: boolean;
  /** Whether the bot is in the channel: chat.postMessage answers `not_in_channel` otherwise. */
  isMember: boolean;
  readonly created: number;
}

export interface SlackWebhook {
  /** The `B…` segment of the URL. */
  readonly id: string;
  readonly secret: string;
  /** The channel's name or id as configured; one that names no channel answers 404 `channel_not_found`. */
  readonly channel: string;
}

/** A message as the simulator stored it: Slack's fields, and how it arrived. */
export interface SlackMessage {
  readonly channel: string;
  readonly ts: string;
  readonly type: 'message';
  readonly subtype: 'bot_message';
  readonly bot_id: string;
  readonly text: string;
  readonly blocks?: readonly unknown[];
  readonly attachments?: readonly unknown[];
  readonly thread_ts?: string;
  /** `api`: chat.postMessage; `webhook`: an incoming webhook, named by `webhook`. */
  readonly via: 'api' | 'webhook';
  readonly webhook?: string;
  /** The other fields sent (`mrkdwn`, `unfurl_links`, `username`…), as received. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** What an app posted to a response URL (`POST /_sim/response/<id>`). */
export interface SlackResponse {
  readonly id: string;
  readonly contentType: string;
  /** Parsed JSON (or form fields); the raw text when neither. */
  readonly body: unknown;
  readonly receivedAt: number;
}

export interface ChannelSpec {
  readonly name: string;
  /** @default false */
  readonly isPrivate?: boolean;
  /** @default false */
  readonly isArchived?: boolean;
  /** @default true */
  readonly isMember?: boolean;
}

export interface WebhookSpec {
  /** A channel's name (with or without `#`) or id. */
  readonly channel: string;
  /** @default seeded */
  readonly secret?: string;
}

export const SEEDED_CHANNELS: readonly ChannelSpec[] = [
  { name: 'general' },
  { name: 'sales' },
  { name: 'ops' },
  { name: 'archived', isArchived: true },
  { name: 'private-no-bot', isPrivate: true, isMember: false },
  // Last, so the channels above keep their seeded ids: the sandbox's new-subscriber digests.
  { name: 'growth' },
];

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const HEX = '0123456789abcdef';


export function randomString(random: () => number, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

export class SlackState {
  readonly teamId: string;
  readonly teamDomain = 'kitrelay-sim';
  readonly teamName = 'kitrelay sim';
  readonly appId: string;
  readonly botId: string;
  readonly botUserId: string;
  /** The person who presses buttons and types slash commands. */
  readonly userId: string;
  readonly userName = 'ada';
  readonly token: string;
  readonly signingSecret: string;
  /** The app's legacy verification token, sent in interaction payloads and slash commands. */
  readonly verificationToken: string;
  readonly channels: readonly SlackChannel[];
  readonly webhooks: readonly SlackWebhook[];
  readonly #messages = new Map<string, SlackMessage[]>();
  readonly #responses: SlackResponse[] = [];
  /** Last ts per channel, in microseconds, so each new one is later. */
  readonly #lastTs = new Map<string, number>();
  readonly #ids: () => number;
  readonly #now: () => number;

  constructor(options: {
    readonly seed: number;
    readonly now: () => number;
    readonly token?: string;
    readonly signingSecret?: string;
    readonly channels?: readonly ChannelSpec[];
    readonly webhooks?: readonly WebhookSpec[];
  }) {
    const random = prng(options.seed);
    const id = (prefix: string) => `${prefix}${randomString(random, UPPER, 10)}`;
    this.teamId = id('T');
    this.appId = id('A');
    this.botId = id('B');
    this.botUserId = id('U');
    this.userId = id('U');
    // Drawn even when given, so the ids after them do not depend on the options.
    const token = `xoxb-sim-${randomString(random, ALNUM, 24)}`;
    const signingSecret = randomString(random, HEX, 32);
    this.token = options.token ?? token;
    this.signingSecret = options.signingSecret ?? signingSecret;
    this.verificationToken = randomString(random, ALNUM, 24);
    const created = Math.floor(Date.UTC(2024, 0, 1) / 1000);
    this.channels = (options.channels ?? SEEDED_CHANNELS).map((spec, i) => ({
      id: id('C'),
      name: spec.name.replace(/^#/, ''),
      isPrivate: spec.isPrivate ?? false,
      isArchived: spec.isArchived ?? false,
      isMember: spec.isMember ?? true,
      created: created + i * 86_400,
    }));
    const hooks: readonly WebhookSpec[] = options.webhooks ?? this.channels.map((c) => ({ channel: c.name }));
    this.webhooks = hooks.map((spec) => ({ id: id('B'), secret: spec.secret ?? randomString(random, ALNUM, 24), channel: spec.channel }));
    // A stream of its own, so runtime ids do not shift when the seeded workspace grows.
    this.#ids = prng(options.seed ^ 0x2f6b_9d31);
    this.#now = options.now;
  }

  /** By id, or by name with or without `#` (names are lower case in Slack). */
  channel(ref: string): SlackChannel | undefined {
    const name = ref.replace(/^#/, '').toLowerCase();
    return this.channels.find((c) => c.id === ref) ?? this.channels.find((c) => c.name === name);
  }

  /** By id only: conversations.info takes no names. */
  channelById(id: string): SlackChannel | undefined {
    return this.channels.find((c) => c.id === id);
  }

  webhook(id: string): SlackWebhook | undefined {
    return this.webhooks.find((w) => w.id === id);
  }

  /** Stores the message with a ts later than every other in its channel. */
  post(channel: SlackChannel, message: Omit<SlackMessage, 'channel' | 'ts' | 'type' | 'subtype' | 'bot_id'>): SlackMessage {
    const micros = Math.max(Math.floor(this.#now()) * 1000, (this.#lastTs.get(channel.id) ?? 0) + 1);
    this.#lastTs.set(channel.id, micros);
    const ts = `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`;
    const stored: SlackMessage = { channel: channel.id, ts, type: 'message', subtype: 'bot_message', bot_id: this.botId, ...message };
    let list = this.#messages.get(channel.id);
    if (!list) this.#messages.set(channel.id, (list = []));
    list.push(stored);
    return stored;
  }

  /** Messages of one channel (id or name), or of every channel, oldest first per channel. */
  messages(channel?: string): SlackMessage[] {
    if (channel === undefined) return [...this.#messages.values()].flat();
    const found = this.channel(channel);
    return found ? [...(this.#messages.get(found.id) ?? [])] : [];
  }

  /** A fresh response URL id (for an interaction payload or a slash command). */
  responseId(): string {
    return randomString(this.#ids, ALNUM, 24);
  }

  /** A `trigger_id` like Slack's: `<digits>.<digits>.<hex>`. */
  triggerId(): string {
    return `${randomString(this.#ids, '0123456789', 12)}.${randomString(this.#ids, '0123456789', 11)}.${randomString(this.#ids, HEX, 32)}`;
  }

  recordResponse(response: SlackResponse): void {
    this.#responses.push(response);
  }

  responses(): SlackResponse[] {
    return [...this.#responses];
  }

  /** What `GET /_sim/state` answers. */
  snapshot(): {
    channels: Array<Pick<SlackChannel, 'id' | 'name' | 'isPrivate' | 'isArchived' | 'isMember'>>;
    messages: Record<string, SlackMessage[]>;
    webhookMessages: Record<string, SlackMessage[]>;
    responses: SlackResponse[];
  } {
    const messages: Record<string, SlackMessage[]> = {};
    const webhookMessages: Record<string, SlackMessage[]> = {};
    for (const [channel, list] of this.#messages) {
      messages[channel] = [...list];
      for (const message of list) if (message.webhook !== undefined) (webhookMessages[message.webhook] ??= []).push(message);
    }
    return {
      channels: this.channels.map(({ id, name, isPrivate, isArchived, isMember }) => ({ id, name, isPrivate, isArchived, isMember })),
      messages,
      webhookMessages,
      responses: this.responses(),
    };
  }
}
