/**
 * The `interaction` action: the slow half of a Slack button press or slash command, done in the
 * queue after the `interactive` source acknowledged the request within Slack's 3 s. It acts on
 * kitrelay itself through the attempt's `operator` (replay a dead job; read a subscriber's recent
 * events and jobs) and answers at the request's `response_url`.
 *
 * - Replay: only users in the destination's `replayUsers`; anyone else gets an ephemeral refusal
 *   and nothing is replayed. Only a dead job is replayed (see OperatorPort.replayJob).
 * - Lookup: the subscriber's newest events and jobs, as an ephemeral Block Kit message.
 *
 * Every press is in the audit log: the answer is posted through `ctx.http`, so the attempt's audit
 * record holds the call, and its correlation says who pressed (`slackUser`), what (`press`) and
 * what came of it (`verdict`). A `response_url` is posted to only on `responseUrlBase`'s origin
 * (Slack's own): the URL arrives in the request, and kitrelay must not be aimed at other hosts.
 *
 * Slack accepts a response_url for 30 minutes, 5 answers at most [U]: an expired one (404, 410)
 * fails the job; 429 and 5xx are retried. What a replay did is kept in the job's facts, so a retry
 * only posts the answer again and never replays twice.
 */
import { z } from 'zod';
import { parseRetryAfter, type HttpResult } from '../../lib/http.js';
import type { EventRecord, JobRecord } from '../../store/types.js';
import { callRecordOf, networkOutcome } from '../outbound.js';
import type { ActionContext, ActionHttp, ActionResult, JobAction, JobFacts, SubscriberActivity } from '../types.js';
import { escapeMrkdwn, fitMessage, mrkdwn, plainText, truncate, type Block, type SlackMessage } from './blocks.js';
import type { SlackDestinationConfig } from './schema.js';

export const INTERACTION_ACTION = 'interaction';

/**
 * The sub-key of every interaction job: a stream of its own, so an answer never waits behind a
 * channel's posts. The colon keeps it apart from every channel key (Slack's names have none).
 */
export const INTERACTIVE_SUB_KEY = ':interactive';

/** Events and jobs a lookup shows, each. */
export const LOOKUP_LIMIT = 10;

// Slack's ids are upper-case letters and digits; holding params to them keeps `{{…}}` (rendered as
// templates at each attempt) out of values a user sent.
const slackId = z.string().regex(/^[A-Za-z0-9]+$/, 'must be a Slack id (U0123…)');
const responseUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' });

export const interactionParamsSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('replay'),
      /** The button's value: the dead job's id. */
      jobId: z.string().max(40),
      userId: slackId,
      userName: z.string().max(80).regex(/^[^{}]*$/, 'must hold no braces').optional(),
      responseUrl,
    })
    .strict(),
  z.object({ kind: z.literal('lookup'), email: z.email(), userId: slackId, responseUrl }).strict(),
]);

export type InteractionParams = z.output<typeof interactionParamsSchema>;

type InteractionContext = ActionContext<InteractionParams, SlackDestinationConfig>;

/** What a press came to: `replayed`, `refused` (a user not in replayUsers), `not_found`, `not_dead`, `looked_up`. */
export type Verdict = 'replayed' | 'refused' | 'not_found' | 'not_dead' | 'looked_up';

/** What to answer at the response_url: Slack's message fields besides text and blocks. */
export interface ResponseMessage extends SlackMessage {
  readonly response_type: 'ephemeral' | 'in_channel';
  readonly replace_original: false;
}

interface Decided {
  readonly verdict: Verdict;
  readonly message: ResponseMessage;
  readonly facts?: JobFacts;
}

export const interactionAction: JobAction<InteractionParams, SlackDestinationConfig> = {
  kind: 'job',
  description: "answer a Slack button press or slash command at its response_url: Replay a dead job (replayUsers only), or show a subscriber's recent events and jobs",
  params: interactionParamsSchema,
  subKey: () => INTERACTIVE_SUB_KEY,
  run: runInteraction,
};

