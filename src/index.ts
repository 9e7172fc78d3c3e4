/**
 * kitrelay's public surface for config files: `import { defineConfig, env } from 'kitrelay'`.
 */
export { defineConfig, env } from './config/schema.js';
export type { Config, ConfigInput, DestinationConfig, EnvRef, RuleConfig, WebhookBodyContext } from './config/schema.js';
export type { KitEvent, KitSubscriber } from './kit/events.js';
