/**
 * Which Airtable sync a command acts on, as a running sandbox runs it (its stand-in's config and
 * token), and the secrets to reach it. Shared by the `kitrelay airtable …` commands.
 */
import type { LoadedConfig } from '../config/load.js';
import { createSecretResolver } from '../config/secrets.js';
import { airtableDestinationSchema, type AirtableDestinationConfig } from '../integrations/airtable/index.js';
import { sandboxStandInFor } from '../main.js';
import type { AnyStore } from '../store/index.js';
import { CliError } from './context.js';

export interface Target {
  readonly destinationName: string;
  readonly destination: AirtableDestinationConfig;
  /** The sandbox's simulator token, when a running sandbox stands in for the destination. */
  readonly overlay?: Readonly<Record<string, string>>;
}

export const airtables = (loaded: LoadedConfig) => Object.entries(loaded.config.destinations).filter((entry): entry is [string, AirtableDestinationConfig] => entry[1].type === 'airtable');

/** The airtable destination holding this sync (the only one, or `--destination`), as a running sandbox runs it. */
export async function findSync(store: AnyStore, loaded: LoadedConfig, sync: string, destinationFlag: string | undefined): Promise<Target> {
  const candidates = airtables(loaded).filter(([name, destination]) => (destinationFlag === undefined || name === destinationFlag) && Object.hasOwn(destination.syncs, sync));
  const [found] = candidates;
  if (!found) {
    const known = airtables(loaded).flatMap(([name, destination]) => Object.keys(destination.syncs).map((s) => `${name}/${s}`));
    throw new CliError('no_sync', `No Airtable sync "${sync}"${destinationFlag ? ` on ${destinationFlag}` : ''} in the config (syncs: ${known.join(', ') || 'none'})`, 2);
  }
  if (candidates.length > 1) throw new CliError('ambiguous', `Sync "${sync}" is on ${candidates.map(([n]) => n).join(' and ')}: pick one with --destination`, 2);
  const [destinationName, destination] = found;
  const standIn = await sandboxStandInFor(store, destinationName, process.env);
  const parsed = standIn ? airtableDestinationSchema.safeParse(standIn.config) : undefined;
  return parsed?.success && standIn ? { destinationName, destination: parsed.data, overlay: standIn.overlay } : { destinationName, destination };
}

/** The secrets of a sync's destination (the sandbox stand-in's token included), refused early when its token is unset. */
export function secretsFor(target: Target): ReturnType<typeof createSecretResolver> {
  const secrets = createSecretResolver(process.env, target.overlay);
  try {
    secrets(target.destination.token);
  } catch (error) {
    throw new CliError('no_token', `${error instanceof Error ? error.message : String(error)} (or start the sandbox, which stands a simulator in)`, 2);
  }
  return secrets;
}

