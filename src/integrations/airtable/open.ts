/**
 * A client for work outside the queue (a backfill, the inbound side, the check, erasure): the
 * destination's token and API URL, every call spending from the store's shared budget first.
 */
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import type { ScheduleDeps } from '../types.js';
import { storeCallBudget } from './budget.js';
import { airtableClient, type AirtableClient } from './client.js';
import type { AirtableDestinationConfig, AirtableSyncConfig } from './schema.js';

/** What work on one sync outside the queue is given (a backfill, the check, detection, the inbound run); `S`: the store's sides it uses. */
export interface SyncRunDeps<S> {
  readonly store: S;
  readonly client: AirtableClient;
  readonly destinationName: string;
  readonly syncName: string;
  readonly sync: AirtableSyncConfig;
  /** Epoch ms, from the injected clock. */
  readonly now: () => number;
  readonly signal?: AbortSignal;
}

/** A long run's progress, for a progress bar or a schedule's run record. */
export type ProgressReport = (report: { readonly done: number; readonly total?: number; readonly message: string }) => void;

export interface OpenedClient {
  readonly client: AirtableClient;
  /** Closes the HTTP client when this made it (the deps gave none). */
  close(): Promise<void>;
}

export function openClient(deps: ScheduleDeps<AirtableDestinationConfig>, run: { readonly now: () => number; readonly signal?: AbortSignal; readonly warn?: (message: string) => void }): OpenedClient {
  const { destination, destinationName } = deps;
  const token = deps.secrets(destination.token);
  const http: HttpClient = deps.http ?? createHttpClient();
  const budget = storeCallBudget({ store: deps.store, destinationName, destination, token, now: run.now, onWarning: (warning) => run.warn?.(warning.message) });
  const signal = run.signal ? { signal: run.signal } : {};
  const client = airtableClient((request) => http.send({ timeoutMs: destination.timeoutMs, ...signal, ...request }), { apiUrl: destination.apiUrl, token, userAgent: deps.userAgent }, { budget, now: run.now, penaltyMs: destination.rateLimitPenaltyMs, ...signal });
  return { client, close: async () => (deps.http ? undefined : http.close()) };
}
