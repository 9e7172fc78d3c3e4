/**
 * The `greet` action: one Bonjoro video task (`POST /api/v2/greets`) for the job's subscriber.
 *
 * Bonjoro has no idempotency key (§4.3): a POST retried after a lost answer makes a second greet.
 * So every greet carries a marker naming its job (`custom_attributes.kitrelay_job` = the job's
 * idempotency key), and an attempt that follows one whose outcome is `unknown` (a timeout after
 * sending, a reset, a 5xx, a worker that died mid-call) first reads the subscriber's greets for the
 * marker: found → succeeded without creating; not found → create; the lookup failing → retry later
 * (creating blind could duplicate). A greet created once is kept in the job's facts, so a replay of
 * a succeeded job creates nothing; `jobs replay --force-new` makes a new job, a new marker, a new greet.
 *
 * Once per purpose per subscriber is the rule's `once` ledger (rules/route.ts), decided at ingest.
 */
import { parseRetryAfter, type HttpResult } from '../../lib/http.js';
import { callRecordOf, networkOutcome } from '../outbound.js';
import type { ActionContext, ActionResult, CallRecord, JobAction } from '../types.js';
import { BonjoroClient, bonjoroErrorText, createdGreetId, type GreetBody } from './client.js';
import { greetParamsSchema, MARKER_ATTRIBUTE, type BonjoroDestinationConfig, type GreetParams } from './schema.js';

type GreetContext = ActionContext<GreetParams, BonjoroDestinationConfig>;

export const greetAction: JobAction<GreetParams, BonjoroDestinationConfig> = {
  kind: 'job',
  description: 'create a Bonjoro video task (greet) for the subscriber; never two for one job',
  params: greetParamsSchema,
  run: runGreet,
};

async function runGreet(ctx: GreetContext): Promise<ActionResult> {
  const marker = ctx.idempotencyKey;
  const correlation = { idempotencyKey: marker, marker };
  const email = ctx.event.subscriber?.email ?? ctx.job.email ?? undefined;
  if (!email) return { outcome: 'failed', error: 'the event names no subscriber email: Bonjoro greets are addressed by email' };
  const done = ctx.facts.greetId;
  // Created by an earlier attempt (this is a replay of a succeeded job): nothing to send.
  if (typeof done === 'string') return { outcome: 'succeeded', facts: { greetId: done } };
  let apiKey: string;
  try {
    apiKey = ctx.secrets(ctx.destination.apiKey);
  } catch (error) {
    return { outcome: 'failed', error: `cannot send to Bonjoro: ${error instanceof Error ? error.message : String(error)}` };
  }
  const client = new BonjoroClient({ http: ctx.http, baseUrl: ctx.destination.baseUrl, apiKey, userAgent: ctx.userAgent });

  if (ctx.earlierAttempts.some((attempt) => attempt.outcome === 'unknown')) {
    const lookup = await client.findGreetByMarker(email, marker, ctx.destination.lookupPages);
    const call = callRecordOf(lookup.result, correlation);
    if (lookup.kind === 'found') return { outcome: 'succeeded', call: { ...call, correlation: { ...call.correlation, greetId: lookup.greet.id, foundBy: 'marker' } }, facts: { greetId: lookup.greet.id } };
    if (lookup.kind === 'failed') {
      const failure = lookupFailure(lookup.result, ctx.now, call);
      if (failure) return failure;
    }
  }

  if (ctx.destination.createProfileFirst) {
    const names = ctx.event.subscriber?.firstName ? { first_name: ctx.event.subscriber.firstName } : {};
    const profile = await client.createProfile({ email, ...names });
    // The profile may exist already (a 4xx) or the API may not need it: the greet decides.
    if (profile.kind === 'response' && profile.status === 401) return fromCreate(profile, ctx.now, correlation);
  }

  const body: GreetBody = {
    profiles: [email],
    ...(ctx.params.note !== undefined ? { note: ctx.params.note } : {}),
    ...(ctx.params.assignee_id !== undefined ? { assignee_id: ctx.params.assignee_id } : {}),
    ...(ctx.params.campaign_id !== undefined ? { campaign_id: ctx.params.campaign_id } : {}),
    ...(ctx.params.template_id !== undefined ? { template_id: ctx.params.template_id } : {}),
    custom_attributes: { ...ctx.params.custom_attributes, [MARKER_ATTRIBUTE]: marker },
  };
  return fromCreate(await client.createGreet(body), ctx.now, correlation);
}

/** What the answer to `POST /greets` means. A POST is not idempotent here, so doubt is `unknown`. */
function fromCreate(result: HttpResult, now: number, correlation: Record<string, string>): ActionResult {
  const call = callRecordOf(result, correlation);
  if (result.kind === 'network_error') return networkOutcome(result, call, 'the greet may have been created');
  const { status } = result;
  if (status === 200 || status === 201) {
    const greetId = createdGreetId(result);
    // Activepieces treats an answer without `data` as an error; the greet may exist all the same.
    if (greetId === undefined) return { outcome: 'unknown', error: `Bonjoro answered ${status} without the created greet`, call };
    return { outcome: 'succeeded', call: { ...call, correlation: { ...call.correlation, greetId } }, facts: { greetId } };
  }
  const error = bonjoroErrorText(result);
  if (status === 401) return { outcome: 'retry', error: `${error} (check the API key)`, call, opensBreaker: true };
  if (status === 429 || status === 408) return { outcome: 'retry', error, call, ...retryAfter(result, now) };
  // A 5xx after a POST: the server may have created the greet before failing.
  if (status >= 500) return { outcome: 'unknown', error: `${error} (the greet may have been created)`, call, ...retryAfter(result, now) };
  return { outcome: 'failed', error, call };
}

/** A lookup that could not say: retry, never create blind. Undefined = go on and create (no lookup answer needed). */
function lookupFailure(result: HttpResult, now: number, call: CallRecord): ActionResult | undefined {
  if (result.kind === 'response' && result.status === 401) return { outcome: 'retry', error: `${bonjoroErrorText(result)} (check the API key)`, call, opensBreaker: true };
  const why = result.kind === 'network_error' ? `${result.code}: ${result.message}` : result.status === 200 ? 'an answer without a list of greets, or more greets than the lookup reads (lookupPages)' : bonjoroErrorText(result);
  return { outcome: 'retry', error: `could not check for the greet an earlier attempt may have created: ${why}`, call, ...(result.kind === 'response' ? retryAfter(result, now) : {}) };
}

/** The destination's Retry-After (seconds or an HTTP date), when it sent one. */
function retryAfter(result: Extract<HttpResult, { kind: 'response' }>, now: number): { retryAfterMs?: number } {
  const ms = parseRetryAfter(result.headers['retry-after'], now);
  return ms === undefined ? {} : { retryAfterMs: ms };
}
