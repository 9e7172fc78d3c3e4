/** The connector contract for the webhook integration's actions, against the webhook receiver simulator. */
import { describe } from 'vitest';
import { startWebhookReceiver } from './simulator.js';
import { actionContract, type ContractSubject } from '../contract.js';

async function subject(): Promise<ContractSubject> {
  const receiver = await startWebhookReceiver();
  return {
    destination: {
      type: 'webhook',
      url: `${receiver.url}/hook`,
      headers: { Authorization: { $env: 'HOOK_TOKEN' } },
      signing: { secret: { $env: 'HOOK_SIGNING_SECRET' } },
    },
    env: { HOOK_TOKEN: 'Bearer tok-contract-s3cret', HOOK_SIGNING_SECRET: 'whsec_contract_s3cret' },
    requiredVar: 'HOOK_TOKEN',
    secretValues: ['tok-contract-s3cret', 'whsec_contract_s3cret'],
    fault: (fault) => receiver.fault(fault),
    received: () => receiver.requests.length,
    close: () => receiver.close(),
  };
}

describe('webhook send: connector contract', () => {
  actionContract({
    action: 'send',
    params: { list: 'vip' },
    start: subject,
    // The receiver dedupes on the idempotency key, so doubt is a plain retry.
    onServerError: 'retry',
    onTimeout: 'retry',
    permanent: { status: 404, error: /HTTP 404/ },
  });
});

describe('webhook sendBatch: connector contract', () => {
  actionContract({
    action: 'sendBatch',
    params: {},
    start: subject,
    onServerError: 'retry',
    onTimeout: 'retry',
    permanent: { status: 422, error: /HTTP 422/ },
  });
});
