/**
 * The Kit API client: endpoints, auth (API key or OAuth with refresh), the OAuth login flow, the
 * token vault, the shared rate budget, pagination and errors. The rest of kitrelay imports from here.
 */
export { createKitClient, DEFAULT_BASE_URL, type KitClient, type KitClientOptions } from './client.js';
export type { KitAuthOptions, OAuthAuthOptions } from './auth.js';
export {
  apiKeyCredentialId,
  KIT_RATE_LIMITS,
  memoryRateBudget,
  oauthCredentialId,
  storeRateBudget,
  type RateBudget,
  type RateBudgetDecision,
  type RateBudgetInput,
  type RateLimitOptions,
} from './budget.js';
export { runOAuthLogin, type OAuthLoginOptions } from './oauth.js';
export { DEFAULT_AUTHORIZE_URL, DEFAULT_TOKEN_URL, type TokenEndpoint } from './token-endpoint.js';
export { createTokenVault, TokenVaultError, type TokenVault, type TokenVaultFailure, type TokenVaultOptions } from './token-store.js';
export { collectItems, eachItem, MAX_PER_PAGE, type Page, type PageOptions } from './paginate.js';
export { isOAuthOnlyPath, type KitCall, type QueryValue } from './transport.js';
export type { ListSubscribersOptions, CreateSubscriberInput, UpdateSubscriberInput, SubscriberUpsert, SubscriberStatusFilter } from './subscribers.js';
export type { ListTagSubscribersOptions } from './tags.js';
export type { SubscriberRef, ListFormsOptions, Added } from './account.js';
export type { PurchaseInput, BulkOptions, BulkSubscriberFailure, BulkTaggingFailure, Tagging } from './purchases.js';
export type { CreateWebhookInput, CreateWebhookEndpointInput, UpdateWebhookEndpointInput, ListWebhookDeliveriesOptions } from './webhooks.js';
export type * from './types.js';
export * from './errors/index.js';
