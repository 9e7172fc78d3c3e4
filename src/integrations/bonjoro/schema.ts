/**
 * The Bonjoro destination's config and the `greet` action's params (reference/destinations.md §4).
 */
import { z } from 'zod';
import { envRefSchema } from '../../lib/env-ref.js';
import { destinationCommon, rateLimitSchema } from '../destination.js';

/**
 * Bonjoro documents no rate limit; a live answer carried `x-ratelimit-limit: 600`, and Laravel's
 * throttle counts per minute [U]: 600 per minute is 10 per second.
 */
export const BONJORO_DEFAULT_RATE_LIMIT = { perSecond: 10, burst: 10 } as const;

export const bonjoroDestinationSchema = z
  .object({
    type: z.literal('bonjoro'),
    /** The API key from https://www.bonjoro.com/settings/api, sent as the Bearer token: env('BONJORO_API_KEY'). */
    apiKey: envRefSchema,
    /** @default 'https://www.bonjoro.com/api/v2' */
    baseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://www.bonjoro.com/api/v2'),
    /**
     * Create the profile (`POST /profiles` with email and names) before the greet, as Bonjoro's own
     * Zapier-era clients do; whether the API needs it is unconfirmed [U]. @default false
     */
    createProfileFirst: z.boolean().default(false),
    /** Pages of the subscriber's greets read when looking for an earlier attempt's greet. @default 5 */
    lookupPages: z.number().int().positive().max(50).default(5),
    ...destinationCommon,
    /** Bonjoro's limit, shared by every job of this destination. @default { perSecond: 10, burst: 10 } (600 a minute) */
    rateLimit: rateLimitSchema.default(BONJORO_DEFAULT_RATE_LIMIT),
  })
  .strict();

export type BonjoroDestinationConfig = z.output<typeof bonjoroDestinationSchema>;

/** A Bonjoro uuid, or a `{{template}}` that renders to one. */
const uuidOrTemplate = (what: string, hint: string) =>
  z
    .string()
    .regex(/^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\{\{.+\}\})$/i, `must be the ${what}'s uuid (${hint})`);

const attributeValue = z.union([z.string(), z.number(), z.boolean()]);

/** The marker attribute: names the job that made the greet, so a later attempt can find it. */
export const MARKER_ATTRIBUTE = 'kitrelay_job';

export const greetParamsSchema = z
  .object({
    /** Shown to the person recording the video; templates allowed: 'New VIP: {{subscriber.first_name}}'. */
    note: z.string().max(2000).optional(),
    /** Who records it: a user uuid from `GET /api/v2/users` (data[].id). */
    assignee_id: uuidOrTemplate('user', 'from GET /api/v2/users → data[].id').optional(),
    /** The campaign ("workspace"): its uuid from `GET /api/v2/campaigns` → data[].uuid, not its integer id. */
    campaign_id: uuidOrTemplate('campaign', 'GET /api/v2/campaigns → data[].uuid; the integer data[].id is refused').optional(),
    /** A message template uuid from `GET /api/v2/message-templates` → data[].id. */
    template_id: uuidOrTemplate('message template', 'from GET /api/v2/message-templates → data[].id').optional(),
    /** Extra attributes on the greet; values may be templates. */
    custom_attributes: z
      .record(z.string().min(1), attributeValue)
      .refine((attributes) => !Object.hasOwn(attributes, MARKER_ATTRIBUTE), { message: `${MARKER_ATTRIBUTE} is kitrelay's own marker; use another name` })
      .default({}),
  })
  .strict();

export type GreetParams = z.output<typeof greetParamsSchema>;
