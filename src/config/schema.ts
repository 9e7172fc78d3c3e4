/**
 * The configuration schema: `kitrelay.config.ts` default-exports `defineConfig({...})`. Its data is
 * validated once at start-up by this schema (errors name the field and the fix); its functions
 * (predicates, body templates, sub-keys, once-keys) are typed. Secrets are references to the
 * environment (`env('NAME')`), never literals in the file.
 */
import { z } from 'zod';
import { airtableDestinationSchema, bonjoroDestinationSchema, INTEGRATIONS, kajabiDestinationSchema, metaDestinationSchema, slackDestinationSchema, webhookDestinationSchema, type DestinationConfig } from '../integrations/index.js';
import type { KitEvent } from '../kit/events.js';
import { envRefSchema } from '../lib/env-ref.js';
import { isValidTimezone, parseCron } from '../lib/cron.js';

export { env, type EnvRef } from '../lib/env-ref.js';

const envRef = envRefSchema;

const fn = <T extends (...args: never[]) => unknown>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });

const positiveInt = z.number().int().positive();

/** A cron expression (five fields, or six with seconds first; `@hourly`…), checked with croner. */
const cronExpression = z.string().superRefine((value, ctx) => {
  const parsed = parseCron(value);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
});
const timezoneName = z.string().refine(isValidTimezone, { message: 'must be an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)' });

/** `schedules.<name>`: the operator's say over one schedule (built-in, or an integration's sync). */
export const scheduleOverrideSchema = z
  .object({
    /** Replaces the schedule's cron expression, e.g. '0 3 * * *'. */
    cron: cronExpression.optional(),
    /** IANA time zone the cron is read in. @default UTC */
    timezone: timezoneName.optional(),
    /** false turns the schedule off. @default true */
    enabled: z.boolean().optional(),
  })
  .strict();

/**
 * One destination per configured integration instance: the union of every registered
 * integration's own config schema (integrations/registry.ts), told apart by `type`.
 */
export const destinationSchema = z.discriminatedUnion(
  'type',
  Object.values(INTEGRATIONS).map((integration) => integration.configSchema) as unknown as [typeof webhookDestinationSchema, typeof bonjoroDestinationSchema, typeof slackDestinationSchema, typeof metaDestinationSchema, typeof airtableDestinationSchema, typeof kajabiDestinationSchema],
);

const scopeValue = z.union([z.number().int(), z.string().min(1)]);
const scopeValues = z.union([scopeValue, z.array(scopeValue).min(1)]);

export const ruleActionSchema = z
  .object({
    destination: z.string().min(1),
    /** The integration's action (`send`, `greet`, …). @default the integration's default action */
    action: z.string().min(1).optional(),
    /**
     * The action's parameters (JSON), checked against the action's schema when the config loads.
     * String values may use templates rendered from the event at each attempt: `{{subscriber.email}}`.
     */
    params: z.record(z.string(), z.unknown()).default({}),
    /** Rate-limit sub-key for this job (e.g. a channel). */
    subKey: z.union([z.string().min(1), fn<(event: KitEvent) => string | undefined>('(event) => string')]).optional(),
    /** Max attempts for jobs of this action; defaults to the destination's retry policy. */
    maxAttempts: positiveInt.max(100).optional(),
    /** An enrichment (config.enrichments) run when the job is attempted; its fields reach the action. */
    enrich: z.string().min(1).optional(),
  })
  .strict();

/** What an enrichment adds to a message: a few labelled values. */
export type EnrichmentFields = Readonly<Record<string, string | number | boolean | null>>;

export const enrichmentSchema = z
  .object({
    /**
     * Looks things up about the event's subscriber (a CRM's order history, a lead score), when the
     * job is attempted (routing stays pure). Honour `signal`: it aborts at `timeoutMs`.
     */
    fetch: fn<(event: KitEvent, ctx: { readonly signal: AbortSignal }) => Promise<EnrichmentFields>>('async (event, { signal }) => ({ label: value })'),
    /** Past this the job goes on without the extra fields, marked degraded. @default 2000 */
    timeoutMs: positiveInt.max(60_000).default(2000),
    /** How long an answer is reused for the same subscriber. @default 300_000 */
    cacheMs: z.number().int().nonnegative().default(300_000),
  })
  .strict();

