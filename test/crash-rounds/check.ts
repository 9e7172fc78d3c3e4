/**
 * The invariants, read from the SQLite file the relay writes (a second connection: WAL lets it
 * read while the relay runs):
 *
 * - every event whose post got a 2xx is stored, and accepted once (lost must be 0);
 * - every accepted event has its one job, and once drained every job is `succeeded` or `dead`
 *   with its last error;
 * - no job reached the destination twice, unless one of its attempts has outcome `unknown` (the
 *   relay died mid-attempt, so it could not know): those are counted, the others are failures.
 *
 * Posts that got no answer or a non-2xx may or may not be stored; they are counted, not judged.
 */
import type { AttemptRecord, EventRecord, JobRecord, Store } from '../../src/store/types.js';
import { isAcknowledged, type PostRecord } from './load.js';
import type { Sink } from './receiver.js';
import { delay } from './relay-process.js';

/** The store's largest page. */
const PAGE = 1000;
/** Pages read per query at most: 10 million rows, far beyond any run, but never unbounded. */
const MAX_PAGES = 10_000;

export interface Figures {
  posts: number;
  /** Posts that got no HTTP answer on their first try (reset or refused by the kill, timed out). */
  unansweredPosts: number;
  /** Posts answered with a status that is not 2xx on their first try (503 while the store was busy, …). */
  refusedPosts: number;
  /** Posts without a 2xx at first that got one when sent again after the restart. */
  acknowledgedOnResend: number;
  eventsPosted: number;
  /** Events in posts that got a 2xx, first try or re-send. */
  acknowledged: number;
  /** Acknowledged events not stored. Must be 0. */
  lost: number;
  /** Events stored as accepted more than once. Must be 0. */
  acceptedTwice: number;
  /** Events stored although their post never got a 2xx (allowed: the answer was lost, not the commit). */
  storedUnacknowledged: number;
  /**
   * Events whose first try got no 2xx yet had committed: the re-send was recognised as a duplicate.
   * The kill landed between the commit and the answer.
   */
  answerLost: number;
  /** Accepted events without a job, or with more than one (the one rule makes exactly one). Must be 0. */
  jobMismatches: number;
  jobs: number;
  delivered: number;
  dead: number;
  /** Jobs not succeeded or dead once drained, or dead with no last error. Must be 0. */
  unfinished: number;
  /** Jobs marked succeeded that the destination never answered 2xx. Must be 0. */
  succeededUndelivered: number;
  unknownAttempts: number;
  duplicatesAfterUnknown: number;
  /** Must be 0. */
  duplicatesWithoutUnknown: number;
}

/** What the check has already read: rows at or below these ids belong to earlier rounds. */
export interface Watermark {
  readonly eventId: number;
  readonly jobId: number;
  readonly attemptId: number;
}

export const START: Watermark = { eventId: 0, jobId: 0, attemptId: 0 };

export function emptyFigures(): Figures {
  return {
    posts: 0, unansweredPosts: 0, refusedPosts: 0, acknowledgedOnResend: 0, eventsPosted: 0, acknowledged: 0, lost: 0,
    acceptedTwice: 0, storedUnacknowledged: 0, answerLost: 0, jobMismatches: 0, jobs: 0, delivered: 0, dead: 0, unfinished: 0,
    succeededUndelivered: 0, unknownAttempts: 0, duplicatesAfterUnknown: 0, duplicatesWithoutUnknown: 0,
  };
}

/** The figures that must be 0, by name. */
export function failures(figures: Figures): string[] {
  const mustBeZero = ['lost', 'acceptedTwice', 'jobMismatches', 'unfinished', 'succeededUndelivered', 'duplicatesWithoutUnknown'] as const;
  return mustBeZero.filter((name) => figures[name] !== 0).map((name) => `${name}=${figures[name]}`);
}

export function addFigures(into: Figures, from: Figures): void {
  for (const name of Object.keys(into) as (keyof Figures)[]) into[name] += from[name];
}

/** Waits until no job is pending or running. Returns false when `timeoutMs` passes first. */
export async function waitForDrain(store: Store, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    const counts = await store.countJobs();
    if (!counts.some((c) => (c.status === 'pending' || c.status === 'running') && c.count > 0)) return true;
    await delay(100);
  }
  return false;
}

export interface CheckResult {
  readonly figures: Figures;
  /** Where the next round's check starts. */
  readonly watermark: Watermark;
}

