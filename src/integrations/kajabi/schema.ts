/**
 * The Kajabi destination's config (reference/destinations.md §5): the API's OAuth client, the
 * offers that map to Kit tags, settlement, the refund poller, the nightly reconciliation, and the
 * stop action for a refund or a deactivation.
 */
import { z } from 'zod';
import { envRefSchema } from '../../lib/env-ref.js';
import { destinationCommon } from '../destination.js';

const offerId = z.string().regex(/^\d+$/, 'must be a Kajabi offer id (digits, from GET /v1/offers → data[].id)');
const tagName = z.string().trim().min(1).max(255);

export const offerMappingSchema = z
  .object({
    /** The Kit tag a settled enrolment in this offer carries (made in Kit if missing). */
    tag: tagName,
    /** A Kit sequence id the subscriber is added to when the enrolment is granted. */
    sequenceId: z.number().int().positive().optional(),
    /** A name for logs and the CLI; Kajabi's title is used when absent. */
    title: z.string().min(1).optional(),
  })
  .strict();

export const kajabiDestinationSchema = z
  .object({
    type: z.literal('kajabi'),
    /** The Public API key's client id and secret (Settings → Public API): env('KAJABI_CLIENT_ID'), env('KAJABI_CLIENT_SECRET'). */
    clientId: envRefSchema,
    clientSecret: envRefSchema,
    /** @default 'https://api.kajabi.com' */
    baseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://api.kajabi.com'),
    /** The site (`GET /v1/sites`); absent: the key's first site. */
    siteId: z.string().regex(/^\d+$/, 'must be a Kajabi site id (digits)').optional(),
    /** Kajabi offer id → what an enrolment in it means in Kit. Offers not listed are recorded, not tagged. */
    offers: z.record(offerId, offerMappingSchema).default({}),
    /**
     * When a purchase counts: on `payment_succeeded` for it, or once `delayMs` has passed and
     * Kajabi's API shows the payment succeeded and the purchase active. Checked every
     * `checkSchedule`; one still unpaid after `giveUpAfterMs` lapses (never tagged). A free
     * purchase settles at once.
     */
    settlement: z
      .object({
        delayMs: z.number().int().nonnegative().default(900_000),
        giveUpAfterMs: z.number().int().positive().default(7 * 86_400_000),
        checkSchedule: z.string().min(1).default('0 * * * * *'),
      })
      .strict()
      .default({ delayMs: 900_000, giveUpAfterMs: 7 * 86_400_000, checkSchedule: '0 * * * * *' }),
    /**
     * Kit has no endpoint that takes someone out of a sequence: a refund or a deactivation adds
     * `stopTag`, and a Kit automation ("tag added → unsubscribe from sequence") does the rest
     * (README: Kajabi). Absent: only the offer's tag is removed.
     */
    stopAction: z.object({ tag: tagName.optional() }).strict().default({}),
    /** Refunds and deactivations, which Kajabi sends no webhook for (§5.1): polled on `schedule`. */
    poll: z
      .object({
        schedule: z.string().min(1).default('*/5 * * * *'),
        /** How far before the cursor each poll reads again (late-visible transactions). @default 600_000 */
        overlapMs: z.number().int().nonnegative().default(600_000),
      })
      .strict()
      .default({ schedule: '*/5 * * * *', overlapMs: 600_000 }),
    /** The nightly reconciliation against Kajabi's purchases and transactions (`kitrelay kajabi reconcile`). */
    reconcile: z
      .object({
        schedule: z.string().min(1).default('30 3 * * *'),
        /** A Slack destination and channel for the run's summary. */
        slack: z.object({ destination: z.string().min(1), channel: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .default({ schedule: '30 3 * * *' }),
    /** The public-API hooks `kitrelay kajabi hooks sync` registers. */
    hooks: z
      .object({ events: z.array(z.enum(['purchase', 'payment_succeeded', 'order_created', 'tag_added', 'tag_removed', 'form_submission'])).min(1).default(['purchase', 'payment_succeeded']) })
      .strict()
      .default({ events: ['purchase', 'payment_succeeded'] }),
    /**
     * No queue-side limit by default: most of this destination's jobs (`enrol`) call only Kit,
     * which its shared rate budget paces; Kajabi publishes no numeric limit (§5.3 [U]), so its own
     * calls (`grant_offer`, `revoke_offer`, the pollers) back off on 429 and Retry-After. Set
     * `rateLimit` to cap jobs here as well.
     */
    ...destinationCommon,
  })
  .strict();

export type KajabiDestinationConfig = z.output<typeof kajabiDestinationSchema>;
export type OfferMapping = z.output<typeof offerMappingSchema>;

/** Checks the schema cannot express. */
export function checkKajabi(destination: KajabiDestinationConfig, name: string): string[] {
  const problems: string[] = [];
  const tags = new Map<string, string>();
  for (const [id, offer] of Object.entries(destination.offers)) {
    const key = offer.tag.toLowerCase();
    const other = tags.get(key);
    if (other !== undefined) problems.push(`destinations.${name}.offers.${id}.tag: "${offer.tag}" is also offer ${other}'s tag; a refund of one would remove the other's access in Kit. Give each offer its own tag.`);
    tags.set(key, id);
    if (destination.stopAction.tag !== undefined && destination.stopAction.tag.toLowerCase() === key) problems.push(`destinations.${name}.stopAction.tag: "${offer.tag}" is offer ${id}'s tag too; use a tag of its own.`);
  }
  return problems;
}
