/**
 * Slack (pattern 2): real-time alerts routed by rules to channels, as Block Kit messages within
 * Slack's limits, rate-limited per channel; and, with a signing secret, Slack's requests back
 * (interactive.ts: the Replay button, the `/kitrelay <email>` lookup), answered by the
 * `interaction` action. Facts: reference/destinations.md §1.
 */
import type { Integration } from '../types.js';
import { INTERACTION_ACTION, interactionAction } from './interaction.js';
import { interactiveSource } from './interactive.js';
import { postAction } from './post.js';
import { slackDestinationSchema, type SlackDestinationConfig } from './schema.js';
import { startSlackSimulator } from './simulator.js';

export const slackIntegration: Integration<SlackDestinationConfig> = {
  type: 'slack',
  description: 'Slack messages (chat.postMessage with a bot token, or an incoming webhook)',
  configSchema: slackDestinationSchema,
  defaultAction: 'post',
  actions: { post: postAction, [INTERACTION_ACTION]: interactionAction },
  sources: [interactiveSource],
  // No token (or webhook URL) set: the sandbox points the destination at a Slack simulator. It
  // also signs the presses and commands (with the signing secret set, else its own, which the
  // overlay gives kitrelay) and takes the answers at its response URLs.
  async sandbox({ destination, env }) {
    const ref = destination.token ?? destination.webhookUrl;
    if (!ref || env[ref.$env]) return undefined;
    const signing = destination.signingSecret;
    const givenSecret = signing ? env[signing.$env] : undefined;
    const simulator = await startSlackSimulator(givenSecret ? { signingSecret: givenSecret } : {});
    const signingOverlay = signing && !givenSecret ? { [signing.$env]: simulator.credentials.signingSecret } : {};
    const pointed = { ...destination, responseUrlBase: simulator.url };
    if (destination.token) return { destination: { ...pointed, apiUrl: simulator.apiUrl }, overlay: { [ref.$env]: simulator.credentials.token, ...signingOverlay }, simulator };
    const hook = simulator.webhookUrl(destination.defaultChannel ?? '#general');
    if (!hook) {
      await simulator.close();
      return undefined;
    }
    return { destination: pointed, overlay: { [ref.$env]: hook, ...signingOverlay }, simulator };
  },
  check(destination) {
    const problems: string[] = [];
    if ((destination.token === undefined) === (destination.webhookUrl === undefined)) {
      problems.push('token: set exactly one of token (a bot token, for the Web API) and webhookUrl (an incoming webhook)');
    }
    destination.replayUsers.forEach((user, i) => {
      if (!/^[UW][A-Z0-9]{2,}$/.test(user)) problems.push(`replayUsers[${i}]: "${user}" is not a Slack user id; use the member id (U0123ABCD: in Slack, the person's profile → ⋮ → Copy member ID)`);
    });
    if (destination.replayUsers.length > 0 && destination.signingSecret === undefined) {
      problems.push("replayUsers: nobody can press Replay while the interactive source is off; set signingSecret: env('SLACK_SIGNING_SECRET') too");
    }
    if (URL.canParse(destination.responseUrlBase) && !/^\/?$/.test(new URL(destination.responseUrlBase).pathname)) {
      problems.push(`responseUrlBase: give an origin only (https://hooks.slack.com), not a path: "${destination.responseUrlBase}"`);
    }
    return problems;
  },
};

export { slackDestinationSchema, postParamsSchema, SLACK_CHANNEL_RATE_LIMIT, type SlackDestinationConfig, type PostParams, type SlackFormatter } from './schema.js';
export { startSlackSimulator, type SlackSimulator } from './simulator.js';
export { INTERACTION_ACTION, INTERACTIVE_SUB_KEY, interactionParamsSchema, type InteractionParams } from './interaction.js';
export { INTERACTIVE_SOURCE } from './interactive.js';
export { REPLAY_ACTION_ID } from './format.js';
