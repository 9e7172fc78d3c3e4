/**
 * `waitFor` for tests: resolves once a predicate over the simulator (its requests, its state)
 * holds. The predicate is checked at once, after every `notify()` (the server notifies on every
 * request received and every answer), and every `pollMs` for changes nobody announced (a test
 * changing state directly, the clock moving).
 */

export interface WaitOptions {
  /** @default 5_000 */
  readonly timeoutMs?: number;
  /** @default 50 */
  readonly pollMs?: number;
  /** What is awaited, for the timeout message ("the greet for ada@example.com"). */
  readonly what?: string;
}

interface Waiter {
  readonly check: () => boolean;
  readonly reject: (error: Error) => void;
}

export class Waiters<C> {
  readonly #name: string;
  readonly #context: () => C;
  /** Says what the simulator saw, for timeout messages ("3 requests received"). */
  readonly #progress: () => string;
  readonly #waiters = new Set<Waiter>();

  constructor(name: string, context: () => C, progress: () => string = () => '') {
    this.#name = name;
    this.#context = context;
    this.#progress = progress;
  }

  /** Resolves with the context once `predicate` returns true; rejects on timeout, if it throws, or at `cancelAll`. */
  waitFor(predicate: (context: C) => boolean, options: WaitOptions = {}): Promise<C> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    return new Promise<C>((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.#waiters.delete(waiter);
        if (error) reject(error);
        else resolve(this.#context());
      };
      const waiter: Waiter = {
        check: () => {
          try {
            if (!predicate(this.#context())) return false;
          } catch (error) {
            finish(error instanceof Error ? error : new Error(String(error)));
            return true;
          }
          finish();
          return true;
        },
        reject: (error) => finish(error),
      };
      const timer = setTimeout(() => {
        const progress = this.#progress();
        finish(new Error(`${this.#name}: waited ${timeoutMs} ms${options.what ? ` for ${options.what}` : ''} in vain${progress ? ` (${progress})` : ''}`));
      }, timeoutMs);
      const poll = setInterval(() => waiter.check(), options.pollMs ?? 50);
      this.#waiters.add(waiter);
      waiter.check();
    });
  }

  /** Re-checks every waiting predicate. */
  notify(): void {
    for (const waiter of [...this.#waiters]) waiter.check();
  }

  /** Rejects every waiter (the simulator is closing). */
  cancelAll(reason: string): void {
    for (const waiter of [...this.#waiters]) waiter.reject(new Error(`${this.#name}: ${reason}`));
  }
}
