/**
 * The Slack destination's config and the `post` action's params (reference/destinations.md §1).
 * Two delivery kinds: the Web API's `chat.postMessage` with a bot token (any channel the bot is
 * in), or an incoming webhook (its channel is fixed by Slack).
 */
import { z } from 'zod';
import type { KitEvent } from '../../kit/events.js';
import { envRefSchema } from '../../lib/env-ref.js';
import { destinationCommon, rateLimitSchema } from '../destination.js';
import type { SlackMessage } from './blocks.js';

/**
 * chat.postMessage is "Special": about 1 message per second per channel, short bursts allowed
 * (§1.4). We keep one token of Slack's burst in reserve: Slack's bucket starts when our first call
 * arrives, ours when we send it, so calls sent exactly on time can reach Slack early and be refused.
 * With a spare token, a call may arrive up to a second early and still pass (the benchmark's runs with
 * no reserve saw up to 31 such 429s per 1,000 messages; with it, none: BENCHMARKS.md).
 */
export const SLACK_CHANNEL_RATE_LIMIT = { perSecond: 1, burst: 2 } as const;

/** A message formatter a rule can pick by name: the event and the default message in, a message out. */
export type SlackFormatter = (event: KitEvent, defaults: SlackMessage) => SlackMessage;

const fn = <T extends (...args: never[]) => unknown>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });

export const slackDestinationSchema = z
  .object({
    type: z.literal('slack'),
    /** A bot token (`xoxb-…`, scope `chat:write`) for the Web API: env('SLACK_BOT_TOKEN'). Or `webhookUrl`. */
    token: envRefSchema.optional(),
    /** An incoming webhook URL (a secret): env('SLACK_WEBHOOK_URL'). Its channel is fixed by Slack. */
    webhookUrl: envRefSchema.optional(),
    /** @default 'https://slack.com/api' */
    apiUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://slack.com/api'),
    /** Where `post` goes when its params name no channel (Web API only): an id (`C0123…`) or `#name`. */
    defaultChannel: z.string().min(1).optional(),
    /**
     * The Slack app's signing secret (Basic Information → App Credentials): env('SLACK_SIGNING_SECRET').
     * Turns on the `interactive` source (buttons and the slash command; `kitrelay routes` prints its
     * URL for the app's Interactivity and slash command Request URLs). Unset: no inbound route.
     */
    signingSecret: envRefSchema.optional(),
    /** Slack user ids (`U0123…`) who may press Replay on dead-letter alerts; anyone else is refused. @default [] */
    replayUsers: z.array(z.string().min(1)).default([]),
    /**
     * Slack user ids who may look a subscriber up with `/kitrelay <email>` (their events, jobs and
     * errors are personal data). @default replayUsers
     */
    lookupUsers: z.array(z.string().min(1)).optional(),
    /**
     * The origin every `response_url` must have: kitrelay posts answers to buttons and commands
     * only there, so a forged or mistaken URL cannot aim its requests elsewhere. The sandbox points
     * it at the Slack simulator. @default 'https://hooks.slack.com'
     */
    responseUrlBase: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://hooks.slack.com'),
    /** Named formatters rules may pick with `params.formatter`. */
    formatters: z.record(z.string().min(1), fn<SlackFormatter>('(event, defaults) => ({ text, blocks })')).default({}),
    ...destinationCommon,
    /** Per channel (the job's sub-key is its channel): Slack allows about 1/s per channel. @default { perSecond: 1, burst: 2 } */
    subKeyRateLimit: rateLimitSchema.default(SLACK_CHANNEL_RATE_LIMIT),
  })
  .strict();

export type SlackDestinationConfig = z.output<typeof slackDestinationSchema>;

export const postParamsSchema = z
  .object({
    /** Channel id or `#name` (Web API); templates allowed. Default: the destination's `defaultChannel`. */
    channel: z.string().min(1).optional(),
    /** Put before the message: `<!here>`, `<!channel>`, `<@U0123>` or `<!subteam^S0123>`. */
    mention: z.string().regex(/^<[!@#][^>]+>(\s*<[!@#][^>]+>)*$/, 'must be Slack mention syntax: <!here>, <!channel>, <@U…>, <!subteam^S…>').optional(),
    /** The message's header; templates allowed. @default one per event type */
    title: z.string().min(1).optional(),
    /** A link shown under the message (e.g. the subscriber in Kit); templates allowed. */
    link: z.string().min(1).optional(),
    /** A formatter from the destination's `formatters`, instead of the default one for the event. */
    formatter: z.string().min(1).optional(),
  })
  .strict();

export type PostParams = z.output<typeof postParamsSchema>;
