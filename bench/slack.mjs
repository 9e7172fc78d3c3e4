// The `slack` phase of bench/run.mjs (issue 9): messages/s against the Slack simulator at Slack's
// per-channel limit (1 message/s per channel, bursts of 3) over C channels (50), and whether the
// relay's own per-channel limiting keeps it from ever being refused. One part, with a fresh relay
// (its own child process and data directory) and a fresh Slack simulator
// (dist/integrations/slack/simulator.js in a child process of its own, bench/slack-sim.mjs) whose
// per-channel limit is ON (1/s, burst 3: a message over it is answered 429 with Retry-After):
//
//   fan-out   one rule (`subscriber.tag_added`, tag 7) whose C actions post to the C channels
//             (`#bench-01` …), so one webhook makes C messages, one per channel; W legacy
//             `subscriber.tag_add` webhooks (BENCH_SLACK_WEBHOOKS, default 20 → 1,000 messages,
//             20 per channel; W distinct subscribers) posted as fast as the relay takes them,
//             workers delivering. The destination is `slack` with a bot token, `apiUrl` the
//             simulator's and concurrency 32; its default `subKeyRateLimit` is { perSecond: 1,
//             burst: 3 } per channel (the job's sub-key is its channel), no destination-wide limit.
//
// Measured at the simulator (arrival times of `POST /api/chat.postMessage`, answered 200):
//   - messages/s after the first burst: (messages − C·B) / (first → last message). A channel may
//     send B at once, then R a second, so N a channel take (N − B)/R s at best and C channels allow
//     C·R = 50/s: the target is ≥ 95 % of that. Also per channel, (N − B)/(first → last), and
//     the least-squares slope over the middle half of the stretch after the first C·B messages.
//   - 429 answers: in all, and after the first second (the target: none beyond the first burst).
//   - per channel, the most messages in any 1-s window (a bucket allows B + R = 4) and how far the
//     channel ever ran ahead of an ideal bucket (R/s, B tokens, full at its first message);
//     each message's lateness against an ideal per-channel bucket full at the first webhook's
//     acknowledgement.
//   - duplicates = messages − distinct (channel, job) pairs (the relay puts the job in the
//     message's metadata: `metadata.event_payload.job`), and every channel's count against W.
//   - from the relay's side (its `attempts` rows, read from the stopped relay's database): each
//     attempt's start time per channel (sub-key), outcomes, the same window and bucket figures.
//   - the durability check of every phase: each acknowledged webhook an accepted event on disk.
//
// Per-subscriber FIFO: the store claims a job only when no earlier job of the same destination and
// subscriber is pending or running, so one webhook's C jobs go one after another (channel 01 first),
// and W webhooks make at most W attempts in flight at once (the concurrency, 32, never binds at
// W = 20).
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
const TOKEN = 'xoxb-bench-slack-token';
const TAG_ID = 7;
/** Slack's chat.postMessage limit per channel, as the relay's default `subKeyRateLimit` and the simulator's. */
const PER_SECOND = 1;
const BURST = 3; // the simulator's (Slack's); the relay keeps its default (burst 2: one token in reserve)
/** Subscriber ids of this phase count up from here (every webhook names a new subscriber). */
let lastId = 9_000_000;

/** `bench-01` …: the same names as bench/slack-sim.mjs gives the simulator's channels. */
const channelName = (i) => `bench-${String(i + 1).padStart(2, '0')}`;

/** The phase's settings from the environment (documented in run.mjs's header). */
export function slackOptions(num) {
  const pollRaw = process.env.BENCH_SLACK_POLL_MS;
  return {
    webhooks: Math.trunc(num('BENCH_SLACK_WEBHOOKS', 20)),
    channels: Math.trunc(num('BENCH_SLACK_CHANNELS', 50)),
    concurrency: Math.trunc(num('BENCH_SLACK_CONCURRENCY', 32)),
    connections: Math.trunc(num('BENCH_SLACK_CONNECTIONS', 32)),
    perSecond: PER_SECOND,
    burst: BURST,
    // 0: the simulator's per-channel limit off (a diagnostic: the relay's pacing alone, no 429 possible).
    simLimit: process.env.BENCH_SLACK_SIM_LIMIT !== '0',
    // Unset: the relay's default queue.pollIntervalMs (250 ms).
    pollMs: pollRaw === undefined || pollRaw === '' ? undefined : Math.trunc(num('BENCH_SLACK_POLL_MS', 250)),
  };
}

