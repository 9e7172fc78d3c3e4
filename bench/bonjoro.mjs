// The `bonjoro` phase of bench/run.mjs: how closely the relay keeps a Bonjoro destination at its
// rate limit R, and what it does with a burst. Two parts, each with a fresh relay (its own child
// process and data directory) and a fresh Bonjoro simulator (dist/integrations/bonjoro/simulator.js
// in a child process of its own, bench/bonjoro-sim.mjs, its rate limit off, so the relay's limiter
// alone sets the pace; the webhooks are posted from the benchmark process):
//
//   sustained  N legacy `subscriber.tag_add` webhooks (tag 7, N distinct subscribers) posted as fast
//              as the relay takes them, workers delivering; the destination has
//              `rateLimit: { perSecond: R, burst: B }`. Greets/s at the simulator (POST /greets
//              arrival times): over the whole run (first → last greet, which the bucket's first B
//              inflate to about R·(N−1)/(N−B)), after the bucket's first B (tokens refilled while
//              those went out still count there), and the steady state (the target: ≥ 95 % of R):
//              the least-squares slope of greet number against time over the middle half of the
//              stretch after the first B; greets = N, duplicates = greets − distinct
//              `kitrelay_job` markers = 0, and how far the greets ever ran ahead of an ideal bucket.
//   burst      a burst of M webhooks (200, distinct subscribers), then each greet's delay from its
//              webhook's acknowledgement, and the i-th greet's arrival against R's bound: when an
//              ideal token bucket (R/s, B tokens, full at the first acknowledgement) fed the
//              webhooks at their acknowledgement times would let the i-th call go — for a burst
//              acknowledged at once, max(0, (i − B)/R) s after the first acknowledgement — plus a
//              tolerance (BENCH_BONJORO_TOLERANCE_MS). The share within the bound, the burst's total
//              time against the ideal (M − B)/R and the naive M/R, and no duplicate.
//
// The relay's worker claims what the bucket holds at each pass and otherwise sleeps until an
// attempt ends, ingest nudges it, or `queue.pollIntervalMs` (250 ms unless BENCH_BONJORO_POLL_MS)
// passes: once the webhooks stop coming, greets leave in clumps of about R × the poll interval.
//
// Loopback only; every wait has a deadline; the children (relay, simulator) are stopped in `finally`
// and killed however the benchmark ends (lib.mjs).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, ROOT, cpuMeter, getJson, percentiles, sleep, startNode } from './lib.mjs';
import { overshoot, postAll, slope, windows } from './pacing.mjs';

const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
const TOKEN = 'bench-bonjoro-token';
const TAG_ID = 7;
/** Subscriber ids of this phase count up from here (every webhook names a new subscriber). */
let lastId = 7_000_000;

/** The phase's settings from the environment (documented in run.mjs's header). */
export function bonjoroOptions(num) {
  const rate = num('BENCH_BONJORO_RATE', 50);
  const pollRaw = process.env.BENCH_BONJORO_POLL_MS;
  return {
    rate,
    bucket: Math.trunc(num('BENCH_BONJORO_BUCKET', Math.max(1, Math.floor(rate)))),
    tags: Math.trunc(num('BENCH_BONJORO_TAGS', Math.round(rate * 20))),
    burstTags: Math.trunc(num('BENCH_BONJORO_BURST_TAGS', 200)),
    concurrency: Math.trunc(num('BENCH_BONJORO_CONCURRENCY', 16)),
    connections: Math.trunc(num('BENCH_BONJORO_CONNECTIONS', 32)),
    toleranceMs: num('BENCH_BONJORO_TOLERANCE_MS', 250),
    // Unset: the relay's default queue.pollIntervalMs (250 ms).
    pollMs: pollRaw === undefined || pollRaw === '' ? undefined : Math.trunc(num('BENCH_BONJORO_POLL_MS', 250)),
  };
}

