// The `airtable` phase of bench/run.mjs (issue 11): the backfill of a 100,000-subscriber mirror into
// an empty Airtable table, at Airtable's limits scaled up so the run takes a minute or two, then the
// same backfill again with nothing changed.
//
//   the mirror    subscribers 1…N of the Kit simulator's seed (BENCH_AIRTABLE_SUBSCRIBERS, default
//                 100,000: `SeedModel` from dist/kit/simulator/seed.js, written as a backfill writes
//                 them, `store.upsertSubscribers` in pages of 10,000, before anything is measured).
//                 The sync selects every state, so every subscriber is a record.
//   the limits    Airtable allows 5 requests a second per base and 50 per token (a request over
//                 either: 429 and 30 s of silence). Here both are multiplied by the same factor
//                 (BENCH_AIRTABLE_RATE, default 100 a second per base, so 1,000 per token), in the
//                 simulator (its own process: bench/airtable-sim.mjs) and in the destination's
//                 `subKeyRateLimit` / `rateLimit`, which the call budget (budget.ts) spends from.
//   run 1         `kitrelay airtable backfill subscribers` (dist/cli) in a child process: the real
//                 run (`backfillSync` → `runBackfill`: the table read first, since the sync maps an
//                 email; then every subscriber, 10 records a call, `concurrency` calls in flight,
//                 each spending from the call budget in the store, a checkpoint after each).
//   run 2         the same command again, nothing changed: it reads the table (100 rows a call) and
//                 writes nothing.
//
// Measured, per run:
//   - the run's time, from its own record (the backfill checkpoint's `startedAt` → `completedAt`),
//     and the child's wall time from spawn to exit; the lower bound the simulator's limit sets for
//     the n calls the run made, max(0, n − L)/L s with L calls a second per base (a window admits
//     L at once); the ratio (target ≤ 1.1×); the pace the call budget itself allows (L calls per
//     window of 1 s + WINDOW_MARGIN_MS); where the time went (start → first call, first → last
//     call, last call → end), from the calls' arrival times at the simulator.
//   - peak RSS of the process running the backfill (target < 256 MB): VmHWM read at exit by a
//     preload (bench/rss-probe.mjs) and sampled from here every 250 ms.
//   - correctness: the table holds N rows, N distinct Kit ids 1…N, none on two rows; the store
//     keeps N record states; run 2 sends no write. And the pace: no 429, no 1,000 ms in which more
//     than L calls arrived (a 429 loses nothing, the base is only silent for 30 s).
//
// Loopback only; every wait has a deadline; the children are stopped in `finally` and killed
// however the benchmark ends (lib.mjs).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, ROOT, cpuSeconds, getJson, sleep, startNode } from './lib.mjs';

const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
const RSS_PROBE = pathToFileURL(path.join(BENCH_DIR, 'rss-probe.mjs')).href;
const TOKEN = 'patBenchAirtable00001.0123456789abcdef0123456789abcdef';
const DESTINATION = 'airtable';
const SYNC = 'subscribers';
const FILL_PAGE = 10_000;
const ALL_STATES = ['active', 'inactive', 'cancelled', 'bounced', 'complained'];
/** Airtable's per-token limit is 10 times its per-base one (50 and 5): kept when scaled. */
const TOKEN_FACTOR = 10;
/** The issue's targets: the backfill within 1.1× the limit's bound, its process under 256 MB (read as MiB, as the meta phase does). */
const TARGETS = { timeRatio: 1.1, rssMiB: 256 };

