/**
 * Secrets are references to the environment (`env('NAME')`), resolved when used, never logged.
 * The overlay holds values kitrelay itself provides (sandbox receiver URLs, a generated sandbox
 * signing secret) for references the environment leaves unset.
 */
import { ConfigError } from '../lib/errors.js';

export type SecretValue = string | { readonly $env: string };

export function createSecretResolver(
  env: Readonly<Record<string, string | undefined>>,
  overlay: Readonly<Record<string, string>> = {},
): (value: SecretValue) => string {
  return (value) => {
    if (typeof value === 'string') return value;
    const resolved = env[value.$env] || overlay[value.$env];
    if (!resolved) throw new ConfigError(`Environment variable ${value.$env} is not set (the config references it with env('${value.$env}')).`);
    return resolved;
  };
}
