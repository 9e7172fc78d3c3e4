/**
 * Notification pings (reference/destinations.md §3.6): when a webhook gets a payload, Airtable
 * POSTs a thin body to its `notificationUrl` — `{"base":{"id"},"webhook":{"id"},"timestamp"}`, no
 * change data — signed with `X-Airtable-Content-MAC: hmac-sha256=<hex>`, the HMAC-SHA256 of the
 * exact body bytes keyed by the **base64-decoded** `macSecretBase64` [V/C]. The receiver answers
 * 200 or 204; anything else (or no answer) is a failure, retried with backoff [V] (the delays are
 * not documented [U]: an option). Each attempt updates the webhook's `lastNotificationResult`.
 *
 * One ping at a time per webhook: payloads arriving while one is out (or waiting to be retried)
 * are covered by the next ping, since a receiver reads every payload from its cursor anyway.
 * Whether Airtable coalesces pings so is not documented [U].
 *
 * The signing lives here, not in the relay's verifier, so a test checks one against the other and
 * both against the fact sheet's vector.
 */
import { createHmac } from 'node:crypto';
import type { SimWebhook } from './simulator-webhooks.js';

/** `hmac-sha256=<hex HMAC-SHA256(base64-decode(macSecretBase64), body)>`. */
export function signAirtablePing(macSecretBase64: string, body: string | Buffer): string {
  return `hmac-sha256=${createHmac('sha256', Buffer.from(macSecretBase64, 'base64')).update(body).digest('hex')}`;
}

/** One ping attempt, as `pings()` and `/_sim/state` list them. */
export interface PingAttempt {
  readonly webhookId: string;
  readonly url: string;
  /** The exact body sent and signed. */
  readonly body: string;
  readonly mac: string;
  readonly retryNumber: number;
  /** The receiver's status; null when it did not answer. */
  readonly status: number | null;
  readonly error?: string;
  /** Epoch ms. */
  readonly sentAt: number;
}

export interface PingOptions {
  /** Waits before each retry of a failed ping; its length is how many retries [U]. @default [1_000, 5_000, 30_000] */
  readonly retryDelaysMs?: readonly number[];
  /** A receiver slower than this has failed [C: 25 s in community docs]. @default 25_000 */
  readonly timeoutMs?: number;
  /** Attempts kept in `attempts`. @default 1_000 */
  readonly maxAttempts?: number;
}

interface Line {
  isSending: boolean;
  isPending: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class Pinger {
  readonly attempts: PingAttempt[] = [];
  readonly #now: () => number;
  readonly #retryDelaysMs: readonly number[];
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  /** Whether the webhook may still be pinged (not deleted, active, notifications on). */
  readonly #isPingable: (hook: SimWebhook) => boolean;
  readonly #onAttempt: () => void;
  readonly #lines = new Map<string, Line>();
  readonly #inFlight = new Set<AbortController>();
  #isClosed = false;

  constructor(deps: { readonly now: () => number; readonly isPingable: (hook: SimWebhook) => boolean; readonly onAttempt: () => void }, options: PingOptions = {}) {
    this.#now = deps.now;
    this.#isPingable = deps.isPingable;
    this.#onAttempt = deps.onAttempt;
    this.#retryDelaysMs = options.retryDelaysMs ?? [1_000, 5_000, 30_000];
    this.#timeoutMs = options.timeoutMs ?? 25_000;
    this.#maxAttempts = options.maxAttempts ?? 1_000;
  }

  /** Pings the webhook now, or after the ping already out (or waiting for its retry). */
  request(hook: SimWebhook): void {
    if (this.#isClosed || hook.notificationUrl === null) return;
    let line = this.#lines.get(hook.id);
    if (!line) this.#lines.set(hook.id, (line = { isSending: false, isPending: false, timer: undefined }));
    if (line.isSending || line.timer) {
      line.isPending = true;
      return;
    }
    void this.#send(hook, line, 0);
  }

  /** Cancels retries and drops pings in flight. */
  close(): void {
    this.#isClosed = true;
    for (const line of this.#lines.values()) clearTimeout(line.timer);
    for (const controller of this.#inFlight) controller.abort();
  }

  async #send(hook: SimWebhook, line: Line, retryNumber: number): Promise<void> {
    line.timer = undefined;
    if (this.#isClosed || hook.notificationUrl === null || !this.#isPingable(hook)) {
      line.isPending = false;
      return;
    }
    line.isSending = true;
    line.isPending = false;
    const sentAt = this.#now();
    const started = Date.now();
    const body = JSON.stringify({ base: { id: hook.baseId }, webhook: { id: hook.id }, timestamp: new Date(sentAt).toISOString() });
    const mac = signAirtablePing(hook.macSecretBase64, body);
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), this.#timeoutMs);
    this.#inFlight.add(controller);
    let status: number | null = null;
    let error: string | undefined;
    try {
      const response = await fetch(hook.notificationUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-airtable-content-mac': mac }, body, signal: controller.signal });
      status = response.status;
      await response.arrayBuffer();
    } catch (cause) {
      // A ping that failed is an outcome the webhook records; the retry below decides what next.
      error = cause instanceof Error ? cause.message : String(cause);
    } finally {
      clearTimeout(timeout);
      this.#inFlight.delete(controller);
    }
    line.isSending = false;
    if (this.#isClosed) return;
    const isSuccess = status === 200 || status === 204;
    const willBeRetried = !isSuccess && retryNumber < this.#retryDelaysMs.length;
    this.attempts.push({ webhookId: hook.id, url: hook.notificationUrl, body, mac, retryNumber, status, ...(error === undefined ? {} : { error }), sentAt });
    if (this.attempts.length > this.#maxAttempts) this.attempts.splice(0, this.attempts.length - this.#maxAttempts);
    const completionTimestamp = new Date(this.#now()).toISOString();
    const durationMs = Date.now() - started;
    hook.lastNotificationResult = isSuccess
      ? { success: true, completionTimestamp, durationMs, retryNumber }
      : { success: false, error: { message: error ?? `the notification URL answered ${status}` }, completionTimestamp, durationMs, retryNumber, willBeRetried };
    if (isSuccess) hook.lastSuccessfulNotificationTime = this.#now();
    this.#onAttempt();
    if (willBeRetried) {
      line.timer = setTimeout(() => void this.#send(hook, line, retryNumber + 1), this.#retryDelaysMs[retryNumber]);
      // The retry is a fresh ping: it covers payloads that came meanwhile.
      line.isPending = false;
    } else if (line.isPending) void this.#send(hook, line, 0);
  }
}
