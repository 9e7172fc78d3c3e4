/** The generic webhook destination's config. */
import { z } from 'zod';
import type { KitEvent } from '../../kit/events.js';
import { envRefSchema } from '../../lib/env-ref.js';
import { destinationCommon } from '../destination.js';

export interface WebhookBodyContext {
  readonly event: KitEvent;
  readonly job: { readonly id: number; readonly rule: string; readonly action: string; readonly params: unknown; readonly idempotencyKey: string };
}

const fn = <T extends (...args: never[]) => unknown>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });

export const webhookDestinationSchema = z
  .object({
    type: z.literal('webhook'),
    /** Where to POST. */
    url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).or(envRefSchema),
    /** @default 'POST' */
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    /** Extra headers; values may be env references (they are redacted in audit records). */
    headers: z.record(z.string(), z.string().or(envRefSchema)).default({}),
    /** Builds the JSON body; the default sends `{ event, job }`. */
    body: fn<(ctx: WebhookBodyContext) => unknown>('({ event, job }) => body').optional(),
    /** Sign each request like Kit does: `t=<unix>,v1=<hex HMAC-SHA256("{t}.{body}")>`. */
    signing: z
      .object({
        secret: envRefSchema,
        /** @default 'X-Kitrelay-Signature' */
        header: z.string().min(1).default('X-Kitrelay-Signature'),
      })
      .strict()
      .optional(),
    /**
     * Also receive events: any system POSTs JSON to this destination's inbound URL (`kitrelay
     * routes` prints it, token included); each object is an event of type `webhook:<its type field>`
     * for rules. Fields name where the type, id (dedupe) and subscriber are.
     */
    inbound: z
      .object({
        /** @default 'type' */
        typeField: z.string().min(1).default('type'),
        /** Events with the same id are one (dedupe for 72 h). @default 'id' */
        idField: z.string().min(1).optional().default('id'),
        /** @default 'email' */
        emailField: z.string().min(1).optional().default('email'),
        /** A Kit subscriber id, when the sender knows it. */
        subscriberIdField: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Most jobs in one request of the `sendBatch` action (a JSON array body). @default 100 */
    maxBatchSize: z.number().int().positive().max(10_000).default(100),
    ...destinationCommon,
  })
  .strict();

export type WebhookDestinationConfig = z.output<typeof webhookDestinationSchema>;
