/**
 * Meta Custom Audiences (pattern 3): an audience kept in step with a selection of Kit subscribers,
 * hashed locally, uploaded in batches, leavers removed, drift repaired. Facts:
 * reference/destinations.md §2.
 *
 * Each audience is a durable schedule (`meta-sync:<destination>:<audience>`, its `schedule` cron):
 * a run plans batches in the store and queues one `upload` job per batch through the poller's
 * commit (deduplicated by batch id), then waits for the worker to send them.
 */
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import type { AudienceChange } from '../../store/types.js';
import type { ScheduleDefinition } from '../../schedules/types.js';
import type { Integration, ScheduleDeps } from '../types.js';
import { graphClient } from './client.js';
import { followAudiences } from './follow.js';
import { metaDestinationSchema, type MetaDestinationConfig } from './schema.js';
import { startMetaSimulator } from './simulator.js';
import { removeMembers, syncAudience, type AudienceSyncDeps, type SyncOptions, type SyncResult } from './sync.js';
import { uploadAction } from './upload.js';

/** The schedule of one audience. */
export function audienceScheduleName(destinationName: string, audience: string): string {
  return `meta-sync:${destinationName}:${audience}`;
}

type RunOptions = { readonly now: () => number; readonly signal?: AbortSignal; readonly progress?: (report: { done?: number; total?: number; message: string }) => void; readonly pollMs?: number; readonly settleTimeoutMs?: number };

/** A run's dependencies from what a schedule (or the CLI) is given: reads through `http`, uploads through the queue. */
function runDeps(deps: ScheduleDeps<MetaDestinationConfig>, audienceName: string, http: HttpClient, options: RunOptions): AudienceSyncDeps {
  const { destination, destinationName } = deps;
  const graph = graphClient((request) => http.send({ timeoutMs: destination.timeoutMs, ...request }), { graphUrl: destination.graphUrl, apiVersion: destination.apiVersion, accessToken: deps.secrets(destination.accessToken), userAgent: deps.userAgent }, { now: options.now });
  return {
    store: deps.store,
    destinationName,
    destination,
    audienceName,
    graph,
    ...(deps.kit ? { kit: { pull: deps.kit, cursor: deps.cursor('kit-pull') } } : {}),
    now: options.now,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.settleTimeoutMs !== undefined ? { settleTimeoutMs: options.settleTimeoutMs } : {}),
    async alert(kind, payload, runId) {
      await deps.ingest('runs', [{ type: kind, id: `${kind}-${runId}`, payload }]);
    },
    async queueUploads(batches, audienceId) {
      await deps.ingest(
        'sync',
        batches.map((batch) => ({
          type: 'audience_batch',
          id: `batch-${batch.id}`,
          // One audience's batches reach Meta in the order planned (a replace session's last
          // batch must be last), an earlier one retrying holds the later ones.
          orderKey: `meta-audience:${destinationName}/${audienceName}`,
          payload: { audience: audienceName, batchId: batch.id, op: batch.op, size: batch.size, sessionId: batch.sessionId, seq: batch.seq },
          jobs: [{ action: 'upload', params: { audience: audienceName, batchId: batch.id, audienceId }, subKey: audienceName }],
        })),
      );
    },
  };
}

/** With the shared client, or one of this run's own (closed after). */
async function withHttp<T>(deps: ScheduleDeps<MetaDestinationConfig>, run: (http: HttpClient) => Promise<T>): Promise<T> {
  const http = deps.http ?? createHttpClient();
  try {
    return await run(http);
  } finally {
    if (!deps.http) await http.close();
  }
}

/** Runs one audience's sync with what a schedule (or the CLI) is given. */
export function runAudienceSync(deps: ScheduleDeps<MetaDestinationConfig>, audienceName: string, options: SyncOptions & RunOptions): Promise<SyncResult> {
  return withHttp(deps, (http) => syncAudience(runDeps(deps, audienceName, http, options), options));
}

/** Removes these members from the audience at Meta now (erasure), and waits for Meta to take it. */
export function runAudienceRemoval(deps: ScheduleDeps<MetaDestinationConfig>, audienceName: string, members: readonly AudienceChange[], reason: string, options: RunOptions): Promise<SyncResult> {
  return withHttp(deps, (http) => removeMembers(runDeps(deps, audienceName, http, options), members, reason));
}

function audienceSchedules(deps: ScheduleDeps<MetaDestinationConfig>): ScheduleDefinition[] {
  return Object.entries(deps.destination.audiences).map(([name, audience]) => ({
    name: audienceScheduleName(deps.destinationName, name),
    cron: audience.schedule,
    description: `Meta audience ${name}: refresh from the mirror, send the difference (removals guarded), repair drift`,
    // A run waits for its batches; progress renews the lease meanwhile.
    leaseMs: 120_000,
    async run(ctx) {
      const result = await runAudienceSync(deps, name, {
        now: () => ctx.now(),
        signal: ctx.signal,
        progress: (report) => void ctx.reportProgress(report).catch(() => undefined),
      });
      const counts = Object.fromEntries(Object.entries(result.stats).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
      if (result.status === 'succeeded') return { counts, summary: `run ${result.run.id}: ${counts.rowsSent ?? 0} rows in ${counts.batches ?? 0} batches` };
      // A held run waits for an operator; a failed one is retried by the scheduler.
      return { counts, error: result.detail ?? result.status, isRetriable: result.status !== 'held' };
    },
  }));
}

export const metaIntegration: Integration<MetaDestinationConfig> = {
  type: 'meta',
  description: 'Meta (Facebook) customer-file Custom Audiences',
  configSchema: metaDestinationSchema,
  defaultAction: 'upload',
  actions: { upload: uploadAction },
  schedules: audienceSchedules,
  // Webhooks keep each audience's expected membership current between runs (follow.ts).
  followSubscribers: followAudiences,
  // No access token set: the sandbox points the destination at a Meta simulator holding one empty
  // audience per configured one. Their ids are new each start (the simulator keeps nothing), so an
  // audience's first run sees the id changed and sends every member again.
  async sandbox({ destination, env }) {
    if (env[destination.accessToken.$env]) return undefined;
    const simulator = await startMetaSimulator({ adAccountId: destination.adAccountId, audiences: [] });
    const base = Date.now() * 100;
    const audiences = Object.fromEntries(
      Object.entries(destination.audiences).map(([name, audience], i) => {
        const created = simulator.createAudience({ id: String(base + i), name: audience.name ?? name, ...(audience.description ? { description: audience.description } : {}) });
        return [name, { ...audience, audienceId: created.id }];
      }),
    );
    return { destination: { ...destination, graphUrl: simulator.url, audiences }, overlay: { [destination.accessToken.$env]: simulator.accessToken }, simulator };
  },
};

export { metaDestinationSchema, audienceSchema, type MetaDestinationConfig, type AudienceConfig } from './schema.js';
export { graphClient, type GraphClient, type GraphTarget } from './client.js';
export { membershipOf, schemaOf, isSelected } from './selection.js';
export { audienceKey, uploadParamsSchema, type UploadParams } from './upload.js';
