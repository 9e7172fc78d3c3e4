/**
 * Timers for the worker's loop: a sleep that can be cut short, and a cancellable delay. Both clear
 * their timers when done, so a stopped worker leaves nothing that keeps the process alive.
 */

/**
 * The loop's idle sleep. `wake()` ends a wakeable sleep now, or, when none is under way (the loop
 * is mid-pass), makes the next one return at once, so a wake is never lost between a pass and
 * its sleep. `interrupt()` ends any sleep (stop).
 */
export class Sleeper {
  #isWakeRequested = false;
  #current: { readonly finish: () => void; readonly isWakeable: boolean } | undefined;

  sleep(ms: number, options: { readonly isWakeable?: boolean } = {}): Promise<void> {
    const isWakeable = options.isWakeable ?? true;
    if (isWakeable && this.#isWakeRequested) {
      this.#isWakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        if (this.#current?.finish === finish) this.#current = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.#current = { finish, isWakeable };
    });
  }

  wake(): void {
    if (this.#current?.isWakeable) {
      this.#isWakeRequested = false;
      this.#current.finish();
    } else {
      this.#isWakeRequested = true;
    }
  }

  interrupt(): void {
    this.#current?.finish();
  }
}

/** A delay whose timer `cancel()` clears (the promise then never settles; nothing awaits it after). */
export function delay(ms: number): { readonly promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