const DURATION_UNITS_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `'30s'`, `'10m'`, `'1h'`, `'1h30m'` → milliseconds. */
const durationSchema = z
  .string()
  .regex(/^(\d+h)?(\d+m)?(\d+s)?$/, "must be a duration like '30s', '10m', '1h' or '1h30m'")
  .refine((value) => value !== '', "must be a duration like '30s', '10m', '1h' or '1h30m'")
  .transform((value) => [...value.matchAll(/(\d+)([hms])/g)].reduce((ms, [, n, unit]) => ms + Number(n) * DURATION_UNITS_MS[unit as keyof typeof DURATION_UNITS_MS], 0));

/**
 * A rule's digest: its events collect in a durable window instead of a job each, and when the
 * window ends one job carries them all ("212 new subscribers in the last 10 minutes"). With a
 * threshold, the first `threshold` events of a window go out one by one and only the rest are
 * digested. Windows are fixed slices of time (10m: :00–:10, :10–:20, …), per rule action.
 */
export const digestSchema = z
  .object({
    /** The window's length, '30s' to '24h'. */
    window: durationSchema.refine((ms) => ms >= 10_000 && ms <= 86_400_000, 'must be between 10s and 24h'),
    /** Events per window sent one by one before the rest are digested. @default 0 (digest them all) */
    threshold: z.number().int().nonnegative().max(10_000).default(0),
  })
  .strict();

export const ruleSchema = z
  .object({
    /** Stable rule id, recorded on every job it makes. */
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i, 'use letters, digits, -, _ or . (it is recorded on jobs)'),
    description: z.string().optional(),
    /** Event type(s): canonical (`subscriber.tag_added`) or legacy (`subscriber.tag_add`) names; `*` for any. */
    on: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Scope filter: `{ tag_id: 123 }`, `{ form_id: [1, 2] }`, `{ initiator_value: 'https://…' }`. */
    scope: z
      .object({
        form_id: scopeValues.optional(),
        sequence_id: scopeValues.optional(),
        initiator_value: scopeValues.optional(),
        product_id: scopeValues.optional(),
        tag_id: scopeValues.optional(),
        custom_field_id: scopeValues.optional(),
      })
      .strict()
      .optional(),
    /** Optional predicate on the event; a throw is recorded on the event and makes no job. */
    when: fn<(event: KitEvent) => boolean>('(event) => boolean').optional(),
    /**
     * Ledger key: the rule's jobs are made at most once per key (e.g.
     * `(e) => 'welcome-video:' + e.subscriber?.id`), however often the event comes back. Returning
     * undefined means "no limit". `{ key, repeatAfterDays }` allows another after that many days.
     */
    once: z
      .union([
        fn<(event: KitEvent) => string | number | undefined>('(event) => string | undefined'),
        z
          .object({
            key: fn<(event: KitEvent) => string | number | undefined>('(event) => string | undefined'),
            /** Days after which the same key makes a job again. */
            repeatAfterDays: z.number().positive(),
          })
          .strict(),
      ])
      .optional(),
    actions: z.array(ruleActionSchema).min(1),
    /** Collect the rule's events into one message per window: `{ window: '10m', threshold?: 20 }`. */
    digest: digestSchema.optional(),
  })
  .strict();

const legacyRouteSchema = z
  .object({
    /** Legacy event name (`subscriber.tag_add`) or its canonical name. */
    event: z.string().min(1),
    form_id: scopeValue.optional(),
    sequence_id: scopeValue.optional(),
    initiator_value: scopeValue.optional(),
    product_id: scopeValue.optional(),
    tag_id: scopeValue.optional(),
    custom_field_id: scopeValue.optional(),
  })
  .strict();

