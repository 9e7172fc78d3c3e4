/**
 * The generic webhook: POSTs (or PUTs/PATCHes) one JSON body per job to a configured URL, with an
 * idempotency key the receiver can dedupe on and, optionally, a signature made the way Kit signs
 * its own webhooks (kit/signature.ts), so a receiver that verifies Kit can verify us. `sendBatch`
 * sends many jobs as one JSON array.
 *
 * What an answer means is the shared policy (`classifyResponse`). The receiver dedupes on the
 * idempotency key, so sending twice is harmless: an ambiguous failure is `retry`, not `unknown`.
 */
import type { EnvRef } from '../../lib/env-ref.js';
import { signPayload } from '../../kit/signature.js';
import type { KitEvent } from '../../kit/events.js';
import { classifyResponse, type HttpResult } from '../../lib/http.js';
import { callRecordOf } from '../outbound.js';
import type { ActionResult, AttemptEnvironment, BatchContext, BatchResult, CallRecord, JobInput } from '../types.js';
import type { WebhookBodyContext, WebhookDestinationConfig } from './schema.js';

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export async function sendWebhook(ctx: JobInput<unknown> & AttemptEnvironment<WebhookDestinationConfig>): Promise<ActionResult> {
  const body = buildBody(ctx, ctx.destination);
  // A throwing body function is a bug in the config, not a fault of the destination: the same
  // event would throw again on every attempt, so retrying would only burn the attempt budget (and
  // hold the subscriber's later jobs behind it). Fail now; the operator fixes it and replays.
  if (!body.ok) return { outcome: 'failed', error: body.error };
  const request = resolveRequest(ctx, body.value, { idempotencyKey: ctx.idempotencyKey, jobId: String(ctx.job.id) });
  // A missing or unreadable secret is a config error too: retrying cannot make it appear.
  if (!request.ok) return { outcome: 'failed', error: request.error };
  const result = await ctx.http.send({ ...request.value, body: body.value });
  return resultOf(result, ctx.now, callRecordOf(result, { idempotencyKey: ctx.idempotencyKey }));
}

/** Many jobs as one JSON array (each element the job's own body); one answer for all of them. */
export async function sendWebhookBatch(ctx: BatchContext<unknown, WebhookDestinationConfig>): Promise<BatchResult> {
  const bodies: unknown[] = [];
  const results: (ActionResult | undefined)[] = [];
  const sentIndexes: number[] = [];
  ctx.items.forEach((item, index) => {
    const value = bodyValue(item, ctx.destination);
    if (!value.ok) results[index] = { outcome: 'failed', error: value.error };
    else {
      bodies.push(value.value);
      sentIndexes.push(index);
    }
  });
  if (sentIndexes.length === 0) return { results: results.map((r) => r ?? { outcome: 'failed', error: 'not sent' }) };
  const json = JSON.stringify(bodies);
  const batchKey = `batch-${ctx.items[0]?.idempotencyKey ?? ''}-${ctx.items.length}`;
  const request = resolveRequest(ctx, json, { idempotencyKey: batchKey, jobId: sentIndexes.map((i) => ctx.items[i]?.job.id).join(',') });
  if (!request.ok) return { results: ctx.items.map(() => ({ outcome: 'failed', error: request.error }) as const) };
  const result = await ctx.http.send({ ...request.value, body: json });
  const call = callRecordOf(result, { idempotencyKey: batchKey });
  const shared = resultOf(result, ctx.now, call);
  for (const index of sentIndexes) results[index] = shared;
  return { call, results: results.map((r) => r ?? shared) };
}

function resultOf(result: HttpResult, now: number, call: CallRecord): ActionResult {
  const verdict = classifyResponse(result, now);
  switch (verdict.kind) {
    case 'success':
      return { outcome: 'succeeded', call };
    case 'retryable':
      return { outcome: 'retry', error: verdict.error, call };
    case 'retry_after':
      return { outcome: 'retry', error: verdict.error, retryAfterMs: verdict.retryAfterMs, call };
    case 'permanent':
      return { outcome: 'failed', error: verdict.error, call };
  }
}

