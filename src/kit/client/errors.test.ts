/** Kit's failures → the client's error classes and retries, against the simulator's faults. */
import { describe, expect, it } from 'vitest';
import { KitrelayError } from '../../lib/errors.js';
import {
  KitApiError,
  KitNetworkError,
  KitNotFoundError,
  KitServerError,
  KitUnauthorizedError,
  KitUnexpectedResponseError,
  KitValidationError,
} from './errors/index.js';
import { clientFor, failureOf, startSim, useHarness } from './harness.js';

useHarness();

describe('kit client errors', () => {
  it('maps 401 to KitUnauthorizedError with Kit’s message, permanent', async () => {
    const sim = await startSim();
    const { client, calls } = clientFor(sim, { auth: { apiKey: 'kit_wrong_key' } });
    const err = await failureOf(client.account());
    expect(err).toBeInstanceOf(KitUnauthorizedError);
    expect(err).toBeInstanceOf(KitApiError);
    expect(err).toBeInstanceOf(KitrelayError);
    expect(err).toMatchObject({ code: 'kit_unauthorized', status: 401, messages: ['The API key is invalid'], retryClass: 'permanent', request: 'GET /v4/account' });
    expect(calls).toHaveLength(1);
  });

  it('answers undefined for a 404 on a getter, and throws KitNotFoundError on a write', async () => {
    const sim = await startSim();
    const { client } = clientFor(sim);
    expect(await client.getSubscriber(123_456)).toBeUndefined();
    const err = await failureOf(client.updateSubscriber(123_456, { firstName: 'X' }));
    expect(err).toBeInstanceOf(KitNotFoundError);
    expect(err).toMatchObject({ code: 'kit_not_found', status: 404, messages: ['Not Found'], retryClass: 'permanent' });
  });

  it('maps 422 to KitValidationError carrying Kit’s message', async () => {
    const sim = await startSim();
    const { client } = clientFor(sim);
    const err = await failureOf(client.createSubscriber({ email: 'not an email' }));
    expect(err).toBeInstanceOf(KitValidationError);
    expect(err).toMatchObject({ code: 'kit_validation_failed', status: 422, messages: ['Email address is invalid'] });
    expect((err as Error).message).toContain('Email address is invalid');
  });

  it('flattens error items that are arrays of strings (Kit’s sequence endpoints)', async () => {
    const sim = await startSim();
    sim.faults.fault({ kind: 'status', status: 422, body: { errors: [['Sequence is inactive'], 'and another'] } });
    const { client } = clientFor(sim);
    const err = await failureOf(client.addToSequence(1, { email: 'a@example.com' }));
    expect(err).toMatchObject({ messages: ['Sequence is inactive', 'and another'] });
  });

  it('retries a 500 on an idempotent call and succeeds', async () => {
    const sim = await startSim();
    sim.faults.fault({ kind: 'status', status: 500, times: 2, path: '/v4/account' });
    const { client, calls } = clientFor(sim);
    expect((await client.account()).account).toBeDefined();
    expect(calls.map((c) => [c.attempt, c.responseStatus])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
  });

  it('gives up on a 500 that never ends with a retryable KitServerError after maxRetries', async () => {
    const sim = await startSim();
    sim.faults.fault({ kind: 'status', status: 503, times: Infinity });
    const { client, calls } = clientFor(sim, { maxRetries: 2 });
    const err = await failureOf(client.getSubscriber(1));
    expect(err).toBeInstanceOf(KitServerError);
    expect(err).toMatchObject({ code: 'kit_server_error', status: 503, retryClass: 'retryable', isRetryable: true });
    expect(calls).toHaveLength(3);
  });

  it('does not resend a non-idempotent create after a 500 (Kit may have made it)', async () => {
    const sim = await startSim();
    sim.faults.fault({ kind: 'status', status: 500, times: Infinity });
    const { client, calls } = clientFor(sim);
    expect(await failureOf(client.createWebhookEndpoint({ url: 'https://relay.example.com/k', events: ['subscriber.created'] }))).toBeInstanceOf(KitServerError);
    expect(calls).toHaveLength(1);
  });

  it('retries a reset connection, and names a timeout as such', async () => {
    const sim = await startSim();
    sim.faults.fault({ kind: 'reset', path: '/v4/account' });
    const { client, calls } = clientFor(sim, { timeoutMs: 300, maxRetries: 1 });
    expect((await client.account()).account).toBeDefined();
    expect(calls.map((c) => c.networkError ?? c.responseStatus)).toEqual(['ECONNRESET', 200]);

    sim.faults.fault({ kind: 'hang', times: 2 });
    const err = await failureOf(client.listTags());
    expect(err).toBeInstanceOf(KitNetworkError);
    expect(err).toMatchObject({ code: 'kit_timeout', networkCode: 'timeout', retryClass: 'retryable', status: undefined });
  });

  it('refuses a success body that is not what Kit sends', async () => {
    const sim = await startSim();
    sim.faults.fault({ kind: 'status', status: 200, body: { unexpected: true } });
    const { client } = clientFor(sim);
    const err = await failureOf(client.account());
    expect(err).toBeInstanceOf(KitUnexpectedResponseError);
    expect(err).toMatchObject({ code: 'kit_unexpected_response', retryClass: 'permanent' });
  });
});
