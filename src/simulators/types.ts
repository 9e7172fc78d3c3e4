/**
 * What every simulator is, seen from outside: a real HTTP server on loopback standing in for one
 * remote API, started by a factory and closed by its handle.
 *
 * Words:
 * - **simulator**: the server and its in-memory state (greets, subscribers, records…).
 * - **fault**: a misbehaviour queued on demand (faults.ts), matched by method and path.
 * - **request record**: the bounded list of requests received, oldest first (record.ts).
 * - **credentials**: the tokens and ids the simulator accepts, so a client can be pointed at it.
 * - **`/_sim/*`**: inspection routes every simulator answers (server.ts): never faulted,
 *   authenticated, rate-limited or recorded.
 */

/** What `kitrelay simulator <name>` and tests pass to any simulator's factory. */
export interface SimulatorStartOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The same seed gives the same seeded account, ids included. @default 1 */
  readonly seed?: number;
}

/** The handle every started simulator gives. */
export interface RunningSimulator {
  /** The catalog name: `kit`, `webhook`, `bonjoro`… */
  readonly name: string;
  /** `http://HOST:PORT`, no trailing slash. */
  readonly url: string;
  /** The tokens, keys and seeded ids the simulator accepts: printed by the CLI, read by tests. */
  readonly credentials: Readonly<Record<string, unknown>>;
  /** Drops every connection (hung ones too) and stops listening. Idempotent. */
  close(): Promise<void>;
}

export type SimulatorFactory<T extends RunningSimulator = RunningSimulator> = (options: SimulatorStartOptions) => Promise<T>;
