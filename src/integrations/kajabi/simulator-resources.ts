/**
 * The Kajabi simulator's entities as JSON:API resources, with the attributes §5.2 lists for the
 * hook payloads (the same resources the `/v1` endpoints answer).
 */
import { iso, ref, type Resource } from './simulator-jsonapi.js';
import type { KajabiContact, KajabiCustomer, KajabiHook, KajabiOffer, KajabiPurchase, KajabiSite, KajabiState, KajabiTransaction } from './simulator-state.js';

const dollars = (cents: number) => `${cents < 0 ? '-' : ''}$${(Math.abs(cents) / 100).toFixed(2)}`;

export function siteResource(site: KajabiSite): Resource {
  return { type: 'sites', id: site.id, attributes: { title: site.title, subdomain: site.subdomain, url: `https://${site.subdomain}.mykajabi.com` } };
}

export function offerResource(offer: KajabiOffer): Resource {
  const isFree = offer.priceInCents === 0;
  return {
    type: 'offers',
    id: offer.id,
    attributes: { title: offer.title, description: '', internal_title: offer.title, currency: offer.currency, price_in_cents: offer.priceInCents, payment_type: isFree ? 'free' : 'single', token: `tok${offer.id}`, image_url: null, payment_method: 'stripe_and_paypal', price_description: `${dollars(offer.priceInCents)} ${offer.currency}`, checkout_url: `https://checkout.kajabi.com/offers/${offer.id}`, recurring_offer: false, subscription: false, one_time: !isFree, single: !isFree, free: isFree },
    relationships: { site: { data: ref('sites', offer.siteId) } },
  };
}

export function contactResource(contact: KajabiContact): Resource {
  return {
    type: 'contacts',
    id: contact.id,
    attributes: { name: contact.name, email: contact.email, phone_number: contact.phoneNumber, subscribed: contact.isSubscribed, external_user_id: null, created_at: iso(contact.createdAt), updated_at: iso(contact.updatedAt) },
    relationships: {
      site: { data: ref('sites', contact.siteId) },
      offers: { data: [...contact.offerIds].map((id) => ref('offers', id)) },
      customer: { data: contact.customerId === null ? null : ref('customers', contact.customerId) },
    },
  };
}

export function customerResource(state: KajabiState, customer: KajabiCustomer): Resource {
  const contact = state.contacts.get(customer.contactId);
  const paid = [...state.transactions.values()].filter((t) => t.customerId === customer.id && t.state === 'succeeded').reduce((sum, t) => sum + t.amountInCents, 0);
  return {
    type: 'customers',
    id: customer.id,
    attributes: { name: contact?.name ?? '', email: contact?.email ?? '', avatar: null, external_user_id: null, public_bio: null, public_location: null, public_website: null, socials: {}, net_revenue: (paid / 100).toFixed(1), sign_in_count: 0, last_request_at: null, bounced_at: null, created_at: iso(customer.createdAt), updated_at: iso(customer.updatedAt) },
    relationships: {
      site: { data: ref('sites', customer.siteId) },
      contact: { data: ref('contacts', customer.contactId) },
      offers: { data: [...(contact?.offerIds ?? [])].map((id) => ref('offers', id)) },
      products: { data: [] },
    },
    links: { contact: `/v1/contacts/${customer.contactId}` },
  };
}

export function purchaseResource(purchase: KajabiPurchase): Resource {
  return {
    type: 'purchases',
    id: purchase.id,
    attributes: { amount_in_cents: purchase.amountInCents, payment_type: purchase.amountInCents === 0 ? 'free' : 'single', multipay_payments_made: 0, opt_in: false, raw_extra_contact_information: {}, currency: purchase.currency, effective_start_at: iso(purchase.createdAt), cardholder_name: null, billing_address_zip: null, deactivated_at: iso(purchase.deactivatedAt), deactivation_reason: purchase.deactivationReason, coupon_code: null, source: 'checkout', referrer: null, quantity: 1, created_at: iso(purchase.createdAt), updated_at: iso(purchase.updatedAt) },
    relationships: {
      customer: { data: ref('customers', purchase.customerId) },
      offer: { data: ref('offers', purchase.offerId) },
      transaction: { data: ref('transactions', purchase.transactionId) },
      products: { data: [] },
    },
  };
}

export function transactionResource(transaction: KajabiTransaction): Resource {
  // Since 1.1.0 `purchases` replaces `offer`, which is null for a bundle (§5.3).
  const offerId = transaction.offerIds.length === 1 ? transaction.offerIds[0] : undefined;
  return {
    type: 'transactions',
    id: transaction.id,
    attributes: { action: transaction.action, state: transaction.state, payment_type: 'single', amount_in_cents: transaction.amountInCents, sales_tax_in_cents: 0, currency: transaction.currency, currency_symbol: '$', formatted_amount: dollars(transaction.amountInCents), created_at: iso(transaction.createdAt), updated_at: iso(transaction.updatedAt) },
    relationships: {
      customer: { data: ref('customers', transaction.customerId) },
      offer: { data: offerId === undefined ? null : ref('offers', offerId) },
      purchases: { data: transaction.purchaseIds.map((id) => ref('purchases', id)) },
    },
  };
}

export function hookResource(hook: KajabiHook): Resource {
  return { type: 'hooks', id: hook.id, attributes: { target_url: hook.targetUrl, event: hook.event, resource_id: hook.resourceId, created_at: iso(hook.createdAt) }, relationships: { site: { data: ref('sites', hook.siteId) } } };
}

/** `order_created`'s orders and order_items (§5.2): one order per transaction in the simulator. */
export function orderResources(state: KajabiState, transaction: KajabiTransaction): Resource[] {
  const order: Resource = {
    type: 'orders',
    id: transaction.id,
    attributes: { order_number: Number(transaction.id) % 100_000, currency_code: transaction.currency, fulfilled_at: iso(transaction.createdAt), total_price_in_cents: transaction.amountInCents, subtotal_in_cents: transaction.amountInCents, sales_tax_amount_in_cents: 0, discount_amount_in_cents: 0, formatted_total_price: dollars(transaction.amountInCents), formatted_subtotal: dollars(transaction.amountInCents), currency_symbol: '$' },
  };
  const items = transaction.offerIds.map((offerId, i): Resource => {
    const offer = state.offers.get(offerId);
    return { type: 'order_items', id: `${transaction.id}${i}`, attributes: { quantity: 1, currency_code: transaction.currency, item_type: 'Offer', item_id: offerId, title: offer?.title ?? '', price_in_cents: offer?.priceInCents ?? 0 } };
  });
  return [order, ...items];
}