function writeConfig(file, { apiUrl, o }) {
  const destination = { type: 'slack', token: { $env: 'SLACK_BOT_TOKEN' }, apiUrl, concurrency: o.concurrency };
  const actions = Array.from({ length: o.channels }, (_, i) => ({ destination: 'slack', params: { channel: `#${channelName(i)}` } }));
  const queue = { enabled: true, ...(o.pollMs === undefined ? {} : { pollIntervalMs: o.pollMs }) };
  const config = {
    server: { host: '127.0.0.1' },
    destinations: { slack: destination },
    rules: [{ id: 'fan-out', on: 'subscriber.tag_added', scope: { tag_id: TAG_ID }, actions }],
    queue,
    log: { level: 'warn' },
  };
  writeFileSync(file, `// written by bench/slack.mjs\nexport default ${JSON.stringify(config, null, 2)};\n`);
}

/** Waits until the simulator holds `want` messages or the deadline passes; then `settleMs` more for stragglers. */
async function waitForMessages(sim, want, deadlineMs, settleMs = 1_000) {
  const deadline = performance.now() + deadlineMs;
  const count = async () => (await getJson(`${sim.control}/count`)).messages;
  while ((await count()) < want && performance.now() < deadline) await sleep(100);
  const isComplete = (await count()) >= want;
  await sleep(settleMs);
  return isComplete;
}

