/**
 * The Kajabi simulator's account (reference/destinations.md §5): sites, offers, contacts,
 * customers, purchases, transactions and public-API hooks, with numeric string ids as Kajabi's
 * (§5.2 [C]). The actions a test or the sandbox takes (a purchase, a payment succeeding, a refund,
 * a deactivation) change the state here; the webhooks they fire are the emitter's business
 * (simulator-webhooks.ts), told through `onPurchase` / `onPayment`.
 *
 * Words: a **purchase** is one offer bought by one customer; a **transaction** is one payment event
 * (a bundle: one transaction, several purchases; since API 1.1.0 its `offer` is then null, §5.3).
 */

export interface KajabiSite { readonly id: string; readonly title: string; readonly subdomain: string }

export interface KajabiOffer {
  readonly id: string;
  readonly siteId: string;
  readonly title: string;
  readonly priceInCents: number;
  readonly currency: string;
}

export interface KajabiContact {
  readonly id: string;
  readonly siteId: string;
  name: string;
  email: string;
  phoneNumber: string | null;
  isSubscribed: boolean;
  /** Offers the contact has access to (granted through the API or bought). */
  readonly offerIds: Set<string>;
  customerId: string | null;
  readonly createdAt: number;
  updatedAt: number;
}

export interface KajabiCustomer {
  readonly id: string;
  readonly siteId: string;
  readonly contactId: string;
  readonly createdAt: number;
  updatedAt: number;
}

export interface KajabiPurchase {
  readonly id: string;
  readonly siteId: string;
  readonly customerId: string;
  readonly offerId: string;
  readonly transactionId: string;
  readonly amountInCents: number;
  readonly currency: string;
  readonly createdAt: number;
  updatedAt: number;
  deactivatedAt: number | null;
  deactivationReason: string | null;
}

export type TransactionAction = 'charge' | 'refund' | 'free_purchase';
export type TransactionState = 'initialized' | 'succeeded' | 'failed';

export interface KajabiTransaction {
  readonly id: string;
  readonly siteId: string;
  readonly customerId: string;
  readonly purchaseIds: readonly string[];
  readonly offerIds: readonly string[];
  readonly action: TransactionAction;
  state: TransactionState;
  /** Negative for a refund (§5.1). */
  readonly amountInCents: number;
  readonly currency: string;
  readonly createdAt: number;
  updatedAt: number;
}

