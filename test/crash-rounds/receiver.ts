/**
 * The destination: the webhook receiver simulator, in the harness process so it outlives every
 * kill. It counts deliveries per `Idempotency-Key` (stable per job across attempts and restarts)
 * and misbehaves for some subscribers, chosen by id so a run's faults are the same every time:
 * slow answers (so kills land mid-attempt), one-off 503s and resets (retried), a permanent 422 and
 * a 503 that never clears (both end `dead`).
 */
import { startWebhookReceiver, type FaultSpec, type ReceivedRequest, type RequestView } from '../../src/integrations/webhook/simulator.js';

export interface Sink {
  readonly url: string;
  /**
   * Moves the requests received so far into the delivery counts and forgets them, so memory stays
   * bounded over many rounds. Call it only when no attempt is in flight (after a drain).
   */
  collect(): void;
  /** 2xx answers per idempotency key, over the whole run (call `collect` first). */
  readonly deliveries: ReadonlyMap<string, number>;
  /** Requests answered 2xx that carried no idempotency key (there should be none). */
  readonly keyless: number;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  // Bounded by `collect`, which runs every round; this only has to hold one round's requests.
  const receiver = await startWebhookReceiver({ maxRequests: 1_000_000 });
  const faulted = new Set<string>();
  const install = () => {
    for (const fault of sinkFaults(faulted)) receiver.fault(fault);
  };
  install();
  const deliveries = new Map<string, number>();
  let keyless = 0;
  return {
    url: `${receiver.url}/sink`,
    collect() {
      for (const request of receiver.requests) {
        if (!isDelivered(request)) continue;
        const key = request.headers['idempotency-key'];
        if (typeof key !== 'string') keyless += 1;
        else deliveries.set(key, (deliveries.get(key) ?? 0) + 1);
      }
      receiver.reset(); // forgets the faults too
      install();
    },
    deliveries,
    get keyless() {
      return keyless;
    },
    close: () => receiver.close(),
  };
}

/**
 * A request the receiver accepted. A slow 2xx counts even when the relay was killed before it
 * arrived: a real receiver would have acted on it.
 */
function isDelivered(request: ReceivedRequest): boolean {
  return request.answer.kind === 'response' && request.answer.status >= 200 && request.answer.status < 300;
}

function subscriberOf(request: RequestView): number | undefined {
  const id = (request.json as { event?: { subscriber?: { id?: unknown } } } | undefined)?.event?.subscriber?.id;
  return typeof id === 'number' ? id : undefined;
}

function keyOf(request: RequestView): string {
  const key = request.headers['idempotency-key'];
  return typeof key === 'string' ? key : '';
}

/** Which subscribers' jobs misbehave, by id. */
export const FAULTY = {
  isSlow: (id: number) => id % 40 === 0,
  isVerySlow: (id: number) => id % 40 === 20,
  isFlaky: (id: number) => id % 20 === 1,
  isReset: (id: number) => id % 20 === 3,
  isRejected: (id: number) => id % 50 === 7,
  isBroken: (id: number) => id % 50 === 9,
};

function sinkFaults(faulted: Set<string>): FaultSpec[] {
  const by = (test: (id: number) => boolean) => (request: RequestView) => {
    const id = subscriberOf(request);
    return id !== undefined && test(id);
  };
  // The first attempt of a job only: the key is remembered across rounds and resets.
  const once = (test: (id: number) => boolean) => (request: RequestView) => {
    if (!by(test)(request) || faulted.has(keyOf(request))) return false;
    faulted.add(keyOf(request));
    return true;
  };
  return [
    { kind: 'delay', ms: 400, times: Infinity, match: by(FAULTY.isSlow) },
    { kind: 'delay', ms: 1_200, times: Infinity, match: by(FAULTY.isVerySlow) },
    { kind: 'status', status: 503, retryAfter: 0, times: Infinity, match: once(FAULTY.isFlaky) },
    { kind: 'reset', times: Infinity, match: once(FAULTY.isReset) },
    { kind: 'status', status: 422, body: { error: 'rejected by the crash-rounds sink' }, times: Infinity, match: by(FAULTY.isRejected) },
    { kind: 'status', status: 503, times: Infinity, match: by(FAULTY.isBroken) },
  ];
}
