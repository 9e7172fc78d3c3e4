/**
 * Prometheus metrics. One registry per running service (no module state), passed in to whatever
 * counts. `GET /metrics` serves `registry.metrics()`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  /** Inbound POSTs, by webhook system. */
  readonly deliveriesReceived: Counter<'system'>;
  /** Events by what ingest did with them: accepted, duplicate, quarantined. */
  readonly events: Counter<'outcome'>;
  /** Inbound requests refused before anything was stored, by reason (bad_token, bad_signature…). */
  readonly rejected: Counter<'reason'>;
  readonly ingestDuration: Histogram<'system'>;
  /** Attempts by destination and outcome (succeeded, retry, failed, unknown). */
  readonly attempts: Counter<'destination' | 'outcome'>;
  readonly attemptDuration: Histogram<'destination'>;
  /** Jobs by destination and status, refreshed from the store at each scrape. */
  readonly jobs: Gauge<'destination' | 'status'>;
  /** The store's write-ahead log size (SQLite), refreshed at each scrape. */
  readonly storeWalBytes: Gauge;
}

export function createMetrics(options: { collectDefaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.collectDefaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'kitrelay_' });
  const registers = [registry];
  return {
    registry,
    deliveriesReceived: new Counter({ name: 'kitrelay_deliveries_received_total', help: 'Inbound webhook POSTs received', labelNames: ['system'], registers }),
    events: new Counter({ name: 'kitrelay_events_total', help: 'Inbound events by ingest outcome', labelNames: ['outcome'], registers }),
    rejected: new Counter({ name: 'kitrelay_ingest_rejected_total', help: 'Inbound requests rejected before storing, by reason', labelNames: ['reason'], registers }),
    ingestDuration: new Histogram({
      name: 'kitrelay_ingest_duration_seconds',
      help: 'Time from request body read to acknowledgement (committed)',
      labelNames: ['system'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    attempts: new Counter({ name: 'kitrelay_attempts_total', help: 'Outbound attempts by destination and outcome', labelNames: ['destination', 'outcome'], registers }),
    attemptDuration: new Histogram({
      name: 'kitrelay_attempt_duration_seconds',
      help: 'Outbound attempt latency',
      labelNames: ['destination'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    jobs: new Gauge({ name: 'kitrelay_jobs', help: 'Jobs by destination and status', labelNames: ['destination', 'status'], registers }),
    storeWalBytes: new Gauge({ name: 'kitrelay_store_wal_bytes', help: 'Size of the SQLite write-ahead log file', registers }),
  };
}
