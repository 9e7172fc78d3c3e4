// The `postgres` phase of bench/run.mjs (issue 13): kitrelay on its PostgreSQL store.
//
//   ingest   the legacy tag_add body (run.mjs's, a fresh subscriber per request) posted by autocannon
//            to ingest-only kitrelay children (`server.roles: ['ingest']`, `node dist/cli/index.js
//            start`): on SQLite (a fresh data directory), on PostgreSQL with one instance, and with
//            two instances on one schema, the load split across both (one autocannon instance per
//            relay, half the connections each, their latency histograms merged). Same warm-up and
//            duration for all three; requests/s, latency p50/p99, ratios against SQLite, and every
//            acknowledged request counted back as an accepted event.
//   queue    jobs/s through the queue with K = 1, 2, 4 worker processes, kitrelay against
//            graphile-worker (its `run()`, bench/postgres-gw.mjs) on the same database, each on a
//            fresh schema, N jobs each, two kinds of job:
//              noop  kitrelay has no destination that does nothing: the nearest honest equivalent is
//                    the webhook destination in `mode: 'shadow'` — the whole attempt (claim, render
//                    the request, audit record, finish) without sending; graphile-worker's task
//                    returns at once.
//              http  one POST to the local receiver (bench/receiver.mjs): kitrelay's webhook
//                    destination (live); graphile-worker's task POSTs the job's payload through one
//                    keep-alive undici Agent.
//            kitrelay's N jobs: N webhooks taken once by an ingest-only relay on SQLite (no worker
//            anywhere), copied into each row's fresh schema with kitrelay's own `store copy`; then
//            K worker-only relays (`server.roles: ['worker']`) start. graphile-worker's N jobs are
//            added with `addJobs` (1,000 a call) before its K processes start. Destination
//            `concurrency` = graphile-worker `concurrency` = BENCH_PG_CONCURRENCY per process, pool
//            BENCH_PG_POOL connections per process for both; poll intervals left at their defaults.
//            Measured: each side's own span, first job started → last job finished (kitrelay:
//            attempts.started_at → jobs.finished_at; graphile-worker: its task's clock, reported by
//            each process), and the wall time from the first spawn until this process saw every job
//            done (succeeded rows for kitrelay, no rows left in `_private_jobs` for graphile-worker;
//            polled every 50 ms), which includes the processes' start.
//
// Loopback only (a non-loopback BENCH_PG_URL is refused); every wait has a deadline; children are
// stopped in `finally` and killed however the benchmark ends (lib.mjs); every schema made here is
// dropped at the end of its row (`kr_bench_…`, `gw_bench_…`).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { BENCH_DIR, ROOT, cpuSeconds, getJson, sleep, startNode } from './lib.mjs';
import { renderPostgresConsole, renderPostgresMarkdown } from './postgres-report.mjs';

const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
const GW = path.join(BENCH_DIR, 'postgres-gw.mjs');
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const ADD_CHUNK = 1_000;
const PARENT_WATCH = pathToFileURL(path.join(BENCH_DIR, 'parent-watch.mjs')).href;
const execFileP = promisify(execFile);

/** The phase's settings from the environment (documented in run.mjs's header). */
export function postgresOptions(num) {
  const list = (name, dflt) => (process.env[name] ? process.env[name].split(',').map((s) => Math.trunc(Number(s))).filter((n) => n > 0) : dflt);
  return {
    url: process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/test',
    duration: num('BENCH_PG_DURATION', 5),
    warmup: num('BENCH_PG_WARMUP', 1),
    connections: Math.trunc(num('BENCH_PG_CONNECTIONS', 64)),
    jobs: Math.trunc(num('BENCH_PG_JOBS', 3_000)),
    workers: list('BENCH_PG_WORKERS', [1, 2, 4]),
    kinds: (process.env.BENCH_PG_KINDS || 'noop,http').split(',').map((s) => s.trim()).filter(Boolean),
    concurrency: Math.trunc(num('BENCH_PG_CONCURRENCY', 16)),
    poolSize: Math.trunc(num('BENCH_PG_POOL', 10)),
    gwLocalQueue: process.env.BENCH_PG_GW_LOCAL_QUEUE ? Math.trunc(Number(process.env.BENCH_PG_GW_LOCAL_QUEUE)) : 0,
    drainTimeout: num('BENCH_PG_DRAIN_TIMEOUT', 120),
  };
}

