// The Slack simulator of the slack phase (bench/slack.mjs) in its own process, so its arrival times
// are not held up by the benchmark process posting webhooks: dist/'s startSlackSimulator with
// `channels` channels `bench-01` … (the bot a member of each), its per-channel limit ON (1/s,
// burst 3, Slack's chat.postMessage "1 per second, short bursts": a message over it is answered
// 429 with Retry-After), the workspace and webhook limits off, and a sub-millisecond wall clock.
// Run as:
//   node bench/slack-sim.mjs <token> <channels> <maxRequests> [limit]
// (`limit` 0: the per-channel limit off, a diagnostic run; BENCH_SLACK_SIM_LIMIT=0.)
// Prints `slack-sim {"apiUrl":…,"control":…}`; the control server (node:http, its own port) answers
// GET /count → { messages, refused } and GET /dump → { posts: [{ at, status, channel, job }] (every
// chat.postMessage, its arrival time and status, the channel as sent, the job from the message's
// metadata), messages: [{ channel (name), ts, job }], otherRequests }. SIGTERM or SIGINT closes both.
import path from 'node:path';
import { serveControl } from './sim-control.mjs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib.mjs';

const [token = 'xoxb-bench-slack-token', channelsRaw = '50', maxRaw = '10000', limitRaw = '1'] = process.argv.slice(2);
const { startSlackSimulator } = await import(pathToFileURL(path.join(ROOT, 'dist', 'integrations', 'slack', 'simulator.js')).href);
const channelName = (i) => `bench-${String(i + 1).padStart(2, '0')}`;
const channels = Array.from({ length: Number(channelsRaw) }, (_, i) => ({ name: channelName(i), isMember: true }));
const sim = await startSlackSimulator({
  token,
  channels,
  rateLimit: limitRaw === '0' ? false : { perChannel: { perSecond: 1, burst: 3 }, workspace: false, perWebhook: false },
  host: '127.0.0.1',
  port: 0,
  maxRequests: Number(maxRaw),
  now: () => performance.timeOrigin + performance.now(),
});

const nameOf = new Map(sim.channels().map((c) => [c.id, c.name]));
const isPost = (r) => r.path === '/api/chat.postMessage';
const jobOf = (x) => x?.metadata?.event_payload?.job;
serveControl('slack-sim', sim, {
  '/count': () => ({ messages: sim.messages().length, refused: sim.requests.filter((r) => isPost(r) && r.status === 429).length }),
  '/dump': () => ({
    posts: sim.requests.filter(isPost).map((r) => ({ at: r.receivedAt, status: r.status, channel: String(r.body?.channel ?? '').replace(/^#/, ''), job: jobOf(r.body) })),
    messages: sim.messages().map((m) => ({ channel: nameOf.get(m.channel) ?? m.channel, ts: m.ts, job: jobOf(m.extra) })),
    otherRequests: sim.requests.filter((r) => !isPost(r)).length,
  }),
});
