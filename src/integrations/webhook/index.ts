/**
 * The generic webhook integration: any HTTP endpoint that takes JSON. Actions: `send` (one job, one
 * request) and `sendBatch` (up to `maxBatchSize` jobs as one JSON array). Params are free-form:
 * they reach the body as `job.params`.
 */
import { z } from 'zod';
import type { Integration } from '../types.js';
import { sendWebhook, sendWebhookBatch } from './client.js';
import { webhookDestinationSchema, type WebhookDestinationConfig } from './schema.js';
import { webhookInboundSource } from './source.js';

const freeParams = z.record(z.string(), z.unknown());

export const webhookIntegration: Integration<WebhookDestinationConfig> = {
  type: 'webhook',
  description: 'POST each job as JSON to an HTTP endpoint (idempotency key, optional Kit-style signature)',
  configSchema: webhookDestinationSchema,
  defaultAction: 'send',
  sources: [webhookInboundSource],
  actions: {
    send: { kind: 'job', description: 'one request per job', params: freeParams, run: sendWebhook },
    sendBatch: {
      kind: 'batch',
      description: 'many jobs in one request: a JSON array of the bodies `send` would post',
      params: freeParams,
      maxBatchSize: (destination) => destination.maxBatchSize,
      runBatch: sendWebhookBatch,
    },
  },
};

export { webhookDestinationSchema, type WebhookBodyContext, type WebhookDestinationConfig } from './schema.js';