function writeConfig(file, { apiUrl, o }) {
  const destination = { type: 'bonjoro', apiKey: { $env: 'BONJORO_API_KEY' }, baseUrl: apiUrl, rateLimit: { perSecond: o.rate, burst: o.bucket }, concurrency: o.concurrency };
  const queue = { enabled: true, ...(o.pollMs === undefined ? {} : { pollIntervalMs: o.pollMs }) };
  // Written as source: `once` is a function.
  const text = `// written by bench/bonjoro.mjs
export default {
  server: { host: '127.0.0.1' },
  destinations: { bonjoro: ${JSON.stringify(destination)} },
  rules: [
    {
      id: 'vip-video',
      on: 'subscriber.tag_added',
      scope: { tag_id: ${TAG_ID} },
      once: (e) => 'v:' + e.subscriber?.id,
      actions: [{ destination: 'bonjoro', action: 'greet', params: { note: 'Hi {{subscriber.first_name}}' } }],
    },
  ],
  queue: ${JSON.stringify(queue)},
  log: { level: 'warn' },
};
`;
  writeFileSync(file, text);
}

/** Waits until the simulator holds `want` greets or the deadline passes; then `settleMs` more for stragglers. */
async function waitForGreets(sim, want, deadlineMs, settleMs = 1_000) {
  const deadline = performance.now() + deadlineMs;
  const count = async () => (await getJson(`${sim.control}/count`)).greets;
  while ((await count()) < want && performance.now() < deadline) await sleep(100);
  const isComplete = (await count()) >= want;
  await sleep(settleMs);
  return isComplete;
}

/** Greets, distinct markers, duplicates, the status of every POST /greets, and those POSTs (arrival time, email, marker). */
async function greetCounts(sim, want) {
  const dump = await getJson(`${sim.control}/dump`, 30_000);
  const markers = new Set(dump.markers);
  const statuses = {};
  for (const p of dump.posts) statuses[p.status] = (statuses[p.status] ?? 0) + 1;
  const counts = { expected: want, greets: dump.markers.length, distinctMarkers: markers.size, duplicates: dump.markers.length - markers.size, postStatuses: statuses, otherRequests: dump.otherRequests, isExact: dump.markers.length === want && markers.size === want };
  return { counts, posts: dump.posts };
}

/** Greets/s over the whole run, after the bucket's first B, and over the middle half of that. */
function rates(times, o) {
  const n = times.length;
  const first = times[0];
  const last = times[n - 1];
  const out = { greets: n, spanSeconds: (last - first) / 1000 };
  // n greets are n − 1 intervals.
  out.overall = n > 1 ? (n - 1) / out.spanSeconds : Number.NaN;
  // An ideal bucket: B at once, then one every 1/R s: the overall figure it would reach.
  out.idealOverall = n > o.bucket ? (o.rate * (n - 1)) / (n - o.bucket) : Number.NaN;
  const b = Math.min(o.bucket, n - 1);
  const steadyFrom = times[b];
  out.steadySeconds = (last - steadyFrom) / 1000;
  out.steady = n - 1 - b > 0 ? (n - 1 - b) / out.steadySeconds : Number.NaN;
  const mid0 = steadyFrom + (last - steadyFrom) / 4;
  const mid1 = steadyFrom + (3 * (last - steadyFrom)) / 4;
  out.middleSeconds = (mid1 - mid0) / 1000;
  const middle = times.filter((t) => t >= mid0 && t < mid1);
  out.middle = middle.length / out.middleSeconds;
  // The target's figure: the slope over the middle half (the first B and the clumps left out).
  out.middleSlope = slope(middle);
  out.firstBucketSeconds = (steadyFrom - first) / 1000;
  out.overshoot = overshoot(times, o.rate, o.bucket);
  Object.assign(out, windows(times));
  return out;
}

/** The ideal token bucket (R/s, B tokens, full at the first arrival): when it lets the k-th call go. */
function idealReleases(arrivals, rate, bucket) {
  const out = new Float64Array(arrivals.length);
  let tokens = bucket;
  let at = arrivals[0];
  for (let k = 0; k < arrivals.length; k++) {
    const t = Math.max(at, arrivals[k]);
    tokens = Math.min(bucket, tokens + ((t - at) * rate) / 1000);
    at = t;
    if (tokens < 1) {
      at += ((1 - tokens) * 1000) / rate;
      tokens = 1;
    }
    tokens -= 1;
    out[k] = at;
  }
  return out;
}

/**
 * Starts a simulator and a relay on it, runs `body(ctx)`, stops both; returns what body returned
 * plus the relay's end and, not in the results, `attemptStarts`: when the relay started each
 * attempt (its `attempts.started_at`, ms, sorted): the limiter's own decisions, free of the time a
 * call takes to reach the simulator.
 */
