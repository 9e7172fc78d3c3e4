/**
 * Turns the simulated account's changes into the webhooks Kit sends (reference/kit.md §7A, §7B):
 *
 * - legacy: one unsigned JSON POST per matching `/v4/webhooks` subscription, sent at once; no
 *   retry unless `legacyRetries` says so (Kit's legacy policy is undocumented [UNC]);
 * - Webhooks 2.0: one event per subscribed active endpoint, batched per endpoint and type (never
 *   mixed) into deliveries of up to 100 events / ~512 KB, flushed after `batchWindowMs`; signed
 *   with every valid secret, retried on Kit's schedule (scaled by `retryScale`), recorded in the
 *   delivery history attempt by attempt.
 *
 * Bounded and stoppable: every timer and request is tracked; `close()` cancels timers, aborts
 * requests in flight and waits for them; the sent log and the history are capped.
 */
import { randomUUID } from 'node:crypto';
import { LEGACY_EVENTS } from '../events.js';
import { signPayload } from '../signature.js';
import type { KitChange } from './changes.js';
import { isoSeconds } from './model.js';
import type { DeliveryHistory, MutableDelivery, SignedEvent } from './webhooks-deliveries.js';
import type { WebhookEndpoint, WebhookEndpoints } from './webhooks-endpoints.js';
import { scopeMatches, type LegacyWebhook, type LegacyWebhooks } from './webhooks-legacy.js';
import { legacyBody, scopeOfChange, signedEventData } from './webhooks-payloads.js';
import type { WebhookPostView, WebhookPoster } from './webhooks-post.js';
import { isSuccess, nextStep, type PostResult } from './webhooks-retry.js';

export interface EmitterSettings {
  readonly now: () => number;
  readonly batchWindowMs: number;
  readonly maxEventsPerDelivery: number;
  readonly maxDeliveryBytes: number;
  readonly retryScheduleMs: readonly number[];
  readonly retryScale: number;
  readonly legacyRetries: number;
  readonly isPurchaseWrapped: boolean;
  readonly responseBodyChars: number;
}

export interface EmitterRegistries {
  readonly legacy: LegacyWebhooks;
  readonly endpoints: WebhookEndpoints;
  readonly history: DeliveryHistory;
  readonly poster: WebhookPoster;
}

interface PendingBatch {
  readonly endpointId: number;
  readonly type: string;
  readonly events: SignedEvent[];
  timer?: NodeJS.Timeout;
}

export class WebhookEmitter {
  readonly #batches = new Map<string, PendingBatch>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inflight = new Set<Promise<void>>();
  /** Errors thrown by background work: bugs, rethrown by `flush`, `idle` and `close`. */
  readonly #bugs: unknown[] = [];
  readonly #idleWaiters = new Set<() => void>();
  #nextDeliveryId = 1;
  #isClosed = false;

  constructor(private readonly settings: EmitterSettings, private readonly registries: EmitterRegistries) {}

