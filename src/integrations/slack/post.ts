/**
 * The `post` action: one Slack message per job, to the channel its params name (Web API) or to the
 * destination's incoming webhook. The message is the event's default Block Kit message, or what a
 * named formatter makes of it, always fitted to Slack's limits (a long name is cut, never a failed
 * job), with `text` set as the notification fallback.
 */
import type { ActionContext, ActionResult, JobAction } from '../types.js';
import { fitMessage, type SlackMessage } from './blocks.js';
import { fromWebApi, fromWebhook, postMessage, postToWebhook } from './client.js';
import { formatEvent } from './format.js';
import { internalMessage } from './internal.js';
import { postParamsSchema, type PostParams, type SlackDestinationConfig } from './schema.js';

type PostContext = ActionContext<PostParams, SlackDestinationConfig>;

export const postAction: JobAction<PostParams, SlackDestinationConfig> = {
  kind: 'job',
  description: 'post a Block Kit message about the event to a Slack channel (or the destination\'s incoming webhook)',
  params: postParamsSchema,
  // One bucket per channel (`subKeyRateLimit`): a flood on one channel never slows another.
  subKey: (params, destination) => channelKey(params.channel ?? destination.defaultChannel ?? (destination.webhookUrl ? 'webhook' : undefined)),
  run: runPost,
};

async function runPost(ctx: PostContext): Promise<ActionResult> {
  const message = buildMessage(ctx);
  if (!message.ok) return { outcome: 'failed', error: message.error };
  const correlation = { idempotencyKey: ctx.idempotencyKey };
  const { destination } = ctx;
  let secret: string;
  try {
    secret = ctx.secrets(destination.token ?? destination.webhookUrl ?? '');
  } catch (error) {
    return { outcome: 'failed', error: `cannot send to Slack: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (destination.token) {
    const channel = ctx.params.channel ?? destination.defaultChannel;
    if (!channel) return { outcome: 'failed', error: 'no channel: set params.channel on the rule or defaultChannel on the destination' };
    const result = await postMessage(ctx.http, { apiUrl: destination.apiUrl, token: secret, userAgent: ctx.userAgent }, channel, message.value, { job: ctx.idempotencyKey });
    return fromWebApi(result, ctx.now, { ...correlation, channel });
  }
  return fromWebhook(await postToWebhook(ctx.http, secret, message.value, ctx.userAgent), ctx.now, correlation);
}

function buildMessage(ctx: PostContext): { ok: true; value: SlackMessage } | { ok: false; error: string } {
  const { params, destination, event } = ctx;
  const { enrichment } = ctx;
  const options = {
    ...(params.title !== undefined ? { title: params.title } : {}),
    ...(params.mention !== undefined ? { mention: params.mention } : {}),
    ...(params.link !== undefined ? { link: params.link } : {}),
  };
  const defaults = internalMessage(event, options) ?? formatEvent(event, {
    ...(enrichment ? { extra: Object.fromEntries(Object.entries(enrichment.fields).map(([label, value]) => [label, String(value)])), isDegraded: enrichment.isDegraded } : {}),
    ...options,
  });
  if (params.formatter === undefined) return { ok: true, value: defaults };
  const formatter = Object.hasOwn(destination.formatters, params.formatter) ? destination.formatters[params.formatter] : undefined;
  if (!formatter) return { ok: false, error: `no formatter "${params.formatter}" on destination ${ctx.destinationName} (formatters: ${Object.keys(destination.formatters).join(', ') || 'none'})` };
  try {
    return { ok: true, value: fitMessage(formatter(event, defaults)) };
  } catch (error) {
    // A throwing formatter is a bug in the config: the same event would throw at every attempt.
    return { ok: false, error: `formatter "${params.formatter}" threw: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Channels by one key whatever their spelling: `#Sales` and `sales` share a bucket. */
function channelKey(channel: string | undefined): string | undefined {
  return channel === undefined ? undefined : channel.replace(/^#/, '').toLowerCase();
}
