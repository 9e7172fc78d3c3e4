/**
 * Bonjoro (pattern 1): a tag added in Kit becomes a personal-video task, once per purpose per
 * subscriber, never twice for one job even across crashes. Facts: reference/destinations.md §4.
 */
import type { Integration } from '../types.js';
import { greetAction } from './greet.js';
import { bonjoroDestinationSchema, type BonjoroDestinationConfig } from './schema.js';
import { startBonjoroSimulator } from './simulator.js';

export const bonjoroIntegration: Integration<BonjoroDestinationConfig> = {
  type: 'bonjoro',
  description: 'Bonjoro personal-video tasks (greets)',
  configSchema: bonjoroDestinationSchema,
  defaultAction: 'greet',
  actions: { greet: greetAction },
  // No API key set: the sandbox points the destination at a Bonjoro simulator and uses its token.
  async sandbox({ destination, env }) {
    if (env[destination.apiKey.$env]) return undefined;
    const simulator = await startBonjoroSimulator({ rateLimit: false });
    return { destination: { ...destination, baseUrl: simulator.apiUrl }, overlay: { [destination.apiKey.$env]: simulator.credentials.token }, simulator };
  },
};

export { bonjoroDestinationSchema, greetParamsSchema, MARKER_ATTRIBUTE, BONJORO_DEFAULT_RATE_LIMIT, type BonjoroDestinationConfig, type GreetParams } from './schema.js';
export { startBonjoroSimulator, type BonjoroSimulator, type BonjoroSimulatorOptions } from './simulator.js';
