/**
 * The connectors' public surface: the port's types, the registry the worker looks connectors up
 * in (by destination `type`), and the simulators tests and the local demo run against.
 */
import type { HttpClient } from '../lib/http.js';
import type { Connector } from './types.js';
import { createWebhookConnector } from './webhook/client.js';

export type { AttemptResult, CallRecord, Connector, ConnectorContext, SecretResolver } from './types.js';
export { createWebhookConnector, type WebhookConnectorOptions } from './webhook/client.js';
export {
  startWebhookReceiver,
  type FaultAction,
  type FaultSpec,
  type ReceivedAnswer,
  type ReceivedRequest,
  type RequestView,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from './webhook/simulator.js';

export interface ConnectorDeps {
  /** The shared outbound client; its owner closes it, not the connectors. */
  readonly http: HttpClient;
}

/** One connector per destination type, keyed by that type. Later issues add slack, bonjoro, … */
export function createConnectors(deps: ConnectorDeps): Map<string, Connector> {
  const connectors: Connector[] = [createWebhookConnector({ http: deps.http })];
  return new Map(connectors.map((c) => [c.type, c]));
}