// ---------------------------------------------------------------- PostgreSQL helpers

async function withClient(url, work) {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const schemaName = (prefix) => `${prefix}_${randomBytes(5).toString('hex')}`;
const ident = (name) => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad schema name ${name}`);
  return `"${name}"`;
};

// ---------------------------------------------------------------- kitrelay children

function writeConfig(file, { store, roles, receiverUrl, mode, concurrency }) {
  const config = {
    server: { host: '127.0.0.1', roles },
    store,
    destinations: { sink: { type: 'webhook', url: `${receiverUrl}/sink`, concurrency, mode } },
    rules: [{ id: 'bench-tag-add', on: 'subscriber.tag_add', scope: { tag_id: 4242 }, actions: [{ destination: 'sink' }] }],
    log: { level: 'warn' },
  };
  writeFileSync(file, `// written by bench/postgres.mjs\nexport default ${JSON.stringify(config, null, 2)};\n`);
}

async function startRelay(ctx, label, { store, roles, mode = 'live' }) {
  const o = ctx.opt.postgres;
  const config = path.join(ctx.work, `${label}.config.mjs`);
  const dataDir = path.join(ctx.work, label);
  mkdirSync(dataDir, { recursive: true });
  writeConfig(config, { store, roles, receiverUrl: ctx.receiverUrl, mode, concurrency: o.concurrency });
  return startNode({
    name: `kitrelay (${label})`,
    script: CLI,
    args: ['--config', config, '--data-dir', dataDir, 'start', '--port', '0', '--no-sandbox', '--grace', '5000'],
    env: { KITRELAY_ROUTE_SECRET: ctx.routeSecret, KITRELAY_LOG_LEVEL: 'warn' },
    logFile: path.join(ctx.work, `${label}.log`),
    ready: /kitrelay listening on (http:\/\/127\.0\.0\.1:\d+)/,
  });
}

async function stopAll(ctx, procs) {
  const results = await Promise.all(procs.map((p) => p.stop(30_000)));
  results.forEach((how, i) => {
    if (how.killed) ctx.log(`  ! ${procs[i].name} did not stop within 30 s of SIGTERM; killed`);
    else if (how.code !== 0) ctx.log(`  ! ${procs[i].name} exited with code ${how.code} (signal ${how.signal}); last output:\n${procs[i].tail().slice(-2000)}`);
  });
  return results;
}

// ---------------------------------------------------------------- load split across relays

/**
 * autocannon against each of `urls` at once (the connections split evenly), with the same body
 * factory; the latency histograms are merged (`autocannon.aggregateResult`). Requests/s: 2xx
 * answers over the run's wall time, summed over the instances.
 */
async function cannonAcross({ urls, body, connections, duration, amount }) {
  const share = (i) => Math.max(1, Math.floor(connections / urls.length) + (i < connections % urls.length ? 1 : 0));
  const raw = await Promise.all(
    urls.map((url, i) => {
      const target = new URL(url);
      const opts = {
        url: target.origin,
        connections: share(i),
        pipelining: 1,
        timeout: 10,
        skipAggregateResult: true,
        requests: [{ method: 'POST', path: target.pathname, headers: { 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, body: body() }) }],
        ...(amount === undefined ? { duration } : { amount: Math.round((amount * share(i)) / connections) }),
      };
      return new Promise((resolve, reject) => autocannon(opts, (err, r) => (err ? reject(err) : resolve(r))));
    }),
  );
  const agg = autocannon.aggregateResult(raw, { url: new URL(urls[0]).origin, connections });
  const sum = (k) => raw.reduce((n, r) => n + r[k], 0);
  const seconds = Math.max(...raw.map((r) => r.duration));
  const completed = sum('totalCompletedRequests');
  return {
    instances: urls.length,
    durationSeconds: seconds,
    ok: sum('2xx'),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    timeouts: sum('timeouts'),
    sent: sum('totalRequests'),
    unanswered: Math.min(connections, Math.max(0, sum('totalRequests') - completed)),
    reqPerSec: sum('2xx') / seconds,
    perInstanceReqPerSec: raw.map((r) => r['2xx'] / r.duration),
    latencyMs: { p50: agg.latency.p50, p90: agg.latency.p90, p99: agg.latency.p99, max: agg.latency.max, mean: agg.latency.average },
  };
}

