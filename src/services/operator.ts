/**
 * The operator actions integrations may take on kitrelay itself (the port's `OperatorPort`): Slack's
 * Replay button and its `/kitrelay <email>` lookup. The same service functions the CLI calls;
 * the composition root hands this object to the worker, so integrations reach the services
 * without importing them.
 */
import type { Config } from '../config/schema.js';
import type { OperatorPort } from '../integrations/index.js';
import type { ServiceDeps } from './deps.js';
import { listEvents } from './events.js';
import { listJobs, replayJob } from './jobs.js';

export interface OperatorDeps extends ServiceDeps {
  /** A replayed job gets its destination's attempt limit again. */
  readonly config: Pick<Config, 'destinations'>;
}

/** `kitrelay jobs replay`'s default, for a job whose destination left the config. */
const DEFAULT_EXTRA_ATTEMPTS = 5;

export function createOperatorPort(deps: OperatorDeps): OperatorPort {
  return {
    async replayJob(jobId) {
      const job = await deps.store.getJob(jobId);
      if (!job) return { ok: false, reason: 'not_found' };
      // Only a dead job: a press on an alert already handled (replayed, succeeded since, or
      // cancelled on purpose) must not send again what was delivered. The CLI replays the rest.
      if (job.status !== 'dead') return { ok: false, reason: 'not_dead', job };
      const destination = Object.hasOwn(deps.config.destinations, job.destination) ? deps.config.destinations[job.destination] : undefined;
      const result = await replayJob(deps, jobId, { extraAttempts: destination?.retry.maxAttempts ?? DEFAULT_EXTRA_ATTEMPTS });
      switch (result.kind) {
        case 'replayed':
        case 'replayed_as_new':
          return { ok: true, job: result.job };
        case 'not_found':
          return { ok: false, reason: 'not_found' };
        case 'not_finished':
          // Replayed by someone else between the look and the replay.
          return { ok: false, reason: 'not_dead', job: result.job };
      }
    },
    async subscriberActivity(email, limit) {
      const [events, jobs] = await Promise.all([listEvents(deps, { email, limit }), listJobs(deps, { email, limit })]);
      return { events, jobs };
    },
  };
}