/** The phase's settings from the environment (documented in run.mjs's header). */
export function airtableOptions(num) {
  const concurrencySet = process.env.BENCH_AIRTABLE_CONCURRENCY !== undefined && process.env.BENCH_AIRTABLE_CONCURRENCY !== '';
  return {
    subscribers: Math.trunc(num('BENCH_AIRTABLE_SUBSCRIBERS', 100_000)),
    perBase: Math.trunc(num('BENCH_AIRTABLE_RATE', 100)),
    // Unset: the destination's default concurrency.
    concurrency: concurrencySet ? Math.trunc(num('BENCH_AIRTABLE_CONCURRENCY', 4)) : undefined,
    isRerun: process.env.BENCH_AIRTABLE_RERUN !== '0',
    // Node.js flags for the backfill's process (a diagnostic: `--trace-gc`, `--max-semi-space-size=…`).
    nodeArgs: (process.env.BENCH_AIRTABLE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  };
}

function writeConfig(file, { sim, o }) {
  const destination = {
    type: 'airtable',
    token: { $env: 'AIRTABLE_TOKEN' },
    apiUrl: sim.apiUrl,
    rateLimit: { perSecond: o.perBase * TOKEN_FACTOR, burst: o.perBase * TOKEN_FACTOR },
    subKeyRateLimit: { perSecond: o.perBase, burst: o.perBase },
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    syncs: {
      [SYNC]: {
        baseId: sim.baseId,
        table: sim.table,
        select: { states: ALL_STATES },
        fields: { Email: 'email', Name: 'first_name', State: 'state', Tags: 'tags', 'Signed up': 'created_at', Company: { customField: 'company' }, City: { customField: 'city' } },
      },
    },
  };
  const config = { server: { host: '127.0.0.1' }, destinations: { [DESTINATION]: destination }, rules: [], log: { level: 'warn' } };
  writeFileSync(file, `// written by bench/airtable.mjs\nexport default ${JSON.stringify(config, null, 2)};\n`);
  return destination;
}

// ---------------------------------------------------------------- the mirror

/** Subscribers 1…N of the seed, as the mirror holds them after a Kit backfill (as bench/meta.mjs writes them). */
async function fillMirror(store, model, fieldKey, n) {
  const fieldKeys = model.fields.map((f) => [f.id, fieldKey(f.label)]);
  const t0 = performance.now();
  let pending;
  for (let from = 1; from <= n; from += FILL_PAGE) {
    const page = [];
    for (let i = from; i < Math.min(from + FILL_PAGE, n + 1); i++) {
      const s = model.subscriber(i);
      const fields = {};
      for (const [id, key] of fieldKeys) fields[key] = s.fields.get(id) ?? null;
      const tags = model.tags.filter((t) => model.taggedAt(i, t.id) !== undefined).map((t) => ({ id: t.id, name: t.name }));
      page.push({ kitId: i, email: s.email, firstName: s.firstName, state: s.state, fields, tags, createdAt: s.createdAt });
    }
    // The writer thread writes one page while this thread makes the next.
    await pending;
    pending = store.upsertSubscribers(page, 'backfill', Date.now());
  }
  await pending;
  return (performance.now() - t0) / 1000;
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

/** `kitrelay airtable backfill subscribers` in a child process, its RSS sampled every 250 ms until it exits (or is killed at the deadline). */
async function runBackfillChild(label, ctx, { config, dataDir, deadlineMs }) {
  const spawnAt = performance.now();
  const nodeArgs = ['--import', RSS_PROBE, ...ctx.opt.airtable.nodeArgs, ...(ctx.opt.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ctx.work, 'profiles', label)}`] : [])];
  const proc = await startNode({
    name: `kitrelay airtable backfill (${label})`,
    script: CLI,
    nodeArgs,
    args: ['--config', config, '--data-dir', dataDir, 'airtable', 'backfill', SYNC, '--json'],
    env: { AIRTABLE_TOKEN: TOKEN, KITRELAY_LOG_LEVEL: 'warn' },
    logFile: path.join(ctx.work, `${label}.log`),
    ready: /^rss-probe (start)$/m,
  });
  let hwmKiB = 0;
  let cpu;
  let exit;
  const timeline = [];
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
    if (t > deadlineMs) {
      ctx.log(`  ! ${proc.name} still running after ${Math.round(deadlineMs / 1000)} s: stopped`);
      await proc.stop(10_000);
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

/** The run's record (its checkpoint, with its stats) and how many record states the store keeps. */
async function readRun(dataDir) {
  const { openSqliteStore } = await dist('store/sqlite/index.js');
  const { backfillCheckpointName, syncKey } = await dist('integrations/airtable/index.js');
  const store = await openSqliteStore({ path: path.join(dataDir, 'kitrelay.db') });
  try {
    const checkpoint = await store.getCheckpoint(backfillCheckpointName(DESTINATION, SYNC));
    const states = await store.countAirtableRecords(syncKey(DESTINATION, SYNC));
    return { checkpoint, states };
  } finally {
    await store.close();
  }
}

/** The figures of one run: time against the limit's bound, where it went, what was sent. */
function figures(r, calls, o, windowMs) {
  const cp = r.checkpoint;
  const stats = cp?.data?.stats ?? {};
  const n = calls.received;
  const boundSeconds = Math.max(0, n - o.perBase) / o.perBase;
  const budgetPaceSeconds = (Math.max(0, n - o.perBase) * (windowMs / 1000)) / o.perBase;
  const runSeconds = cp?.completedAt ? (cp.completedAt - cp.startedAt) / 1000 : Number.NaN;
  const t = calls.times;
  const at = (x) => (x === undefined ? Number.NaN : (x - cp.startedAt) / 1000);
  // The steady pace: calls in the middle half of the run over the time they took.
  const q1 = t[Math.floor(n / 4)];
  const q3 = t[Math.floor((3 * n) / 4)];
  const middlePerSecond = n >= 8 && q3 > q1 ? (Math.floor((3 * n) / 4) - Math.floor(n / 4)) / ((q3 - q1) / 1000) : Number.NaN;
  const by = calls.byMethodStatus;
  const count = (pred) => Object.entries(by).filter(([k]) => pred(k)).reduce((s, [, v]) => s + v, 0);
  return {
    status: cp?.completedAt ? 'completed' : 'not completed',
    stats,
    calls: n,
    statsCalls: stats.calls,
    writes: count((k) => k.startsWith('PATCH ')),
    reads: count((k) => k.startsWith('GET ')),
    throttled: count((k) => k.endsWith(' 429')),
    notOk: count((k) => !/ 2\d\d$/.test(k)),
    byMethodStatus: by,
    maxInSecond: calls.maxInSecond,
    overages: calls.overages,
    boundSeconds,
    budgetPaceSeconds,
    runSeconds,
    ratio: boundSeconds > 0 ? runSeconds / boundSeconds : Number.NaN,
    ratioToBudgetPace: budgetPaceSeconds > 0 ? runSeconds / budgetPaceSeconds : Number.NaN,
    firstCallAt: at(t[0]),
    lastCallAt: at(t[n - 1]),
    sendingSeconds: n > 1 ? (t[n - 1] - t[0]) / 1000 : 0,
    tailSeconds: n > 0 && cp?.completedAt ? (cp.completedAt - t[n - 1]) / 1000 : Number.NaN,
    middlePerSecond,
    recordStates: r.states,
  };
}

// ---------------------------------------------------------------- the phase

/** The phase. `ctx` carries run.mjs's pieces: opt (with opt.airtable), work, log. */
export async function phaseAirtable(label, ctx) {
  const { log } = ctx;
  const o = ctx.opt.airtable;
  const { SeedModel } = await dist('kit/simulator/seed.js');
  const { fieldKey } = await dist('kit/simulator/model.js');
  const { openSqliteStore } = await dist('store/sqlite/index.js');
  const { airtableDestinationSchema } = await dist('integrations/airtable/schema.js');
  const { WINDOW_MARGIN_MS } = await dist('integrations/airtable/budget.js');
  const windowMs = 1000 + WINDOW_MARGIN_MS;
  const out = { options: o };
  log(`\n[${label}] Airtable backfill: ${o.subscribers.toLocaleString('en-US')} subscribers into an empty table, ${o.perBase} requests/s per base (Airtable: 5) and ${o.perBase * TOKEN_FACTOR} per token, 10 records a call; then again, nothing changed`);

  const model = new SeedModel({ subscribers: o.subscribers });
  const simProc = await startNode({
    name: `airtable simulator (${label})`,
    script: path.join(BENCH_DIR, 'airtable-sim.mjs'),
    args: [TOKEN, String(o.perBase), String(o.perBase * TOKEN_FACTOR), String(Math.ceil(o.subscribers / 10) + 10_000), JSON.stringify(model.tags.map((t) => t.name))],
    logFile: path.join(ctx.work, `${label}.sim.log`),
    ready: /^airtable-sim (\{.*\})$/m,
  });
  const urls = JSON.parse(simProc.url);
  const sim = { ...urls, ...(await getJson(`${urls.control}/info`)), pid: simProc.pid };
  const dataDir = path.join(ctx.work, label);
  mkdirSync(dataDir, { recursive: true });
  try {
    const config = path.join(ctx.work, `${label}.config.mjs`);
    const parsed = airtableDestinationSchema.parse(writeConfig(config, { sim, o }));
    out.destination = { subKeyRateLimit: parsed.subKeyRateLimit, rateLimit: parsed.rateLimit, concurrency: parsed.concurrency, windowMs, fields: Object.keys(parsed.syncs[SYNC].fields) };

    // 1. The mirror (setup, not measured).
    const store = await openSqliteStore({ path: path.join(dataDir, 'kitrelay.db') });
    try {
      out.mirror = { subscribers: o.subscribers, seconds: await fillMirror(store, model, fieldKey, o.subscribers) };
    } finally {
      await store.close();
    }
    log(`  mirror filled: ${o.subscribers.toLocaleString('en-US')} subscribers in ${out.mirror.seconds.toFixed(1)} s`);

    // 2. The backfill into the empty table; 3. the same again, nothing changed.
    const deadlineMs = ((Math.ceil(o.subscribers / 10) * 3) / o.perBase) * 1000 + 300_000;
    const runs = [['first', true], ['again', o.isRerun]].filter(([, on]) => on);
    for (const [name] of runs) {
      const child = await runBackfillChild(`${label}-${name}`, ctx, { config, dataDir, deadlineMs });
      const calls = await getJson(`${sim.control}/calls`, 60_000);
      await fetch(`${sim.apiUrl}/_sim/requests`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) });
      out[name] = { process: child, ...figures(await readRun(dataDir), calls, o, windowMs) };
      out[name].table = await getJson(`${sim.control}/table`, 60_000);
      report(log, name, out[name]);
    }

    // 4. Correctness (what the table and the store hold), then the pace (no 429): a 429 costs the
    // base 30 s but loses nothing, so it is reported apart.
    const n = o.subscribers;
    const tableOk = (t) => t.rows === n && t.distinctKitIds === n && t.minKitId === 1 && t.maxKitId === n && t.kitIdsOnTwoRows === 0;
    const f = out.first;
    const g = out.again;
    out.isCorrect =
      f.status === 'completed' && f.process.exit.code === 0 && f.stats.created === n && f.stats.read === n && f.stats.refused === 0 && tableOk(f.table) && f.recordStates === n &&
      (g === undefined || (g.status === 'completed' && g.process.exit.code === 0 && g.writes === 0 && g.stats.created === 0 && g.stats.updated === 0 && g.stats.unchanged === n && tableOk(g.table)));
    out.isPaced = [f, g].filter(Boolean).every((r) => r.throttled === 0 && r.maxInSecond <= o.perBase);
    const peakMiB = Math.max(...[f, g].filter(Boolean).map((r) => r.process.rss.peakMiB));
    out.verdict = { targets: TARGETS, timeMet: f.ratio <= TARGETS.timeRatio && out.isCorrect, peakRssMiB: peakMiB, rssMet: peakMiB < TARGETS.rssMiB };
    log(`  table: ${f.table.rows.toLocaleString('en-US')} rows, ${f.table.distinctKitIds.toLocaleString('en-US')} distinct Kit ids ${f.table.minKitId}…${f.table.maxKitId}, ${f.table.kitIdsOnTwoRows} on two rows${g ? `; after run 2: ${g.table.rows.toLocaleString('en-US')} rows, ${g.writes} writes` : ''}: ${out.isCorrect ? 'correct' : 'NOT CORRECT'}; 429s ${f.throttled}${g ? ` / ${g.throttled}` : ''}: ${out.isPaced ? 'paced' : 'NOT PACED'}`);
    const v = out.verdict;
    log(`  target backfill ≤ ${TARGETS.timeRatio}× the limit's bound: ${f.ratio.toFixed(3)} × ${v.timeMet ? 'met' : 'MISSED'}; target peak RSS < ${TARGETS.rssMiB} MB: ${peakMiB} MiB ${v.rssMet ? 'met' : 'MISSED'}`);
  } finally {
    await simProc.stop(5_000);
  }
  return out;
}

function report(log, name, f) {
  const p = f.process;
  const s = f.stats;
  log(`  ${name}: ${f.status}; read ${s.read}, created ${s.created}, updated ${s.updated}, unchanged ${s.unchanged}, refused ${s.refused}; ${f.calls} calls at the simulator (${Object.entries(f.byMethodStatus).map(([k, v]) => `${k}: ${v}`).join(', ')}), at most ${f.maxInSecond} in any 1,000 ms`);
  log(`    run ${f.runSeconds.toFixed(1)} s vs the limit's bound ${f.boundSeconds.toFixed(1)} s = ${Number.isNaN(f.ratio) ? 'n/a' : `${f.ratio.toFixed(3)} ×`} (the call budget's own pace: ${f.budgetPaceSeconds.toFixed(1)} s, ${Number.isNaN(f.ratioToBudgetPace) ? 'n/a' : `${f.ratioToBudgetPace.toFixed(3)} ×`}); first call at ${f.firstCallAt.toFixed(2)} s, last at ${f.lastCallAt.toFixed(1)} s, then ${f.tailSeconds.toFixed(2)} s to the end; steady ${f.middlePerSecond.toFixed(1)} calls/s; process ${p.wallSeconds.toFixed(1)} s (exit ${p.exit?.code})`);
  for (const w of f.overages) log(`    ! ${w.count} calls arrived within 1,000 ms from ${new Date(w.from).toISOString()} (to ${new Date(w.to).toISOString()})`);
  log(`    peak RSS ${p.rss.peakMiB} MiB (sampled ${p.rss.sampledPeakMiB} MiB; V8 heap used peak ${p.rss.probe?.peakSampledMiB?.heapUsed ?? '—'} MiB), CPU ${p.cpuSeconds?.toFixed(1)} s`);
}
