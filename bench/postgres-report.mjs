// The postgres phase's console summary and its BENCHMARKS.md tables (bench/postgres.mjs calls these;
// the section in BENCHMARKS.md is written by hand from them, as for the airtable phase).
import { int, num } from './format.mjs';

const cpuPerJob = (x) => (x?.cpuSeconds === undefined ? undefined : (x.cpuSeconds * 1e3) / x.jobs);
const ratio = (a, b) => (a === undefined || b === undefined || !b ? undefined : a / b);

function ingestRows(r) {
  const i = r.ingest;
  const base = i.sqlite;
  return [
    ['SQLite, 1 relay', base],
    ['PostgreSQL, 1 relay', i.pg1],
    ['PostgreSQL, 2 relays (load split)', i.pg2],
  ].map(([name, x]) => ({ name, x, vs: ratio(x.reqPerSec, base.reqPerSec) }));
}

function queuePairs(r) {
  const pairs = [];
  for (const row of r.queue) {
    let p = pairs.find((q) => q.kind === row.kind && q.workers === row.workers);
    if (!p) pairs.push((p = { kind: row.kind, workers: row.workers }));
    p[row.system === 'kitrelay' ? 'kr' : 'gw'] = row;
  }
  return pairs;
}

export function renderPostgresConsole(r) {
  if (r.skipped) return [`postgres: skipped (${r.skipped})`];
  const o = r.options;
  const L = ['', `postgres: ingest, ${o.connections} connections, ${o.duration} s after ${o.warmup} s warm-up (ingest-only relays)`];
  L.push('  store                               req/s   × SQLite  p50 ms  p99 ms  non-2xx  errors  durable');
  for (const { name, x, vs } of ingestRows(r)) {
    L.push(`  ${name.padEnd(34)}${int(x.reqPerSec).padStart(7)}  ${num(vs, 2).padStart(8)}  ${String(x.latencyMs.p50).padStart(6)}  ${String(x.latencyMs.p99).padStart(6)}  ${String(x.non2xx).padStart(7)}  ${String(x.errors).padStart(6)}  ${x.durability.ok ? 'ok' : 'NOT OK'}`);
  }
  L.push(`postgres: ${int(o.jobs)} jobs through the queue, concurrency ${o.concurrency} / pool ${o.poolSize} per process (jobs/s: first job started → last finished; wall: first spawn → all done)`);
  L.push('  job   K   kitrelay jobs/s (wall)   graphile-worker jobs/s (wall)   kitrelay ÷ graphile-worker');
  for (const p of queuePairs(r)) {
    const f = (x) => (x ? `${int(x.jobsPerSecond)} (${int(x.jobsPerSecondWall)})${x.completed ? '' : ' !'}` : '—');
    L.push(`  ${p.kind.padEnd(5)} ${String(p.workers).padStart(2)}   ${f(p.kr).padEnd(23)}  ${f(p.gw).padEnd(30)}  ${num(ratio(p.kr?.jobsPerSecond, p.gw?.jobsPerSecond), 2)} (wall ${num(ratio(p.kr?.jobsPerSecondWall, p.gw?.jobsPerSecondWall), 2)})`);
  }
  return L;
}

export function renderPostgresMarkdown(r) {
  if (r.skipped) return [];
  const o = r.options;
  const L = [];
  L.push(`| ingest (${o.connections} connections, ${o.duration} s after ${o.warmup} s warm-up) | req/s | × SQLite | p50 / p99 ms | non-2xx / errors | acknowledged = accepted |`);
  L.push('|---|---:|---:|---:|---:|---|');
  for (const { name, x, vs } of ingestRows(r)) {
    const per = x.instances > 1 ? ` (${x.perInstanceReqPerSec.map((y) => int(y)).join(' + ')})` : '';
    L.push(`| ${name} | ${int(x.reqPerSec)}${per} | ${num(vs, 2)} | ${x.latencyMs.p50} / ${x.latencyMs.p99} | ${x.non2xx} / ${x.errors} | ${x.durability.ok ? 'yes' : '**no**'} (${int(x.durability.acked)} / ${int(x.durability.accepted)}) |`);
  }
  L.push('');
  L.push(`| ${int(o.jobs)} jobs, K worker processes | kitrelay jobs/s | graphile-worker jobs/s | **kitrelay ÷ graphile-worker** | wall incl. process start, kitrelay / graphile-worker (ratio) | workers' CPU ms/job (incl. start), kitrelay / graphile-worker |`);
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const p of queuePairs(r)) {
    const bad = (x) => (x && !x.completed ? ' (not completed)' : '');
    L.push(`| ${p.kind}, K = ${p.workers} | ${int(p.kr?.jobsPerSecond)}${bad(p.kr)} | ${int(p.gw?.jobsPerSecond)}${bad(p.gw)} | **${num(ratio(p.kr?.jobsPerSecond, p.gw?.jobsPerSecond), 2)}** | ${int(p.kr?.jobsPerSecondWall)} / ${int(p.gw?.jobsPerSecondWall)} (${num(ratio(p.kr?.jobsPerSecondWall, p.gw?.jobsPerSecondWall), 2)}) | ${num(cpuPerJob(p.kr), 2)} / ${num(cpuPerJob(p.gw), 2)} |`);
  }
  return L;
}
