/**
 * Kajabi (pattern 5): course enrolment as the source of truth. Facts: reference/destinations.md §5.
 *
 * Kajabi → kitrelay: the public-API hooks (`hooks` source, registered by `kitrelay kajabi hooks
 * sync`) and the dashboard webhooks (`dashboard` source), both unsigned, so each URL carries a
 * secret token (source.ts); refunds and deactivations, which no webhook reports, by polling
 * (poll.ts); purchases whose payment webhook never came, by a settlement check (settle.ts); and,
 * nightly, a reconciliation against all of Kajabi's purchases and transactions (reconcile.ts).
 * Every one of them turns what it read into facts (facts.ts) queued as one `enrol` job per person,
 * in order; the job applies them to the enrolment table (enrolment.ts) and brings Kit's tags in
 * line with it (enrol.ts). The table is the one source of truth: `kitrelay kajabi enrolments`.
 *
 * Kit → Kajabi: the `grant_offer` and `revoke_offer` rule actions (grant.ts).
 */
import type { ScheduleDefinition } from '../../schedules/types.js';
import type { Integration, ScheduleDeps } from '../types.js';
import { openKajabiClient } from './client.js';
import { enrolAction } from './enrol.js';
import { ENROL_ACTION } from './facts.js';
import { grantOfferAction, revokeOfferAction } from './grant.js';
import { syncHooks } from './hooks.js';
import { pollEndings } from './poll.js';
import { reconcile } from './reconcile.js';
import { kajabiStandIn } from './sandbox.js';
import { checkKajabi, kajabiDestinationSchema, type KajabiDestinationConfig } from './schema.js';
import { checkSettlements } from './settle.js';
import { dashboardSource, hooksSource } from './source.js';

export const pollScheduleName = (destinationName: string) => `kajabi-poll:${destinationName}`;
export const settleScheduleName = (destinationName: string) => `kajabi-settle:${destinationName}`;
export const reconcileScheduleName = (destinationName: string) => `kajabi-reconcile:${destinationName}`;

function schedules(deps: ScheduleDeps<KajabiDestinationConfig>): ScheduleDefinition[] {
  const { destinationName, destination } = deps;
  return [
    {
      name: pollScheduleName(destinationName),
      cron: destination.poll.schedule,
      description: `Kajabi ${destinationName}: refunds and deactivations (no webhook reports them), polled since a durable cursor`,
      retry: { maxRetries: 2, baseDelayMs: 30_000 },
      async run(ctx) {
        const opened = openKajabiClient(deps, { now: () => ctx.now(), signal: ctx.signal });
        try {
          const result = await pollEndings(deps, opened.client, { now: () => ctx.now(), signal: ctx.signal });
          return { counts: { refunds: result.refunds, deactivations: result.deactivations, accepted: result.accepted, duplicates: result.duplicates }, summary: `${result.refunds} refunds and ${result.deactivations} deactivations since ${new Date(result.since).toISOString()}; ${result.accepted} new` };
        } finally {
          await opened.close();
        }
      },
    },
    {
      name: settleScheduleName(destinationName),
      cron: destination.settlement.checkSchedule,
      description: `Kajabi ${destinationName}: purchases with no payment webhook, settled by checking Kajabi's API once the delay has passed`,
      retry: { maxRetries: 0, baseDelayMs: 30_000 },
      async run(ctx) {
        const opened = openKajabiClient(deps, { now: () => ctx.now(), signal: ctx.signal });
        try {
          const result = await checkSettlements(deps, opened.client, { now: () => ctx.now(), signal: ctx.signal });
          return { counts: { ...result }, summary: `${result.checked} pending checked: ${result.settled} settled, ${result.ended} ended, ${result.lapsed} lapsed` };
        } finally {
          await opened.close();
        }
      },
    },
    {
      name: reconcileScheduleName(destinationName),
      cron: destination.reconcile.schedule,
      description: `Kajabi ${destinationName}: every purchase and transaction against the enrolment table and Kit's tags; each correction logged`,
      leaseMs: 300_000,
      async run(ctx) {
        const opened = openKajabiClient(deps, { now: () => ctx.now(), signal: ctx.signal });
        try {
          const result = await reconcile(deps, opened.client, { now: () => ctx.now(), signal: ctx.signal, runId: `run-${ctx.runId}`, progress: (message) => void ctx.reportProgress({ message }) });
          return {
            counts: { purchases: result.purchases, people: result.people, statusCorrections: result.statusCorrections, kitCorrections: result.kitCorrections, queued: result.queued },
            changes: result.corrections,
            summary: `${result.statusCorrections} enrolment and ${result.kitCorrections} Kit corrections queued (${result.purchases} purchases, ${result.people} people)`,
          };
        } finally {
          await opened.close();
        }
      },
    },
  ];
}

export const kajabiIntegration: Integration<KajabiDestinationConfig> = {
  type: 'kajabi',
  description: 'Kajabi: course enrolments (purchases, payments, refunds, deactivations) as the source of truth for Kit tags; offers granted and revoked from Kit rules',
  configSchema: kajabiDestinationSchema,
  defaultAction: 'grant_offer',
  actions: { [ENROL_ACTION]: enrolAction, grant_offer: grantOfferAction, revoke_offer: revokeOfferAction },
  sources: [hooksSource, dashboardSource],
  schedules,
  check: checkKajabi,
  // No client id set: the sandbox points the destination at a Kajabi simulator whose offers stand
  // in for the configured ones, in order.
  async sandbox({ destination, env }) {
    if (env[destination.clientId.$env]) return undefined;
    return kajabiStandIn(destination);
  },
  // The stand-in's public-API hooks, pointed at this sandbox's `hooks` source.
  async sandboxStarted({ deps, sourceUrl }) {
    const opened = openKajabiClient(deps);
    try {
      await syncHooks(opened.client, { siteId: await opened.client.siteId(), targetUrl: sourceUrl('hooks'), events: deps.destination.hooks.events });
    } finally {
      await opened.close();
    }
  },
};

export { kajabiDestinationSchema, checkKajabi, type KajabiDestinationConfig } from './schema.js';
export { openKajabiClient, type KajabiClient } from './client.js';
export { reconcile, type ReconcileResult } from './reconcile.js';
export { syncHooks } from './hooks.js';
