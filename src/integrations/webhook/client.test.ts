import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from './simulator.js';
import type { KitEvent } from '../../kit/events.js';
import { env } from '../../lib/env-ref.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import type { EventRecord, JobRecord } from '../../store/types.js';
import { IntegrationRegistry } from '../index.js';
import { createActionHttp } from '../outbound.js';
import type { ActionContext, ActionResult, SecretResolver } from '../types.js';
import { sendWebhook } from './client.js';
import { webhookDestinationSchema, type WebhookBodyContext, type WebhookDestinationConfig } from './schema.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const IDEMPOTENCY_KEY = 'kitrelay-job-42';

let receiver: WebhookReceiver;
let http: HttpClient;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  http = createHttpClient();
});

beforeEach(() => receiver.reset());

afterAll(async () => {
  await http.close();
  await receiver.close();
});

// Secrets resolve from this object, never process.env.
const vars: Record<string, string> = { HOOK_TOKEN: 'tok-s3cret', SIGNING_SECRET: 'whsec_test', HOOK_URL: '' };
const secrets: SecretResolver = (value) => {
  if (typeof value === 'string') return value;
  const resolved = vars[value.$env];
  if (resolved === undefined) throw new Error(`environment variable ${value.$env} is not set`);
  return resolved;
};

const event: KitEvent = {
  type: 'subscriber.tag_added',
  kitType: 'subscriber.tag_add',
  system: 'legacy',
  scope: { param: 'tag_id', value: '123' },
  subscriber: { id: 7, email: 'ada@example.com', firstName: 'Ada', state: 'active', fields: { last_name: 'Lovelace' } },
  payload: { subscriber: { id: 7, email_address: 'ada@example.com' } },
};

const eventRecord: EventRecord = {
  id: 9,
  deliveryId: 3,
  source: 'legacy',
  origin: 'kit',
  kitEventId: null,
  type: event.type,
  kitType: event.kitType,
  scope: { param: 'tag_id', value: '123' },
  subscriberId: '7',
  email: 'ada@example.com',
  subscriberKey: 'id:7',
  occurredAt: null,
  receivedAt: NOW - 1_000,
  status: 'accepted',
  duplicateOf: null,
  payload: event.payload,
  decisions: [],
};

const job: JobRecord = {
  id: 42,
  eventId: 9,
  rule: 'tagged-vip',
  destination: 'crm-hook',
  action: 'send',
  params: { list: 'vip' },
  subKey: null,
  subscriberKey: 'id:7',
  subscriberId: '7',
  email: 'ada@example.com',
  status: 'running',
  attempts: 2,
  maxAttempts: 8,
  runAt: NOW,
  leaseOwner: 'worker-1',
  leaseExpiresAt: NOW + 60_000,
  lastError: null,
  idempotencyKey: IDEMPOTENCY_KEY,
  createdAt: NOW - 1_000,
  updatedAt: NOW,
  finishedAt: null,
  replays: 0,
  facts: {},
  copyOf: null,
};

type Overrides = Partial<Pick<ActionContext<unknown, WebhookDestinationConfig>, 'event' | 'signal'>>;

function context(destination: Record<string, unknown> = {}, overrides: Overrides = {}): ActionContext<unknown, WebhookDestinationConfig> {
  const config = webhookDestinationSchema.parse({ type: 'webhook', url: `${receiver.url}/hook`, timeoutMs: 2_000, ...destination });
  const signal = overrides.signal ?? new AbortController().signal;
  return {
    job,
    eventRecord,
    event,
    params: job.params,
    earlierAttempts: [],
    facts: {},
    destinationName: 'crm-hook',
    destination: config,
    idempotencyKey: IDEMPOTENCY_KEY,
    secrets,
    http: createActionHttp({ http, signal, timeoutMs: config.timeoutMs, isShadow: false }),
    signal,
    now: NOW,
    userAgent: 'kitrelay/0.1.0',
    ...overrides,
  };
}

function send(destination: Record<string, unknown> = {}, overrides: Overrides = {}): Promise<ActionResult> {
  return sendWebhook(context(destination, overrides));
}

