/**
 * Reaching Kit: builds the API client from whatever credentials are configured — an API key, OAuth
 * tokens from `kitrelay kit login` (encrypted in the store), or, in the sandbox, the Kit simulator
 * running inside the service. Every client spends from the store's shared rate budget.
 */
import type { Config } from '../config/schema.js';
import { createSecretResolver } from '../config/secrets.js';
import { KitrelayError } from '../lib/errors.js';
import {
  createKitClient,
  createTokenVault,
  DEFAULT_TOKEN_URL,
  storeRateBudget,
  type KitClient,
  type KitClientOptions,
  type RateLimitOptions,
  type TokenVault,
} from '../kit/client/index.js';
import type { Store } from '../store/types.js';

export const OAUTH_TOKEN_SETTING = 'kit_oauth_token';
/** Where a running sandbox's Kit simulator listens, for CLI commands run beside it. */
export const SANDBOX_KIT_URL_SETTING = 'sandbox_kit_url';
/** The API key the sandbox's simulator accepts (the simulator's default). */
export const SANDBOX_API_KEY = 'kit_sim_key';

export type KitCredentials =
  | { readonly kind: 'api_key'; readonly apiKey: string; readonly baseUrl: string }
  | { readonly kind: 'oauth'; readonly vault: TokenVault; readonly baseUrl: string }
  | { readonly kind: 'sandbox'; readonly baseUrl: string }
  | { readonly kind: 'none'; readonly reason: string };

type Env = Readonly<Record<string, string | undefined>>;

export function tokenVault(config: Config, store: Store, env: Env): TokenVault | undefined {
  const ref = config.kit.api.encryptionKey ?? { $env: 'KITRELAY_ENCRYPTION_KEY' };
  const key = env[ref.$env];
  if (!key) return undefined;
  return createTokenVault({ key, get: () => store.getSetting(OAUTH_TOKEN_SETTING), set: (value) => store.setSetting(OAUTH_TOKEN_SETTING, value) });
}

/** What credentials there are, without making any call. */
export async function findCredentials(config: Config, store: Store, env: Env): Promise<KitCredentials> {
  const api = config.kit.api;
  const resolve = createSecretResolver(env);
  const apiKeyRef = api.apiKey ?? { $env: 'KIT_API_KEY' };
  if (env[apiKeyRef.$env]) return { kind: 'api_key', apiKey: resolve(apiKeyRef), baseUrl: api.baseUrl };
  if (api.oauth && (await store.getSetting(OAUTH_TOKEN_SETTING))) {
    const vault = tokenVault(config, store, env);
    if (!vault) return { kind: 'none', reason: 'OAuth tokens are stored but KITRELAY_ENCRYPTION_KEY is not set, so they cannot be read' };
    return { kind: 'oauth', vault, baseUrl: api.baseUrl };
  }
  const sandboxUrl = await store.getSetting(SANDBOX_KIT_URL_SETTING);
  if (sandboxUrl) return { kind: 'sandbox', baseUrl: sandboxUrl };
  return { kind: 'none', reason: `no Kit credentials: set ${apiKeyRef.$env}, or configure kit.api.oauth and run \`kitrelay kit login\`, or start the sandbox (\`npm start\` with no credentials)` };
}

/** What a caller may set on the client besides the credentials (a job's HTTP and audit hook). */
export type KitClientExtras = Partial<Pick<KitClientOptions, 'http' | 'onCall' | 'maxBudgetWaitMs' | 'maxRetries'>>;

export async function openKitClient(config: Config, store: Store, env: Env, credentials?: KitCredentials, extras: KitClientExtras = {}): Promise<KitClient> {
  const found = credentials ?? (await findCredentials(config, store, env));
  const budget = storeRateBudget(store);
  const limits = config.kit.api.rateLimit;
  const rateLimit: RateLimitOptions = { limit: found.kind === 'oauth' ? limits.oauth : limits.apiKey, windowMs: limits.windowMs };
  switch (found.kind) {
    case 'api_key':
      return createKitClient({ baseUrl: found.baseUrl, auth: { apiKey: found.apiKey }, budget, rateLimit, ...extras });
    case 'sandbox':
      return createKitClient({ baseUrl: found.baseUrl, auth: { apiKey: SANDBOX_API_KEY }, budget, rateLimit, ...extras });
    case 'oauth': {
      const oauth = config.kit.api.oauth;
      const tokens = await found.vault.load();
      if (!oauth || !tokens) throw new KitrelayError('kit_not_configured', 'No OAuth tokens: run `kitrelay kit login`', 400);
      const clientSecret = oauth.clientSecret ? env[oauth.clientSecret.$env] : undefined;
      return createKitClient({
        baseUrl: found.baseUrl,
        auth: { oauth: { tokens, tokenUrl: oauth.tokenUrl || DEFAULT_TOKEN_URL, clientId: oauth.clientId, ...(clientSecret ? { clientSecret } : {}), onRefresh: (next) => found.vault.save(next) } },
        budget,
        rateLimit,
        ...extras,
      });
    }
    case 'none':
      throw new KitrelayError('kit_not_configured', `Cannot reach Kit: ${found.reason}`, 400);
  }
}
