/**
 * The service's Kit-side background work: webhook registration on start, and the built-in
 * schedules main.ts hands to the scheduler (src/schedules/): `retention` and `kit-recovery`. Their
 * runs are durable: each slot runs once across the processes sharing the store, a failure is
 * recorded and retried, and `kitrelay schedules history` shows them.
 */
import type { LoadedConfig } from '../config/load.js';
import { buildRouteTable } from '../ingest/routes.js';
import { DAY } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import { compileRules } from '../rules/route.js';
import type { ScheduleDefinition } from '../schedules/index.js';
import type { Store } from '../store/types.js';
import { BACKFILL_CHECKPOINT } from './backfill.js';
import { openKitClient } from './kit-access.js';
import { reconcileWithKit, recoverSignedDeliveries } from './recover.js';
import { syncWebhooks } from './webhooks.js';

type Env = Readonly<Record<string, string | undefined>>;

export const RETENTION_SCHEDULE = 'retention';
export const KIT_RECOVERY_SCHEDULE = 'kit-recovery';

/** `kit.sync.registerWebhooksOnStart`: a failure is logged, not fatal: the relay still receives. */
export async function registerOnStart(loaded: LoadedConfig, store: Store, env: Env, secret: string, log: Log): Promise<void> {
  try {
    const client = await openKitClient(loaded.config, store, env);
    try {
      const routes = buildRouteTable(loaded.config, secret, loaded.publicBaseUrl);
      const result = await syncWebhooks({ client, store, config: loaded.config, routes, publicBaseUrl: loaded.publicBaseUrl, now: () => Date.now() });
      log.info({ changed: result.changed }, 'Kit webhooks registered');
    } finally {
      await client.close();
    }
  } catch (error) {
    log.error({ err: error }, 'could not register Kit webhooks on start; run `kitrelay kit webhooks sync`');
  }
}

export interface BuiltInScheduleDeps {
  readonly loaded: LoadedConfig;
  readonly store: Store;
  readonly env: Env;
  /** The route secret: recovery routes recovered events through the same route table. */
  readonly routeSecret: string;
  /** Kit can be reached (credentials, or the sandbox's simulator): recovery needs it. */
  readonly hasKitAccess: boolean;
}

/** `retention` always; `kit-recovery` when `kit.sync.recoverSchedule` is set and Kit can be reached. */
export function builtInSchedules(deps: BuiltInScheduleDeps): ScheduleDefinition[] {
  const schedules = [retentionSchedule(deps)];
  const recoverSchedule = deps.loaded.config.kit.sync.recoverSchedule;
  if (recoverSchedule !== undefined && deps.hasKitAccess) schedules.push(recoverySchedule(deps, recoverSchedule));
  return schedules;
}

/** `retention.schedule`: old events, resolved quarantine, audit personal data, expired dedupe keys. */
function retentionSchedule({ loaded, store }: BuiltInScheduleDeps): ScheduleDefinition {
  const { retention } = loaded.config;
  return {
    name: RETENTION_SCHEDULE,
    cron: retention.schedule,
    description: `delete events older than ${retention.eventDays} days, resolved quarantine older than ${retention.quarantineDays}; scrub audit records older than ${retention.auditPersonalDataDays}`,
    async run(ctx) {
      const now = ctx.now();
      const result = await store.purge({
        now,
        eventsBefore: now - retention.eventDays * DAY,
        quarantineBefore: now - retention.quarantineDays * DAY,
        auditScrubBefore: now - retention.auditPersonalDataDays * DAY,
      });
      const counts = { ...result };
      return { counts, summary: Object.entries(counts).map(([what, count]) => `${what} ${count}`).join(', ') };
    },
  };
}

/** `kit.sync.recoverSchedule`: signed deliveries from Kit's history; legacy tags reconciled once a backfill completed. */
function recoverySchedule({ loaded, store, env, routeSecret }: BuiltInScheduleDeps, cron: string): ScheduleDefinition {
  return {
    name: KIT_RECOVERY_SCHEDULE,
    cron,
    description: 'recover missed Kit webhooks: signed delivery history, legacy reconciliation against the mirror',
    // Reconciliation pages through every subscriber: give a slow page room before the lease lapses.
    leaseMs: 5 * 60_000,
    async run(ctx) {
      const client = await openKitClient(loaded.config, store, env);
      try {
        const recoverDeps = {
          client,
          store,
          config: loaded.config,
          rules: compileRules(loaded.config),
          routes: buildRouteTable(loaded.config, routeSecret, loaded.publicBaseUrl),
          now: () => ctx.now(),
        };
        const signed = await recoverSignedDeliveries(recoverDeps);
        await ctx.reportProgress({ message: 'signed deliveries recovered; reconciling legacy webhooks' });
        const backfill = await store.getCheckpoint(BACKFILL_CHECKPOINT);
        const legacy = backfill?.completedAt ? await reconcileWithKit(recoverDeps) : undefined;
        const { withoutEvents, ...signedCounts } = signed;
        return {
          counts: { ...signedCounts, deliveriesWithoutEvents: withoutEvents.length, ...legacy },
          summary: `signed: ${signed.eventsAccepted} events recovered; legacy: ${legacy ? `${legacy.tagAddedEmitted + legacy.tagRemovedEmitted + legacy.stateEventsEmitted} events emitted` : 'skipped, no completed backfill yet (run `kitrelay kit backfill`)'}`,
        };
      } finally {
        await client.close();
      }
    },
  };
}