// ---------------------------------------------------------------- ingest

async function ingestRow(ctx, label, { store, instances, countAccepted }) {
  const o = ctx.opt.postgres;
  const procs = [];
  try {
    for (let i = 0; i < instances; i++) procs.push(await startRelay(ctx, `${label}-${i + 1}`, { store, roles: ['ingest'] }));
    const urls = procs.map((p) => `${p.url}${ctx.hookPath}`);
    globalThis.gc?.();
    const warm = await cannonAcross({ urls, body: ctx.nextBody, connections: o.connections, duration: o.warmup });
    const m = await cannonAcross({ urls, body: ctx.nextBody, connections: o.connections, duration: o.duration });
    await stopAll(ctx, procs.splice(0));
    const acked = warm.ok + m.ok;
    const accepted = await countAccepted();
    const durable = accepted >= acked && accepted - acked <= warm.unanswered + m.unanswered + warm.errors + m.errors;
    ctx.log(`  ${label}: ${Math.round(m.reqPerSec).toLocaleString('en-US')} req/s (${m.perInstanceReqPerSec.map((x) => Math.round(x)).join(' + ')}), p50 ${m.latencyMs.p50} / p99 ${m.latencyMs.p99} ms, non-2xx ${m.non2xx}, errors ${m.errors}; ${acked} acknowledged, ${accepted} accepted events: ${durable ? 'ok' : 'NOT OK'}`);
    return { ...m, durability: { acked, accepted, ok: durable } };
  } finally {
    await stopAll(ctx, procs);
  }
}

async function phaseIngest(ctx, schemas) {
  const o = ctx.opt.postgres;
  const { openDatabase } = await import(pathToFileURL(path.join(ROOT, 'dist', 'store', 'sqlite', 'core.js')).href);
  const out = {};
  const sqliteDir = path.join(ctx.work, 'pg-ingest-sqlite-1');
  out.sqlite = await ingestRow(ctx, 'pg-ingest-sqlite', {
    store: {},
    instances: 1,
    countAccepted: async () => {
      const db = openDatabase(path.join(sqliteDir, 'kitrelay.db'), 1_000);
      try {
        return db.prepare("SELECT count(*) FROM events WHERE status = 'accepted'").pluck().get();
      } finally {
        db.close();
      }
    },
  });
  for (const instances of [1, 2]) {
    const schema = await schemas.make('kr_bench');
    const store = { url: o.url, schema, poolSize: o.poolSize };
    out[`pg${instances}`] = await ingestRow(ctx, `pg-ingest-pg${instances}`, {
      store,
      instances,
      countAccepted: () => withClient(o.url, async (c) => Number((await c.query(`SELECT count(*) AS n FROM ${ident(schema)}.events WHERE status = 'accepted'`)).rows[0].n)),
    });
    await schemas.drop(schema);
  }
  return out;
}

// ---------------------------------------------------------------- queue: kitrelay

/** Polls `progress()` (→ { done, failed }) every 50 ms until done + failed ≥ n or the deadline. */
async function waitDone(progress, n, deadlineMs) {
  const t0 = performance.now();
  let last = { done: 0, failed: 0 };
  while (performance.now() - t0 < deadlineMs) {
    last = await progress();
    if (last.done + last.failed >= n) return { ...last, doneAt: performance.now() };
    await sleep(50);
  }
  return { ...last, doneAt: undefined };
}

