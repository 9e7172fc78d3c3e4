/**
 * The secrets a signed endpoint's deliveries are verified with: the ones the config references
 * (`env(…)`), plus the one Kit returned when kitrelay registered the endpoint itself (kept in the
 * store by `kitrelay kit webhooks sync`). Stored secrets are cached briefly, so a registration made
 * by the CLI while the service runs is picked up within seconds without a read per request.
 */
import type { SecretResolver } from '../integrations/index.js';
import type { SignedEndpointConfig } from '../config/schema.js';
import type { Store } from '../store/types.js';

export const endpointSecretSetting = (name: string) => `kit_endpoint_secret:${name}`;

export type EndpointSecrets = (endpoint: SignedEndpointConfig) => Promise<string[]>;

export function createEndpointSecrets(deps: { store: Store; secrets: SecretResolver; now: () => number; ttlMs?: number }): EndpointSecrets {
  const ttlMs = deps.ttlMs ?? 5000;
  const cache = new Map<string, { value: string | undefined; at: number }>();
  return async (endpoint) => {
    const values: string[] = [];
    for (const ref of endpoint.secrets) {
      try {
        const value = deps.secrets(ref);
        if (value) values.push(value);
      } catch {
        // An optional secret that is unset (e.g. the previous one after rotation) is skipped.
      }
    }
    const now = deps.now();
    let stored = cache.get(endpoint.name);
    if (!stored || now - stored.at > ttlMs) {
      stored = { value: await deps.store.getSetting(endpointSecretSetting(endpoint.name)), at: now };
      cache.set(endpoint.name, stored);
    }
    if (stored.value && !values.includes(stored.value)) values.push(stored.value);
    return values;
  };
}
