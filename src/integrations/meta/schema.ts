/**
 * The Meta destination's config (reference/destinations.md §2): one ad account and its
 * customer-file Custom Audiences, each kept in step with a selection of Kit subscribers.
 *
 * ```ts
 * meta: {
 *   type: 'meta',
 *   accessToken: env('META_ACCESS_TOKEN'),      // a System User token with ads_management
 *   adAccountId: 'act_1234567890',
 *   audiences: {
 *     customers: {
 *       audienceId: '23850000000000001',       // or `kitrelay meta audiences create customers`
 *       select: { tags: { any: ['customer'] }, states: ['active'] },
 *       keys: { EMAIL: true, EXTERN_ID: true, PHONE: { field: 'phone' }, COUNTRY: { field: 'country' } },
 *     },
 *   },
 * }
 * ```
 */
import { z } from 'zod';
import { envRefSchema } from '../../lib/env-ref.js';
import { destinationCommon, rateLimitSchema } from '../destination.js';
import { selectionSchema, type SelectionConfig } from '../selection.js';
import { MATCH_KEYS, type MatchKey } from './normalize.js';

/**
 * Meta's custom-audience quota is per hour and large (§2.6: 5,000 + 40 × audiences at the standard
 * tier), but it is shared with everything else on the ad account; one upload a second leaves room.
 * The usage headers slow kitrelay down further before Meta blocks (usage.ts).
 */
export const META_DEFAULT_RATE_LIMIT = { perSecond: 1, burst: 2 } as const;

/** Where a key's value comes from: `true` for its natural source, or a custom field by name. */
const keySource = z.union([z.literal(true), z.object({ field: z.string().min(1) }).strict()]);

/**
 * The match keys sent, in this order (the payload's `schema`). EMAIL is the subscriber's address,
 * EXTERN_ID their Kit id (sent unhashed), FN their first name; every other key needs a custom field.
 */
export const keysSchema = z
  .partialRecord(z.enum(MATCH_KEYS as unknown as [MatchKey, ...MatchKey[]]), keySource)
  .default({ EMAIL: true })
  .superRefine((keys, ctx) => {
    const natural: readonly MatchKey[] = ['EMAIL', 'EXTERN_ID', 'FN'];
    for (const [key, source] of Object.entries(keys)) {
      if (source === true && !natural.includes(key as MatchKey)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} has no natural source in Kit: map it to a custom field, e.g. { ${key}: { field: '${key.toLowerCase()}' } }` });
      }
    }
    if (Object.keys(keys).length === 0) ctx.addIssue({ code: 'custom', message: 'name at least one match key (EMAIL: true)' });
  });

export const audienceSchema = z
  .object({
    /** The audience's id at Meta; leave it out and run `kitrelay meta audiences create <name>`. */
    audienceId: z.string().regex(/^\d+$/, 'must be the numeric audience id Meta gave (or leave it out and run `kitrelay meta audiences create`)').optional(),
    /** The audience's name at Meta when kitrelay creates it. @default the config name */
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    select: selectionSchema.default(selectionSchema.parse({})),
    keys: keysSchema,
    /** Rows per request (Meta takes at most 10,000). @default 10_000 */
    batchSize: z.number().int().positive().max(10_000).default(10_000),
    /**
     * A run that would remove more than this share of the audience (or empty it) stops before
     * removing and waits for `--confirm-removals`. @default 0.2
     */
    maxRemovalShare: z.number().min(0).max(1).default(0.2),
    /** Past this relative gap between Meta's size estimate and ours, a run replaces the audience. @default 0.2 */
    driftTolerance: z.number().positive().default(0.2),
    /** When the scheduled sync runs (cron). @default every hour at :15 */
    schedule: z.string().min(1).default('15 * * * *'),
  })
  .strict();

export const metaDestinationSchema = z
  .object({
    type: z.literal('meta'),
    /** A token with `ads_management` (a System User token): env('META_ACCESS_TOKEN'). */
    accessToken: envRefSchema,
    /** The ad account: `act_<digits>`. */
    adAccountId: z.string().regex(/^act_\d+$/, "must be the ad account id with its prefix: 'act_1234567890'"),
    /** @default 'https://graph.facebook.com' */
    graphUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://graph.facebook.com'),
    /** @default 'v25.0' */
    apiVersion: z.string().regex(/^v\d+\.\d+$/, "must look like 'v25.0'").default('v25.0'),
    audiences: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, - or _'), audienceSchema).default({}),
    ...destinationCommon,
    /** One upload at a time, one a second. @default { perSecond: 1, burst: 2 } */
    rateLimit: rateLimitSchema.default(META_DEFAULT_RATE_LIMIT),
    /** Uploads are large: 10,000 rows take a while. @default 60_000 */
    timeoutMs: z.number().int().positive().default(60_000),
  })
  .strict();

export type MetaDestinationConfig = z.output<typeof metaDestinationSchema>;
export type AudienceConfig = z.output<typeof audienceSchema>;
export { selectionSchema, type SelectionConfig };
