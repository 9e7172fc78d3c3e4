/**
 * The generic webhook connector: POSTs (or PUTs/PATCHes) one JSON body per job to a configured
 * URL, with an idempotency key the receiver can dedupe on and, optionally, a signature made the
 * way Kit signs its own webhooks (kit/signature.ts), so a receiver that verifies Kit can verify us.
 *
 * One attempt = one HTTP call. What the answer means is decided by the shared policy
 * (`classifyResponse`); this file only maps it onto the Connector port's `AttemptResult`.
 */
import { createRequire } from 'node:module';
import type { EnvRef, WebhookBodyContext, WebhookDestinationConfig } from '../../config/schema.js';
import type { KitEvent } from '../../kit/events.js';
import { signPayload } from '../../kit/signature.js';
import { classifyResponse, type HttpClient, type HttpResult } from '../../lib/http.js';
import type { AttemptResult, CallRecord, Connector, ConnectorContext } from '../types.js';

export interface WebhookConnectorOptions {
  readonly http: HttpClient;
  /** @default `kitrelay/<package version>` */
  readonly userAgent?: string;
}

/** Bytes of the response body kept on the audit record. */
const RESPONSE_BODY_BYTES = 1024;

export function createWebhookConnector(options: WebhookConnectorOptions): Connector {
  const userAgent = options.userAgent ?? `kitrelay/${packageVersion()}`;
  return {
    type: 'webhook',
    send: (ctx) => sendWebhook(ctx, options.http, userAgent),
  };
}

async function sendWebhook(ctx: ConnectorContext, http: HttpClient, userAgent: string): Promise<AttemptResult> {
  const destination = ctx.destination;
  if (destination.type !== 'webhook') {
    return { outcome: 'failed', error: `webhook connector got a destination of type ${String((destination as { type: unknown }).type)}` };
  }

  const body = buildBody(ctx, destination);
  if (!body.ok) {
    // A throwing body function is a bug in the config, not a fault of the destination: the same
    // event would throw again on every attempt, so retrying would only burn the attempt budget
    // (and hold the subscriber's later jobs behind it). Fail now; the operator fixes the config and
    // replays the job.
    return { outcome: 'failed', error: body.error };
  }

  const request = resolveRequest(ctx, destination, body.value, userAgent);
  if (!request.ok) {
    // A missing or unreadable secret is a config error too: retrying cannot make it appear.
    return { outcome: 'failed', error: request.error };
  }

  const result = await http.send({ ...request.value, body: body.value, timeoutMs: destination.timeoutMs, signal: ctx.signal });
  const call = callRecord(result, ctx.idempotencyKey);
  const verdict = classifyResponse(result, ctx.now);
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

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** The body as JSON text, serialised once: the signature and the audit digest cover these exact bytes. */
function buildBody(ctx: ConnectorContext, destination: WebhookDestinationConfig): Outcome<string> {
  const { job, event } = ctx;
  let value: unknown;
  try {
    if (destination.body) {
      const bodyCtx: WebhookBodyContext = {
        event,
        job: { id: job.id, rule: job.rule, action: job.action, params: job.params, idempotencyKey: ctx.idempotencyKey },
      };
      value = destination.body(bodyCtx);
    } else {
      value = defaultBody(ctx);
    }
  } catch (err: unknown) {
    return { ok: false, error: `body function threw: ${messageOf(err)}` };
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
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
function defaultBody(ctx: ConnectorContext): unknown {
  const { job, event } = ctx;
  return {
    id: ctx.idempotencyKey,
    event: eventForBody(event),
    job: { id: job.id, rule: job.rule, action: job.action, params: job.params },
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
function resolveRequest(ctx: ConnectorContext, destination: WebhookDestinationConfig, body: string, userAgent: string): Outcome<ResolvedRequest> {
  try {
    const url = ctx.secrets(destination.url);
    // Configured headers may override the defaults (a receiver wanting its own user-agent), but
    // never the signature, which must cover the body as sent.
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': userAgent,
      'idempotency-key': ctx.idempotencyKey,
      'x-kitrelay-job': String(ctx.job.id),
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
function resolveRef(ctx: ConnectorContext, ref: EnvRef): string | undefined {
  if (!ref.optional) return ctx.secrets(ref);
  try {
    const value = ctx.secrets(ref);
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}

function callRecord(result: HttpResult, idempotencyKey: string): CallRecord {
  if (result.kind === 'network_error') return { request: result.request, correlation: { idempotencyKey } };
  const requestId = result.headers['x-request-id'] ?? result.headers['request-id'];
  return {
    request: result.request,
    responseStatus: result.status,
    responseBody: result.body.subarray(0, RESPONSE_BODY_BYTES).toString('utf8'),
    correlation: requestId === undefined ? { idempotencyKey } : { idempotencyKey, requestId },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The version in package.json, read when a connector is made (never at import). This file sits
 * three levels below the package root both as source (src/connectors/webhook) and as build output
 * (dist/connectors/webhook), so one relative path serves both.
 */
function packageVersion(): string {
  const pkg = createRequire(import.meta.url)('../../../package.json') as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