async function withRelay(label, ctx, o, body) {
  const simProc = await startNode({
    name: `bonjoro simulator (${label})`,
    script: path.join(BENCH_DIR, 'bonjoro-sim.mjs'),
    args: [TOKEN, String(Math.max(o.tags, o.burstTags) * 2 + 1_000)],
    logFile: path.join(ctx.work, `${label}.sim.log`),
    ready: /^bonjoro-sim (\{.*\})$/m,
  });
  const sim = { ...JSON.parse(simProc.url), pid: simProc.pid };
  const dataDir = path.join(ctx.work, label);
  let proc;
  const out = {};
  try {
    mkdirSync(dataDir, { recursive: true });
    const config = path.join(ctx.work, `${label}.config.mjs`);
    writeConfig(config, { apiUrl: sim.apiUrl, o });
    proc = await startNode({
      name: `kitrelay (${label})`,
      script: CLI,
      args: ['--config', config, '--data-dir', dataDir, 'start', '--port', '0', '--no-sandbox', '--grace', '5000'],
      env: { KITRELAY_ROUTE_SECRET: ctx.routeSecret, KITRELAY_LOG_LEVEL: 'warn', BONJORO_API_KEY: TOKEN },
      logFile: path.join(ctx.work, `${label}.log`),
      ready: /kitrelay listening on (http:\/\/127\.0\.0\.1:\d+)/,
    });
    out.startupMs = Math.round(proc.readyMs);
    Object.assign(out, await body({ sim, proc, url: `${proc.url}${ctx.hookPath}` }));
    out.metrics = await ctx.serviceMetrics(proc.url);
  } finally {
    if (proc) out.stop = await ctx.stopChecked(proc);
    await simProc.stop(5_000);
  }
  out.db = ctx.inspectDb(dataDir);
  const { Sqlite } = await dist('store/sqlite/driver.js');
  const db = new Sqlite(path.join(dataDir, 'kitrelay.db'), { readonly: true, fileMustExist: true });
  try {
    const attemptStarts = db.prepare('SELECT started_at FROM attempts ORDER BY started_at').pluck().all();
    Object.defineProperty(out, 'attemptStarts', { value: attemptStarts, enumerable: false });
  } finally {
    db.close();
  }
  return out;
}

/**
 * The phase. `ctx` carries run.mjs's pieces: opt (with opt.bonjoro), work, log, fmtMs, stopChecked,
 * inspectDb, durability, serviceMetrics.
 */