  /** Emits what Kit would send for one change. Ignored once closed. */
  handle(change: KitChange): void {
    if (this.#isClosed) return;
    this.#emitLegacy(change);
    this.#queueSigned(change);
  }

  /** Sends every queued batch now and waits for every POST in flight (not for retries still waiting). */
  async flush(): Promise<void> {
    for (const key of [...this.#batches.keys()]) this.#flushBatch(key);
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    this.#throwBugs();
  }

  /** Resolves once nothing is queued, in flight or waiting to retry. */
  async idle(timeoutMs = 10_000): Promise<void> {
    if (!this.#isIdle()) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#idleWaiters.delete(done);
          reject(new Error(`kit simulator webhooks: not idle after ${timeoutMs} ms (${this.#inflight.size} in flight, ${this.#timers.size} waiting)`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        this.#idleWaiters.add(done);
      });
    }
    this.#throwBugs();
  }

  /** Cancels batches and retries, aborts POSTs in flight, waits for them. Deliveries keep their last status. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#batches.clear();
    this.registries.poster.abort();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await this.registries.poster.close();
    this.#notifyIdle();
    this.#throwBugs();
  }

  // ------------------------------------------------------------------ legacy

  #emitLegacy(change: KitChange): void {
    const scope = scopeOfChange(change);
    for (const spec of LEGACY_EVENTS) {
      if (spec.canonical !== change.type) continue;
      for (const hook of this.registries.legacy.list()) {
        if (hook.spec !== spec || !scopeMatches(hook, scope?.value)) continue;
        const body = JSON.stringify(legacyBody(spec, change, { isPurchaseWrapped: this.settings.isPurchaseWrapped }));
        this.#sendLegacy(hook, body, 1);
      }
    }
  }

  #sendLegacy(hook: LegacyWebhook, body: string, attempt: number): void {
    this.#track(async () => {
      const view: WebhookPostView = { kind: 'legacy', url: hook.targetUrl, webhookId: hook.id, attempt };
      const result = await this.registries.poster.post(view, { 'content-type': 'application/json' }, body);
      if (this.#isClosed || isSuccess(result) || attempt > this.settings.legacyRetries) return;
      const delay = this.settings.retryScheduleMs[attempt - 1];
      if (delay === undefined || !this.registries.legacy.get(hook.id)) return;
      this.#later(delay * this.settings.retryScale, () => this.#sendLegacy(hook, body, attempt + 1));
    });
  }

  // ------------------------------------------------------------------ Webhooks 2.0

  #queueSigned(change: KitChange): void {
    const subscribed = this.registries.endpoints.list().filter((e) => e.status === 'active' && e.events.includes(change.type));
    if (subscribed.length === 0) return;
    // One event, one id, whichever endpoints it goes to: receivers dedupe on it (§7B).
    const event: SignedEvent = { id: randomUUID(), type: change.type, created: isoSeconds(this.settings.now()), data: signedEventData(change) };
    for (const endpoint of subscribed) {
      const key = `${endpoint.id}\u0000${change.type}`;
      let batch = this.#batches.get(key);
      if (!batch) {
        batch = { endpointId: endpoint.id, type: change.type, events: [] };
        this.#batches.set(key, batch);
      }
      batch.events.push(event);
      if (batch.events.length >= this.settings.maxEventsPerDelivery) this.#flushBatch(key);
      else batch.timer ??= this.#later(this.settings.batchWindowMs, () => this.#flushBatch(key));
    }
  }

  #flushBatch(key: string): void {
    const batch = this.#batches.get(key);
    if (!batch) return;
    this.#batches.delete(key);
    if (batch.timer) {
      clearTimeout(batch.timer);
      this.#timers.delete(batch.timer);
    }
    const now = this.settings.now();
    for (const events of chunkEvents(batch.events, this.settings.maxEventsPerDelivery, this.settings.maxDeliveryBytes)) {
      const id = this.#nextDeliveryId++;
      const delivery: MutableDelivery = {
        id,
        endpointId: batch.endpointId,
        eventType: batch.type,
        events,
        body: JSON.stringify({ delivery_id: id, events }),
        status: 'pending',
        attempts: [],
        createdAt: now,
        completedAt: null,
        nextAttemptAt: null,
      };
      this.registries.history.add(delivery, now);
      this.#attemptDelivery(delivery);
    }
  }

  #attemptDelivery(delivery: MutableDelivery): void {
    this.#track(async () => {
      delivery.nextAttemptAt = null;
      const endpoint = this.registries.endpoints.get(delivery.endpointId);
      // A deleted or disabled endpoint gets nothing more; what Kit does then is [UNC].
      if (!endpoint || endpoint.status !== 'active') return this.#complete(delivery, 'failed');
      const attempt = delivery.attempts.length + 1;
      const startedAt = this.settings.now();
      const view: WebhookPostView = { kind: 'signed', url: endpoint.url, endpointId: endpoint.id, deliveryId: delivery.id, attempt };
      const result = await this.registries.poster.post(view, this.#signedHeaders(endpoint, delivery, startedAt), delivery.body);
      const step = nextStep(result, attempt, this.settings.retryScheduleMs, this.settings.now());
      delivery.attempts.push({
        attemptedAt: startedAt,
        responseStatus: result.kind === 'response' ? result.status : null,
        responseBody: result.kind === 'response' ? result.body.toString('utf8').slice(0, this.settings.responseBodyChars) : null,
        durationMs: result.kind === 'dropped' ? 0 : result.durationMs,
        error: attemptError(result, step),
        isDropped: result.kind === 'dropped',
        retryDelayMs: step.kind === 'retry' ? step.delayMs : null,
      });
      if (this.#isClosed) return;
      if (step.kind !== 'retry') return this.#complete(delivery, step.kind);
      const wait = step.delayMs * this.settings.retryScale;
      delivery.status = 'retrying';
      delivery.nextAttemptAt = this.settings.now() + wait;
      this.#later(wait, () => this.#attemptDelivery(delivery));
    });
  }

  /** Signed afresh on every attempt: a new `t`, and every secret valid at that moment (rotation). */
  #signedHeaders(endpoint: WebhookEndpoint, delivery: MutableDelivery, now: number): Record<string, string> {
    const secrets = this.registries.endpoints.signingSecrets(endpoint, now);
    return {
      'content-type': 'application/json',
      'user-agent': 'Kit-Webhooks/2.0',
      'x-kit-signature': signPayload({ secrets, body: delivery.body, timestamp: Math.floor(now / 1000) }),
      'x-kit-delivery': String(delivery.id),
    };
  }

  #complete(delivery: MutableDelivery, status: 'delivered' | 'failed'): void {
    delivery.status = status;
    delivery.completedAt = this.settings.now();
    delivery.nextAttemptAt = null;
  }

  // ------------------------------------------------------------------ plumbing

  #track(work: () => Promise<void>): void {
    const running: Promise<void> = work()
      .catch((err: unknown) => {
        // Background work only throws on a bug (HTTP failures are values): keep it for the
        // next flush/idle/close to rethrow, where a test or the sandbox will see it.
        this.#bugs.push(err);
      })
      .finally(() => {
        this.#inflight.delete(running);
        this.#notifyIdle();
      });
    this.#inflight.add(running);
  }

