/** Destinations: their queue counts, the pause switch and the circuit breaker. */
import type { Config } from '../config/schema.js';
import type { DestinationState, JobCount, JobStatus } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

export interface DestinationDeps extends ServiceDeps {
  readonly config: Pick<Config, 'destinations'>;
}

export interface DestinationStatus {
  readonly name: string;
  readonly type: string;
  /** Set while paused by hand (`pauseDestination`); its jobs are held, no attempts spent. */
  readonly pausedAt: number | null;
  readonly pausedReason: string | null;
  /** Set only while the breaker is open (now < breakerOpenUntil). */
  readonly breakerOpenUntil: number | null;
  readonly jobs: Readonly<Record<JobStatus, number>>;
}

/** Every configured destination, in config order, with its state and job counts. */
export async function listDestinations(deps: DestinationDeps): Promise<DestinationStatus[]> {
  const [states, counts] = await Promise.all([deps.store.getDestinationStates(), deps.store.countJobs()]);
  const now = deps.clock.now();
  return Object.entries(deps.config.destinations).map(([name, destination]) => statusOf(name, destination.type, states, counts, now));
}

/** One configured destination's state; undefined when the config has no such destination. */
export async function showDestination(deps: DestinationDeps, name: string): Promise<DestinationStatus | undefined> {
  return (await listDestinations(deps)).find((destination) => destination.name === name);
}

function statusOf(name: string, type: string, states: readonly DestinationState[], counts: readonly JobCount[], now: number): DestinationStatus {
  const state = states.find((s) => s.destination === name);
  const count = (status: JobStatus) => counts.find((c) => c.destination === name && c.status === status)?.count ?? 0;
  const breakerOpenUntil = state?.breakerOpenUntil ?? null;
  return {
    name,
    type,
    pausedAt: state?.pausedAt ?? null,
    pausedReason: state?.pausedReason ?? null,
    breakerOpenUntil: breakerOpenUntil !== null && breakerOpenUntil > now ? breakerOpenUntil : null,
    jobs: { pending: count('pending'), running: count('running'), succeeded: count('succeeded'), dead: count('dead'), cancelled: count('cancelled') },
  };
}

export type PauseResult = { readonly kind: 'paused' } | { readonly kind: 'not_found' };
export type ResumeResult = { readonly kind: 'resumed' } | { readonly kind: 'not_found' };

/** Holds a configured destination's jobs until resumed (pausing a paused one updates the reason). */
export async function pauseDestination(deps: DestinationDeps, name: string, reason: string): Promise<PauseResult> {
  if (!isConfigured(deps, name)) return { kind: 'not_found' };
  await deps.store.pauseDestination(name, reason, deps.clock.now());
  return { kind: 'paused' };
}

/** Lets a paused destination's held jobs run (resuming one that is not paused changes nothing). */
export async function resumeDestination(deps: DestinationDeps, name: string): Promise<ResumeResult> {
  if (!isConfigured(deps, name)) return { kind: 'not_found' };
  await deps.store.resumeDestination(name, deps.clock.now());
  return { kind: 'resumed' };
}

function isConfigured(deps: DestinationDeps, name: string): boolean {
  return Object.hasOwn(deps.config.destinations, name);
}