export async function phaseBonjoro(label, ctx) {
  const { log } = ctx;
  const o = ctx.opt.bonjoro;
  const { legacyFixture } = await dist('kit/fixtures.js');
  const { routeToken, routeId, LEGACY_PATH_PREFIX } = await dist('ingest/routes.js');
  const body0 = legacyFixture('subscriber.tag_add', { id: 1, scopeValue: String(TAG_ID) });
  const rid = routeId(body0.spec, body0.scopeValue);
  const routeSecret = randomBytes(32).toString('base64url');
  const hookPath = `${LEGACY_PATH_PREFIX}/${rid}/${routeToken(routeSecret, rid)}`;
  const bodiesFor = (n) =>
    Array.from({ length: n }, () => {
      const id = ++lastId;
      return JSON.stringify(legacyFixture('subscriber.tag_add', { id, email: `bench-bonjoro-${id}@example.com`, firstName: 'Ada', scopeValue: String(TAG_ID) }).body);
    });
  const pctx = { ...ctx, hookPath, routeSecret };
  const out = { options: o };

  // ---------------------------------------------------------------- 1. sustained
  log(`\n[${label}] Bonjoro greets/s: ${o.tags} tag_add webhooks, destination rateLimit { perSecond: ${o.rate}, burst: ${o.bucket} }, concurrency ${o.concurrency}, simulator unthrottled`);
  const expectSeconds = (n) => Math.max(0, n - o.bucket) / o.rate;
  out.sustained = await withRelay(`${label}-sustained`, pctx, o, async ({ sim, proc, url }) => {
    const r = {};
    const meter = cpuMeter({ server: proc.pid, generator: process.pid, simulator: sim.pid });
    r.post = summarizePost(await postAll({ url, bodies: bodiesFor(o.tags), connections: o.connections, deadlineMs: 60_000 }));
    log(`  posted ${r.post.ok}/${o.tags} (2xx) in ${r.post.seconds.toFixed(2)} s (${Math.round(r.post.perSecond)}/s)`);
    r.isComplete = await waitForGreets(sim, o.tags, expectSeconds(o.tags) * 1.5 * 1000 + 30_000);
    r.cpu = meter.since();
    const { counts, posts } = await greetCounts(sim, o.tags);
    r.counts = counts;
    const times = posts.filter((p) => p.status >= 200 && p.status < 300).map((p) => p.at).sort((a, b) => a - b);
    r.rates = rates(times, o);
    r.raw = times;
    r.ratioSteady = r.rates.middleSlope / o.rate;
    r.ratioAfterBucket = r.rates.steady / o.rate;
    r.ratioMiddle = r.rates.middle / o.rate;
    r.ratioOverall = r.rates.overall / o.rate;
    return r;
  });
  const s = out.sustained;
  // The same figures from the relay's side: when its limiter let each attempt start.
  s.relayRates = rates(s.attemptStarts, o);
  s.rates.firstArrivalAfterFirstAttemptMs = s.raw[0] - s.attemptStarts[0];
  delete s.raw;
  s.durability = ctx.durability(s.post.ok, s.post.sent - s.post.ok, s.db);
  log(`  greets ${s.counts.greets}/${o.tags}, duplicates ${s.counts.duplicates}; steady ${s.rates.middleSlope.toFixed(2)} greets/s (× ${s.ratioSteady.toFixed(3)} of R; slope over the middle half after the first ${o.bucket}; count/window there ${ctx.fmtMs(s.rates.middle)}/s); after the first ${o.bucket} ${ctx.fmtMs(s.rates.steady)}/s, overall ${ctx.fmtMs(s.rates.overall)}/s (an ideal bucket: ${ctx.fmtMs(s.rates.idealOverall)}/s); most in 1 s ${s.rates.mostInOneSecond}, longest gap ${ctx.fmtMs(s.rates.maxGapMs)} ms, ahead of an ideal bucket by ${s.rates.overshoot.toFixed(2)} greets at most`);
  log(`  relay side (attempt starts): steady ${s.relayRates.middleSlope.toFixed(2)}/s, most in 1 s ${s.relayRates.mostInOneSecond}, ahead of an ideal bucket by ${s.relayRates.overshoot.toFixed(2)} at most; the first greet reached the simulator ${ctx.fmtMs(s.rates.firstArrivalAfterFirstAttemptMs)} ms after its attempt started`);

  // ---------------------------------------------------------------- 2. burst
  log(`\n[${label}] a burst of ${o.burstTags} tag_add webhooks: each greet against R's bound (+${o.toleranceMs} ms)`);
  out.burst = await withRelay(`${label}-burst`, pctx, o, async ({ sim, url }) => {
    const r = {};
    const bodies = bodiesFor(o.burstTags);
    const emails = bodies.map((b) => JSON.parse(b).subscriber.email_address);
    const post = await postAll({ url, bodies, connections: o.connections, deadlineMs: 30_000 });
    r.post = summarizePost(post);
    log(`  posted ${r.post.ok}/${o.burstTags} (2xx) in ${ctx.fmtMs(r.post.seconds * 1000)} ms`);
    r.isComplete = await waitForGreets(sim, o.burstTags, expectSeconds(o.burstTags) * 1.5 * 1000 + 30_000);
    const { counts, posts } = await greetCounts(sim, o.burstTags);
    r.counts = counts;
    r.raw = { post, emails, posts };
    return r;
  });
  const b = out.burst;
  b.bound = burstAgainstBound(b.raw.post, b.raw.emails, b.raw.posts, o, b.attemptStarts);
  delete b.raw;
  b.durability = ctx.durability(b.post.ok, b.post.sent - b.post.ok, b.db);
  const bb = b.bound;
  log(`  greets ${b.counts.greets}/${o.burstTags}, duplicates ${b.counts.duplicates}; within R's bound + ${o.toleranceMs} ms: ${bb.within}/${bb.n} (${(bb.share * 100).toFixed(1)}%), lateness p50 ${ctx.fmtMs(bb.latenessMs.p50)} / max ${ctx.fmtMs(bb.latenessMs.max)} ms`);
  log(`  relay side (attempt starts): ${bb.relayWithin}/${bb.n} within the bound + ${o.toleranceMs} ms, lateness p50 ${ctx.fmtMs(bb.relayLatenessMs.p50)} / max ${ctx.fmtMs(bb.relayLatenessMs.max)} ms, ahead of an ideal bucket by ${bb.relayOvershoot.toFixed(2)} at most`);
  log(`  burst took ${ctx.fmtMs(bb.totalSeconds)} s (first acknowledgement → last greet); ideal (M − B)/R ${ctx.fmtMs(bb.idealSeconds)} s, M/R ${ctx.fmtMs(bb.naiveSeconds)} s; delay from acknowledgement p50 ${ctx.fmtMs(bb.delayMs.p50)} / max ${ctx.fmtMs(bb.delayMs.max)} ms`);
  for (const [name, p] of [['sustained', s], ['burst', b]]) {
    if (!p.durability.ok || !p.counts.isExact || !p.isComplete) log(`  ! ${name}: durability ${p.durability.ok ? 'ok' : 'FAILED'}, greets ${p.counts.greets}/${p.counts.expected} (${p.counts.distinctMarkers} distinct)${p.isComplete ? '' : ', not all within the deadline'}`);
  }
  return out;
}

