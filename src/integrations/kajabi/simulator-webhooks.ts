/**
 * The Kajabi simulator's outbound webhooks, in both of Kajabi's systems (reference/destinations.md
 * §5.2), unsigned as Kajabi's are:
 *
 * - **public-API hooks** registered through `POST /v1/hooks`: `{"id","event","payload":[…JSON:API
 *   resources…]}` for `purchase` (one per purchase), `payment_succeeded` and `order_created` (one
 *   per transaction);
 * - **dashboard webhooks** configured by option or control call: `purchase.created` and
 *   `payment.succeeded`, one per transaction, flat fields, every offer of a bundle listed. The
 *   exact field names are not all documented [U]: both the current `member{…}`/`offer{…}` shape and
 *   the older flat `payload.member_email`/`payload.offer_title`/`payload.amount_paid` are sent.
 *
 * No refund or deactivation webhook exists (§5.1): none is ever sent. Kajabi documents no retry
 * policy [V by absence]: a failed delivery (no 2xx) is retried a bounded number of times.
 * `copies` sends every webhook several times, for idempotency tests.
 */
import { offerResource, orderResources, purchaseResource, customerResource, transactionResource } from './simulator-resources.js';
import type { KajabiState, KajabiTransaction, PurchaseResult } from './simulator-state.js';

export type DashboardEvent = 'purchase.created' | 'payment.succeeded';

export interface DashboardWebhook {
  readonly event: DashboardEvent;
  readonly url: string;
  /** `purchase.created` URLs are set per offer in Kajabi; unset: every offer. */
  readonly offerId?: string;
}

export interface KajabiDelivery {
  readonly seq: number;
  readonly style: 'hook' | 'dashboard';
  readonly event: string;
  readonly url: string;
  readonly body: unknown;
  /** 1 for the first copy; 2, 3… for deliberate duplicates. */
  readonly copy: number;
  /** One per try: the HTTP status, or the network error's message. */
  readonly attempts: Array<number | string>;
  isDelivered: boolean;
  isSettled: boolean;
}

export interface WebhookOptions {
  /** Tries per delivery. @default 3 */
  readonly maxAttempts?: number;
  /** Wait before try n+1: `retryDelayMs × n`. @default 1000 */
  readonly retryDelayMs?: number;
  /** @default 5000 */
  readonly timeoutMs?: number;
}

export class WebhookEmitter {
  readonly deliveries: KajabiDelivery[] = [];
  readonly dashboard: DashboardWebhook[] = [];
  /** Every webhook is sent this many times (duplicates, for idempotency tests). */
  copies = 1;
  readonly #state: KajabiState;
  readonly #options: Required<WebhookOptions>;
  readonly #changed: () => void;
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();

  constructor(state: KajabiState, options: WebhookOptions, changed: () => void) {
    this.#state = state;
    this.#options = { maxAttempts: 3, retryDelayMs: 1000, timeoutMs: 5000, ...options };
    this.#changed = changed;
  }

