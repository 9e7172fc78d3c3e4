// The `meta` phase of bench/run.mjs (issue 10): a Meta Custom Audience kept in step with a
// 1,000,000-subscriber Kit account. Two runs of one audience against one Meta simulator:
//
//   full         a new, empty audience at Meta (made in the simulator at its start); the subscriber
//                mirror holds the Kit simulator's seed (BENCH_META_SUBSCRIBERS, default 1,000,000:
//                `SeedModel` from dist/kit/simulator/seed.js, the same generator the Kit simulator
//                serves, written as a backfill would write it: `store.upsertSubscribers` in pages of
//                10,000, before anything is measured). The run adds every selected member.
//   incremental  1 % of the account churns in the mirror (BENCH_META_CHURN): 40 % of the churned
//                subscribers unsubscribe (state `cancelled`), 30 % lose the `Customer` tag (chosen
//                among those who have it) and 30 % are new subscribers (ids past the seed's);
//                then the same audience runs again: removals first, then adds.
//
// Each run is `kitrelay meta sync customers` (dist/cli) in a child process of its own: the same
// run the audience's schedule makes in the service (`runAudienceSync`), with a real worker in that
// process sending each planned batch as one `upload` job through the destination's rate limit
// (the Meta destination's default, { perSecond: 1, burst: 2 }, unless BENCH_META_RATE /
// BENCH_META_BURST), 10,000 rows a request. The Meta simulator runs in its own process
// (bench/meta-sim.mjs) with its usage quota ON: 5,040 calls an hour, usage headers on every
// answer, read by the upload action's pacing as in production (a run of ~100 calls reads ~2 %, so
// the pacing, which starts at 75 %, never waits: the rate limit alone sets the pace).
//
// Measured, per run:
//   - the run's time, from its own record (`audience_runs.started_at` → `finished_at`), and the
//     child's wall time from spawn to exit; the lower bound the rate limit sets for n batches,
//     max(0, n − B) / R seconds (a bucket of B tokens full at the start, R a second); the ratio
//     (target ≤ 1.1×), and where the time went (refresh from the mirror, planning, sending, the
//     wait after the last acknowledgement), from the batches' and attempts' timestamps.
//   - peak RSS of the process running the run and the worker (target < 256 MB): VmHWM from
//     /proc/<pid>/status, read by a preload at exit (bench/rss-probe.mjs) and sampled from here
//     every 250 ms (a timeline kept in results.json).
//   - correctness: the simulator's member set equals the set the bench computes from the seed and
//     the churn by itself (every EXTERN_ID, both ways), equals the store's expected count, nothing
//     left to add or remove; no batch sent twice (each session's batch_seq list has no repeat, one
//     successful attempt per batch, rows received = rows planned).
//
// Loopback only; every wait has a deadline; the children (the CLI run, the simulator) are stopped
// in `finally` and killed however the benchmark ends (lib.mjs).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, ROOT, cpuSeconds, getJson, sleep, startNode } from './lib.mjs';

const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
const RSS_PROBE = pathToFileURL(path.join(BENCH_DIR, 'rss-probe.mjs')).href;
const TOKEN = 'EAAbenchMetaAccessToken0123456789abcdefghij';
const AUDIENCE = 'customers';
const FILL_PAGE = 10_000;
/** The Kit seed's tag 1. */
const CUSTOMER_TAG = 1;

/** The phase's settings from the environment (documented in run.mjs's header). */
export function metaOptions(num) {
  const select = process.env.BENCH_META_SELECT || 'customers';
  if (!['customers', 'active'].includes(select)) throw new Error(`BENCH_META_SELECT must be customers or active, not "${select}"`);
  const rateSet = process.env.BENCH_META_RATE !== undefined && process.env.BENCH_META_RATE !== '';
  const burstSet = process.env.BENCH_META_BURST !== undefined && process.env.BENCH_META_BURST !== '';
  return {
    subscribers: Math.trunc(num('BENCH_META_SUBSCRIBERS', 1_000_000)),
    select,
    churn: num('BENCH_META_CHURN', 0.01),
    // Unset: the destination's default rate limit (and the bound is computed from it).
    rateLimit: rateSet || burstSet ? { perSecond: num('BENCH_META_RATE', 1), ...(burstSet ? { burst: Math.trunc(num('BENCH_META_BURST', 2)) } : {}) } : undefined,
    usage: process.env.BENCH_META_USAGE !== '0',
  };
}

