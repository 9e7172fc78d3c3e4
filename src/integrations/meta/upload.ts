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
 */
import { z } from 'zod';
import { setTimeout as delay } from 'node:timers/promises';
import { callRecordOf } from '../outbound.js';
import type { ActionContext, ActionResult, JobAction } from '../types.js';
import { graphClient, type UploadAnswer } from './client.js';
import { toActionResult } from './errors.js';
import type { MetaDestinationConfig } from './schema.js';
import { schemaOf } from './selection.js';
import { throttleDelayMs, type Usage } from './usage.js';

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
 * The last usage Meta reported per ad account, in this process: the next upload paces itself on
 * it. Held in memory on purpose: after a restart the first answer brings it back.
 */
const lastUsage = new Map<string, { readonly usage: Usage; readonly at: number }>();

export const uploadAction: JobAction<UploadParams, MetaDestinationConfig> = {
  kind: 'job',
  description: "send one planned batch of an audience run to Meta (add, remove, or a replace session's batch)",
  params: uploadParamsSchema,
  // One stream per audience: its batches go in order, other audiences are not held behind it.
  subKey: (params) => params.audience,
  run: runUpload,
};

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

  const paced = await pace(ctx, destination.adAccountId);
  if (paced) return paced;

  const items = await store.getAudienceBatchItems(batch.id, { limit: batch.size });
  let accessToken: string;
  try {
    accessToken = ctx.secrets(destination.accessToken);
  } catch (error) {
    return { outcome: 'failed', error: `cannot send to Meta: ${error instanceof Error ? error.message : String(error)}`, opensBreaker: true, correlation };
  }
  const client = graphClient((request) => ctx.http.send(request), { graphUrl: destination.graphUrl, apiVersion: destination.apiVersion, accessToken, userAgent: ctx.userAgent }, { now: () => ctx.now });
  const sent = await client.upload({
    audienceId: params.audienceId,
    op: batch.op,
    schema: schemaOf(audience),
    rows: items.map((item) => item.row),
    session: { sessionId: batch.sessionId, batchSeq: batch.seq, isLast: batch.isLast },
  });
  lastUsage.set(destination.adAccountId, { usage: sent.usage, at: ctx.now });
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
async function pace(ctx: ActionContext<UploadParams, MetaDestinationConfig>, adAccountId: string): Promise<ActionResult | undefined> {
  const seen = lastUsage.get(adAccountId);
  if (!seen) return undefined;
  const waitMs = Math.max(0, throttleDelayMs(seen.usage) - (ctx.now - seen.at));
  if (waitMs === 0) return undefined;
  // Leave the upload itself most of the attempt's time.
  if (waitMs > ctx.destination.timeoutMs / 4) return { outcome: 'retry', error: `Meta's usage is at ${Math.round(seen.usage.maxPct ?? 100)}%: waiting ${Math.ceil(waitMs / 1000)} s before the next upload`, retryAfterMs: waitMs };
  await delay(waitMs, undefined, { signal: ctx.signal }).catch(() => undefined);
  return undefined;
}

/** The store's name for an audience: `<destination>/<audience>`. */
export function audienceKey(destinationName: string, audience: string): string {
  return `${destinationName}/${audience}`;
}
