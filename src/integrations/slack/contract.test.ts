/** The connector contract for Slack's `post`, by the Web API and by an incoming webhook, against the Slack simulator. */
import { describe } from 'vitest';
import { actionContract } from '../contract.js';
import { startSlackSimulator } from './simulator.js';

const TOKEN = 'xoxb-contract-s3cret';

describe('slack post (Web API): connector contract', () => {
  actionContract({
    action: 'post',
    params: { channel: '#sales', title: 'New VIP: {{subscriber.first_name}}' },
    async start() {
      const sim = await startSlackSimulator({ token: TOKEN, rateLimit: false });
      const isPost = (r: { method: string; path: string }) => r.method === 'POST' && r.path === '/api/chat.postMessage';
      return {
        destination: { type: 'slack', token: { $env: 'SLACK_BOT_TOKEN' }, apiUrl: sim.apiUrl, retry: { maxAttempts: 5, baseDelayMs: 10 } },
        env: { SLACK_BOT_TOKEN: TOKEN },
        requiredVar: 'SLACK_BOT_TOKEN',
        secretValues: [TOKEN],
        fault: (fault) => sim.faults.add({ ...fault, method: 'POST', path: '/api/chat.postMessage' }),
        received: () => sim.requests.filter(isPost).length,
        close: () => sim.close(),
      };
    },
    // chat.postMessage takes no idempotency key: a lost answer may hide a posted message.
    onServerError: 'unknown',
    onTimeout: 'unknown',
    // The Web API answers logical errors with HTTP 200 and {ok:false}.
    permanent: { status: 200, body: { ok: false, error: 'channel_not_found' }, error: /^Slack: channel_not_found/ },
  });
});

describe('slack post (incoming webhook): connector contract', () => {
  actionContract({
    action: 'post',
    params: {},
    async start() {
      const sim = await startSlackSimulator({ rateLimit: false });
      const hook = sim.webhookUrl('#sales');
      if (hook === undefined) throw new Error('the simulator has no webhook for #sales');
      const path = new URL(hook).pathname;
      return {
        destination: { type: 'slack', webhookUrl: { $env: 'SLACK_WEBHOOK_URL' }, retry: { maxAttempts: 5, baseDelayMs: 10 } },
        env: { SLACK_WEBHOOK_URL: hook },
        requiredVar: 'SLACK_WEBHOOK_URL',
        secretValues: [path.split('/').at(-1) ?? hook],
        fault: (fault) => sim.faults.add({ ...fault, method: 'POST', path }),
        received: () => sim.requests.filter((r) => r.method === 'POST' && r.path === path).length,
        close: () => sim.close(),
      };
    },
    onServerError: 'unknown',
    onTimeout: 'unknown',
    permanent: { status: 410, body: 'channel_is_archived', error: /Slack webhook answered HTTP 410 channel_is_archived/ },
  });
});
