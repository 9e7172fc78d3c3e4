/**
 * The Connector port: the code for one kind of destination. The queue hands a connector one job at
 * a time; the connector makes one outbound call (an attempt) and says how it went as a value.
 * Connectors never throw for an outcome of the call (a 500, a timeout): they return `retry` or
 * `failed`. A throw is a bug, recorded as a retryable failure.
 *
 * Each connector kind has the same files: client.ts (the API calls), format.ts where there is
 * formatting, simulator.ts (a real loopback HTTP server standing in for the API), and tests.
 */
import type { DestinationConfig } from '../config/schema.js';
import type { KitEvent } from '../kit/events.js';
import type { EventRecord, JobRecord, RequestSummary } from '../store/types.js';

/** Resolves a secret reference (`env('NAME')`) or passes a plain string through. */
export type SecretResolver = (value: string | { readonly $env: string }) => string;

/** What one outbound call sent and got back, for the audit record. */
export interface CallRecord {
  readonly request: RequestSummary;
  readonly responseStatus?: number;
  /** The start of the response body (kept short). */
  readonly responseBody?: string;
  /** Ids that tie this call to others: idempotency key, the response's request id, … */
  readonly correlation: Readonly<Record<string, string>>;
}

export type AttemptResult =
  | { readonly outcome: 'succeeded'; readonly call: CallRecord }
  /** Worth trying again; `retryAfterMs` when the destination said when (Retry-After). */
  | { readonly outcome: 'retry'; readonly error: string; readonly retryAfterMs?: number; readonly call?: CallRecord }
  /** Will never succeed as sent (a 400, a 404, a config error). */
  | { readonly outcome: 'failed'; readonly error: string; readonly call?: CallRecord };

export interface ConnectorContext {
  readonly job: JobRecord;
  readonly eventRecord: EventRecord;
  /** The normalised event the job was made from. */
  readonly event: KitEvent;
  readonly destinationName: string;
  readonly destination: DestinationConfig;
  /** Stable per job across attempts: send it where the destination accepts one. */
  readonly idempotencyKey: string;
  readonly secrets: SecretResolver;
  /** Aborted on timeout and on forced shutdown. */
  readonly signal: AbortSignal;
  /** Epoch ms, from the injected clock. */
  readonly now: number;
}

export interface Connector {
  /** The destination `type` this connector serves (`webhook`, `slack`, …). */
  readonly type: string;
  send(ctx: ConnectorContext): Promise<AttemptResult>;
  /** Releases sockets and timers. */
  close?(): Promise<void>;
}
