/**
 * The `upload` action: one planned batch of an audience run (its rows are in the store, written
 * before the batch was queued) sent to Meta in one request, for one rate-limit token, leaving one
 * audit record that names the batch, its session and Meta's counts.
 *
 * Exactly once where it matters: a batch Meta acknowledged is acknowledged in the store at once,
 * so a later attempt of the same job (the worker died before recording it) finds it acknowledged
 * and sends nothing; a batch whose answer was lost is sent again, which Meta's add and remove
 * tolerate (they are idempotent by hash), and acknowledged once.
 *
 * Before sending, the action slows down as Meta's usage headers near 100% (usage.ts): it waits
 * within the attempt when the wait fits, or hands the job back to be retried when it does not.
 * While it is slowing down, uploads to one ad account go one at a time, each pacing on the answer
 * to the one before it.
 */
import { z } from 'zod';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { callRecordOf } from '../outbound.js';
import type { AudienceBatchRecord } from '../../store/types.js';
import type { ActionContext, ActionResult, AudienceBatchStore, JobAction } from '../types.js';
import { graphClient, type UploadAnswer } from './client.js';
import { toActionResult } from './errors.js';
import type { AudienceConfig, MetaDestinationConfig } from './schema.js';
import { schemaOf } from './selection.js';
import { UsagePacer } from './usage.js';

export const uploadParamsSchema = z
  .object({
    /** The audience's config name (`destinations.<meta>.audiences.<name>`). */
    audience: z.string().min(1),
    /** The planned batch (`audience_batches.id`). */
    batchId: z.number().int().positive(),
    /** Meta's audience id the run resolved (a config id, or one `meta audiences create` made). */
    audienceId: z.string().regex(/^\d+$/),
  })
  .strict();

export type UploadParams = z.output<typeof uploadParamsSchema>;

/**
 * Per ad account, in this process: the last usage Meta reported, which the next upload paces
 * itself on, and the pacing turn. Held in memory on purpose: after a restart the first answer
 * brings it back.
 */
const pacers = new Map<string, UsagePacer>();

function pacerOf(adAccountId: string): UsagePacer {
  let pacer = pacers.get(adAccountId);
  if (!pacer) pacers.set(adAccountId, (pacer = new UsagePacer()));
  return pacer;
}

export const uploadAction: JobAction<UploadParams, MetaDestinationConfig> = {
  kind: 'job',
  description: "send one planned batch of an audience run to Meta (add, remove, or a replace session's batch)",
  params: uploadParamsSchema,
  // One stream per audience: its batches go in order, other audiences are not held behind it.
  subKey: (params) => params.audience,
  run: async (ctx) => settleDeadBatch(ctx, await runUpload(ctx)),
};

/**
 * A job that dies with its batch still planned (out of attempts, a refused token) would leave its
 * run, and every run after it, waiting for a batch nobody sends: the batch is failed with the job.
 * Its members stay pending, so the next run plans them again (replaying the dead job sends
 * nothing: a failed batch is never re-sent, as a newer run may have changed its members since).
 */
async function settleDeadBatch(ctx: ActionContext<UploadParams, MetaDestinationConfig>, result: ActionResult): Promise<ActionResult> {
  const isLast = ctx.job.attempts + 1 >= ctx.job.maxAttempts;
  const dies = result.outcome === 'failed' || ((result.outcome === 'retry' || result.outcome === 'unknown') && isLast && !(result.outcome === 'retry' && result.opensBreaker));
  if (!dies || !ctx.audiences) return result;
  const batch = await ctx.audiences.getAudienceBatch(ctx.params.batchId);
  if (batch?.status === 'planned') await ctx.audiences.failAudienceBatch({ batchId: batch.id, error: `the upload job ${ctx.job.id} is dead: ${result.error}`, now: ctx.now });
  return result;
}

async function runUpload(ctx: ActionContext<UploadParams, MetaDestinationConfig>): Promise<ActionResult> {
  const { params, destination } = ctx;
  const store = ctx.audiences;
  if (!store) return { outcome: 'failed', error: 'this worker has no audience store wired (a kitrelay bug): nothing was sent' };
  const audience = Object.hasOwn(destination.audiences, params.audience) ? destination.audiences[params.audience] : undefined;
  if (!audience) return { outcome: 'failed', error: `no audience "${params.audience}" on destination ${ctx.destinationName} (audiences: ${Object.keys(destination.audiences).join(', ') || 'none'})` };
  const batch = await store.getAudienceBatch(params.batchId);
  if (!batch || batch.audience !== audienceKey(ctx.destinationName, params.audience)) return { outcome: 'failed', error: `batch ${params.batchId} of ${params.audience} is not in the store (removed by retention?): nothing to send` };
  const correlation = { batchId: String(batch.id), sessionId: batch.sessionId, op: batch.op, batchSeq: String(batch.seq) };
  if (batch.status === 'acked') return { outcome: 'succeeded', correlation: { ...correlation, note: 'acknowledged by Meta before: not sent again' } };
  if (batch.status === 'failed') return { outcome: 'failed', error: `batch ${batch.id} was refused by Meta: ${batch.error ?? 'no error recorded'}`, correlation };

  // ctx.now is the attempt's start; time spent waiting here is real time, added to it.
  const started = performance.now();
  const now = () => ctx.now + Math.round(performance.now() - started);
  const pacer = pacerOf(destination.adAccountId);
  const turn = await pacer.takeTurn(ctx.signal);
  if (!turn) return { outcome: 'retry', error: 'the attempt ended while the uploads before it were being answered: nothing was sent', correlation };
  try {
    const paced = await pace(ctx, pacer, now, performance.now() - started);
    if (paced) return { ...paced, correlation };
    return await send(ctx, { store, batch, audience, pacer, now, correlation });
  } finally {
    turn.release();
  }
}

