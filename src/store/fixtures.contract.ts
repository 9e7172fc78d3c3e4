/**
 * Builders for the store contract suite: small valid inputs with every field the suite asserts on
 * spelled out, so each test states only what it is about.
 */
import { expect } from 'vitest';
import type {
  AttemptInput,
  CommitDeliveryInput,
  CommitDeliveryResult,
  EventCommitOutcome,
  EventInput,
  JobRecord,
  PlannedJob,
  QuarantineInput,
  Store,
} from './types.js';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');
export const SECOND = 1000;

/** The store under test, fresh for each test. */
export interface ContractContext {
  readonly store: Store;
  /** Closes the store and opens the same database again. */
  readonly reopen: () => Promise<Store>;
  /**
   * Opens a second store on the same database, as another process would; the test closes it. Every
   * backend can (a second SQLite handle on the file, a second PostgreSQL pool), so no test skips.
   */
  readonly openPeer: () => Promise<Store>;
}

export function plannedJob(overrides: Partial<PlannedJob> = {}): PlannedJob {
  return { rule: 'tagged-to-crm', destination: 'crm', action: 'post', params: { list: 7 }, maxAttempts: 3, ...overrides };
}

let subscriberSeq = 0;

/** An event about subscriber `id` (a new subscriber per call unless given). */
export function eventInput(overrides: Partial<EventInput> = {}): EventInput {
  const id = overrides.subscriberId ?? String(++subscriberSeq + 1000);
  return {
    source: 'signed',
    kitEventId: `evt-${id}`,
    type: 'subscriber.tag_add',
    kitType: 'subscriber.tag_add',
    scope: { param: 'tag_id', value: '5' },
    subscriberId: id,
    email: `Sub${id}@Example.COM`,
    subscriberKey: `id:${id}`,
    occurredAt: T0 - SECOND,
    payload: { subscriber: { id: Number(id) }, tag_id: 5 },
    jobs: [],
    decisions: [],
    ...overrides,
  };
}

export function quarantineInput(overrides: Partial<QuarantineInput> = {}): QuarantineInput {
  return {
    system: 'legacy',
    route: 'r-tags',
    reason: 'invalid_json',
    detail: 'Unexpected token } at position 12',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from('{"subscriber":}'),
    receivedAt: T0,
    ...overrides,
  };
}

export function commit(
  store: Store,
  events: readonly EventInput[],
  receivedAt = T0,
  extra: Partial<CommitDeliveryInput> = {},
): Promise<CommitDeliveryResult> {
  return store.commitDelivery({
    delivery: { system: 'signed', route: 'main', kitDeliveryId: `d-${receivedAt}`, receivedAt, bodyBytes: 512 },
    events,
    quarantine: [],
    ...extra,
  });
}

export function asAccepted(outcome: EventCommitOutcome | undefined): { eventId: number; jobIds: readonly number[] } {
  if (outcome?.status !== 'accepted') throw new Error(`expected an accepted event, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** Commits one event with one job; returns the job's id. `subscriberKey: null` makes an event without one. */
export async function ingestJob(
  store: Store,
  options: { destination?: string; subscriberKey?: string | null; maxAttempts?: number; receivedAt?: number } = {},
): Promise<number> {
  const { destination = 'crm', subscriberKey, maxAttempts = 3, receivedAt = T0 } = options;
  const event = eventInput({
    jobs: [plannedJob({ destination, maxAttempts })],
    ...(subscriberKey !== undefined && { subscriberKey: subscriberKey ?? undefined }),
  });
  const [jobId] = asAccepted((await commit(store, [event], receivedAt)).events[0]).jobIds;
  if (jobId === undefined) throw new Error('no job was made');
  return jobId;
}

export async function getJob(store: Store, id: number): Promise<JobRecord> {
  const job = await store.getJob(id);
  expect(job, `job ${id}`).toBeDefined();
  return job!;
}

export function attemptFor(job: JobRecord, workerId: string, overrides: Partial<AttemptInput> = {}): AttemptInput {
  return {
    jobId: job.id,
    attempt: job.attempts + 1,
    workerId,
    startedAt: T0 + 10,
    finishedAt: T0 + 260,
    outcome: 'succeeded',
    request: {
      method: 'POST',
      url: 'https://crm.example/hooks',
      headers: { 'content-type': 'application/json', authorization: '[redacted]' },
      bodyBytes: 42,
      bodySha256: 'ab'.repeat(32),
      bodyPreview: '{"email":"sub@example.com"}',
    },
    responseStatus: 200,
    responseBody: '{"ok":true,"email":"sub@example.com"}',
    correlation: { idempotencyKey: job.idempotencyKey },
    ...overrides,
  };
}

/** Claims for `crm` at `now` as `workerId` with a 30 s lease; returns the claimed job ids. */
export async function claimIds(store: Store, now: number, options: { workerId?: string; destination?: string; limit?: number } = {}): Promise<number[]> {
  const claimed = await store.claimJobs({
    workerId: options.workerId ?? 'w1',
    destination: options.destination ?? 'crm',
    limit: options.limit ?? 10,
    now,
    leaseMs: 30 * SECOND,
  });
  return claimed.map((entry) => entry.job.id);
}