/** The audience's selection: the Kit seed's `Customer` tag among active subscribers, or every active one. */
function selectionOf(o) {
  return o.select === 'customers' ? { tags: { any: ['customer'] }, states: ['active'] } : { states: ['active'] };
}

function writeConfig(file, { sim, o }) {
  const destination = {
    type: 'meta',
    accessToken: { $env: 'META_ACCESS_TOKEN' },
    adAccountId: sim.adAccountId,
    graphUrl: sim.apiUrl,
    ...(o.rateLimit ? { rateLimit: o.rateLimit } : {}),
    audiences: { [AUDIENCE]: { audienceId: sim.audienceId, select: selectionOf(o), keys: { EMAIL: true, EXTERN_ID: true } } },
  };
  const config = { server: { host: '127.0.0.1' }, destinations: { meta: destination }, rules: [], log: { level: 'warn' } };
  writeFileSync(file, `// written by bench/meta.mjs\nexport default ${JSON.stringify(config, null, 2)};\n`);
  return destination;
}

// ---------------------------------------------------------------- the mirror

/**
 * The Kit seed as the mirror holds it after a backfill (src/sync/backfill.ts `toSnapshot`): the
 * lower-cased address, fields by key, tags with names.
 */
function snapshotMaker(model, fieldKey) {
  const fieldKeys = model.fields.map((f) => [f.id, fieldKey(f.label)]);
  return (i, patch = {}) => {
    const s = model.subscriber(i);
    const fields = {};
    for (const [id, key] of fieldKeys) fields[key] = s.fields.get(id) ?? null;
    const tags = model.tags.filter((t) => model.taggedAt(i, t.id) !== undefined).map((t) => ({ id: t.id, name: t.name }));
    return { kitId: i, email: s.email, firstName: s.firstName, state: s.state, fields, tags, createdAt: s.createdAt, ...patch };
  };
}

const isSelected = (o, state, hasCustomer) => state === 'active' && (o.select === 'active' || hasCustomer);

/** Fills the mirror with subscribers 1..N; answers each one's selection (1 = selected). */
async function fillMirror(store, snapshot, o, log) {
  const selected = new Uint8Array(o.subscribers + 1);
  const t0 = performance.now();
  let pending;
  for (let from = 1; from <= o.subscribers; from += FILL_PAGE) {
    const page = [];
    for (let i = from; i < Math.min(from + FILL_PAGE, o.subscribers + 1); i++) {
      const s = snapshot(i);
      page.push(s);
      if (isSelected(o, s.state, s.tags.some((t) => t.id === CUSTOMER_TAG))) selected[i] = 1;
    }
    // The writer thread writes one page while this thread makes the next.
    await pending;
    pending = store.upsertSubscribers(page, 'backfill', Date.now());
    if ((from - 1) % 200_000 === 0 && from > 1) log(`  mirror: ${from - 1} subscribers written`);
  }
  await pending;
  return { selected, seconds: (performance.now() - t0) / 1000 };
}

/**
 * 1 % of the account changes: unsubscribes, untags (among `Customer`s) and new subscribers, written
 * as a reconciliation would. Ids are spread over the account by a stride coprime with N.
 */
async function churnMirror(store, o, model, bigModel, fieldKey, selected0) {
  const { nCancel, nUntag, nNew } = churnPlan(o);
  const snapshot = snapshotMaker(model, fieldKey);
  const snapshotNew = snapshotMaker(bigModel, fieldKey);
  const selected = new Uint8Array(o.subscribers + nNew + 1);
  selected.set(selected0);
  const stride = strideFor(o.subscribers);
  const touched = new Set();
  const changes = [];
  let k = 0;
  const nextId = () => ((k++ * stride) % o.subscribers) + 1;
  while (changes.length < nCancel) {
    const id = nextId();
    if (touched.has(id)) continue;
    touched.add(id);
    changes.push(snapshot(id, { state: 'cancelled' }));
    selected[id] = 0;
  }
  let untagged = 0;
  for (let tries = 0; untagged < nUntag && tries < o.subscribers; tries++) {
    const id = nextId();
    if (touched.has(id)) continue;
    const s = snapshot(id);
    if (!s.tags.some((t) => t.id === CUSTOMER_TAG)) continue;
    touched.add(id);
    changes.push({ ...s, tags: s.tags.filter((t) => t.id !== CUSTOMER_TAG) });
    selected[id] = isSelected(o, s.state, false) ? 1 : 0;
    untagged += 1;
  }
  for (let id = o.subscribers + 1; id <= o.subscribers + nNew; id++) {
    const s = snapshotNew(id);
    changes.push(s);
    selected[id] = isSelected(o, s.state, s.tags.some((t) => t.id === CUSTOMER_TAG)) ? 1 : 0;
  }
  for (let i = 0; i < changes.length; i += FILL_PAGE) await store.upsertSubscribers(changes.slice(i, i + FILL_PAGE), 'reconcile', Date.now());
  const was = countSelected(selected0);
  const now = countSelected(selected);
  return { selected, churn: { subscribers: changes.length, cancelled: nCancel, untagged, added: nNew, expectedBefore: was, expectedAfter: now } };
}