interface Sending {
  readonly store: AudienceBatchStore;
  readonly batch: AudienceBatchRecord;
  readonly audience: AudienceConfig;
  readonly pacer: UsagePacer;
  /** Now, epoch ms: the attempt's start on the clock, plus the real time spent since. */
  readonly now: () => number;
  readonly correlation: Readonly<Record<string, string>>;
}

/** Sends the batch and records Meta's answer: on the batch, and the usage for the next upload. */
async function send(ctx: ActionContext<UploadParams, MetaDestinationConfig>, { store, batch, audience, pacer, now, correlation }: Sending): Promise<ActionResult> {
  const { params, destination } = ctx;
  const items = await store.getAudienceBatchItems(batch.id, { limit: batch.size });
  let accessToken: string;
  try {
    accessToken = ctx.secrets(destination.accessToken);
  } catch (error) {
    return { outcome: 'failed', error: `cannot send to Meta: ${error instanceof Error ? error.message : String(error)}`, opensBreaker: true, correlation };
  }
  const client = graphClient((request) => ctx.http.send(request), { graphUrl: destination.graphUrl, apiVersion: destination.apiVersion, accessToken, userAgent: ctx.userAgent }, { now: () => ctx.now });
  const sentAt = now();
  const sent = await client.upload({
    audienceId: params.audienceId,
    op: batch.op,
    schema: schemaOf(audience),
    rows: items.map((item) => item.row),
    session: { sessionId: batch.sessionId, batchSeq: batch.seq, isLast: batch.isLast },
  });
  pacer.record(sent.usage, { sentAt, answeredAt: now() });
  const call = callRecordOf(sent.result, { ...correlation, rows: String(items.length) });
  const { outcome } = sent;
  if (outcome.kind === 'ok') {
    const answer: UploadAnswer = sent.body ?? {};
    const response = { ...answer, rows_sent: items.length };
    await store.ackAudienceBatch({ batchId: batch.id, response, now: ctx.now });
    return {
      outcome: 'succeeded',
      call: { ...call, correlation: { ...call.correlation, numReceived: String(answer.num_received ?? ''), numInvalid: String(answer.num_invalid_entries ?? '') } },
    };
  }
  // Refusals that sending again cannot change are recorded on the batch, never retried.
  if (outcome.kind === 'flagged' || outcome.kind === 'too_small' || outcome.kind === 'invalid') {
    await store.failAudienceBatch({ batchId: batch.id, error: outcome.message, response: { code: outcome.code ?? null, subcode: outcome.subcode ?? null, fbtrace_id: outcome.fbtraceId ?? null }, now: ctx.now });
  }
  return toActionResult(outcome, call);
}

/**
 * Waits out Meta's usage before sending: within the attempt when the wait fits in it (and the stop
 * signal allows), else a retry after the wait, sending nothing. Undefined: go ahead.
 */
async function pace(ctx: ActionContext<UploadParams, MetaDestinationConfig>, pacer: UsagePacer, now: () => number, spentMs: number): Promise<ActionResult | undefined> {
  const waitMs = pacer.waitMs(now());
  if (waitMs === 0) return undefined;
  const pct = Math.round(pacer.last?.usage.maxPct ?? 100);
  // Leave the upload itself most of the attempt's time.
  if (spentMs + waitMs > ctx.destination.timeoutMs / 4) return { outcome: 'retry', error: `Meta's usage is at ${pct}%: waiting ${Math.ceil(waitMs / 1000)} s before the next upload`, retryAfterMs: waitMs };
  const isWaited = await delay(waitMs, true, { signal: ctx.signal }).catch(() => false);
  // Stopped or timed out while waiting: sending now would go out on an aborted signal.
  if (!isWaited) return { outcome: 'retry', error: `the attempt ended while waiting for Meta's usage (${pct}%) to allow the upload: nothing was sent` };
  return undefined;
}

/** The store's name for an audience: `<destination>/<audience>`. */
export function audienceKey(destinationName: string, audience: string): string {
  return `${destinationName}/${audience}`;
}