export const signedEndpointSchema = z
  .object({
    /** Names the inbound URL: `/hooks/kit/signed/<name>`. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, - or _ (it is part of the URL)'),
    /**
     * Endpoint secrets (`whsec_…`); list the previous one too while Kit rotates. May be empty when
     * kitrelay registers the endpoint itself (`kitrelay kit webhooks sync` keeps Kit's secret).
     */
    secrets: z.array(envRef).default([]),
    /** Signature timestamp tolerance. @default 300 */
    toleranceSeconds: positiveInt.default(300),
  })
  .strict();

/** Kit API v4 access (reference/kit.md §1–§2). With no credentials, the sandbox runs the Kit simulator. */
export const kitApiSchema = z
  .object({
    /** @default 'https://api.kit.com' */
    baseUrl: z.url().default('https://api.kit.com'),
    /** A v4 API key (`X-Kit-Api-Key`): env('KIT_API_KEY'). */
    apiKey: envRef.optional(),
    /** OAuth app (needed for bulk and purchase endpoints); tokens come from `kitrelay kit login`. */
    oauth: z
      .object({
        clientId: z.string().min(1),
        clientSecret: envRef.optional(),
        /** [UNC] Kit documents more than one; @default 'https://api.kit.com/v4/oauth/authorize' */
        authorizeUrl: z.url().default('https://api.kit.com/v4/oauth/authorize'),
        /** [UNC] @default 'https://api.kit.com/v4/oauth/token' */
        tokenUrl: z.url().default('https://api.kit.com/v4/oauth/token'),
        /** Loopback port of the login callback (the redirect URI registered with the Kit app); 0 = any free port. @default 8790 */
        redirectPort: z.number().int().min(0).max(65535).default(8790),
      })
      .strict()
      .optional(),
    /** Requests per 60 s per credential (Kit: 120 per API key, 600 per OAuth token). */
    rateLimit: z
      .object({ apiKey: positiveInt.default(120), oauth: positiveInt.default(600), windowMs: positiveInt.default(60_000) })
      .strict()
      .default({ apiKey: 120, oauth: 600, windowMs: 60_000 }),
    /** Key that encrypts stored OAuth tokens and endpoint secrets: env('KITRELAY_ENCRYPTION_KEY'). */
    encryptionKey: envRef.optional(),
  })
  .strict();

/** Keeping Kit's webhooks and kitrelay's subscriber mirror in step with Kit. */
export const kitSyncSchema = z
  .object({
    /** Make Kit's registered webhooks match the routes on start (`kitrelay kit webhooks sync`). @default false (true in the sandbox) */
    registerWebhooksOnStart: z.boolean().default(false),
    /** Which webhook systems kitrelay registers. @default 'legacy' */
    register: z.enum(['legacy', 'signed', 'both']).default('legacy'),
    /** Page size for backfills and reconciliations (Kit allows up to 1000). @default 500 */
    pageSize: positiveInt.max(1000).default(500),
    /**
     * When the service recovers missed webhooks (signed history + legacy reconciliation): a cron
     * expression, e.g. '*\/15 * * * *' (the schedule `kit-recovery`). Absent = off.
     */
    recoverSchedule: cronExpression.optional(),
  })
  .strict();

/** What one instance may run (`server.roles`; README, "Several instances on PostgreSQL"). */
export const ROLES = ['ingest', 'worker', 'scheduler'] as const;
export type Role = (typeof ROLES)[number];

const SERVER_DEFAULTS = {
  port: 8787,
  host: '127.0.0.1',
  bodyLimitBytes: 1_048_576,
  maxJsonDepth: 128,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  unauthenticatedBodyBudgetBytes: 16_777_216,
  maxConnections: 4096,
  roles: [...ROLES],
};