  purchased(result: PurchaseResult): void {
    const { transaction, purchases, customer } = result;
    const customerDoc = customerResource(this.#state, customer);
    for (const purchase of purchases) {
      const offer = this.#state.offers.get(purchase.offerId);
      const payload = [purchaseResource(purchase), ...(offer ? [offerResource(offer)] : []), customerDoc];
      this.#toHooks('purchase', purchase.id, transaction.siteId, [purchase.offerId], payload);
    }
    this.#toHooks('order_created', transaction.id, transaction.siteId, transaction.offerIds, [transactionResource(transaction), customerDoc, ...orderResources(this.#state, transaction)]);
    const body = { id: transaction.id, event: 'purchase.created', ...this.#flat(transaction) };
    for (const hook of this.dashboard) {
      if (hook.event === 'purchase.created' && (hook.offerId === undefined || transaction.offerIds.includes(hook.offerId))) this.#send('dashboard', 'purchase.created', hook.url, body);
    }
  }

  paid(transaction: KajabiTransaction): void {
    const customer = this.#state.customers.get(transaction.customerId);
    const payload = [transactionResource(transaction), ...(customer ? [customerResource(this.#state, customer)] : [])];
    this.#toHooks('payment_succeeded', transaction.id, transaction.siteId, transaction.offerIds, payload);
    const flat = this.#flat(transaction);
    const body = { id: transaction.id, event: 'payment.succeeded', member: flat.member, offer: flat.offer, offers: flat.offers, payment_transaction: { id: transaction.id, amount_paid: flat.payload.amount_paid, amount_paid_in_cents: transaction.amountInCents, currency: transaction.currency, created_at: new Date(transaction.updatedAt).toISOString() } };
    for (const hook of this.dashboard) if (hook.event === 'payment.succeeded') this.#send('dashboard', 'payment.succeeded', hook.url, body);
  }

  /** Resolves once every delivery under way has settled (or `close` cut it short). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.idle();
  }

  #toHooks(event: string, id: string, siteId: string, offerIds: readonly string[], payload: unknown[]): void {
    for (const hook of this.#state.hooks.values()) {
      if (hook.event !== event || hook.siteId !== siteId) continue;
      if (hook.resourceId !== null && !offerIds.includes(hook.resourceId)) continue;
      this.#send('hook', event, hook.targetUrl, { id, event, payload });
    }
  }

  #flat(transaction: KajabiTransaction) {
    const contact = this.#state.contactOfCustomer(transaction.customerId);
    const name = contact?.name ?? '';
    const [first = '', ...rest] = name.split(' ');
    const member = { id: transaction.customerId, email: contact?.email ?? '', name, first_name: first, last_name: rest.join(' ') };
    const offers = transaction.offerIds.map((id) => ({ id, title: this.#state.offers.get(id)?.title ?? '' }));
    const amountPaid = (transaction.amountInCents / 100).toFixed(2);
    const firstOffer = offers[0] ?? { id: '', title: '' };
    return {
      member,
      offer: firstOffer,
      offers,
      payload: { transaction_id: transaction.id, member_id: member.id, member_email: member.email, member_name: name, member_first_name: member.first_name, member_last_name: member.last_name, offer_id: firstOffer.id, offer_title: firstOffer.title, offers, amount_paid: amountPaid, currency: transaction.currency, opt_in: contact?.isSubscribed ?? false },
    };
  }

  #send(style: 'hook' | 'dashboard', event: string, url: string, body: unknown): void {
    for (let copy = 1; copy <= this.copies; copy++) {
      const delivery: KajabiDelivery = { seq: this.deliveries.length + 1, style, event, url, body, copy, attempts: [], isDelivered: false, isSettled: false };
      this.deliveries.push(delivery);
      const run = this.#deliver(delivery).finally(() => {
        this.#running.delete(run);
        this.#changed();
      });
      this.#running.add(run);
    }
  }

  async #deliver(delivery: KajabiDelivery): Promise<void> {
    const { maxAttempts, retryDelayMs, timeoutMs } = this.#options;
    for (let attempt = 1; attempt <= maxAttempts && !this.#abort.signal.aborted; attempt++) {
      if (attempt > 1 && !(await this.#sleep(retryDelayMs * (attempt - 1)))) break;
      try {
        const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(timeoutMs)]);
        const response = await fetch(delivery.url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'Kajabi-Webhooks (kitrelay simulator)' }, body: JSON.stringify(delivery.body), signal });
        await response.arrayBuffer().catch(() => undefined);
        delivery.attempts.push(response.status);
        if (response.ok) {
          delivery.isDelivered = true;
          break;
        }
      } catch (error) {
        // Retried: a receiver that is down or slow is exactly what the retries are for.
        delivery.attempts.push(error instanceof Error ? error.message : String(error));
      }
      this.#changed();
    }
    delivery.isSettled = true;
  }

  /** False when close() cut the wait short. */
  #sleep(ms: number): Promise<boolean> {
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', stop);
        resolve(true);
      }, ms);
      const stop = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', stop, { once: true });
    });
  }
}