describe('webhook connector', () => {
  it('POSTs the default body: idempotency key, event, job and the attempt number', async () => {
    const result = await send();
    expect(result.outcome).toBe('succeeded');
    const [received] = receiver.requests;
    expect(received?.method).toBe('POST');
    expect(received?.path).toBe('/hook');
    expect(received?.json).toEqual({
      id: IDEMPOTENCY_KEY,
      event: {
        type: 'subscriber.tag_added',
        kitType: 'subscriber.tag_add',
        kitEventId: null,
        scope: { param: 'tag_id', value: '123' },
        subscriber: { id: 7, email: 'ada@example.com', firstName: 'Ada', state: 'active', fields: { last_name: 'Lovelace' } },
        occurredAt: null,
        payload: { subscriber: { id: 7, email_address: 'ada@example.com' } },
      },
      job: { id: 42, rule: 'tagged-vip', action: 'send', params: { list: 'vip' } },
      attempt: 3,
    });
  });

  it('sends occurredAt as an ISO string when Kit said when', async () => {
    await send({}, { event: { ...event, system: 'signed', kitEventId: 'evt_1', occurredAt: NOW - 5_000 } });
    expect(receiver.requests[0]?.json).toMatchObject({ event: { kitEventId: 'evt_1', occurredAt: '2026-03-01T11:59:55.000Z' } });
  });

  it('sends what a custom body function returns, given the event and the job', async () => {
    let seen: WebhookBodyContext | undefined;
    const result = await send({
      method: 'PUT',
      body: (ctx: WebhookBodyContext) => {
        seen = ctx;
        return { email: ctx.event.subscriber?.email, list: (ctx.job.params as { list: string }).list };
      },
    });
    expect(result.outcome).toBe('succeeded');
    expect(seen?.job).toEqual({ id: 42, rule: 'tagged-vip', action: 'send', params: { list: 'vip' }, idempotencyKey: IDEMPOTENCY_KEY });
    expect(receiver.requests[0]?.method).toBe('PUT');
    expect(receiver.requests[0]?.json).toEqual({ email: 'ada@example.com', list: 'vip' });
  });

  it('sends content type, user agent, idempotency key, job id and configured headers', async () => {
    await send({ headers: { 'X-Tenant': 'acme' } });
    const headers = receiver.requests[0]?.headers;
    expect(headers?.['content-type']).toBe('application/json');
    expect(headers?.['user-agent']).toMatch(/^kitrelay\/\d+\.\d+\.\d+/);
    expect(headers?.['idempotency-key']).toBe(IDEMPOTENCY_KEY);
    expect(headers?.['x-kitrelay-job']).toBe('42');
    expect(headers?.['x-tenant']).toBe('acme');
  });

  it('records the call: summary, status, body start and correlation ids', async () => {
    const result = await send();
    if (result.outcome !== 'succeeded') throw new Error(result.outcome);
    const sent = receiver.requests[0]?.body.toString('utf8') ?? '';
    expect(result.call).toMatchObject({
      request: { method: 'POST', url: `${receiver.url}/hook`, bodyBytes: Buffer.byteLength(sent), bodyPreview: sent.slice(0, 512) },
      responseStatus: 200,
      responseBody: '{"ok":true,"requestId":"sim-1"}',
      correlation: { idempotencyKey: IDEMPOTENCY_KEY, requestId: 'sim-1' },
    });
  });

  it('signs the exact body bytes with the configured secret and the injected clock', async () => {
    await send({ signing: { secret: env('SIGNING_SECRET') } });
    const received = receiver.requests[0];
    const header = received?.headers['x-kitrelay-signature'];
    const t = Math.floor(NOW / 1000);
    const expected = createHmac('sha256', 'whsec_test').update(`${t}.`).update(received?.body ?? Buffer.alloc(0)).digest('hex');
    expect(header).toBe(`t=${t},v1=${expected}`);
  });

  it('resolves env-reference headers and redacts them in the audit summary', async () => {
    const result = await send({ headers: { Authorization: env('HOOK_TOKEN'), 'X-Tenant': env('HOOK_TOKEN'), 'X-Plain': 'visible' }, signing: { secret: env('SIGNING_SECRET'), header: 'X-Sig' } });
    expect(receiver.requests[0]?.headers['authorization']).toBe('tok-s3cret');
    expect(receiver.requests[0]?.headers['x-tenant']).toBe('tok-s3cret');
    if (result.outcome !== 'succeeded') throw new Error(result.outcome);
    expect(result.call?.request.headers).toMatchObject({ authorization: '[redacted]', 'x-tenant': '[redacted]', 'x-sig': '[redacted]', 'x-plain': 'visible' });
    expect(JSON.stringify(result)).not.toContain('tok-s3cret');
  });

  it('keeps only the origin of a URL configured as an env reference', async () => {
    vars.HOOK_URL = `${receiver.url}/services/T0/SECRET`;
    const result = await send({ url: env('HOOK_URL') });
    expect(receiver.requests[0]?.path).toBe('/services/T0/SECRET');
    if (result.outcome !== 'succeeded') throw new Error(result.outcome);
    expect(result.call?.request.url).toBe(`${receiver.url}/[redacted]`);
  });

  it('retries a 500', async () => {
    receiver.fault({ kind: 'status', status: 500, body: 'upstream down' });
    const result = await send();
    expect(result).toMatchObject({ outcome: 'retry', error: 'HTTP 500 Internal Server Error', call: { responseStatus: 500, responseBody: 'upstream down' } });
    expect(result).not.toHaveProperty('retryAfterMs');
  });

  it('retries a 429 after the Retry-After the receiver asked for', async () => {
    receiver.fault({ kind: 'status', status: 429, retryAfter: 30 });
    const result = await send();
    expect(result).toMatchObject({ outcome: 'retry', retryAfterMs: 30_000, call: { responseStatus: 429 } });
  });

  it('fails a 404 permanently', async () => {
    receiver.fault({ kind: 'status', status: 404 });
    const result = await send();
    expect(result).toMatchObject({ outcome: 'failed', error: 'HTTP 404 Not Found', call: { responseStatus: 404 } });
  });

  it("retries when the receiver does not answer within the destination's timeout", async () => {
    receiver.fault({ kind: 'hang' });
    const result = await send({ timeoutMs: 200 });
    expect(result).toMatchObject({ outcome: 'retry', error: 'timeout: timed out after 200 ms', call: { correlation: { idempotencyKey: IDEMPOTENCY_KEY } } });
    expect(receiver.requests[0]?.answer).toEqual({ kind: 'hang' });
  });

  it('retries when the receiver resets the connection', async () => {
    receiver.fault({ kind: 'reset' });
    const result = await send();
    expect(result).toMatchObject({ outcome: 'retry' });
    if (result.outcome !== 'retry') throw new Error(result.outcome);
    expect(result.error).toMatch(/^ECONNRESET/);
    expect(result.call?.responseStatus).toBeUndefined();
  });

  it('retries when the worker aborts the attempt (shutdown)', async () => {
    receiver.fault({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = await send({}, { signal: controller.signal });
    expect(result).toMatchObject({ outcome: 'retry', error: expect.stringMatching(/^aborted/) as unknown });
  });

  it('fails without calling the receiver when the body function throws', async () => {
    const result = await send({
      body: () => {
        throw new Error('no subscriber');
      },
    });
    expect(result).toEqual({ outcome: 'failed', error: 'body function threw: no subscriber' });
    expect(receiver.requests).toHaveLength(0);
  });

  it('leaves out an optional env-reference header whose variable is unset', async () => {
    const result = await send({ headers: { 'X-Optional': env('NOT_SET', { optional: true }) }, signing: { secret: env('NOT_SET', { optional: true }) } });
    expect(result.outcome).toBe('succeeded');
    expect(receiver.requests[0]?.headers).not.toHaveProperty('x-optional');
    expect(receiver.requests[0]?.headers).not.toHaveProperty('x-kitrelay-signature');
  });

  it('fails without calling the receiver when a secret is missing', async () => {
    const result = await send({ headers: { Authorization: env('NOT_SET') } });
    expect(result).toMatchObject({ outcome: 'failed', error: expect.stringContaining('NOT_SET') as unknown });
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('the registry', () => {
  it('registers the webhook integration under its destination type, with send and sendBatch', () => {
    const registry = new IntegrationRegistry();
    expect(registry.get('webhook')?.type).toBe('webhook');
    expect(registry.action('webhook', 'send')?.kind).toBe('job');
    expect(registry.action('webhook', 'sendBatch')?.kind).toBe('batch');
  });
});