export const HOOK_EVENTS = ['purchase', 'payment_succeeded', 'order_created', 'form_submission', 'tag_added', 'tag_removed'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

export interface KajabiHook {
  readonly id: string;
  readonly siteId: string;
  readonly targetUrl: string;
  readonly event: HookEvent;
  /** Only this resource (an offer, for purchases and payments); null for every one. */
  readonly resourceId: string | null;
  readonly createdAt: number;
}

export interface PurchaseInput {
  readonly email: string;
  readonly name?: string;
  /** Several offers: a bundle, one transaction. */
  readonly offerIds: readonly string[];
  /** The payment succeeds at once (`payment_succeeded` fires with the purchase). Free offers always do. @default false */
  readonly isPaid?: boolean;
}

export interface PurchaseResult {
  readonly contact: KajabiContact;
  readonly customer: KajabiCustomer;
  readonly transaction: KajabiTransaction;
  readonly purchases: readonly KajabiPurchase[];
}

export class KajabiState {
  readonly sites = new Map<string, KajabiSite>();
  readonly offers = new Map<string, KajabiOffer>();
  readonly contacts = new Map<string, KajabiContact>();
  readonly customers = new Map<string, KajabiCustomer>();
  readonly purchases = new Map<string, KajabiPurchase>();
  readonly transactions = new Map<string, KajabiTransaction>();
  readonly hooks = new Map<string, KajabiHook>();
  readonly now: () => number;
  /** Told of every purchase and every payment that succeeds (the webhook emitter listens). */
  onPurchase: (result: PurchaseResult) => void = () => undefined;
  onPayment: (transaction: KajabiTransaction) => void = () => undefined;
  #next: number;

  constructor(options: { readonly seed: number; readonly now: () => number }) {
    this.now = options.now;
    // Ten-digit ids like real ones (offer "2151330100" [C]); the seed moves the range.
    this.#next = 2_151_330_000 + (options.seed % 1000) * 100_000;
    const site = { id: this.nextId(), title: 'Kitrelay Academy', subdomain: 'kitrelay-academy' };
    this.sites.set(site.id, site);
    for (const [title, priceInCents] of [['Course A', 4900], ['Course B', 9900], ['Free Mini-Course', 0]] as const) {
      const offer = { id: this.nextId(), siteId: site.id, title, priceInCents, currency: 'USD' };
      this.offers.set(offer.id, offer);
    }
  }

  nextId(): string {
    this.#next += 1;
    return String(this.#next);
  }

  get site(): KajabiSite {
    return [...this.sites.values()][0] as KajabiSite;
  }

  contactByEmail(siteId: string, email: string): KajabiContact | undefined {
    const wanted = email.trim().toLowerCase();
    return [...this.contacts.values()].find((c) => c.siteId === siteId && c.email.toLowerCase() === wanted);
  }

  createContact(input: { siteId: string; email: string; name?: string; phoneNumber?: string | null; isSubscribed?: boolean }): KajabiContact {
    const at = this.now();
    const contact: KajabiContact = { id: this.nextId(), siteId: input.siteId, name: input.name ?? '', email: input.email.trim(), phoneNumber: input.phoneNumber ?? null, isSubscribed: input.isSubscribed ?? false, offerIds: new Set(), customerId: null, createdAt: at, updatedAt: at };
    this.contacts.set(contact.id, contact);
    return contact;
  }

  /** Granting an offer makes the contact a customer if they were not one (§5.3). */
  customerOf(contact: KajabiContact): KajabiCustomer {
    const existing = contact.customerId === null ? undefined : this.customers.get(contact.customerId);
    if (existing) return existing;
    const at = this.now();
    const customer: KajabiCustomer = { id: this.nextId(), siteId: contact.siteId, contactId: contact.id, createdAt: at, updatedAt: at };
    this.customers.set(customer.id, customer);
    contact.customerId = customer.id;
    return customer;
  }

  grant(contact: KajabiContact, offerIds: readonly string[]): void {
    this.customerOf(contact);
    for (const id of offerIds) contact.offerIds.add(id);
    this.touch(contact);
  }

  revoke(contact: KajabiContact, offerIds: readonly string[]): void {
    for (const id of offerIds) contact.offerIds.delete(id);
    this.touch(contact);
  }

  touch(contact: KajabiContact): void {
    contact.updatedAt = this.now();
    const customer = contact.customerId === null ? undefined : this.customers.get(contact.customerId);
    if (customer) customer.updatedAt = contact.updatedAt;
  }

  /** A checkout: one transaction, one purchase per offer, access granted. */
  purchase(input: PurchaseInput): PurchaseResult {
    if (input.offerIds.length === 0) throw new RangeError('kajabi simulator: a purchase needs at least one offer');
    const offers = input.offerIds.map((id) => {
      const offer = this.offers.get(id);
      if (!offer) throw new RangeError(`kajabi simulator: no offer ${id}`);
      return offer;
    });
    const siteId = offers[0]?.siteId ?? this.site.id;
    const contact = this.contactByEmail(siteId, input.email) ?? this.createContact({ siteId, email: input.email, name: input.name });
    const customer = this.customerOf(contact);
    const at = this.now();
    const amount = offers.reduce((sum, o) => sum + o.priceInCents, 0);
    const transactionId = this.nextId();
    const purchases = offers.map((offer): KajabiPurchase => ({ id: this.nextId(), siteId, customerId: customer.id, offerId: offer.id, transactionId, amountInCents: offer.priceInCents, currency: offer.currency, createdAt: at, updatedAt: at, deactivatedAt: null, deactivationReason: null }));
    for (const p of purchases) this.purchases.set(p.id, p);
    const isFree = amount === 0;
    const transaction: KajabiTransaction = { id: transactionId, siteId, customerId: customer.id, purchaseIds: purchases.map((p) => p.id), offerIds: offers.map((o) => o.id), action: isFree ? 'free_purchase' : 'charge', state: isFree ? 'succeeded' : 'initialized', amountInCents: amount, currency: offers[0]?.currency ?? 'USD', createdAt: at, updatedAt: at };
    this.transactions.set(transaction.id, transaction);
    this.grant(contact, transaction.offerIds);
    const result = { contact, customer, transaction, purchases };
    this.onPurchase(result);
    if (isFree) this.onPayment(transaction);
    else if (input.isPaid) this.succeedPayment(transaction.id);
    return result;
  }

  succeedPayment(transactionId: string): KajabiTransaction {
    const transaction = this.transactions.get(transactionId);
    if (!transaction) throw new RangeError(`kajabi simulator: no transaction ${transactionId}`);
    if (transaction.state === 'succeeded') return transaction;
    transaction.state = 'succeeded';
    transaction.updatedAt = this.now();
    this.onPayment(transaction);
    return transaction;
  }

  /** A refund is a new transaction with a negative amount; no webhook fires (§5.1). */
  refund(purchaseId: string, amountInCents?: number): KajabiTransaction {
    const purchase = this.requirePurchase(purchaseId);
    const at = this.now();
    const refund: KajabiTransaction = { id: this.nextId(), siteId: purchase.siteId, customerId: purchase.customerId, purchaseIds: [purchase.id], offerIds: [purchase.offerId], action: 'refund', state: 'succeeded', amountInCents: -Math.abs(amountInCents ?? purchase.amountInCents), currency: purchase.currency, createdAt: at, updatedAt: at };
    this.transactions.set(refund.id, refund);
    purchase.updatedAt = at;
    return refund;
  }

  /** Ends access: `deactivated_at` set, the offer revoked; no webhook fires (§5.1). */
  deactivate(purchaseId: string, reason = 'manual'): KajabiPurchase {
    const purchase = this.requirePurchase(purchaseId);
    purchase.deactivatedAt = this.now();
    purchase.deactivationReason = reason;
    purchase.updatedAt = purchase.deactivatedAt;
    const contact = this.contactOfCustomer(purchase.customerId);
    if (contact) this.revoke(contact, [purchase.offerId]);
    return purchase;
  }

  reactivate(purchaseId: string): KajabiPurchase {
    const purchase = this.requirePurchase(purchaseId);
    purchase.deactivatedAt = null;
    purchase.deactivationReason = null;
    purchase.updatedAt = this.now();
    const contact = this.contactOfCustomer(purchase.customerId);
    if (contact) this.grant(contact, [purchase.offerId]);
    return purchase;
  }

  contactOfCustomer(customerId: string): KajabiContact | undefined {
    const customer = this.customers.get(customerId);
    return customer && this.contacts.get(customer.contactId);
  }

  addHook(input: { siteId: string; targetUrl: string; event: HookEvent; resourceId: string | null }): KajabiHook {
    const hook: KajabiHook = { id: this.nextId(), ...input, createdAt: this.now() };
    this.hooks.set(hook.id, hook);
    return hook;
  }

  requirePurchase(id: string): KajabiPurchase {
    const purchase = this.purchases.get(id);
    if (!purchase) throw new RangeError(`kajabi simulator: no purchase ${id}`);
    return purchase;
  }
}
