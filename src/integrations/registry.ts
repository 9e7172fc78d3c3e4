/**
 * The typed registry: every integration kitrelay knows, by destination `type`. Adding an
 * integration is its folder plus one line here; the config schema, `config check`, the worker and
 * the CLI all read this list.
 */
import { airtableIntegration } from './airtable/index.js';
import { bonjoroIntegration } from './bonjoro/index.js';
import { kajabiIntegration } from './kajabi/index.js';
import { metaIntegration } from './meta/index.js';
import { slackIntegration } from './slack/index.js';
import type { AnyAction, AnyIntegration } from './types.js';
import { webhookIntegration } from './webhook/index.js';

export const INTEGRATIONS = {
  webhook: webhookIntegration,
  bonjoro: bonjoroIntegration,
  slack: slackIntegration,
  meta: metaIntegration,
  airtable: airtableIntegration,
  kajabi: kajabiIntegration,
} as const;

export type IntegrationType = keyof typeof INTEGRATIONS;

/** A destination's validated config, whichever integration it belongs to. */
export type DestinationConfig = { [K in IntegrationType]: (typeof INTEGRATIONS)[K] extends { readonly configSchema: { readonly _zod: { readonly output: infer D } } } ? D : never }[IntegrationType];

/** Looks up integrations by destination type; tests may pass their own list. */
export class IntegrationRegistry {
  readonly #byType: ReadonlyMap<string, AnyIntegration>;

  constructor(integrations: readonly AnyIntegration[] = Object.values(INTEGRATIONS)) {
    this.#byType = new Map(integrations.map((integration) => [integration.type, integration]));
  }

  get types(): string[] {
    return [...this.#byType.keys()];
  }

  get(type: string): AnyIntegration | undefined {
    return this.#byType.get(type);
  }

  /** The action a job names on a destination of `type`, or undefined. */
  action(type: string, action: string): AnyAction<unknown> | undefined {
    const integration = this.#byType.get(type);
    return integration && Object.hasOwn(integration.actions, action) ? integration.actions[action] : undefined;
  }
}
