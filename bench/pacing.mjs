// Pacing measurements the Bonjoro and Slack phases share: a paced poster of webhook bodies, and
// rates, windows and an ideal token bucket over arrival times.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** Wall-clock ms with sub-ms resolution: the simulator's clock and the webhooks' acknowledgements. */
export const clock = () => performance.timeOrigin + performance.now();

/**
 * POSTs every body (strings) to `url` on up to `connections` keep-alive connections, each as soon as
 * a connection is free. Resolves with each one's status (0: error) and acknowledgement time (clock()).
 */
export async function postAll({ url, bodies, connections, deadlineMs }) {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const status = new Int16Array(bodies.length);
  const ackAt = new Float64Array(bodies.length).fill(Number.NaN);
  const sentAt = new Float64Array(bodies.length).fill(Number.NaN);
  const deadline = performance.now() + deadlineMs;
  let next = 0;
  const one = (i) =>
    new Promise((resolve) => {
      const payload = bodies[i];
      sentAt[i] = clock();
      const req = http.request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            ackAt[i] = clock();
            status[i] = res.statusCode;
            resolve();
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve());
      req.end(payload);
    });
  const lane = async () => {
    while (next < bodies.length && performance.now() < deadline) await one(next++);
  };
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: Math.min(connections, bodies.length) }, lane));
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - t0) / 1000;
  const statuses = {};
  for (const s of status) statuses[s] = (statuses[s] ?? 0) + 1;
  const ok = status.reduce((n, s) => (s >= 200 && s < 300 ? n + 1 : n), 0);
  return { sent: next, ok, statuses, seconds, perSecond: next / seconds, status, ackAt, sentAt };
}

/** The most greets in any window of `windowMs` (sliding), and the longest gap between two greets. */
export function windows(times, windowMs = 1_000) {
  let most = 0;
  let maxGap = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= windowMs) j++;
    most = Math.max(most, i - j + 1);
    if (i > 0) maxGap = Math.max(maxGap, times[i] - times[i - 1]);
  }
  return { mostInOneSecond: most, maxGapMs: maxGap };
}

/** Least-squares slope of greet number against arrival time (ms): greets/s, blind to clumps and window edges. */
export function slope(times) {
  const n = times.length;
  if (n < 2) return Number.NaN;
  let mt = 0;
  for (const t of times) mt += t;
  mt /= n;
  const mk = (n - 1) / 2;
  let num = 0;
  let den = 0;
  for (let k = 0; k < n; k++) {
    num += (times[k] - mt) * (k - mk);
    den += (times[k] - mt) ** 2;
  }
  return (num / den) * 1000;
}

/**
 * How far the greets ran ahead of an ideal bucket (R/s, B tokens, full at the first greet): the
 * largest token debt, in greets (0: never more than B + R·t in any stretch of t seconds).
 */
export function overshoot(times, rate, bucket) {
  let tokens = bucket;
  let at = times[0];
  let debt = 0;
  for (const t of times) {
    tokens = Math.min(bucket, tokens + ((t - at) * rate) / 1000);
    at = t;
    tokens -= 1;
    debt = Math.max(debt, -tokens);
  }
  return debt;
}
