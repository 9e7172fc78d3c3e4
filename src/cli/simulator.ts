/**
 * `kitrelay simulator <name>`: run one simulated API on its own — for a local demo, a manual test
 * of a destination, or another process's tests. It prints one JSON line on stdout first (`name`,
 * `url` and the credentials and seeded ids it accepts, e.g. `token`), then nothing, until SIGINT
 * or SIGTERM closes it. Inspect and steer it over HTTP: `/_sim/state`, `/_sim/requests`,
 * `/_sim/faults`.
 */
import type { Command } from 'commander';
import { startAirtableSimulator } from '../integrations/airtable/simulator.js';
import { startWebhookReceiver } from '../integrations/webhook/simulator.js';
import { startBonjoroSimulator } from '../integrations/bonjoro/simulator.js';
import { startKajabiSimulator } from '../integrations/kajabi/simulator.js';
import { startMetaSimulator } from '../integrations/meta/simulator.js';
import { startSlackSimulator } from '../integrations/slack/simulator.js';
import { startKitSimulator } from '../kit/simulator/index.js';
import { createKitWebhooks } from '../kit/simulator/webhooks.js';
import type { SimulatorFactory } from '../simulators/index.js';
import { CliError } from './context.js';

/** Every simulator the command can run, by name. An integration with a simulator adds itself here. */
export const SIMULATORS: Readonly<Record<string, SimulatorFactory>> = {
  // With the webhook management routes, so a relay can register its webhooks against it.
  kit: ({ port, host, seed }) => startKitSimulator({ port, host, seed: { subscribers: 200, ...(seed === undefined ? {} : { seed }) }, plugins: [createKitWebhooks().plugin] }),
  webhook: ({ port, host }) => startWebhookReceiver({ port, host }),
  bonjoro: (options) => startBonjoroSimulator(options),
  slack: (options) => startSlackSimulator(options),
  meta: (options) => startMetaSimulator(options),
  airtable: (options) => startAirtableSimulator(options),
  kajabi: (options) => startKajabiSimulator(options),
};

interface SimulatorFlags {
  port?: string;
  host: string;
  seed?: string;
}

function wholeNumber(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n > max) throw new CliError('bad_option', `${flag} must be a whole number from 0 to ${max}, not "${value}"`, 2);
  return n;
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function registerSimulator(program: Command): void {
  const names = Object.keys(SIMULATORS).join(', ');
  program
    .command('simulator <name>')
    .description(`run a simulated API on loopback until stopped (${names}); prints one JSON line first: name, url and the credentials it accepts`)
    .option('--port <port>', 'listen port (default: any free port)')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--seed <seed>', 'seed of the simulated account: the same seed gives the same ids (default 1)')
    .action(async (name: string, flags: SimulatorFlags) => {
      const factory = Object.hasOwn(SIMULATORS, name) ? SIMULATORS[name] : undefined;
      if (!factory) throw new CliError('unknown_simulator', `No simulator "${name}". Known simulators: ${names}`, 2);
      const port = wholeNumber(flags.port, '--port', 65_535);
      const seed = wholeNumber(flags.seed, '--seed', 2 ** 32 - 1);
      const sim = await factory({ host: flags.host, ...(port === undefined ? {} : { port }), ...(seed === undefined ? {} : { seed }) });
      // name and url first and never overridden by a credential of the same name.
      process.stdout.write(`${JSON.stringify(Object.assign({ name: sim.name, url: sim.url }, sim.credentials, { name: sim.name, url: sim.url }))}\n`);
      await untilSignal();
      try {
        await sim.close();
      } catch (error) {
        process.stderr.write(`error: closing the ${name} simulator: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      }
      process.exit(0);
    });
}