  #later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#isClosed) fn();
      this.#notifyIdle();
    }, Math.max(0, ms));
    this.#timers.add(timer);
    return timer;
  }

  #isIdle(): boolean {
    return this.#isClosed || (this.#batches.size === 0 && this.#inflight.size === 0 && this.#timers.size === 0);
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    for (const done of this.#idleWaiters) done();
    this.#idleWaiters.clear();
  }

  #throwBugs(): void {
    if (this.#bugs.length === 0) return;
    const bug = this.#bugs.shift();
    throw bug instanceof Error ? bug : new Error(`kit simulator webhooks: ${String(bug)}`);
  }
}

/** Splits a batch into deliveries of at most `maxEvents` events and (beyond one event) `maxBytes`. */
export function chunkEvents(events: readonly SignedEvent[], maxEvents: number, maxBytes: number): SignedEvent[][] {
  const chunks: SignedEvent[][] = [];
  let current: SignedEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(JSON.stringify(event));
    if (current.length > 0 && (current.length >= maxEvents || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function attemptError(result: PostResult, step: ReturnType<typeof nextStep>): string | null {
  const problem =
    result.kind === 'dropped'
      ? 'dropped by a simulator fault: the receiver never saw this attempt'
      : result.kind === 'network_error'
        ? `${result.code}: ${result.message}`
        : step.kind === 'delivered'
          ? null
          : `HTTP ${result.status}`;
  return step.kind === 'failed' ? `${problem ?? 'failed'}; ${step.reason}` : problem;
}
