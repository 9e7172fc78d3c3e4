/** The connector contract for Bonjoro's `greet`, against the Bonjoro simulator. */
import { describe } from 'vitest';
import { actionContract } from '../contract.js';
import { startBonjoroSimulator } from './simulator.js';

const TOKEN = 'bonjoro-contract-s3cret-token';

describe('bonjoro greet: connector contract', () => {
  actionContract({
    action: 'greet',
    params: { note: 'Welcome {{subscriber.first_name}}', custom_attributes: { plan: 'pro' } },
    async start() {
      const sim = await startBonjoroSimulator({ tokens: [TOKEN], rateLimit: false });
      const isGreetPost = (r: { method: string; path: string }) => r.method === 'POST' && r.path === '/api/v2/greets';
      return {
        destination: { type: 'bonjoro', apiKey: { $env: 'BONJORO_API_KEY' }, baseUrl: sim.apiUrl, retry: { maxAttempts: 5, baseDelayMs: 10 } },
        env: { BONJORO_API_KEY: TOKEN },
        requiredVar: 'BONJORO_API_KEY',
        secretValues: [TOKEN],
        fault: (fault) => sim.faults.add({ ...fault, method: 'POST', path: '/api/v2/greets' }),
        received: () => sim.requests.filter(isGreetPost).length,
        close: () => sim.close(),
      };
    },
    // Bonjoro takes no idempotency key: a 5xx, a timeout or a reset may have created the greet, so
    // the next attempt looks for its marker first.
    onServerError: 'unknown',
    onTimeout: 'unknown',
    permanent: { status: 422, body: { message: 'The given data was invalid.', errors: { note: ['The note may not be greater than 255 characters.'] } }, error: /Bonjoro answered HTTP 422: The given data was invalid\.; note: The note may not be greater than 255 characters\./ },
  });
});
