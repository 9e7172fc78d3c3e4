/**
 * The `grant_offer` and `revoke_offer` actions: give a Kit subscriber access to a Kajabi offer, or
 * take it away (reference/destinations.md §5.3: `POST|DELETE /v1/contacts/{id}/relationships/offers`).
 *
 * The contact is found by email in the site (`filter[search]`, then an exact match), and made
 * when missing (grant only: a revoke for someone Kajabi does not know has nothing to revoke).
 * Both calls are idempotent on Kajabi's side (granting an offer the contact has answers 200, so
 * does revoking one they lack), so every failure may simply be sent again. The contact id is kept
 * in the job's facts: a later attempt skips the lookup.
 */
import { z } from 'zod';
import type { ActionContext, ActionResult, JobAction } from '../types.js';
import { KajabiApiError, kajabiErrorResult } from './client-errors.js';
import type { KajabiContactRecord } from './client-records.js';
import { kajabiClientFor, type KajabiClient } from './client.js';
import type { KajabiDestinationConfig } from './schema.js';

/** A Kajabi id, or a template that renders to one (checked again once rendered). */
const offerIdParam = z.string().regex(/^(\d+|.*\{\{.+\}\}.*)$/s, 'must be a Kajabi offer id (digits, from GET /v1/offers → data[].id) or a {{template}}');

export const offerParamsSchema = z
  .object({
    offer_id: offerIdParam,
    /** Kajabi's own welcome email for the offer (`meta.send_customer_welcome_email`). @default false */
    send_welcome_email: z.boolean().default(false),
    /** Whose access: @default the job's subscriber email */
    email: z.string().trim().min(3).optional(),
  })
  .strict();

export type OfferParams = z.output<typeof offerParamsSchema>;
type OfferContext = ActionContext<OfferParams, KajabiDestinationConfig>;

/** The job fact naming the Kajabi contact. */
export const CONTACT_FACT = 'kajabiContactId';

export const grantOfferAction: JobAction<OfferParams, KajabiDestinationConfig> = {
  kind: 'job',
  description: "grant the subscriber a Kajabi offer (the contact is made when missing); granting one they have is a no-op",
  params: offerParamsSchema,
  run: (ctx) => runOffer(ctx, 'grant'),
};

export const revokeOfferAction: JobAction<OfferParams, KajabiDestinationConfig> = {
  kind: 'job',
  description: "revoke the subscriber's access to a Kajabi offer; nothing to do when Kajabi has no such contact",
  params: offerParamsSchema,
  run: (ctx) => runOffer(ctx, 'revoke'),
};

async function runOffer(ctx: OfferContext, kind: 'grant' | 'revoke'): Promise<ActionResult> {
  const offerId = ctx.params.offer_id;
  if (!/^\d+$/.test(offerId)) return { outcome: 'failed', error: `offer_id rendered to "${offerId}", which is not a Kajabi offer id (digits)` };
  const email = ctx.params.email ?? ctx.event.subscriber?.email ?? ctx.job.email ?? undefined;
  if (!email) return { outcome: 'failed', error: 'the event names no subscriber email and the params give none: Kajabi contacts are found by email' };
  const correlation = { offerId, email };

  let client: KajabiClient;
  try {
    client = kajabiClientFor(ctx.destination, { send: (request) => ctx.http.send(request), secrets: ctx.secrets, userAgent: ctx.userAgent, now: () => ctx.now });
  } catch (error) {
    return { outcome: 'failed', error: `cannot call Kajabi: ${error instanceof Error ? error.message : String(error)}` };
  }

  let contactId = typeof ctx.facts[CONTACT_FACT] === 'string' ? ctx.facts[CONTACT_FACT] : undefined;
  try {
    if (contactId === undefined) {
      const siteId = await client.siteId();
      const contact = (await client.findContactByEmail(siteId, email)) ?? (kind === 'grant' ? await createOrFind(client, siteId, email, ctx.event.subscriber?.firstName ?? undefined) : undefined);
      if (!contact) return { outcome: 'succeeded', ...lastCall(client), correlation: { ...correlation, note: 'no Kajabi contact with this email: nothing to revoke' } };
      contactId = contact.id;
    }
    const facts = { [CONTACT_FACT]: contactId };
    const offers = kind === 'grant' ? await client.grantOffers(contactId, [offerId], { sendWelcomeEmail: ctx.params.send_welcome_email }) : await client.revokeOffers(contactId, [offerId]);
    const hasOffer = offers.includes(offerId);
    if (hasOffer !== (kind === 'grant')) return { outcome: 'unknown', error: `Kajabi answered ${kind === 'grant' ? 'without' : 'still listing'} offer ${offerId} in contact ${contactId}'s offers`, ...lastCall(client), facts };
    return { outcome: 'succeeded', ...lastCall(client), facts, correlation: { ...correlation, contactId } };
  } catch (error) {
    // A contact remembered by an earlier attempt and deleted since: look it up again next time.
    if (error instanceof KajabiApiError && error.status === 404 && contactId !== undefined && error.pointer === undefined) {
      return { outcome: 'retry', error: `${error.message} (contact ${contactId} is gone; the next attempt looks it up again)`, call: error.call, facts: { [CONTACT_FACT]: null } };
    }
    return kajabiErrorResult(error, contactId === undefined ? {} : { facts: { [CONTACT_FACT]: contactId } });
  }
}

/** Creates the contact; one made meanwhile by another job (422 "has already been taken") is looked up instead. */
async function createOrFind(client: KajabiClient, siteId: string, email: string, name: string | undefined): Promise<KajabiContactRecord> {
  try {
    return await client.createContact(siteId, { email, ...(name ? { name } : {}) });
  } catch (error) {
    if (error instanceof KajabiApiError && error.status === 422 && error.pointer === '/data/attributes/email' && /taken/i.test(error.reason)) {
      const found = await client.findContactByEmail(siteId, email);
      if (found) return found;
    }
    throw error;
  }
}

function lastCall(client: KajabiClient): { call?: NonNullable<KajabiClient['lastCall']> } {
  const call = client.lastCall;
  return call ? { call } : {};
}