function bodyValue(ctx: JobInput<unknown>, destination: WebhookDestinationConfig): Outcome<unknown> {
  const { job, event } = ctx;
  try {
    if (!destination.body) return { ok: true, value: defaultBody(ctx) };
    const bodyCtx: WebhookBodyContext = {
      event,
      job: { id: job.id, rule: job.rule, action: job.action, params: ctx.params, idempotencyKey: ctx.idempotencyKey },
    };
    return { ok: true, value: destination.body(bodyCtx) };
  } catch (err: unknown) {
    return { ok: false, error: `body function threw: ${messageOf(err)}` };
  }
}

/** The body as JSON text, serialised once: the signature and the audit digest cover these exact bytes. */
function buildBody(ctx: JobInput<unknown>, destination: WebhookDestinationConfig): Outcome<string> {
  const value = bodyValue(ctx, destination);
  if (!value.ok) return value;
  let json: string | undefined;
  try {
    json = JSON.stringify(value.value);
  } catch (err: unknown) {
    return { ok: false, error: `body is not serialisable as JSON: ${messageOf(err)}` };
  }
  // JSON.stringify returns undefined (typed as string) for undefined, functions and symbols.
  if ((json as string | undefined) === undefined) return { ok: false, error: 'body function returned nothing JSON can carry' };
  return { ok: true, value: json };
}

/**
 * The default body. Absent fields are null rather than missing, so receivers see one stable shape;
 * `occurredAt` is an ISO string because payloads are an edge where times leave as text.
 */
function defaultBody(ctx: JobInput<unknown>): unknown {
  const { job, event } = ctx;
  return {
    id: ctx.idempotencyKey,
    event: eventForBody(event),
    job: { id: job.id, rule: job.rule, action: job.action, params: ctx.params },
    attempt: job.attempts + 1,
  };
}

function eventForBody(event: KitEvent): Record<string, unknown> {
  return {
    type: event.type,
    kitType: event.kitType,
    kitEventId: event.kitEventId ?? null,
    scope: event.scope ?? null,
    subscriber: event.subscriber ?? null,
    occurredAt: event.occurredAt === undefined ? null : new Date(event.occurredAt).toISOString(),
    payload: event.payload,
  };
}

interface ResolvedRequest {
  readonly method: WebhookDestinationConfig['method'];
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly secretHeaderNames: string[];
  readonly isSecretUrl: boolean;
}

/** URL and headers with env references resolved; the ones that were references are marked secret. */
function resolveRequest(ctx: AttemptEnvironment<WebhookDestinationConfig>, body: string, ids: { idempotencyKey: string; jobId: string }): Outcome<ResolvedRequest> {
  const { destination } = ctx;
  try {
    const url = ctx.secrets(destination.url);
    // Configured headers may override the defaults (a receiver wanting its own user-agent), but
    // never the signature, which must cover the body as sent.
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': ctx.userAgent,
      'idempotency-key': ids.idempotencyKey,
      'x-kitrelay-job': ids.jobId,
    };
    const secretHeaderNames: string[] = [];
    for (const [name, value] of Object.entries(destination.headers)) {
      const lower = name.toLowerCase();
      if (typeof value === 'string') {
        headers[lower] = value;
        continue;
      }
      const resolved = resolveRef(ctx, value);
      if (resolved === undefined) continue;
      headers[lower] = resolved;
      secretHeaderNames.push(lower);
    }
    if (destination.signing) {
      const secret = resolveRef(ctx, destination.signing.secret);
      if (secret !== undefined) {
        const header = destination.signing.header.toLowerCase();
        headers[header] = signPayload({ secrets: [secret], body, timestamp: Math.floor(ctx.now / 1000) });
        secretHeaderNames.push(header);
      }
    }
    return { ok: true, value: { method: destination.method, url, headers, secretHeaderNames, isSecretUrl: typeof destination.url !== 'string' } };
  } catch (err: unknown) {
    return { ok: false, error: `cannot resolve a secret for destination ${ctx.destinationName}: ${messageOf(err)}` };
  }
}

/**
 * An env reference's value. An `optional` reference whose variable is unset switches its feature
 * off (the header is not sent, the request is not signed), as `env(name, { optional: true })`
 * promises; the resolver reports an unset variable by throwing or by an empty string. A required
 * reference's throw propagates to `resolveRequest`, which fails the attempt.
 */
function resolveRef(ctx: AttemptEnvironment<unknown>, ref: EnvRef): string | undefined {
  if (!ref.optional) return ctx.secrets(ref);
  try {
    const value = ctx.secrets(ref);
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
