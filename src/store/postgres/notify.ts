/**
 * Wake-ups across processes (issue 13): one dedicated connection that LISTENs on `kitrelay_jobs`,
 * which the jobs trigger (migration 009) notifies, with the schema as payload, when a transaction
 * leaves a job runnable. Listeners are called on each notification for this store's schema (the
 * channel is per database; other schemas' notifications are ignored).
 *
 * The connection is a hint, never a dependency: if it cannot connect or drops, it reconnects with
 * backoff (100 ms doubling to 10 s) and calls the listeners once it is back (work may have arrived
 * meanwhile); its errors go to the listeners' `onError` (a log line) and are never thrown. Workers keep polling
 * (`queue.pollIntervalMs`) whatever happens here.
 */
import pg from 'pg';

export const JOBS_CHANNEL = 'kitrelay_jobs';

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 10_000;

export interface JobsListenerOptions {
  readonly url: string;
  readonly schema: string;
}

/** Told about connection failures and a listener's own throw (a log line); never thrown. */
export type ListenErrorHandler = (error: unknown) => void;

export interface JobsListener {
  /** Calls `listener` when another transaction made jobs runnable; answers the unsubscribe. */
  add(listener: () => void, onError?: ListenErrorHandler): () => void;
  /** True while the LISTEN connection is up (tests). */
  readonly isListening: boolean;
  close(): Promise<void>;
}

/** Connects lazily, at the first listener; disconnects when the last one leaves or on close. */
export function createJobsListener(options: JobsListenerOptions): JobsListener {
  const listeners = new Map<() => void, ListenErrorHandler | undefined>();
  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryMs = FIRST_RETRY_MS;
  let isListening = false;
  let isClosed = false;

  const notifyAll = () => {
    for (const [listener, onError] of [...listeners]) {
      try {
        listener();
      } catch (error) {
        onError?.(error);
      }
    }
  };
  const reportError = (error: unknown) => {
    for (const onError of new Set(listeners.values())) onError?.(error);
  };

  const disconnect = async () => {
    clearTimeout(retryTimer);
    retryTimer = undefined;
    const current = client;
    client = undefined;
    isListening = false;
    await current?.end().catch(() => undefined);
  };

  const scheduleRetry = () => {
    if (isClosed || listeners.size === 0 || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, retryMs);
    retryTimer.unref();
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  };

  const onLost = (current: pg.Client, error?: unknown) => {
    if (client !== current) return; // already replaced or closed
    if (error !== undefined) reportError(error);
    client = undefined;
    isListening = false;
    void current.end().catch(() => undefined);
    scheduleRetry();
  };

  const connect = (): Promise<void> =>
    (connecting ??= (async () => {
      if (isClosed || listeners.size === 0 || client) return;
      // Named for its schema, so an operator (or a test) can find it in pg_stat_activity.
      const current = new pg.Client({ connectionString: options.url, application_name: `kitrelay-listen:${options.schema}`.slice(0, 63) });
      client = current;
      // Without an 'error' listener a dropped connection would crash the process.
      current.on('error', (error) => onLost(current, error));
      current.on('end', () => onLost(current));
      current.on('notification', (message) => {
        if (message.channel === JOBS_CHANNEL && message.payload === options.schema) notifyAll();
      });
      try {
        await current.connect();
        await current.query(`LISTEN ${JOBS_CHANNEL}`);
        if (client !== current) return; // closed while connecting
        const wasRetrying = retryMs > FIRST_RETRY_MS;
        isListening = true;
        retryMs = FIRST_RETRY_MS;
        if (wasRetrying) notifyAll(); // jobs may have been made while nobody listened
      } catch (error) {
        onLost(current, error);
      }
    })().finally(() => {
      connecting = undefined;
    }));

  return {
    add(listener, onError) {
      listeners.set(listener, onError);
      if (!isClosed) void connect();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) void disconnect();
      };
    },
    get isListening() {
      return isListening;
    },
    async close() {
      isClosed = true;
      listeners.clear();
      await connecting;
      await disconnect();
    },
  };
}