async function runInteraction(ctx: InteractionContext): Promise<ActionResult> {
  const { params, destination } = ctx;
  const who = { slackUser: params.userId, press: params.kind };
  if (!isOnOrigin(params.responseUrl, destination.responseUrlBase)) {
    return {
      outcome: 'failed',
      error: `response_url on ${originOf(params.responseUrl)} refused: answers go only to responseUrlBase (${destination.responseUrlBase}); nothing was replayed or looked up`,
      correlation: { ...who, verdict: 'bad_response_url' },
    };
  }
  const { operator } = ctx;
  if (!operator) return { outcome: 'failed', error: 'this worker has no operator actions wired (a kitrelay bug): nothing was done', correlation: who };
  const decided = params.kind === 'replay' ? await decideReplay(ctx, params, operator) : await lookup(ctx, params, operator);
  const correlation = { ...who, verdict: decided.verdict, ...(params.kind === 'replay' ? { replayJobId: params.jobId } : {}) };
  const result = await postResponse(ctx.http, params.responseUrl, decided.message, ctx.userAgent);
  return fromResponseUrl(result, ctx.now, correlation, decided.facts);
}

type ReplayParams = Extract<InteractionParams, { kind: 'replay' }>;

async function decideReplay(ctx: InteractionContext, params: ReplayParams, operator: NonNullable<InteractionContext['operator']>): Promise<Decided> {
  // An earlier attempt decided (and acted); only its answer is left to post.
  const earlier = ctx.facts.verdict;
  const earlierAnswer = ctx.facts.answer;
  if (typeof earlier === 'string' && typeof earlierAnswer === 'string') return { verdict: earlier as Verdict, message: answer(earlierAnswer, earlier === 'replayed'), facts: ctx.facts };
  const decided = (verdict: Verdict, text: string): Decided => ({ verdict, message: answer(text, verdict === 'replayed'), facts: { verdict, answer: text } });
  const jobRef = `#${escapeMrkdwn(params.jobId)}`;
  if (!ctx.destination.replayUsers.includes(params.userId)) {
    return decided('refused', `Sorry <@${params.userId}>, you may not replay jobs. Ask a kitrelay admin to add your Slack user id (${params.userId}) to the ${escapeMrkdwn(ctx.destinationName)} destination's replayUsers.`);
  }
  const id = /^\d{1,15}$/.test(params.jobId) ? Number(params.jobId) : undefined;
  const result = id === undefined ? ({ ok: false, reason: 'not_found' } as const) : await operator.replayJob(id);
  if (result.ok) {
    const { job } = result;
    const left = job.maxAttempts - job.attempts;
    return decided('replayed', `:repeat: <@${params.userId}> replayed job ${jobRef} (${escapeMrkdwn(`${job.destination}/${job.action}`)}): pending again, up to ${left} more ${left === 1 ? 'attempt' : 'attempts'}.`);
  }
  if (result.reason === 'not_found') return decided('not_found', `Job ${jobRef} is not in kitrelay (removed by retention?): nothing to replay.`);
  return decided('not_dead', `Job ${jobRef} is ${result.job.status}, not dead: nothing to replay. (\`kitrelay jobs replay ${result.job.id}\` runs a finished job again anyway.)`);
}

/** A replay is told to the channel (so nobody presses again); everything else only to who asked. */
function answer(text: string, isForChannel: boolean): ResponseMessage {
  return { response_type: isForChannel ? 'in_channel' : 'ephemeral', replace_original: false, ...fitMessage({ text, blocks: [{ type: 'section', text: mrkdwn(text) }] }) };
}

async function lookup(ctx: InteractionContext, params: Extract<InteractionParams, { kind: 'lookup' }>, operator: NonNullable<InteractionContext['operator']>): Promise<Decided> {
  if (!(ctx.destination.lookupUsers ?? ctx.destination.replayUsers).includes(params.userId)) {
    const text = `Sorry <@${params.userId}>, you may not look subscribers up. Ask a kitrelay admin to add your Slack user id (${params.userId}) to the ${escapeMrkdwn(ctx.destinationName)} destination's lookupUsers (or replayUsers).`;
    return { verdict: 'refused', message: answer(text, false) };
  }
  const activity = await operator.subscriberActivity(params.email, LOOKUP_LIMIT);
  return { verdict: 'looked_up', message: { response_type: 'ephemeral', replace_original: false, ...formatActivity(params.email, activity) } };
}

