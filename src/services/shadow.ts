/**
 * The shadow report: what shadow destinations would have sent (destination `mode: 'shadow'`), per
 * destination and subscriber, so a team running kitrelay beside its Zaps can compare before it
 * switches a destination to `live`.
 */
import type { AttemptRecord, RequestSummary } from '../store/types.js';
import type { ServiceDeps } from './deps.js';

export interface ShadowFilter {
  readonly destination?: string;
  /** Inclusive, on the attempt's start. */
  readonly since?: number;
  readonly until?: number;
  /** Shadow attempts read at most (newest first). @default 10_000 */
  readonly limit?: number;
}

export interface ShadowEntry {
  readonly destination: string;
  readonly action: string;
  /** The subscriber key (`id:…` / `email:…`), or '' for jobs without one. */
  readonly subscriber: string;
  readonly email: string | null;
  /** Requests that would have been sent. */
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
  /** The newest request as it would have gone out (secrets redacted). */
  readonly lastRequest: RequestSummary | undefined;
  readonly jobIds: readonly number[];
}

export interface ShadowReport {
  readonly destinations: readonly { readonly destination: string; readonly requests: number; readonly subscribers: number }[];
  readonly entries: readonly ShadowEntry[];
  /** More shadow attempts matched than were read (`limit`). */
  readonly isTruncated: boolean;
}

const PAGE = 1_000;

export async function shadowReport(deps: ServiceDeps, filter: ShadowFilter = {}): Promise<ShadowReport> {
  const limit = filter.limit ?? 10_000;
  const attempts: AttemptRecord[] = [];
  let beforeId: number | undefined;
  // Pages of the newest shadow attempts, until the limit or the end.
  while (attempts.length < limit) {
    const page = await deps.store.listAttempts({
      isShadow: true,
      limit: Math.min(PAGE, limit - attempts.length),
      ...(filter.destination ? { destination: filter.destination } : {}),
      ...(filter.since !== undefined ? { since: filter.since } : {}),
      ...(filter.until !== undefined ? { until: filter.until } : {}),
      ...(beforeId !== undefined ? { beforeId } : {}),
    });
    attempts.push(...page);
    const last = page.at(-1);
    if (page.length < PAGE || !last) break;
    beforeId = last.id;
  }
  const entries = new Map<string, { entry: Omit<ShadowEntry, 'jobIds'>; jobIds: Set<number> }>();
  // Oldest first, so the last request seen is the newest.
  for (const attempt of [...attempts].reverse()) {
    const key = `${attempt.destination}\u0000${attempt.action}\u0000${attempt.subscriberKey ?? ''}`;
    const seen = entries.get(key);
    if (!seen) {
      entries.set(key, {
        entry: { destination: attempt.destination, action: attempt.action, subscriber: attempt.subscriberKey ?? '', email: attempt.email, count: 1, firstAt: attempt.startedAt, lastAt: attempt.startedAt, lastRequest: attempt.request },
        jobIds: new Set([attempt.jobId]),
      });
      continue;
    }
    seen.jobIds.add(attempt.jobId);
    seen.entry = { ...seen.entry, count: seen.entry.count + 1, lastAt: attempt.startedAt, lastRequest: attempt.request ?? seen.entry.lastRequest };
  }
  const list = [...entries.values()].map(({ entry, jobIds }) => ({ ...entry, jobIds: [...jobIds] }));
  list.sort((a, b) => a.destination.localeCompare(b.destination) || b.lastAt - a.lastAt);
  const byDestination = new Map<string, { requests: number; subscribers: number }>();
  for (const entry of list) {
    const totals = byDestination.get(entry.destination) ?? { requests: 0, subscribers: 0 };
    byDestination.set(entry.destination, { requests: totals.requests + entry.count, subscribers: totals.subscribers + 1 });
  }
  return {
    destinations: [...byDestination].map(([destination, totals]) => ({ destination, ...totals })),
    entries: list,
    isTruncated: attempts.length >= limit,
  };
}
