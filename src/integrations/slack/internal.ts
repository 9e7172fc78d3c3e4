/**
 * Messages for kitrelay's own events (ingest/internal.ts): a closed digest window
 * (`kitrelay:digest`, payload `{ digest: DigestSummary }`) and a dead job's alert
 * (`kitrelay:job_dead`, payload `{ job, event, subscriber }`). Payloads are read defensively: they
 * are ours, but stored rows outlive code versions.
 */
import type { KitEvent } from '../../kit/index.js';
import { toKitEvent } from '../../kit/normalize.js';
import type { DigestExample } from '../../store/types.js';
import { sourceKitEvent } from '../source-event.js';
import type { SlackMessage } from './blocks.js';
import { formatDeadJobsDigest, formatDeadLetterAlert, formatDigest, type DeadLetterAlertInput } from './format.js';

const DIGEST = 'kitrelay:digest';
const JOB_DEAD = 'kitrelay:job_dead';

export interface InternalMessageOptions {
  readonly mention?: string;
  readonly title?: string;
  readonly link?: string;
}

type JsonObject = Readonly<Record<string, unknown>>;
const object = (value: unknown): JsonObject => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {});
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined);
const number = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** The default message for one of kitrelay's own events; undefined for any other event. */
export function internalMessage(event: KitEvent, options: InternalMessageOptions): SlackMessage | undefined {
  if (event.type === JOB_DEAD) return formatDeadLetterAlert({ ...deadJobOf(event.payload), ...options });
  if (event.type !== DIGEST) return undefined;
  const digest = object(object(event.payload).digest);
  const counts = Object.fromEntries(Object.entries(object(digest.counts)).filter((entry): entry is [string, number] => number(entry[1]) !== undefined));
  const windowMs = (number(digest.windowEnd) ?? 0) - (number(digest.windowStart) ?? 0);
  const examples = (Array.isArray(digest.examples) ? digest.examples : []).map((e) => object(e) as unknown as DigestExample);
  const types = Object.keys(counts);
  if (types.length > 0 && types.every((type) => type === JOB_DEAD)) {
    return formatDeadJobsDigest({ total: number(digest.total) ?? 0, windowMs, jobs: examples.map((e) => deadJobOf(e.payload)), ...options });
  }
  return formatDigest({ counts, windowMs, examples: examples.map(exampleEvent), ...options });
}

function deadJobOf(payload: unknown): Omit<DeadLetterAlertInput, 'mention' | 'link'> {
  const { job: jobValue, event: eventValue, subscriber: subscriberValue } = object(payload);
  const job = object(jobValue);
  const subscriber = object(subscriberValue);
  const maxAttempts = number(job.maxAttempts);
  const failedAt = number(job.failedAt);
  const action = text(job.action);
  const eventType = text(object(eventValue).type);
  return {
    jobId: text(job.id) ?? '?',
    destination: text(job.destination) ?? '?',
    rule: text(job.rule) ?? '?',
    error: text(job.error) ?? null,
    attempts: number(job.attempts) ?? 0,
    email: text(subscriber.email_address) ?? null,
    subscriberId: text(subscriber.id) ?? null,
    ...(action !== undefined ? { action } : {}),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    ...(failedAt !== undefined ? { failedAt } : {}),
    ...(eventType !== undefined ? { eventType } : {}),
  };
}

/** A digest example as the event view formatters take (Kit's events normalised; others as a source's). */
function exampleEvent(example: DigestExample): KitEvent {
  if (example.origin === 'kit') {
    return toKitEvent({ type: example.type, kitType: example.kitType, source: example.source, kitEventId: example.kitEventId, scope: example.scope, payload: example.payload, occurredAt: null });
  }
  return sourceKitEvent({ type: example.type, payload: example.payload, ...(example.email ? { email: example.email } : {}), ...(example.subscriberId ? { subscriberId: example.subscriberId } : {}) });
}
