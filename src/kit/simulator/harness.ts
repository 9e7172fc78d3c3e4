/**
 * Test helpers for the Kit simulator's own tests: a started simulator and a tiny `fetch` wrapper
 * that returns status, headers, raw text and parsed JSON. Excluded from the build (harness.ts).
 */
import { afterEach } from 'vitest';
import { startKitSimulator, type KitSimulator, type KitSimulatorOptions } from './server.js';

export const API_KEY = 'kit_sim_key';

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON; undefined when empty or not JSON. Untyped: tests read what the server sent. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

export interface CallOptions {
  readonly method?: string;
  /** Sent as JSON unless `form` is set. */
  readonly body?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  readonly form?: Record<string, string>;
  /** Replaces the default `X-Kit-Api-Key` header; `{}` sends no credentials. */
  readonly auth?: Record<string, string>;
  readonly headers?: Record<string, string>;
}

export async function call(sim: KitSimulator, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.auth ?? { 'x-kit-api-key': API_KEY }), ...options.headers };
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(`${sim.url}${path}`, { method: options.method ?? 'GET', headers, body, redirect: 'manual' });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The array under `key` of a JSON answer (`subscribers`, `tags`…), typed as the test expects. */
export function items<T>(answer: Answer, key: string): T[] {
  return (answer.json as Record<string, unknown>)[key] as T[];
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Starts a simulator with the rate limit off (unless asked for) and collects every change. */
export async function startWithChanges(options: KitSimulatorOptions = {}): Promise<{ sim: KitSimulator; changes: Array<{ type: string; [k: string]: unknown }> }> {
  const changes: Array<{ type: string; [k: string]: unknown }> = [];
  const sim = await startKitSimulator({ rateLimit: false, ...options, onChange: (c) => changes.push(c) });
  return { sim, changes };
}

/** For a test file: a `start` that starts a simulator (recording its changes) and closes it after each test. */
export function simulatorPerTest(): (options?: KitSimulatorOptions) => ReturnType<typeof startWithChanges> {
  let sim: KitSimulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });
  return async (options = {}) => {
    const started = await startWithChanges(options);
    sim = started.sim;
    return started;
  };
}
