/**
 * The `fetch_changes` action: a webhook ping's job (source.ts). Finds the sync whose webhook
 * pinged and looks for its changes at once (`detectChanges`: the payloads from the durable cursor,
 * or a poll when the webhook fails), so edits reach the pending changes seconds after they were
 * made instead of at the inbound schedule's next look. Calls spend from the call budget like
 * every Airtable call; a look that failed is retried like any Airtable outcome (errors.ts), and is
 * harmless to repeat: the cursor only moves once what it covers is noted.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { ActionContext, ActionResult, JobAction } from '../types.js';
import { storeCallBudget } from './budget.js';
import { airtableClient } from './client.js';
import { resultOf } from './errors.js';
import type { AirtableDestinationConfig } from './schema.js';
import { FETCH_CHANGES_ACTION } from './source.js';
import { findWebhookSync } from './webhook-state.js';
import { detectChanges, type DetectResult } from './webhooks.js';

export const fetchChangesParamsSchema = z
  .object({
    /** The webhook that pinged (`ach…`). */
    webhookId: z.string().min(1),
  })
  .strict();

export type FetchChangesParams = z.output<typeof fetchChangesParamsSchema>;

export const fetchChangesAction: JobAction<FetchChangesParams, AirtableDestinationConfig> = {
  kind: 'job',
  description: `read a pinging webhook's payloads (or poll, while it fails) and note the records changed in Airtable: the job of a webhook ping (${FETCH_CHANGES_ACTION})`,
  params: fetchChangesParamsSchema,
  run,
};

async function run(ctx: ActionContext<FetchChangesParams, AirtableDestinationConfig>): Promise<ActionResult> {
  const { webhookId } = ctx.params;
  const store = ctx.airtable;
  if (!store) return { outcome: 'failed', error: 'this worker has no Airtable store wired (a kitrelay bug): nothing was read', correlation: { webhookId } };
  const owner = await findWebhookSync(store, ctx.destinationName, ctx.destination, webhookId);
  // Made again or removed since it pinged: its successor is read by its own pings and the schedule.
  if (!owner) return { outcome: 'succeeded', correlation: { webhookId, note: `no sync of ${ctx.destinationName} has this webhook now: nothing to read` } };
  const correlation = { webhookId, sync: owner.syncName };
  let token: string;
  try {
    token = ctx.secrets(ctx.destination.token);
  } catch (error) {
    return { outcome: 'failed', error: `cannot read from Airtable: ${error instanceof Error ? error.message : String(error)}`, opensBreaker: true, correlation };
  }
  // ctx.now is the attempt's start; time spent waiting for a turn is real time, added to it.
  const started = performance.now();
  const now = () => ctx.now + Math.round(performance.now() - started);
  const budget = storeCallBudget({
    store, destinationName: ctx.destinationName, destination: ctx.destination, token, now,
    onWarning: (warning) => ctx.log?.warn({ destination: ctx.destinationName, calls: warning.calls, budget: warning.budget, month: warning.month }, warning.message),
  });
  const client = airtableClient((request) => ctx.http.send(request), { apiUrl: ctx.destination.apiUrl, token, userAgent: ctx.userAgent }, { budget, now, maxWaitMs: ctx.destination.timeoutMs / 4, signal: ctx.signal, penaltyMs: ctx.destination.rateLimitPenaltyMs });
  const found = await detectChanges({ store, client, destinationName: ctx.destinationName, syncName: owner.syncName, sync: owner.sync, now, signal: ctx.signal });
  return resultOfDetect(found, correlation);
}

/** A look for changes as the port's result: its counts for the audit record; a failure as Airtable's outcome says. */
export function resultOfDetect(found: DetectResult, correlation: Readonly<Record<string, string>>): ActionResult {
  const counts = {
    ...correlation,
    mode: found.mode,
    noted: String(found.noted),
    destroyed: String(found.destroyed),
    payloads: String(found.payloads),
    ...(found.refreshed ? { refreshed: 'true' } : {}),
    ...(found.recreated ? { recreated: found.recreated } : {}),
    ...(found.fallback ? { fallback: found.fallback } : {}),
  };
  if (found.error === undefined) return { outcome: 'succeeded', correlation: counts };
  if (found.outcome) {
    const result = resultOf(found.outcome);
    return { ...result, ...('error' in result ? { error: found.error } : {}), correlation: counts };
  }
  return { outcome: 'retry', error: found.error, correlation: counts };
}