/** How many subscribers churn, and how: 40 % unsubscribe, 30 % lose `Customer`, 30 % are new. */
function churnPlan(o) {
  const n = Math.max(3, Math.round(o.subscribers * o.churn));
  const nCancel = Math.round(n * 0.4);
  const nUntag = Math.round(n * 0.3);
  return { n, nCancel, nUntag, nNew: n - nCancel - nUntag };
}

/** A stride coprime with n near n × 0.618 (golden ratio): consecutive picks land far apart. */
function strideFor(n) {
  const gcd = (a, b) => (b === 0 ? a : gcd(b, a % b));
  let s = Math.max(1, Math.floor(n * 0.6180339887));
  while (gcd(s, n) !== 1) s += 1;
  return s;
}

function countSelected(selected) {
  let n = 0;
  for (let i = 0; i < selected.length; i++) n += selected[i];
  return n;
}

// ---------------------------------------------------------------- one run

const kib = (pid, field) => {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * `kitrelay meta sync customers` in a child process, its RSS sampled every 250 ms until it exits
 * (or `deadlineMs` passes: then it is killed). Answers its exit, wall time, RSS figures and CPU.
 */
async function runSync(label, ctx, { config, dataDir, deadlineMs }) {
  const spawnAt = performance.now();
  const proc = await startNode({
    name: `kitrelay meta sync (${label})`,
    script: CLI,
    nodeArgs: ['--import', RSS_PROBE],
    args: ['--config', config, '--data-dir', dataDir, 'meta', 'sync', AUDIENCE, '--json'],
    env: { META_ACCESS_TOKEN: TOKEN, KITRELAY_LOG_LEVEL: 'warn' },
    logFile: path.join(ctx.work, `${label}.log`),
    ready: /^rss-probe (start)$/m,
  });
  const timeline = [];
  let cpu;
  let hwmKiB = 0;
  let exit;
  const deadline = spawnAt + deadlineMs;
  let lastKept = -Infinity;
  while (exit === undefined) {
    const rss = kib(proc.pid, 'VmRSS');
    const hwm = kib(proc.pid, 'VmHWM');
    cpu = cpuSeconds(proc.pid) ?? cpu;
    if (hwm !== undefined) hwmKiB = Math.max(hwmKiB, hwm);
    const t = performance.now() - spawnAt;
    if (rss !== undefined && t - lastKept >= 1000) {
      timeline.push([Math.round(t / 100) / 10, Math.round(rss / 1024)]);
      lastKept = t;
    }
    if (performance.now() > deadline) {
      ctx.log(`  ! ${proc.name} still running after ${Math.round(deadlineMs / 1000)} s: killed`);
      await proc.stop(5_000);
    }
    exit = await Promise.race([proc.exited, sleep(250).then(() => undefined)]);
  }
  const wallSeconds = (performance.now() - spawnAt) / 1000;
  const tail = proc.tail();
  const probeLine = /^rss-probe (\{.*\})$/m.exec(tail);
  const probe = probeLine ? JSON.parse(probeLine[1]) : undefined;
  if (exit.code !== 0) ctx.log(`  ! ${proc.name} exited with code ${exit.code} (signal ${exit.signal}); last output:\n${tail.slice(-2000)}`);
  const sampledPeakMiB = Math.round(hwmKiB / 102.4) / 10;
  return { exit, wallSeconds, cpuSeconds: probe?.cpuSeconds ?? cpu, rss: { peakMiB: probe?.vmHWMMiB ?? sampledPeakMiB, sampledPeakMiB, probe, timeline } };
}

/** The run's record, batches and upload attempts, from the stopped run's database (read-only). */
async function readRun(dataDir) {
  const { Sqlite } = await dist('store/sqlite/driver.js');
  const db = new Sqlite(path.join(dataDir, 'kitrelay.db'), { readonly: true, fileMustExist: true });
  try {
    const run = db.prepare('SELECT * FROM audience_runs ORDER BY id DESC LIMIT 1').get();
    const batches = db.prepare('SELECT id, op, seq, session_id AS sessionId, size, status, created_at AS createdAt, acked_at AS ackedAt FROM audience_batches WHERE run_id = ? ORDER BY id').all(run.id);
    const ids = new Set(batches.map((b) => b.id));
    const attempts = db
      .prepare("SELECT a.job_id AS job, a.started_at AS startedAt, a.finished_at AS finishedAt, a.outcome, j.params FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id WHERE j.action = 'upload' ORDER BY a.started_at, a.id")
      .all()
      .map((a) => ({ ...a, batchId: JSON.parse(a.params).batchId, params: undefined }))
      .filter((a) => ids.has(a.batchId));
    const counts = db.prepare(`SELECT count(row) AS expected, count(sent_row) AS confirmed, coalesce(sum(row IS NOT NULL AND row IS NOT sent_row), 0) AS toAdd, coalesce(sum(row IS NULL AND sent_row IS NOT NULL), 0) AS toRemove FROM audience_members WHERE audience = ?`).get(run.audience);
    return { run: { ...run, stats: JSON.parse(run.stats) }, batches, attempts, counts };
  } finally {
    db.close();
  }
}

/** The run's figures: time against the rate limit's bound, where the time went, what was sent. */
function figures(r, limit) {
  const n = r.batches.length;
  const boundSeconds = Math.max(0, n - limit.burst) / limit.perSecond;
  const runSeconds = (r.run.finished_at - r.run.started_at) / 1000;
  const at = (x) => (x === undefined ? Number.NaN : (x - r.run.started_at) / 1000);
  const starts = r.attempts.map((a) => a.startedAt);
  const firstPlanned = r.batches[0]?.createdAt;
  const lastPlanned = r.batches[n - 1]?.createdAt;
  const firstStart = starts[0];
  const lastStart = starts[starts.length - 1];
  const lastFinish = Math.max(...r.attempts.map((a) => a.finishedAt));
  const perBatch = new Map();
  for (const a of r.attempts) perBatch.set(a.batchId, [...(perBatch.get(a.batchId) ?? []), a.outcome]);
  const succeededTwice = [...perBatch.values()].filter((list) => list.filter((o) => o === 'succeeded').length > 1).length;
  const durations = r.attempts.map((a) => a.finishedAt - a.startedAt).sort((x, y) => x - y);
  return {
    batches: n,
    byOp: Object.fromEntries(['add', 'remove', 'replace'].map((op) => [op, r.batches.filter((b) => b.op === op).length]).filter(([, k]) => k > 0)),
    rowsPlanned: r.batches.reduce((s, b) => s + b.size, 0),
    boundSeconds,
    runSeconds,
    ratio: boundSeconds > 0 ? runSeconds / boundSeconds : Number.NaN,
    // Where the time went (seconds from the run's start).
    firstBatchPlannedAt: at(firstPlanned),
    lastBatchPlannedAt: at(lastPlanned),
    firstUploadAt: at(firstStart),
    lastUploadAt: at(lastStart),
    lastAckAt: at(lastFinish),
    // The limiter's own pace: first → last upload start against (n − B)/R (the first B at once).
    sendingSeconds: (lastStart - firstStart) / 1000,
    tailSeconds: (r.run.finished_at - lastFinish) / 1000,
    uploadMs: { p50: durations[Math.floor((durations.length - 1) / 2)], max: durations[durations.length - 1] },
    attempts: r.attempts.length,
    outcomes: r.attempts.reduce((m, a) => ({ ...m, [a.outcome]: (m[a.outcome] ?? 0) + 1 }), {}),
    batchesSucceededTwice: succeededTwice,
    batchesAcked: r.batches.filter((b) => b.status === 'acked').length,
    status: r.run.status,
    detail: r.run.detail,
    stats: r.run.stats,
    storeCounts: r.counts,
  };
}

/** The simulator's view against the bench's own: member set, sessions, batches sent twice. */
async function checkSim(sim, selected, runs) {
  const dump = await getJson(`${sim.control}/dump`, 60_000);
  const ids = await getJson(`${sim.control}/extern-ids`, 120_000);
  const atSim = new Uint8Array(selected.length);
  let extra = 0;
  for (const id of ids) {
    if (id >= 1 && id < selected.length) atSim[id] = 1;
    if (!(id >= 1 && id < selected.length && selected[id] === 1)) extra += 1;
  }
  let missing = 0;
  for (let i = 1; i < selected.length; i++) if (selected[i] === 1 && atSim[i] === 0) missing += 1;
  const repeatedSeqs = dump.sessions.reduce((n, s) => n + (s.batches.length - new Set(s.batches).size), 0);
  const received = dump.sessions.reduce((n, s) => n + s.received, 0);
  const planned = runs.reduce((n, f) => n + f.rowsPlanned, 0);
  return { members: dump.members, matched: dump.matched, expected: countSelected(selected), missing, extra, sessions: dump.sessions.length, batchesAtMeta: dump.sessions.reduce((n, s) => n + s.batches.length, 0), repeatedBatchSeqs: repeatedSeqs, rowsReceived: received, rowsPlanned: planned, invalid: dump.sessions.reduce((n, s) => n + s.invalid, 0) };
}

// ---------------------------------------------------------------- the phase

/**
 * The phase. `ctx` carries run.mjs's pieces: opt (with opt.meta), work, log, fmtMs.
 */
export async function phaseMeta(label, ctx) {
  const { log } = ctx;
  const o = ctx.opt.meta;
  const { SeedModel } = await dist('kit/simulator/seed.js');
  const { fieldKey } = await dist('kit/simulator/model.js');
  const { openSqliteStore } = await dist('store/sqlite/index.js');
  const { metaDestinationSchema } = await dist('integrations/meta/schema.js');
  const out = { options: o, selection: selectionOf(o) };
  log(`\n[${label}] Meta audience sync: ${o.subscribers.toLocaleString('en-US')} subscribers in the mirror, selection ${JSON.stringify(out.selection)}, then ${(o.churn * 100).toFixed(1)} % churn and an incremental run`);

  const simProc = await startNode({
    name: `meta simulator (${label})`,
    script: path.join(BENCH_DIR, 'meta-sim.mjs'),
    args: [TOKEN, o.usage ? '1' : '0', '20'],
    logFile: path.join(ctx.work, `${label}.sim.log`),
    ready: /^meta-sim (\{.*\})$/m,
  });
  const sim = { ...JSON.parse(simProc.url), pid: simProc.pid };
  const dataDir = path.join(ctx.work, label);
  mkdirSync(dataDir, { recursive: true });
  try {
    const config = path.join(ctx.work, `${label}.config.mjs`);
    const parsed = metaDestinationSchema.parse(writeConfig(config, { sim, o }));
    const audience = parsed.audiences[AUDIENCE];
    const limit = { perSecond: parsed.rateLimit.perSecond, burst: parsed.rateLimit.burst ?? Math.max(1, Math.floor(parsed.rateLimit.perSecond)) };
    out.destination = { rateLimit: limit, batchSize: audience.batchSize, concurrency: parsed.concurrency, keys: Object.keys(audience.keys), usageQuota: o.usage };

    // 1. The mirror (setup, not measured).
    const model = new SeedModel({ subscribers: o.subscribers });
    let store = await openSqliteStore({ path: path.join(dataDir, 'kitrelay.db') });
    let fill;
    try {
      fill = await fillMirror(store, snapshotMaker(model, fieldKey), o, log);
    } finally {
      await store.close();
    }
    out.mirror = { subscribers: o.subscribers, seconds: fill.seconds, selected: countSelected(fill.selected) };
    log(`  mirror filled: ${o.subscribers.toLocaleString('en-US')} subscribers in ${fill.seconds.toFixed(1)} s; ${out.mirror.selected.toLocaleString('en-US')} selected`);

    // 2. The full run into the new audience.
    const expectBatches = (k) => Math.ceil(k / audience.batchSize) + 1;
    const deadlineFor = (k) => (Math.max(0, expectBatches(k) - limit.burst) / limit.perSecond) * 3000 + 600_000;
    const full = await runSync(`${label}-full`, ctx, { config, dataDir, deadlineMs: deadlineFor(out.mirror.selected) });
    out.full = { process: full, ...figures(await readRun(dataDir), limit) };
    report(log, 'full', out.full);

    // 3. Churn, then the incremental run.
    const bigModel = new SeedModel({ subscribers: o.subscribers + churnPlan(o).nNew });
    store = await openSqliteStore({ path: path.join(dataDir, 'kitrelay.db') });
    let churned;
    try {
      churned = await churnMirror(store, o, model, bigModel, fieldKey, fill.selected);
    } finally {
      await store.close();
    }
    out.churn = churned.churn;
    log(`  churn: ${churned.churn.subscribers} subscribers changed (${churned.churn.cancelled} unsubscribed, ${churned.churn.untagged} untagged, ${churned.churn.added} new); expected ${churned.churn.expectedBefore} → ${churned.churn.expectedAfter}`);
    const incremental = await runSync(`${label}-incremental`, ctx, { config, dataDir, deadlineMs: deadlineFor(o.subscribers * o.churn * 2) });
    out.incremental = { process: incremental, ...figures(await readRun(dataDir), limit) };
    report(log, 'incremental', out.incremental);

    // 4. What Meta holds against what the bench computed by itself.
    out.check = await checkSim(sim, churned.selected, [out.full, out.incremental]);
    const c = out.check;
    out.isCorrect =
      c.missing === 0 && c.extra === 0 && c.members === c.expected && out.incremental.storeCounts.expected === c.expected && out.incremental.storeCounts.toAdd === 0 && out.incremental.storeCounts.toRemove === 0 &&
      c.repeatedBatchSeqs === 0 && c.rowsReceived === c.rowsPlanned && out.full.batchesSucceededTwice === 0 && out.incremental.batchesSucceededTwice === 0 &&
      out.full.status === 'succeeded' && out.incremental.status === 'succeeded';
    log(`  Meta holds ${c.members.toLocaleString('en-US')} members; the bench expects ${c.expected.toLocaleString('en-US')} (missing ${c.missing}, extra ${c.extra}); store expected ${out.incremental.storeCounts.expected}, to add ${out.incremental.storeCounts.toAdd}, to remove ${out.incremental.storeCounts.toRemove}; ${c.batchesAtMeta} batches at Meta, repeated batch_seq ${c.repeatedBatchSeqs}; rows received ${c.rowsReceived} / planned ${c.rowsPlanned}: ${out.isCorrect ? 'correct' : 'NOT CORRECT'}`);
  } finally {
    await simProc.stop(5_000);
  }
  return out;
}

function report(log, name, f) {
  const p = f.process;
  log(`  ${name}: ${f.status}${f.detail ? ` (${f.detail})` : ''}; ${f.batches} batches (${Object.entries(f.byOp).map(([k, n]) => `${k} ${n}`).join(', ')}), ${f.rowsPlanned.toLocaleString('en-US')} rows; run ${f.runSeconds.toFixed(1)} s vs the rate limit's bound ${f.boundSeconds.toFixed(1)} s = ${Number.isNaN(f.ratio) ? 'n/a' : `${f.ratio.toFixed(3)} ×`}; process ${p.wallSeconds.toFixed(1)} s (exit ${p.exit?.code})`);
  log(`    first batch planned at ${f.firstBatchPlannedAt.toFixed(1)} s, last at ${f.lastBatchPlannedAt.toFixed(1)} s; uploads ${f.firstUploadAt.toFixed(1)} → ${f.lastUploadAt.toFixed(1)} s (${f.sendingSeconds.toFixed(1)} s), last ack ${f.lastAckAt.toFixed(1)} s, then ${f.tailSeconds.toFixed(2)} s to the end; upload p50 ${f.uploadMs.p50} ms, max ${f.uploadMs.max} ms; attempts ${JSON.stringify(f.outcomes)}`);
  log(`    peak RSS ${p.rss.peakMiB} MiB (sampled ${p.rss.sampledPeakMiB} MiB; V8 heap used peak ${p.rss.probe?.peakSampledMiB?.heapUsed ?? '—'} MiB), CPU ${p.cpuSeconds?.toFixed(1)} s`);
}
