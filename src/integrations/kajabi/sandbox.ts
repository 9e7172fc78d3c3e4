/**
 * The sandbox's stand-in (`kitrelay start` with no Kajabi client id): a Kajabi simulator, its
 * seeded offers standing in for the configured ones in order (the first configured offer is the
 * simulator's first, …), the destination pointed at it with the simulator's credentials.
 * `npx kitrelay sandbox kajabi-purchase <email>` buys the first configured offer there.
 */
import type { SandboxStandIn } from '../types.js';
import type { KajabiDestinationConfig } from './schema.js';
import { startKajabiSimulator } from './simulator.js';

export async function kajabiStandIn(destination: KajabiDestinationConfig): Promise<SandboxStandIn<KajabiDestinationConfig>> {
  // Webhooks retried quickly: the sandbox's relay may still be starting when the first is sent.
  const simulator = await startKajabiSimulator({ webhooks: { maxAttempts: 5, retryDelayMs: 500 } });
  const simOffers = simulator.credentials.offerIds;
  const offers = Object.fromEntries(Object.entries(destination.offers).map(([id, mapping], i) => [simOffers.includes(id) ? id : (simOffers[i] ?? id), mapping]));
  return {
    destination: { ...destination, baseUrl: simulator.url, siteId: simulator.credentials.siteId, offers },
    overlay: { [destination.clientId.$env]: simulator.credentials.clientId, [destination.clientSecret.$env]: simulator.credentials.clientSecret },
    simulator,
  };
}
