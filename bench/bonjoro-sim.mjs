// The Bonjoro simulator of the bonjoro phase (bench/bonjoro.mjs) in its own process, so its arrival
// times are not held up by the benchmark process posting webhooks: dist/'s startBonjoroSimulator
// with its rate limit off (`kitrelay simulator bonjoro` keeps Bonjoro's 600 a minute) and a
// sub-millisecond wall clock. Run as:
//   node bench/bonjoro-sim.mjs <token> <maxRequests>
// Prints `bonjoro-sim {"apiUrl":…,"control":…}`; the control server (node:http, its own port)
// answers GET /count → { greets } and GET /dump → { posts: [{ at, status, email, marker }],
// markers: [every greet's kitrelay_job], otherRequests }. SIGTERM or SIGINT closes both.
import path from 'node:path';
import { serveControl } from './sim-control.mjs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib.mjs';

const [token = 'bench-bonjoro-token', maxRaw = '10000'] = process.argv.slice(2);
const { startBonjoroSimulator } = await import(pathToFileURL(path.join(ROOT, 'dist', 'integrations', 'bonjoro', 'simulator.js')).href);
const sim = await startBonjoroSimulator({ tokens: [token], rateLimit: false, host: '127.0.0.1', port: 0, maxRequests: Number(maxRaw), now: () => performance.timeOrigin + performance.now() });

const isGreetPost = (r) => r.method === 'POST' && r.path === '/api/v2/greets';
serveControl('bonjoro-sim', sim, {
  '/count': () => ({ greets: sim.greets().length }),
  '/dump': () => ({
    posts: sim.requests.filter(isGreetPost).map((r) => ({ at: r.receivedAt, status: r.status, email: r.body?.profiles?.[0], marker: r.body?.custom_attributes?.kitrelay_job })),
    markers: sim.greets().map((g) => g.customAttributes?.kitrelay_job),
    otherRequests: sim.requests.filter((r) => !isGreetPost(r)).length,
  }),
});
