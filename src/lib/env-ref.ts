/**
 * Secrets in the config are references to the environment (`env('SLACK_TOKEN')`), never literals.
 * The reference type lives here, below config and the integrations, so an integration's own config
 * schema can take secrets without importing the config module that composes it.
 */
import { z } from 'zod';

/** A reference to an environment variable holding a secret. */
export interface EnvRef {
  readonly $env: string;
  /** When true, a missing variable is not an error (the feature using it is off). */
  readonly optional?: boolean;
}

/** Reference a secret in the environment: `env('SLACK_TOKEN')`. */
export function env(name: string, options: { optional?: boolean } = {}): EnvRef {
  return { $env: name, ...(options.optional ? { optional: true } : {}) };
}

export const envRefSchema = z
  .object({ $env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), optional: z.boolean().optional() })
  .strict();

export function isEnvRef(value: unknown): value is EnvRef {
  return typeof value === 'object' && value !== null && typeof (value as { $env?: unknown }).$env === 'string';
}

/** Every env reference inside a config value (an integration's settings), however deep. */
export function envRefsIn(value: unknown, found: EnvRef[] = []): EnvRef[] {
  if (isEnvRef(value)) {
    found.push(value);
    return found;
  }
  if (Array.isArray(value)) for (const item of value) envRefsIn(item, found);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) envRefsIn(item, found);
  return found;
}
