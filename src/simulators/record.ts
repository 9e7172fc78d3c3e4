/**
 * The request record: every request a simulator received, faulted ones included, in the order
 * they arrived, bounded (the oldest are dropped) so a long-running simulator stays small. An entry
 * is added when the request arrives (its body read) and its `status` filled in when it is
 * answered, so a request whose answer is late or never comes is already visible.
 *
 * Entries are `SimRequest` unless a simulator keeps its own shape (the Kit simulator redacts
 * credentials; the webhook receiver keeps the body as bytes).
 */
import type { FaultKind } from './faults.js';

/** What happened instead of, or as, the answer: a status, or no answer at all. */
export type AnswerStatus = number | 'hang' | 'reset';

export interface SimRequest {
  /** 1 for the first request since the simulator started or its record was cleared. */
  readonly seq: number;
  readonly method: string;
  /** Without the query. */
  readonly path: string;
  /** Path and query, as sent. */
  readonly url: string;
  readonly query: Readonly<Record<string, unknown>>;
  /** Lower-cased names, as received (credentials included: this is the simulator's own record). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed body (JSON or form); undefined when there was none or it did not parse. */
  readonly body: unknown;
  /** The body as text (UTF-8); `''` when there was none. */
  readonly rawBody: string;
  /** Epoch ms, from the simulator's clock, when the request arrived. */
  readonly receivedAt: number;
  /** The status answered, `hang` or `reset`; null until answered (late, or the client left). */
  status: AnswerStatus | null;
  /** The fault applied to it, if any. */
  readonly fault?: FaultKind;
}

export class RequestRecord<E> {
  /** Oldest first; the last `max` entries. Live: the same array for the record's life. */
  readonly entries: E[] = [];
  readonly #max: number;
  #received = 0;
  readonly #listeners = new Set<() => void>();

  /** @param max entries kept, e.g. 10_000 */
  constructor(max: number) {
    if (!(max >= 1)) throw new RangeError(`a request record keeps at least 1 entry, not ${max}`);
    this.#max = max;
  }

  /** Requests added since the start or the last `clear()`, dropped ones included. */
  get received(): number {
    return this.#received;
  }

  add(entry: E): void {
    this.entries.push(entry);
    this.#received += 1;
    if (this.entries.length > this.#max) this.entries.splice(0, this.entries.length - this.#max);
    for (const listener of this.#listeners) listener();
  }

  /** Forgets every entry; `received` starts again at 0. */
  clear(): void {
    this.entries.length = 0;
    this.#received = 0;
  }

  /** Calls `listener` after every `add`; returns how to stop. */
  onAdd(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
