/**
 * Slack (pattern 2): real-time alerts routed by rules to channels, as Block Kit messages within
 * Slack's limits, rate-limited per channel. Facts: reference/destinations.md §1.
 */
import type { Integration } from '../types.js';
import { postAction } from './post.js';
import { slackDestinationSchema, type SlackDestinationConfig } from './schema.js';
import { startSlackSimulator } from './simulator.js';

export const slackIntegration: Integration<SlackDestinationConfig> = {
  type: 'slack',
  description: 'Slack messages (chat.postMessage with a bot token, or an incoming webhook)',
  configSchema: slackDestinationSchema,
  defaultAction: 'post',
  actions: { post: postAction },
  // No token (or webhook URL) set: the sandbox points the destination at a Slack simulator.
  async sandbox({ destination, env }) {
    const ref = destination.token ?? destination.webhookUrl;
    if (!ref || env[ref.$env]) return undefined;
    const simulator = await startSlackSimulator({});
    if (destination.token) return { destination: { ...destination, apiUrl: simulator.apiUrl }, overlay: { [ref.$env]: simulator.credentials.token }, simulator };
    const hook = simulator.webhookUrl(destination.defaultChannel ?? '#general');
    if (!hook) {
      await simulator.close();
      return undefined;
    }
    return { destination, overlay: { [ref.$env]: hook }, simulator };
  },
  check(destination) {
    if ((destination.token === undefined) === (destination.webhookUrl === undefined)) {
      return ['token: set exactly one of token (a bot token, for the Web API) and webhookUrl (an incoming webhook)'];
    }
    return [];
  },
};

export { slackDestinationSchema, postParamsSchema, SLACK_CHANNEL_RATE_LIMIT, type SlackDestinationConfig, type PostParams, type SlackFormatter } from './schema.js';
export { startSlackSimulator, type SlackSimulator } from './simulator.js';