function summarizePost(p) {
  return { sent: p.sent, ok: p.ok, statuses: p.statuses, seconds: p.seconds, perSecond: p.perSecond };
}

/** The i-th greet (by arrival) against the ideal bucket's i-th release; each greet's delay from its webhook's 2xx. */
function burstAgainstBound(post, emails, posts, o, attemptStarts) {
  const created = posts.filter((p) => p.status >= 200 && p.status < 300);
  const acks = Array.from(post.ackAt).filter(Number.isFinite).sort((x, y) => x - y);
  const arrivals = created.map((p) => p.at).sort((x, y) => x - y);
  const t0 = acks[0];
  const ideal = idealReleases(acks, o.rate, o.bucket);
  const n = Math.min(arrivals.length, ideal.length);
  const lateness = new Float64Array(n);
  let within = 0;
  for (let k = 0; k < n; k++) {
    lateness[k] = arrivals[k] - ideal[k];
    if (lateness[k] <= o.toleranceMs) within += 1;
  }
  // The simple bound of the issue, from the first acknowledgement: max(0, (i − B)/R) s (i from 1).
  let withinSimple = 0;
  for (let k = 0; k < n; k++) if (arrivals[k] - t0 <= Math.max(0, (k + 1 - o.bucket) / o.rate) * 1000 + o.toleranceMs) withinSimple += 1;
  // The relay's side: when each attempt started, against the same bound (ms-resolution clock).
  const relayLateness = Float64Array.from({ length: Math.min(attemptStarts.length, ideal.length) }, (_, k) => attemptStarts[k] - ideal[k]);
  const ackByEmail = new Map(emails.map((e, i) => [e, post.ackAt[i]]));
  const delays = created.map((p) => p.at - (ackByEmail.get(p.email) ?? Number.NaN));
  const last = arrivals[arrivals.length - 1];
  return {
    n: post.ackAt.length,
    greetsSeen: arrivals.length,
    within,
    share: within / post.ackAt.length,
    withinSimple,
    latenessMs: percentiles(lateness),
    // Greets that came before the ideal bucket would have let them (negative lateness): the relay
    // went faster than R here (its bucket starts full when the worker first asks, which may be before
    // the first acknowledgement reaches the generator).
    early: lateness.filter((x) => x < -1).length,
    relayWithin: relayLateness.filter((x) => x <= o.toleranceMs).length,
    relayLatenessMs: percentiles(relayLateness),
    relayOvershoot: overshoot(attemptStarts, o.rate, o.bucket),
    // Per greet, in arrival order (results.json only): lateness at the simulator and at the relay, ms.
    latenessByGreetMs: Array.from(lateness, (x) => Math.round(x)),
    relayLatenessByGreetMs: Array.from(relayLateness, (x) => Math.round(x)),
    delayMs: percentiles(delays),
    acksSpanMs: acks[acks.length - 1] - t0,
    totalSeconds: (last - t0) / 1000,
    idealSeconds: (ideal[ideal.length - 1] - t0) / 1000,
    naiveSeconds: post.ackAt.length / o.rate,
    windows: windows(arrivals),
    overshoot: overshoot(arrivals, o.rate, o.bucket),
  };
}
