/** The integrations' public surface: the port, the registry, and what actions share. */
export type * from './types.js';
export { INTEGRATIONS, IntegrationRegistry, type DestinationConfig, type IntegrationType } from './registry.js';
export { destinationCommon, retryPolicySchema, rateLimitSchema, breakerSchema, type DestinationBase, type RetryPolicy, type RateLimit, type BreakerPolicy, type DestinationMode } from './destination.js';
export { createActionHttp, callRecordOf, mayHaveBeenApplied, networkOutcome, ShadowStop } from './outbound.js';
export { renderParams, templateScope } from './template.js';
export { webhookDestinationSchema, type WebhookBodyContext, type WebhookDestinationConfig } from './webhook/index.js';
export { bonjoroDestinationSchema, type BonjoroDestinationConfig } from './bonjoro/index.js';
export { slackDestinationSchema, type SlackDestinationConfig } from './slack/index.js';
export { metaDestinationSchema, type MetaDestinationConfig } from './meta/index.js';
export { airtableDestinationSchema, type AirtableDestinationConfig } from './airtable/index.js';
export { kajabiDestinationSchema, type KajabiDestinationConfig } from './kajabi/index.js';