/** Groups `{ key, at }` rows into sorted arrival times per key. */
function byKey(rows) {
  const out = new Map();
  for (const { key, at } of rows) {
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push(at);
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  return out;
}

const median = (xs) => {
  const v = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : Number.NaN;
};

/**
 * The pacing figures of per-channel arrival times: overall and after the first burst, per channel,
 * the middle-half slope, 1-s windows, the bucket overshoot, and (given `t0`) the lateness of each
 * channel's k-th arrival against an ideal bucket full at `t0`: max(0, (k − B)/R) s after it.
 */
function pacing(perChannel, o, t0) {
  const lists = [...perChannel.values()];
  const all = lists.flat().sort((a, b) => a - b);
  const n = all.length;
  const out = { n, channels: lists.length };
  if (n < 2) return out;
  const first = all[0];
  const last = all[n - 1];
  out.spanSeconds = (last - first) / 1000;
  out.overall = (n - 1) / out.spanSeconds;
  // What C channels allow after their first burst: C·R; and N a channel take (N − B)/R s at best.
  const allowed = lists.length * o.perSecond;
  out.allowed = allowed;
  const perChannelN = Math.max(...lists.map((l) => l.length));
  out.idealSeconds = Math.max(0, perChannelN - o.burst) / o.perSecond;
  out.idealOverall = out.idealSeconds > 0 ? (n - 1) / out.idealSeconds : Number.NaN;
  // After the first burst: the messages beyond each channel's first B, over first → last message.
  const beyond = lists.reduce((s, l) => s + Math.max(0, l.length - o.burst), 0);
  out.steady = beyond / out.spanSeconds;
  // The same per channel: (N_c − B) / (its first → last).
  const rates = lists.filter((l) => l.length > o.burst).map((l) => (l.length - o.burst) / ((l[l.length - 1] - l[0]) / 1000));
  out.perChannel = { min: Math.min(...rates), median: median(rates), max: Math.max(...rates) };
  out.perChannelSpanSeconds = { min: Math.min(...lists.map((l) => (l[l.length - 1] - l[0]) / 1000)), max: Math.max(...lists.map((l) => (l[l.length - 1] - l[0]) / 1000)) };
  // The slope over the middle half of the stretch after the first C·B (clumps and edges left out).
  const b = Math.min(n - 1, lists.length * o.burst);
  const from = all[b];
  const mid0 = from + (last - from) / 4;
  const mid1 = from + (3 * (last - from)) / 4;
  out.middleSeconds = (mid1 - mid0) / 1000;
  out.middleSlope = slope(all.filter((t) => t >= mid0 && t < mid1));
  const w = lists.map((l) => windows(l));
  out.mostInOneSecondPerChannel = Math.max(...w.map((x) => x.mostInOneSecond));
  out.channelsOverBound = w.filter((x) => x.mostInOneSecond > o.burst + o.perSecond).length;
  out.maxGapPerChannelMs = Math.max(...w.map((x) => x.maxGapMs));
  const debts = lists.map((l) => overshoot(l, o.perSecond, o.burst));
  out.overshoot = Math.max(...debts);
  out.channelsAhead = debts.filter((d) => d > 1e-9).length;
  Object.assign(out, { mostInOneSecondAll: windows(all).mostInOneSecond, maxGapAllMs: windows(all).maxGapMs });
  if (t0 !== undefined) {
    const lateness = [];
    for (const l of lists) l.forEach((t, k) => lateness.push(t - (t0 + (Math.max(0, k + 1 - o.burst) * 1000) / o.perSecond)));
    out.latenessMs = percentiles(lateness);
    out.totalSeconds = (last - t0) / 1000;
  }
  return out;
}

/**
 * How long after it could have started the relay started each attempt (ms, its own clock): an
 * attempt is ready when its channel's bucket (replayed over the relay's own attempt starts on that
 * channel, 429'd ones included: each spent a token) holds a token, its subscriber's previous attempt
 * has finished (per-subscriber FIFO) and, for a retry after a 429, Retry-After (1 s) has passed.
 * A subscriber's first attempt is left out (its webhook's commit time is not recorded). What is
 * left is the worker's own delay: asleep while a deferred job's time came.
 */
function wakeLateness(attempts, o) {
  /** Per channel: tokens left after its last start, and when. */
  const bucket = new Map();
  const lastOfSubscriber = new Map();
  const lastOfJob = new Map();
  const late = [];
  for (const a of attempts) {
    const b = bucket.get(a.key);
    // When the channel's bucket next held a whole token after its previous start (a new one is full).
    const tokenAt = b === undefined || b.tokens >= 1 ? Number.NEGATIVE_INFINITY : b.at + ((1 - b.tokens) * 1000) / o.perSecond;
    const prev = lastOfSubscriber.get(a.subscriber);
    const retry = lastOfJob.get(a.job);
    if (prev !== undefined) {
      let ready = Math.max(tokenAt, prev.finishedAt);
      if (retry?.status === 429) ready = Math.max(ready, retry.finishedAt + 1_000);
      late.push(a.at - ready);
    }
    const tokens = b === undefined ? o.burst : Math.min(o.burst, b.tokens + ((a.at - b.at) * o.perSecond) / 1000);
    bucket.set(a.key, { tokens: Math.max(0, tokens - 1), at: a.at });
    lastOfSubscriber.set(a.subscriber, a);
    lastOfJob.set(a.job, a);
  }
  return percentiles(late);
}

/**
 * Starts a simulator and a relay on it, runs `body(ctx)`, stops both; returns what body returned
 * plus the relay's end and, not in the results, `attempts`: every attempt the relay recorded
 * (`started_at` ms, outcome, response status, the job's sub-key), from its stopped database.
 */
async function withRelay(label, ctx, o, body) {
  const simProc = await startNode({
    name: `slack simulator (${label})`,
    script: path.join(BENCH_DIR, 'slack-sim.mjs'),
    args: [TOKEN, String(o.channels), String(o.webhooks * o.channels * 4 + 1_000), o.simLimit ? '1' : '0'],
    logFile: path.join(ctx.work, `${label}.sim.log`),
    ready: /^slack-sim (\{.*\})$/m,
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
      env: { KITRELAY_ROUTE_SECRET: ctx.routeSecret, KITRELAY_LOG_LEVEL: 'warn', SLACK_BOT_TOKEN: TOKEN },
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
    const attempts = db
      .prepare('SELECT a.started_at AS at, a.finished_at AS finishedAt, a.outcome, a.response_status AS status, a.job_id AS job, j.sub_key AS key, j.subscriber_key AS subscriber FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id ORDER BY a.started_at, a.id')
      .all();
    Object.defineProperty(out, 'attempts', { value: attempts, enumerable: false });
  } finally {
    db.close();
  }
  return out;
}

/** Messages, distinct (channel, job) pairs, duplicates, each channel's count against W, the answers. */
function messageCounts(dump, o) {
  const want = o.webhooks * o.channels;
  const pairs = new Set(dump.messages.map((m) => `${m.channel}\u0000${m.job}`));
  const perChannel = new Map(Array.from({ length: o.channels }, (_, i) => [channelName(i), 0]));
  for (const m of dump.messages) perChannel.set(m.channel, (perChannel.get(m.channel) ?? 0) + 1);
  const counts = [...perChannel.values()];
  const statuses = {};
  for (const p of dump.posts) statuses[p.status] = (statuses[p.status] ?? 0) + 1;
  return {
    expected: want,
    messages: dump.messages.length,
    distinctPairs: pairs.size,
    duplicates: dump.messages.length - pairs.size,
    withoutJob: dump.messages.filter((m) => m.job === undefined || m.job === null).length,
    perChannelMin: Math.min(...counts),
    perChannelMax: Math.max(...counts),
    channelsExact: counts.filter((c) => c === o.webhooks).length,
    postStatuses: statuses,
    otherRequests: dump.otherRequests,
    isExact: dump.messages.length === want && pairs.size === want && counts.every((c) => c === o.webhooks),
  };
}

/** 429 answers: in all, in the first second after the first chat.postMessage, after it, and the channels they hit. */
function refusals(posts) {
  const first = Math.min(...posts.map((p) => p.at));
  const refused = posts.filter((p) => p.status === 429);
  const late = refused.filter((p) => p.at - first >= 1_000);
  return {
    total: refused.length,
    inFirstSecond: refused.length - late.length,
    afterFirstSecond: late.length,
    channels: new Set(refused.map((p) => p.channel)).size,
    // When each came, s after the first chat.postMessage, and on which channel (results.json only).
    at: refused.map((p) => ({ s: Math.round(p.at - first) / 1000, channel: p.channel })),
  };
}

/**
 * The phase. `ctx` carries run.mjs's pieces: opt (with opt.slack), work, log, fmtMs, stopChecked,
 * inspectDb, durability, serviceMetrics.
 */
export async function phaseSlack(label, ctx) {
  const { log } = ctx;
  const o = ctx.opt.slack;
  const { legacyFixture } = await dist('kit/fixtures.js');
  const { routeToken, routeId, LEGACY_PATH_PREFIX } = await dist('ingest/routes.js');
  const body0 = legacyFixture('subscriber.tag_add', { id: 1, scopeValue: String(TAG_ID) });
  const rid = routeId(body0.spec, body0.scopeValue);
  const routeSecret = randomBytes(32).toString('base64url');
  const hookPath = `${LEGACY_PATH_PREFIX}/${rid}/${routeToken(routeSecret, rid)}`;
  const bodiesFor = (n) =>
    Array.from({ length: n }, () => {
      const id = ++lastId;
      return JSON.stringify(legacyFixture('subscriber.tag_add', { id, email: `bench-slack-${id}@example.com`, firstName: 'Ada', scopeValue: String(TAG_ID) }).body);
    });
  const pctx = { ...ctx, hookPath, routeSecret };
  const out = { options: o };
  const want = o.webhooks * o.channels;
  const idealSeconds = Math.max(0, o.webhooks - o.burst) / o.perSecond;

  log(`\n[${label}] Slack messages/s: ${o.webhooks} tag_add webhooks × ${o.channels} channels = ${want} messages; per-channel limit ${o.perSecond}/s, burst ${o.burst} at the relay (subKeyRateLimit) and ${o.simLimit ? 'at the simulator (429 beyond it)' : 'NOT at the simulator (BENCH_SLACK_SIM_LIMIT=0: its limit off)'}; concurrency ${o.concurrency}`);
  out.fanout = await withRelay(`${label}-fanout`, pctx, o, async ({ sim, proc, url }) => {
    const r = {};
    const meter = cpuMeter({ server: proc.pid, generator: process.pid, simulator: sim.pid });
    const post = await postAll({ url, bodies: bodiesFor(o.webhooks), connections: o.connections, deadlineMs: 60_000 });
    r.post = { sent: post.sent, ok: post.ok, statuses: post.statuses, seconds: post.seconds, perSecond: post.perSecond };
    log(`  posted ${r.post.ok}/${o.webhooks} (2xx) in ${ctx.fmtMs(r.post.seconds * 1000)} ms`);
    r.isComplete = await waitForMessages(sim, want, idealSeconds * 1.5 * 1000 + 30_000);
    r.cpu = meter.since();
    const dump = await getJson(`${sim.control}/dump`, 30_000);
    r.counts = messageCounts(dump, o);
    r.refused = refusals(dump.posts);
    const ok = dump.posts.filter((p) => p.status === 200);
    const acks = Array.from(post.ackAt).filter(Number.isFinite);
    r.firstAckAt = Math.min(...acks);
    r.firstMessageAt = Math.min(...ok.map((p) => p.at));
    r.acksSpanMs = Math.max(...acks) - r.firstAckAt;
    r.rates = pacing(byKey(ok.map((p) => ({ key: p.channel, at: p.at }))), o, r.firstAckAt);
    r.ratioSteady = r.rates.steady / r.rates.allowed;
    r.ratioMiddle = r.rates.middleSlope / r.rates.allowed;
    r.ratioPerChannelMin = r.rates.perChannel.min / o.perSecond;
    // Every call as it arrived, 429'd ones included (the relay spent a token on each): how far
    // arrival-time jitter put them ahead of an ideal bucket per channel, full at its first arrival.
    const calls = [...byKey(dump.posts.map((p) => ({ key: p.channel, at: p.at }))).values()].map((l) => overshoot(l, o.perSecond, o.burst));
    r.callsAhead = { most: Math.max(...calls), channels: calls.filter((d) => d > 1e-9).length };
    return r;
  });
  const f = out.fanout;
  // The relay's side: when its limiter let each attempt start, per channel (sub-key).
  const outcomes = {};
  for (const a of f.attempts) outcomes[a.outcome] = (outcomes[a.outcome] ?? 0) + 1;
  const started = byKey(f.attempts.map((a) => ({ key: a.key, at: a.at })));
  const relay = pacing(started, o, undefined);
  f.relay = {
    attempts: f.attempts.length,
    outcomes,
    answered429: f.attempts.filter((a) => a.status === 429).length,
    mostInOneSecondPerChannel: relay.mostInOneSecondPerChannel,
    overshoot: relay.overshoot,
    channelsAhead: relay.channelsAhead,
    steady: relay.steady,
    middleSlope: relay.middleSlope,
    maxGapPerChannelMs: relay.maxGapPerChannelMs,
    wakeLatenessMs: wakeLateness(f.attempts, o),
  };
  const firstAttempt = f.attempts[0]?.at;
  f.rates.firstMessageAfterFirstAttemptMs = firstAttempt === undefined ? Number.NaN : f.firstMessageAt - firstAttempt;
  f.durability = ctx.durability(f.post.ok, f.post.sent - f.post.ok, f.db);

  const s = f.rates;
  log(`  messages ${f.counts.messages}/${want} (${f.counts.distinctPairs} distinct (channel, job), duplicates ${f.counts.duplicates}; per channel ${f.counts.perChannelMin}–${f.counts.perChannelMax}); 429 answers ${f.refused.total} (after the first second ${f.refused.afterFirstSecond}, on ${f.refused.channels} channels)`);
  log(`  after the first burst ${ctx.fmtMs(s.steady)} msg/s = ${f.ratioSteady.toFixed(3)} × the allowed ${s.allowed}/s ((messages − C·B) / first → last, ${ctx.fmtMs(s.spanSeconds)} s vs ideal (N − B)/R = ${ctx.fmtMs(s.idealSeconds)} s); middle-half slope ${ctx.fmtMs(s.middleSlope)}/s; overall ${ctx.fmtMs(s.overall)}/s (ideal ${ctx.fmtMs(s.idealOverall)}/s); per channel after its burst min ${s.perChannel.min.toFixed(3)} / median ${s.perChannel.median.toFixed(3)}/s`);
  log(`  per channel: most in any 1 s ${s.mostInOneSecondPerChannel} (a bucket allows ${o.burst + o.perSecond}), ahead of an ideal bucket by ${s.overshoot.toFixed(3)} at most (${s.channelsAhead} channels ahead at all; every call as it arrived, 429'd ones included: ${f.callsAhead.most.toFixed(3)} at most, ${f.callsAhead.channels} channels ahead at all), longest gap ${ctx.fmtMs(s.maxGapPerChannelMs)} ms; lateness vs a bucket full at the first acknowledgement p50 ${ctx.fmtMs(s.latenessMs.p50)} / p99 ${ctx.fmtMs(s.latenessMs.p99)} / max ${ctx.fmtMs(s.latenessMs.max)} ms; first acknowledgement → last message ${ctx.fmtMs(s.totalSeconds)} s`);
  log(`  relay side (attempt starts): ${f.relay.attempts} attempts (${Object.entries(outcomes).map(([k, n]) => `${k} ${n}`).join(', ')}), most in 1 s per channel ${f.relay.mostInOneSecondPerChannel}, ahead of an ideal bucket by ${f.relay.overshoot.toFixed(3)} at most; started after ready (token, FIFO, Retry-After) p50 ${ctx.fmtMs(f.relay.wakeLatenessMs.p50)} / p90 ${ctx.fmtMs(f.relay.wakeLatenessMs.p90)} / max ${ctx.fmtMs(f.relay.wakeLatenessMs.max)} ms`);
  if (!f.durability.ok || !f.counts.isExact || !f.isComplete) log(`  ! durability ${f.durability.ok ? 'ok' : 'FAILED'}, messages ${f.counts.messages}/${f.counts.expected} (${f.counts.distinctPairs} distinct)${f.isComplete ? '' : ', not all within the deadline'}`);
  return out;
}
