/**
 * The service's background jobs, started by main.ts: webhook registration on start, periodic
 * recovery of missed webhooks, and retention. Each failure is logged and waits for the next run:
 * none of them may stop the relay from receiving.
 */
import type { LoadedConfig } from '../config/load.js';
import { buildRouteTable } from '../ingest/routes.js';
import { DAY, type Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import { compileRules } from '../rules/route.js';
import type { Store } from '../store/types.js';
import { BACKFILL_CHECKPOINT } from './backfill.js';
import { openKitClient } from './kit-access.js';
import { reconcileWithKit, recoverSignedDeliveries } from './recover.js';
import { syncWebhooks } from './webhooks.js';

type Env = Readonly<Record<string, string | undefined>>;

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

/** `kit.sync.recoverIntervalMs`: recover missed webhooks periodically; failures wait for the next run. */
export function startRecovery(deps: { loaded: LoadedConfig; store: Store; env: Env; secret: string; log: Log; clock: Clock }): NodeJS.Timeout {
  const { loaded, store, log } = deps;
  const run = async () => {
    try {
      const client = await openKitClient(loaded.config, store, deps.env);
      try {
        const recoverDeps = { client, store, config: loaded.config, rules: compileRules(loaded.config), routes: buildRouteTable(loaded.config, deps.secret, loaded.publicBaseUrl), now: () => deps.clock.now() };
        const signed = await recoverSignedDeliveries(recoverDeps);
        const backfill = await store.getCheckpoint(BACKFILL_CHECKPOINT);
        const legacy = backfill?.completedAt ? await reconcileWithKit(recoverDeps) : undefined;
        log.info({ signed, legacy: legacy ?? 'skipped: no completed backfill yet' }, 'recovery ran');
      } finally {
        await client.close();
      }
    } catch (error) {
      log.error({ err: error }, 'recovery failed; will retry at the next interval');
    }
  };
  const timer = setInterval(() => void run(), loaded.config.kit.sync.recoverIntervalMs);
  timer.unref();
  return timer;
}

export function startRetention(store: Store, loaded: LoadedConfig, clock: Clock, log: Log): NodeJS.Timeout {
  const { retention } = loaded.config;
  const run = async () => {
    const now = clock.now();
    try {
      const result = await store.purge({
        now,
        eventsBefore: now - retention.eventDays * DAY,
        quarantineBefore: now - retention.quarantineDays * DAY,
        auditScrubBefore: now - retention.auditPersonalDataDays * DAY,
      });
      log.info({ ...result }, 'retention ran');
    } catch (error) {
      // Retention is housekeeping: a failure is retried at the next interval.
      log.error({ err: error }, 'retention failed; will retry at the next interval');
    }
  };
  const timer = setInterval(() => void run(), retention.intervalMs);
  timer.unref();
  return timer;
}
