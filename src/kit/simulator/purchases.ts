/**
 * Purchases (OAuth-only `/v4/purchases`, reference/kit.md §4–§5): the seed's generated ones
 * (ids `1..seed.purchaseCount`, never stored) and the ones created through the API.
 */
import { isRecord, isValidEmail, isoSeconds } from './model.js';
import { arraySource, rangeSource, type Source } from './pagination.js';
import { SEED_PRODUCTS, type SeedModel } from './seed.js';
import type { SubscriberStore } from './subscribers.js';

export interface PurchaseLine {
  readonly name: string;
  readonly pid: string;
  readonly lid: string;
  readonly quantity: number;
  readonly unitPrice: number;
  readonly sku: string | null;
}

export interface PurchaseInput {
  readonly email: string;
  readonly firstName: string | null;
  readonly transactionId: string;
  readonly status: string;
  readonly currency: string;
  readonly transactionTime: number | undefined;
  readonly subtotal: number | undefined;
  readonly tax: number;
  readonly shipping: number;
  readonly discount: number;
  readonly total: number | undefined;
  readonly products: readonly PurchaseLine[];
}

export interface PurchaseData extends Omit<PurchaseInput, 'transactionTime' | 'subtotal' | 'total' | 'firstName'> {
  readonly id: number;
  readonly subscriberId: number;
  readonly transactionTime: number;
  readonly subtotal: number;
  readonly total: number;
}

export function purchaseJson(p: PurchaseData): Record<string, unknown> {
  return {
    id: p.id,
    transaction_id: p.transactionId,
    status: p.status,
    email_address: p.email,
    subscriber_id: p.subscriberId,
    currency: p.currency,
    transaction_time: isoSeconds(p.transactionTime),
    subtotal: p.subtotal,
    shipping: p.shipping,
    discount: p.discount,
    tax: p.tax,
    total: p.total,
    products: p.products.map((l) => ({ quantity: l.quantity, lid: l.lid, unit_price: l.unitPrice, sku: l.sku, name: l.name, pid: l.pid })),
  };
}

/**
 * Reads `{purchase:{…}}`. Kit's only documented message is `Transaction cannot be blank`; the
 * others follow its wording [UNC]. Every problem is reported, as Kit's `errors` array allows.
 */
export function parsePurchase(body: unknown): PurchaseInput | string[] {
  const raw = isRecord(body) && isRecord(body.purchase) ? body.purchase : undefined;
  if (!raw) return ['Purchase cannot be blank'];
  const errors: string[] = [];
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');
  const email = text(raw.email_address);
  if (email === '') errors.push('Email address cannot be blank');
  else if (!isValidEmail(email)) errors.push('Email address is invalid');
  const transactionId = text(raw.transaction_id);
  if (transactionId === '') errors.push('Transaction cannot be blank');
  const currency = text(raw.currency).toUpperCase();
  if (currency === '') errors.push('Currency cannot be blank');
  else if (!/^[A-Z]{3}$/.test(currency)) errors.push('Currency is invalid');
  const products: PurchaseLine[] = [];
  if (!Array.isArray(raw.products) || raw.products.length === 0) errors.push('Products cannot be blank');
  else {
    for (const item of raw.products as unknown[]) {
      const p = isRecord(item) ? item : {};
      const line = { name: text(p.name), pid: text(p.pid), lid: text(p.lid), quantity: num(p.quantity), unitPrice: num(p.unit_price), sku: text(p.sku) || null };
      for (const [key, label] of [['name', 'name'], ['pid', 'pid'], ['lid', 'lid']] as const) if (line[key] === '') errors.push(`Product ${label} cannot be blank`);
      if (line.quantity === undefined || line.quantity <= 0) errors.push('Product quantity must be greater than 0');
      if (line.unitPrice === undefined) errors.push('Product unit price cannot be blank');
      products.push({ ...line, quantity: line.quantity ?? 0, unitPrice: line.unitPrice ?? 0 });
    }
  }
  const time = text(raw.transaction_time);
  const transactionTime = time === '' ? undefined : Date.parse(time);
  if (transactionTime !== undefined && Number.isNaN(transactionTime)) errors.push('Transaction time is invalid');
  if (errors.length > 0) return errors;
  return {
    email,
    firstName: text(raw.first_name) || null,
    transactionId,
    status: text(raw.status) || 'paid',
    currency,
    transactionTime,
    subtotal: num(raw.subtotal),
    tax: num(raw.tax) ?? 0,
    shipping: num(raw.shipping) ?? 0,
    discount: num(raw.discount) ?? 0,
    total: num(raw.total),
    products,
  };
}

export class PurchaseStore {
  readonly #seed: SeedModel;
  readonly #subscribers: SubscriberStore;
  readonly #now: () => number;
  readonly #created: PurchaseData[] = [];

  constructor(seed: SeedModel, subscribers: SubscriberStore, now: () => number) {
    this.#seed = seed;
    this.#subscribers = subscribers;
    this.#now = now;
  }

  get count(): number {
    return this.#seed.purchaseCount + this.#created.length;
  }

  get(id: number): PurchaseData | undefined {
    if (Number.isInteger(id) && id >= 1 && id <= this.#seed.purchaseCount) return this.#generated(id);
    return this.#created[id - this.#seed.purchaseCount - 1];
  }

  /**
   * Records a purchase. A repeated `transaction_id` creates another purchase: whether Kit
   * upserts instead is not documented [UNC], and creating keeps every call observable.
   */
  add(input: PurchaseInput, subscriberId: number): PurchaseData {
    const subtotal = input.subtotal ?? input.products.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);
    const purchase: PurchaseData = {
      ...input,
      id: this.count + 1,
      subscriberId,
      transactionTime: input.transactionTime ?? this.#now(),
      subtotal,
      total: input.total ?? subtotal + input.tax + input.shipping - input.discount,
    };
    this.#created.push(purchase);
    return purchase;
  }

  sources(): Source<PurchaseData>[] {
    const created = this.#created.map((p) => ({ pos: { key: p.id, id: p.id }, load: () => p }));
    const generated = rangeSource({ lo: 1, hi: this.#seed.purchaseCount, keyOf: (id) => id, matches: () => true, load: (id) => this.#generated(id) });
    return [generated, arraySource(created)];
  }

  #generated(id: number): PurchaseData {
    const g = this.#seed.purchase(id);
    const product = SEED_PRODUCTS[g.productIndex] ?? SEED_PRODUCTS[0];
    const total = product.unitPrice * g.quantity;
    return {
      id,
      subscriberId: g.subscriberId,
      email: this.#subscribers.get(g.subscriberId)?.email ?? '',
      transactionId: `sim-txn-${this.#seed.seed}-${id}`,
      status: 'paid',
      currency: 'USD',
      transactionTime: g.transactionTime,
      subtotal: total,
      tax: 0,
      shipping: 0,
      discount: 0,
      total,
      products: [{ name: product.name, pid: product.pid, lid: `line-${id}`, quantity: g.quantity, unitPrice: product.unitPrice, sku: product.sku }],
    };
  }
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}
