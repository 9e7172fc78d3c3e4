/** Events: what arrived from Kit, and what the rules made of it. */
import type { EventFilter, EventRecord, JobRecord } from '../store/index.js';
import type { ServiceDeps } from './deps.js';

export interface EventDetail {
  readonly event: EventRecord;
  /** Every job the event made, whatever its status. */
  readonly jobs: readonly JobRecord[];
}

/** Events matching the filter, newest first. */
export function listEvents(deps: ServiceDeps, filter: EventFilter): Promise<EventRecord[]> {
  return deps.store.listEvents(filter);
}

/** One event with its jobs; undefined when there is no such event (or retention removed it). */
export async function showEvent(deps: ServiceDeps, id: number): Promise<EventDetail | undefined> {
  const event = await deps.store.getEvent(id);
  if (!event) return undefined;
  return { event, jobs: await deps.store.listJobs({ eventId: id, limit: 1000 }) };
}