async function kitrelayQueueRow(ctx, schemas, { kind, k, source }) {
  const o = ctx.opt.postgres;
  const n = o.jobs;
  const schema = await schemas.make('kr_bench');
  const store = { url: o.url, schema, poolSize: o.poolSize };
  const mode = kind === 'noop' ? 'shadow' : 'live';
  const label = `pg-queue-kr-${kind}-${k}`;
  const q = (sql) => withClient(o.url, async (c) => (await c.query(sql)).rows);
  const out = { system: 'kitrelay', kind, workers: k, jobs: n };
  const procs = [];
  try {
    // 1. The N pending jobs of the SQLite store filled once for every row (`preloadSqlite`), copied
    // into this row's fresh schema by kitrelay's own `store copy`.
    const t0 = performance.now();
    await execFileP(process.execPath, ['--import', PARENT_WATCH, CLI, '--config', source.config, '--data-dir', source.dataDir, 'store', 'copy', '--to', o.url, '--schema', schema, '--json'], { cwd: ROOT, timeout: 300_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, KITRELAY_ROUTE_SECRET: ctx.routeSecret, KITRELAY_LOG_LEVEL: 'warn' } });
    const [{ pending }] = await q(`SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending FROM ${ident(schema)}.jobs`);
    out.preload = { pendingJobs: pending, copySeconds: (performance.now() - t0) / 1000 };
    if (pending !== n) ctx.log(`  ! ${label}: ${pending} pending jobs after the copy (expected ${n})`);

    // 2. K worker-only relays; wait until every job has succeeded.
    const r0 = await getJson(`${ctx.receiverUrl}/__stats`);
    const spawnAt = performance.now();
    const starts = [];
    for (let i = 0; i < k; i++) starts.push(startRelay(ctx, `${label}-w${i + 1}`, { store, roles: ['worker'], mode }).then((p) => (procs.push(p), p)));
    await Promise.all(starts);
    const readyAt = performance.now();
    const progress = async () => {
      const [r] = await q(`SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS done, count(*) FILTER (WHERE status IN ('dead', 'cancelled'))::int AS failed FROM ${ident(schema)}.jobs`);
      return r;
    };
    const end = await waitDone(progress, pending, o.drainTimeout * 1000);
    const cpu = procs.reduce((t, p) => t + (cpuSeconds(p.pid) ?? Number.NaN), 0);
    await stopAll(ctx, procs.splice(0));
    const r1 = await getJson(`${ctx.receiverUrl}/__stats`);
    const [span] = await q(`SELECT (SELECT min(started_at) FROM ${ident(schema)}.attempts)::float8 AS first, (SELECT max(finished_at) FROM ${ident(schema)}.jobs WHERE status = 'succeeded')::float8 AS last, (SELECT count(*) FROM ${ident(schema)}.attempts)::int AS attempts`);
    Object.assign(out, figures({ n: pending, end, spawnAt, readyAt, spanMs: span.last - span.first }));
    out.attempts = span.attempts;
    out.cpuSeconds = cpu;
    // Jobs finished in each second of the span: does the pace hold as the table fills with finished jobs?
    const bySecond = await q(`SELECT floor((finished_at - ${Number(span.first) || 0}) / 1000)::int AS s, count(*)::int AS n FROM ${ident(schema)}.jobs WHERE status = 'succeeded' GROUP BY 1 ORDER BY 1`);
    out.finishedPerSecond = bySecond.map((r) => r.n);
    out.receiver = { requests: r1.count - r0.count, uniqueKeys: r1.unique - r0.unique };
    return out;
  } finally {
    await stopAll(ctx, procs);
    await schemas.drop(schema);
  }
}

function figures({ n, end, spawnAt, readyAt, spanMs }) {
  const completed = end.doneAt !== undefined && end.failed === 0;
  return {
    completed,
    succeeded: end.done,
    failed: end.failed,
    readySeconds: (readyAt - spawnAt) / 1000,
    spanSeconds: spanMs / 1000,
    jobsPerSecond: completed && spanMs > 0 ? n / (spanMs / 1000) : undefined,
    wallSeconds: end.doneAt === undefined ? undefined : (end.doneAt - spawnAt) / 1000,
    jobsPerSecondWall: completed ? n / ((end.doneAt - spawnAt) / 1000) : undefined,
  };
}

/**
 * N webhooks taken by an ingest-only relay on a fresh SQLite store (no worker anywhere): N pending
 * jobs, which every kitrelay row copies into its own schema. Ingest on PostgreSQL commits one
 * delivery at a time (the ingest lock, src/store/postgres/ingest.ts), too slow to fill 6 schemas.
 */