/** Checks the posts against the rows above the watermark; `sink.collect()` must have run. */
export async function check(store: Store, sink: Sink, posts: readonly PostRecord[], from: Watermark): Promise<CheckResult> {
  const events = await newerThan((beforeId) => store.listEvents({ limit: PAGE, beforeId }), from.eventId);
  const jobs = await newerThan((beforeId) => store.listJobs({ limit: PAGE, beforeId }), from.jobId);
  const unknown = await newerThan((beforeId) => store.listAttempts({ outcome: 'unknown', limit: PAGE, beforeId }), from.attemptId);
  const figures = emptyFigures();
  checkPosts(figures, posts, events);
  checkJobs(figures, events, jobs, unknown, sink);
  return {
    figures,
    watermark: { eventId: highest(events, from.eventId), jobId: highest(jobs, from.jobId), attemptId: highest(unknown, from.attemptId) },
  };
}

function checkPosts(figures: Figures, posts: readonly PostRecord[], events: readonly EventRecord[]): void {
  const accepted = countBySubscriber(events.filter((event) => event.status === 'accepted'));
  const duplicates = countBySubscriber(events.filter((event) => event.status === 'duplicate'));
  figures.acceptedTwice = [...accepted.values()].filter((count) => count > 1).length;
  for (const post of posts) {
    figures.posts += 1;
    figures.eventsPosted += post.subscribers.length;
    if (post.status === undefined) figures.unansweredPosts += 1;
    else if (!isAcknowledged(post.status)) figures.refusedPosts += 1;
    const isAcked = isAcknowledged(post.status) || isAcknowledged(post.resendStatus);
    if (isAcked && !isAcknowledged(post.status)) figures.acknowledgedOnResend += 1;
    for (const id of post.subscribers) {
      const isStored = accepted.has(String(id));
      if (isAcked) figures.acknowledged += 1;
      if (isAcked && !isStored) figures.lost += 1;
      if (!isAcked && isStored) figures.storedUnacknowledged += 1;
      if (!isAcknowledged(post.status) && post.resendStatus !== undefined && duplicates.has(String(id))) figures.answerLost += 1;
    }
  }
}

function countBySubscriber(events: readonly EventRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { subscriberId } of events) if (subscriberId !== null) counts.set(subscriberId, (counts.get(subscriberId) ?? 0) + 1);
  return counts;
}

function checkJobs(figures: Figures, events: readonly EventRecord[], jobs: readonly JobRecord[], unknown: readonly AttemptRecord[], sink: Sink): void {
  const jobsPerEvent = new Map<number, number>();
  for (const job of jobs) jobsPerEvent.set(job.eventId, (jobsPerEvent.get(job.eventId) ?? 0) + 1);
  figures.jobMismatches = events.filter((e) => e.status === 'accepted' && jobsPerEvent.get(e.id) !== 1).length;
  const hasUnknown = new Set(unknown.map((attempt) => attempt.jobId));
  figures.unknownAttempts = unknown.length;
  for (const job of jobs) {
    figures.jobs += 1;
    if (job.status === 'succeeded') figures.delivered += 1;
    else if (job.status === 'dead' && job.lastError) figures.dead += 1;
    else figures.unfinished += 1;
    const deliveries = sink.deliveries.get(job.idempotencyKey) ?? 0;
    if (job.status === 'succeeded' && deliveries === 0) figures.succeededUndelivered += 1;
    if (deliveries > 1 && hasUnknown.has(job.id)) figures.duplicatesAfterUnknown += 1;
    if (deliveries > 1 && !hasUnknown.has(job.id)) figures.duplicatesWithoutUnknown += 1;
  }
}

function highest(rows: readonly { readonly id: number }[], floor: number): number {
  return rows.reduce((max, row) => Math.max(max, row.id), floor);
}

/** Every row with id > afterId, paging newest first (the store's order). */
async function newerThan<T extends { readonly id: number }>(page: (beforeId: number | undefined) => Promise<T[]>, afterId: number): Promise<T[]> {
  const rows: T[] = [];
  let beforeId: number | undefined;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const batch = await page(beforeId);
    rows.push(...batch.filter((row) => row.id > afterId));
    const last = batch.at(-1);
    if (!last || batch.length < PAGE || last.id <= afterId) return rows;
    beforeId = last.id;
  }
  throw new Error(`more than ${MAX_PAGES} pages of rows above id ${afterId}`);
}
