/**
 * What the `kitrelay sandbox <integration>-…` commands share: finding the simulator a running
 * sandbox stands in for a destination (recorded in the store's settings), and calling its
 * control API with errors that say what to do.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import { SANDBOX_SIMULATORS_SETTING, type SandboxSimulator } from '../main.js';
import { CliError, withStore } from './context.js';

/** The running sandbox's simulator `name` and the stand-in config it serves, checked by `schema`. */
export async function findStandIn<D>(command: Command, name: string, schema: z.ZodType<D>, missing: string): Promise<{ readonly url: string; readonly destination: D }> {
  return withStore(command, async (store) => {
    const text = await store.getSetting(SANDBOX_SIMULATORS_SETTING);
    if (text === undefined) throw new CliError('not_sandbox', 'No sandbox has run on this data directory: start one with `npm start` (no credentials set)', 1);
    const record = JSON.parse(text) as { simulators: readonly SandboxSimulator[] };
    const sim = record.simulators.find((s) => s.name === name && s.standIn);
    const parsed = sim?.standIn ? schema.safeParse(sim.standIn.config) : undefined;
    if (!sim || !parsed?.success) throw new CliError('no_simulator', missing, 1);
    return { url: sim.url, destination: parsed.data };
  });
}

/** A call to a simulator's control API (or state); its JSON answer. */
export async function callSimulator(what: string, url: string, init: RequestInit = {}): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new CliError('not_running', `Could not reach the ${what} simulator at ${new URL(url).origin}: is \`npm start\` running? (${error instanceof Error ? error.message : String(error)})`, 1);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) throw new CliError('sim_error', `The ${what} simulator answered ${response.status}: ${JSON.stringify(body)}`, 1);
  return body;
}