async function preloadSqlite(ctx) {
  const o = ctx.opt.postgres;
  const label = 'pg-queue-source';
  const proc = await startRelay(ctx, label, { store: {}, roles: ['ingest'] });
  let load;
  try {
    load = await cannonAcross({ urls: [`${proc.url}${ctx.hookPath}`], body: ctx.nextBody, connections: 32, amount: o.jobs });
  } finally {
    await stopAll(ctx, [proc]);
  }
  const dataDir = path.join(ctx.work, label);
  const { openDatabase } = await import(pathToFileURL(path.join(ROOT, 'dist', 'store', 'sqlite', 'core.js')).href);
  const db = openDatabase(path.join(dataDir, 'kitrelay.db'), 1_000);
  let pending;
  try {
    pending = db.prepare("SELECT count(*) FROM jobs WHERE status = 'pending'").pluck().get();
  } finally {
    db.close();
  }
  ctx.log(`  source of kitrelay's jobs: ${load.ok} webhooks acknowledged by a SQLite relay (${Math.round(load.reqPerSec)} req/s), ${pending} pending jobs`);
  return { dataDir, config: path.join(ctx.work, `${label}.config.mjs`), pending, acknowledged: load.ok };
}

// ---------------------------------------------------------------- queue: graphile-worker

async function graphileQueueRow(ctx, schemas, { kind, k }) {
  const o = ctx.opt.postgres;
  const n = o.jobs;
  const { makeWorkerUtils } = await import('graphile-worker');
  const schema = await schemas.make('gw_bench', { create: false });
  const label = `pg-queue-gw-${kind}-${k}`;
  const out = { system: 'graphile-worker', kind, workers: k, jobs: n };
  const procs = [];
  try {
    // 1. N jobs, added before any worker runs. The payload carries a webhook body like kitrelay's.
    const utils = await makeWorkerUtils({ connectionString: o.url, schema });
    try {
      await utils.migrate();
      for (let from = 0; from < n; from += ADD_CHUNK) {
        const specs = [];
        for (let i = from; i < Math.min(n, from + ADD_CHUNK); i++) specs.push({ identifier: kind, payload: { key: `${schema}-${i}`, event: JSON.parse(ctx.nextBody()) } });
        await utils.addJobs(specs);
      }
    } finally {
      await utils.release();
    }
    const count = () => withClient(o.url, async (c) => (await c.query(`SELECT count(*)::int AS left, count(*) FILTER (WHERE last_error IS NOT NULL)::int AS errored FROM ${ident(schema)}._private_jobs`)).rows[0]);
    out.preload = { jobs: (await count()).left };

    // 2. K graphile-worker processes; wait until no job is left.
    const r0 = await getJson(`${ctx.receiverUrl}/__stats`);
    const spawnAt = performance.now();
    const starts = [];
    for (let i = 0; i < k; i++) {
      starts.push(
        startNode({
          name: `graphile-worker (${label}-w${i + 1})`,
          script: GW,
          args: [o.url, schema, String(o.concurrency), String(o.poolSize), ctx.receiverUrl, String(o.gwLocalQueue)],
          logFile: path.join(ctx.work, `${label}-w${i + 1}.log`),
          ready: /^gw (ready)$/m,
        }).then((p) => (procs.push(p), p)),
      );
    }
    await Promise.all(starts);
    const readyAt = performance.now();
    let errored = 0;
    const end = await waitDone(
      async () => {
        const r = await count();
        errored = r.errored;
        // A job that failed is retried later (graphile-worker's backoff): count it as not done.
        return { done: n - r.left, failed: 0 };
      },
      n,
      o.drainTimeout * 1000,
    );
    const cpu = procs.reduce((t, p) => t + (cpuSeconds(p.pid) ?? Number.NaN), 0);
    const live = procs.splice(0);
    await stopAll(ctx, live);
    const stats = live.map((p) => /^gw-stats (\{.*\})$/m.exec(p.tail())).map((m) => (m ? JSON.parse(m[1]) : undefined));
    const r1 = await getJson(`${ctx.receiverUrl}/__stats`);
    const ok = stats.filter((s) => s?.first !== undefined);
    const spanMs = ok.length ? Math.max(...ok.map((s) => s.last)) - Math.min(...ok.map((s) => s.first)) : Number.NaN;
    Object.assign(out, figures({ n, end: { ...end, failed: errored }, spawnAt, readyAt, spanMs }));
    out.attempts = stats.reduce((s, x) => s + (x?.count ?? 0), 0);
    out.perProcessJobs = stats.map((s) => s?.count);
    out.cpuSeconds = cpu;
    out.receiver = { requests: r1.count - r0.count, uniqueKeys: r1.unique - r0.unique };
    return out;
  } finally {
    await stopAll(ctx, procs);
    await schemas.drop(schema);
  }
}