export const configSchema = z
  .object({
    server: z
      .object({
        /** @default 8787 (flag --port, env KITRELAY_PORT) */
        port: z.number().int().min(0).max(65535).default(8787),
        /** @default '127.0.0.1' (env KITRELAY_HOST) */
        host: z.string().min(1).default('127.0.0.1'),
        /** Base of the URLs Kit posts to. @default http://<host>:<port> (env KITRELAY_PUBLIC_URL) */
        publicBaseUrl: z.url().optional(),
        /** Largest inbound body accepted. @default 1_048_576 */
        bodyLimitBytes: positiveInt.default(1_048_576),
        /**
         * Deepest nesting of objects and arrays in one event's payload (a legacy body; one element of
         * a signed delivery's `events`). Deeper events are kept in quarantine (reason `too_deep`),
         * never parsed further. Kit's own payloads nest 3 deep, `fields` values 1 more. At most 512:
         * values must stay copyable between threads. @default 128
         */
        maxJsonDepth: positiveInt.max(512, 'must be at most 512: deeper values cannot be passed to the store thread').default(128),
        /** Time a client has to send the request headers. @default 10_000 */
        headersTimeoutMs: positiveInt.default(10_000),
        /** Time a client has to send the whole request, body included (a body trickled in slowly is cut off). @default 30_000 */
        requestTimeoutMs: positiveInt.default(30_000),
        /** An idle keep-alive connection is closed after this long. @default 5_000 */
        keepAliveTimeoutMs: positiveInt.default(5_000),
        /**
         * Bytes of bodies that may be in flight before they can be authenticated (a signed delivery is
         * verified only once its body is read): a request that would go past it is answered 503 with
         * Retry-After before its body is read. Legacy routes check their URL token first, so they do
         * not count. @default 16_777_216
         */
        unauthenticatedBodyBudgetBytes: positiveInt.default(16_777_216),
        /** Open connections at most; more are refused by the socket. @default 4096 */
        maxConnections: positiveInt.default(4096),
        /**
         * What this instance runs: `ingest` (the webhook and source routes), `worker` (the queue's
         * worker), `scheduler` (durable schedules, kitrelay's own events, the event follower). Every
         * instance serves /healthz and /metrics; one without `ingest` answers webhooks 503. A subset
         * is for several instances on one store (PostgreSQL). @default all three (flag --roles, env
         * KITRELAY_ROLES: a comma list)
         */
        roles: z
          .array(z.enum(ROLES))
          .min(1, 'name at least one role: ingest, worker, scheduler')
          .refine((roles) => new Set(roles).size === roles.length, 'name each role once')
          .default([...ROLES]),
      })
      .strict()
      .refine((server) => server.headersTimeoutMs <= server.requestTimeoutMs, {
        message: 'headersTimeoutMs must not be larger than requestTimeoutMs',
        path: ['headersTimeoutMs'],
      })
      .default(SERVER_DEFAULTS),
    store: z
      .object({
        /** @default './data' (flag --data-dir, env KITRELAY_DATA_DIR) */
        dataDir: z.string().min(1).default('./data'),
        /** SQLite file. @default '<dataDir>/kitrelay.db' (flag --db, env KITRELAY_DATABASE) */
        database: z.string().min(1).optional(),
        /**
         * PostgreSQL instead of SQLite: `postgres://user:password@host:5432/db`, for several kitrelay
         * processes sharing one store (flag --database-url, env DATABASE_URL). Unset: SQLite.
         */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// (or postgresql://) URL').optional(),
        /** PostgreSQL only: the schema kitrelay's tables live in (created by the first migration's search path). @default 'public' */
        schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lower-case name').default('public'),
        /** PostgreSQL only: connections per process. @default 10 */
        poolSize: positiveInt.max(200).default(10),
        /** Ingest writes waiting to commit before ingest answers 503. @default 10_000 */
        maxWriteBacklog: positiveInt.default(10_000),
        /**
         * SQLite only: the write-ahead log's bound. Past it the writer runs a checkpoint that waits for
         * readers to let go (instead of one that skips pages they still use), and after every
         * checkpoint the file is cut back to this size. @default 67_108_864
         */
        walLimitBytes: positiveInt.min(1_048_576).default(67_108_864),
      })
      .strict()
      .default({ dataDir: './data', maxWriteBacklog: 10_000, walLimitBytes: 67_108_864, schema: 'public', poolSize: 10 }),
    kit: z
      .object({
        legacy: z
          .object({
            /** Serve legacy `/v4/webhooks` routes. @default true */
            enabled: z.boolean().default(true),
            /** Routes besides the ones the rules imply. */
            routes: z.array(legacyRouteSchema).default([]),
            /** Window in which an identical legacy body on the same route is a duplicate. @default 30 */
            dedupeWindowSeconds: positiveInt.max(3600, 'must be at most 3600: Kit resends a legacy webhook within minutes, and the window is kept in memory').default(30),
          })
          .strict()
          .default({ enabled: true, routes: [], dedupeWindowSeconds: 30 }),
        signed: z
          .object({
            endpoints: z.array(signedEndpointSchema).default([]),
            /** How long a 2.0 event id is remembered; must outlive Kit's ~41 h retry span. @default 72 */
            dedupeHours: positiveInt.min(42, 'must be at least 42: Kit retries a delivery for ~41 hours').default(72),
          })
          .strict()
          .default({ endpoints: [], dedupeHours: 72 }),
        api: kitApiSchema.default(kitApiSchema.parse({})),
        sync: kitSyncSchema.default(kitSyncSchema.parse({})),
      })
      .strict()
      .default({ legacy: { enabled: true, routes: [], dedupeWindowSeconds: 30 }, signed: { endpoints: [], dedupeHours: 72 }, api: kitApiSchema.parse({}), sync: kitSyncSchema.parse({}) }),
    destinations: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, - or _'), destinationSchema).default({}),
    rules: z.array(ruleSchema).default([]),
    /** Named enrichment steps rules may use (`actions[].enrich`). */
    enrichments: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, - or _'), enrichmentSchema).default({}),
    queue: z
      .object({
        /** How often an idle worker looks for due jobs. @default 250 */
        pollIntervalMs: positiveInt.default(250),
        /** A claimed job's lease; a crashed worker's jobs run again after it. @default 60_000 */
        leaseMs: positiveInt.min(1000).default(60_000),
        /** Lease renewal interval. @default 15_000 */
        heartbeatMs: positiveInt.default(15_000),
        /** Run workers in this process. @default true */
        enabled: z.boolean().default(true),
      })
      .strict()
      .default({ pollIntervalMs: 250, leaseMs: 60_000, heartbeatMs: 15_000, enabled: true }),
    retention: z
      .object({
        /** Events (and their finished jobs) older than this are deleted. @default 30 */
        eventDays: positiveInt.default(30),
        /** Resolved quarantine entries older than this are deleted. @default 90 */
        quarantineDays: positiveInt.default(90),
        /** Audit records older than this lose personal data; the record stays. @default 90 */
        auditPersonalDataDays: positiveInt.default(90),
        /** When retention runs: a cron expression (the schedule `retention`). @default '0 * * * *' (hourly) */
        schedule: cronExpression.default('0 * * * *'),
      })
      .strict()
      .default({ eventDays: 30, quarantineDays: 90, auditPersonalDataDays: 90, schedule: '0 * * * *' }),
    /**
     * Per schedule name (`retention`, `kit-recovery`, an integration's sync): another cron or time
     * zone, or `enabled: false`. `kitrelay schedules list` shows the names.
     */
    schedules: z.record(z.string().min(1), scheduleOverrideSchema).default({}),
    log: z
      .object({
        /** @default 'info' (env KITRELAY_LOG_LEVEL) */
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

/** What a config file is written as (defaults optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated config, defaults filled in. */
export type Config = z.output<typeof configSchema>;
export type { DestinationConfig };
export type { WebhookDestinationConfig, WebhookBodyContext, BonjoroDestinationConfig, RetryPolicy, RateLimit, BreakerPolicy } from '../integrations/index.js';
export type RuleConfig = z.output<typeof ruleSchema>;
export type RuleActionConfig = z.output<typeof ruleActionSchema>;
export type EnrichmentConfig = z.output<typeof enrichmentSchema>;
export type SignedEndpointConfig = z.output<typeof signedEndpointSchema>;
export type LegacyRouteConfig = z.output<typeof legacyRouteSchema>;
export type KitApiConfig = z.output<typeof kitApiSchema>;
export type KitSyncConfig = z.output<typeof kitSyncSchema>;

/** Typed identity helper for `kitrelay.config.ts`. */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}