/** A subscriber's newest events and jobs as one message, within Block Kit's limits. */
export function formatActivity(email: string, activity: SubscriberActivity): SlackMessage {
  const { events, jobs } = activity;
  const blocks: Block[] = [
    { type: 'header', text: plainText(`Subscriber ${email}`) },
    { type: 'section', text: mrkdwn(events.length === 0 ? '*Recent events*\nNone in kitrelay.' : `*Recent events*\n${events.map(eventLine).join('\n')}`) },
    { type: 'section', text: mrkdwn(jobs.length === 0 ? '*Recent jobs*\nNone.' : `*Recent jobs*\n${jobs.map(jobLine).join('\n')}`) },
    { type: 'context', elements: [mrkdwn(`Newest first, at most ${LOOKUP_LIMIT} of each · \`kitrelay events list --email ${escapeMrkdwn(email)}\` shows more`)] },
  ];
  const dead = jobs.filter((job) => job.status === 'dead').length;
  const text = `${escapeMrkdwn(email)}: ${events.length} recent events, ${jobs.length} recent jobs${dead > 0 ? ` (${dead} dead)` : ''}`;
  return fitMessage({ text, blocks });
}

function eventLine(event: EventRecord): string {
  return `• ${slackDate(event.receivedAt)} \`${escapeMrkdwn(event.type)}\`${event.status === 'accepted' ? '' : ` (${event.status})`} · event #${event.id}`;
}

function jobLine(job: JobRecord): string {
  const error = job.lastError && job.status !== 'succeeded' ? `\n      _${escapeMrkdwn(truncate(job.lastError.replace(/\s+/g, ' '), 200))}_` : '';
  return `• #${job.id} ${escapeMrkdwn(`${job.destination}/${job.action}`)} *${job.status}* (${job.attempts} of ${job.maxAttempts} attempts) ${slackDate(job.updatedAt)}${error}`;
}

/** A time Slack shows in the reader's time zone, with the ISO time as fallback. */
function slackDate(ms: number): string {
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${new Date(ms).toISOString()}>`;
}

function postResponse(http: ActionHttp, url: string, message: ResponseMessage, userAgent: string): Promise<HttpResult> {
  return http.send({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': userAgent },
    body: JSON.stringify(message),
    // Anyone holding a response_url can post to that user for 30 minutes: the audit keeps its origin only.
    isSecretUrl: true,
  });
}

/** A response_url's answer: 2xx posted; 404/410 expired (failed); 429 and 5xx retried; other 4xx failed. */
export function fromResponseUrl(result: HttpResult, now: number, correlation: Readonly<Record<string, string>>, facts?: JobFacts): ActionResult {
  const call = callRecordOf(result, correlation);
  const kept = facts ? { facts } : {};
  if (result.kind === 'network_error') return { ...networkOutcome(result, call, 'the answer may have been posted'), ...kept };
  const text = result.body.subarray(0, 200).toString('utf8').trim();
  const error = `Slack answered HTTP ${result.status} at the response_url${text ? ` ${text}` : ''}`;
  if (result.status >= 200 && result.status < 300) return { outcome: 'succeeded', call, ...kept };
  if (result.status === 429) {
    const retryAfterMs = parseRetryAfter(result.headers['retry-after'], now);
    return { outcome: 'retry', error, call, ...kept, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  if (result.status >= 500) return { outcome: 'retry', error, call, ...kept };
  if (result.status === 404 || result.status === 410) return { outcome: 'failed', error: `${error} (it expired: Slack takes answers for 30 minutes)`, call, ...kept };
  return { outcome: 'failed', error, call, ...kept };
}

/** Whether `url` has the origin of `base` (scheme, host and port alike). */
export function isOnOrigin(url: string, base: string): boolean {
  return URL.canParse(url) && URL.canParse(base) && new URL(url).origin === new URL(base).origin;
}

function originOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : 'an unreadable URL';
}