// ---------------------------------------------------------------- the phase

/**
 * The phase. `ctx` carries run.mjs's pieces: opt (with opt.postgres), work, log, nextBody, hookPath,
 * routeSecret, receiverUrl.
 */
export async function phasePostgres(label, ctx) {
  const o = ctx.opt.postgres;
  const { log } = ctx;
  const host = new URL(o.url).hostname;
  if (!LOOPBACK.has(host)) throw new Error(`BENCH_PG_URL must point at a loopback address, not ${host}`);
  log(`\n[${label}] PostgreSQL store: ingest with 1 and 2 relays against SQLite; ${o.jobs.toLocaleString('en-US')} jobs through the queue with ${o.workers.join(', ')} worker processes, kitrelay against graphile-worker (${o.kinds.join(', ')})`);
  try {
    const version = await withClient(o.url, async (c) => (await c.query('SHOW server_version')).rows[0].server_version);
    log(`  PostgreSQL ${version} at ${host}; concurrency ${o.concurrency} and pool ${o.poolSize} per process; graphile-worker localQueue ${o.gwLocalQueue || 'off'}`);
  } catch (error) {
    log(`  ! PostgreSQL not reachable at ${o.url.replace(/\/\/[^@/]*@/, '//…@')}: ${error.message}; phase skipped`);
    return { skipped: String(error.message) };
  }

  const made = new Set();
  const schemas = {
    async make(prefix, { create = true } = {}) {
      const name = schemaName(prefix);
      made.add(name);
      if (create) await withClient(o.url, (c) => c.query(`CREATE SCHEMA ${ident(name)}`));
      return name;
    },
    async drop(name) {
      await withClient(o.url, (c) => c.query(`DROP SCHEMA IF EXISTS ${ident(name)} CASCADE`));
      made.delete(name);
    },
  };
  const out = { options: o };
  try {
    out.ingest = await phaseIngest(ctx, schemas);
    out.queue = [];
    const source = await preloadSqlite(ctx);
    out.queueSource = { pending: source.pending, acknowledged: source.acknowledged };
    for (const kind of o.kinds) {
      for (const k of o.workers) {
        // Alternate which system goes first, so drift in the machine's load favours neither.
        const order = (out.queue.length / 2) % 2 === 0 ? [kitrelayQueueRow, graphileQueueRow] : [graphileQueueRow, kitrelayQueueRow];
        const pair = {};
        for (const row of order) {
          const r = await row(ctx, schemas, { kind, k, source });
          pair[r.system] = r;
          out.queue.push(r);
          const recv = kind === 'http' ? `; receiver ${r.receiver.requests} requests` : '';
          const copy = r.preload?.copySeconds === undefined ? '' : `; store copy ${r.preload.copySeconds.toFixed(1)} s`;
          log(`  ${kind} × ${k} ${r.system}: ${r.succeeded}/${r.jobs} jobs, ${fmt(r.jobsPerSecond)} jobs/s (first start → last finish, ${r.spanSeconds.toFixed(2)} s), ${fmt(r.jobsPerSecondWall)} jobs/s from spawn (${r.wallSeconds?.toFixed(2) ?? '—'} s; ready after ${r.readySeconds.toFixed(2)} s); ${r.attempts} attempts; worker CPU ${r.cpuSeconds.toFixed(1)} s (${((r.cpuSeconds * 1e3) / r.jobs).toFixed(2)} ms/job incl. start)${recv}${copy}${r.completed ? '' : ' — NOT COMPLETED'}`);
        }
      }
    }
  } finally {
    for (const name of [...made]) await schemas.drop(name).catch((error) => log(`  ! could not drop schema ${name}: ${error.message}`));
  }
  for (const line of renderPostgresConsole(out)) log(line);
  out.markdown = renderPostgresMarkdown(out);
  log(['', 'postgres: the tables for BENCHMARKS.md', ...out.markdown].join('\n'));
  return out;
}

const fmt = (x) => (x === undefined || Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'));
