// The `flood` phase of bench/run.mjs: valid legacy webhooks at a fixed paced rate, first alone
// (baseline), then while 300 unauthenticated clients upload 900 KB bodies slowly (the attack that,
// before the pre-body gate of src/ingest/gate.ts, took the relay from 95 to 360 MB RSS). Measures
// the valid webhooks' acknowledgement latency both times, the relay's resident memory (its own
// `/metrics`, every 250 ms, and /proc as a cross-check) and how the flood's requests were answered.
//
// The flood runs in its own process (bench/flood-client.mjs, started and killed like every other
// child); the paced generator runs in the benchmark process. Every loop is bounded by a count and a
// deadline.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, cpuMeter, getText, paced, sleep, startNode } from './lib.mjs';

/** A valid-looking signed endpoint for the flood's bad signatures (run.mjs's writeConfig adds it). */
export const FLOOD_SIGNED_ENDPOINT = 'main';

const MiB = 2 ** 20;

/** The flood's settings from the environment (documented in run.mjs's header). */
export function floodOptions(num) {
  return {
    rate: num('BENCH_FLOOD_RATE', 200),
    duration: num('BENCH_FLOOD_DURATION', 5),
    connections: Math.trunc(num('BENCH_FLOOD_CONNECTIONS', 300)),
    bodyBytes: Math.trunc(num('BENCH_FLOOD_BODY', 900 * 1024)),
    chunkBytes: Math.trunc(num('BENCH_FLOOD_CHUNK', 64 * 1024)),
    chunkMs: num('BENCH_FLOOD_CHUNK_MS', 100),
    maxUploads: Math.trunc(num('BENCH_FLOOD_MAX_UPLOADS', 20_000)),
  };
}

function promValue(text, metric) {
  const m = new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * VmRSS and VmHWM (peak RSS since start) of a process, and `rchar` (bytes it read with read()-like
 * calls, sockets included: what the flood made it read), in bytes; undefined off Linux.
 */
function procStats(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
    const rchar = Number(/^rchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), rchar };
  } catch {
    return { rss: undefined, hwm: undefined, rchar: undefined };
  }
}

/**
 * Samples the relay's memory every `everyMs` until stopped (at most `maxSamples`): its own
 * `kitrelay_process_resident_memory_bytes` (and Buffer memory, `nodejs_external_memory_bytes`)
 * from /metrics, one scrape at a time, and VmRSS from /proc. `mark(name)` labels what follows.
 */
function memorySampler(url, pid, { everyMs = 250, maxSamples = 2_000 } = {}) {
  const samples = [];
  let segment = 'start';
  let isStopped = false;
  const t0 = performance.now();
  const loop = (async () => {
    while (!isStopped && samples.length < maxSamples) {
      const at = performance.now();
      const sample = { t: (at - t0) / 1000, segment, ...procStats(pid) };
      try {
        const text = await getText(`${url}/metrics`, 2_000);
        sample.metricsRss = promValue(text, 'kitrelay_process_resident_memory_bytes');
        sample.external = promValue(text, 'kitrelay_nodejs_external_memory_bytes');
        sample.heapUsed = promValue(text, 'kitrelay_nodejs_heap_size_used_bytes');
        // prom-client resets its event-loop delay histogram at every scrape: the worst delay since the last one.
        sample.loopDelayMaxMs = promValue(text, 'kitrelay_nodejs_eventloop_lag_max_seconds') * 1000;
      } catch (error) {
        sample.metricsError = String(error?.cause?.code ?? error?.name ?? error);
      }
      sample.scrapeMs = performance.now() - at;
      samples.push(sample);
      await sleep(Math.max(0, everyMs - (performance.now() - at)));
    }
  })();
  const of = (name) => samples.filter((s) => s.segment === name);
  const peak = (list, key) => list.reduce((m, s) => (s[key] !== undefined && (m === undefined || s[key] > m) ? s[key] : m), undefined);
  return {
    mark(name) {
      segment = name;
    },
    async stop() {
      isStopped = true;
      await loop;
    },
    /** Peak (max over the samples) and last value of each measure in a segment. */
    summary(name) {
      const list = of(name);
      const last = list[list.length - 1];
      const before = samples[samples.indexOf(list[0]) - 1] ?? list[0];
      return {
        bytesRead: last?.rchar - before?.rchar,
        seconds: last?.t - before?.t,
        samples: list.length,
        metricsErrors: list.filter((s) => s.metricsError).length,
        peakMetricsRss: peak(list, 'metricsRss'),
        peakProcRss: peak(list, 'rss'),
        peakExternal: peak(list, 'external'),
        peakHeapUsed: peak(list, 'heapUsed'),
        loopDelayMaxMs: peak(list, 'loopDelayMaxMs'),
        lastMetricsRss: last?.metricsRss,
        lastProcRss: last?.rss,
        hwmAtEnd: last?.hwm,
        scrapeMsMax: peak(list, 'scrapeMs'),
      };
    },
    samples,
  };
}

/**
 * Runs bench/flood-client.mjs against `origin` for `rampMs` plus `measureSeconds`, calls `during()`
 * once the flood has ramped up, and waits for the client to end. Resolves with the client's summary
 * and what `during()` returned. `onStart(pid)` gets the client's pid (for the CPU meter).
 */
async function withFlood({ origin, hookPath, f, work, label, rampMs, measureSeconds, onStart }, during) {
  const summaryFile = path.join(work, `${label}.flood.json`);
  const options = {
    origin,
    legacyPath: hookPath.replace(/[^/]+$/, (token) => 'x'.repeat(token.length)), // a wrong token of the right length
    signedPath: `/hooks/kit/signed/${FLOOD_SIGNED_ENDPOINT}`,
    connections: f.connections,
    bodyBytes: f.bodyBytes,
    chunkBytes: f.chunkBytes,
    chunkMs: f.chunkMs,
    durationMs: rampMs + measureSeconds * 1000,
    maxUploads: f.maxUploads,
    uploadTimeoutMs: 45_000,
    drainMs: 5_000,
    out: summaryFile,
  };
  const client = await startNode({ name: 'flood client', script: path.join(BENCH_DIR, 'flood-client.mjs'), args: [JSON.stringify(options)], logFile: path.join(work, `${label}.flood.log`), ready: /flood (started)/ });
  try {
    onStart(client.pid);
    await sleep(rampMs);
    const result = await during();
    let timer;
    const ended = await Promise.race([client.exited, new Promise((resolve) => (timer = setTimeout(resolve, options.drainMs + 10_000)))]);
    clearTimeout(timer);
    if (ended === undefined || ended.code !== 0) throw new Error(`flood client did not finish in time (or failed); last output:\n${client.tail()}`);
    const { options: _options, ...summary } = JSON.parse(readFileSync(summaryFile, 'utf8'));
    return { summary, result };
  } finally {
    await client.stop(5_000);
  }
}

/** The sampler's segments, the RSS growth the flood caused, and the samples themselves. */
function memoryReport(sampler) {
  const m = { baseline: sampler.summary('baseline'), calm: sampler.summary('calm'), flood: sampler.summary('flood'), after: sampler.summary('after') };
  m.rssAtBaselineStart = sampler.summary('start').lastMetricsRss;
  m.beforeFlood = m.calm.lastMetricsRss ?? m.baseline.lastMetricsRss;
  m.baselineGrowthBytes = m.beforeFlood - m.rssAtBaselineStart;
  m.growthBytes = m.flood.peakMetricsRss - m.beforeFlood;
  m.procGrowthBytes = m.flood.peakProcRss - (m.calm.lastProcRss ?? m.baseline.lastProcRss);
  // [seconds, segment, RSS from /metrics, VmRSS, ms the scrape took, worst event-loop delay since the last scrape (ms), heap used]
  m.rssSamples = sampler.samples.map((s) => [Math.round(s.t * 100) / 100, s.segment, s.metricsRss, s.rss, Math.round(s.scrapeMs), Math.round(s.loopDelayMaxMs), s.heapUsed]);
  return m;
}

/**
 * The phase. `ctx` carries run.mjs's pieces: opt (with opt.flood), work, log, startKitrelay, probe,
 * nextBody, hookPath, receiverUrl, receiverPid, serviceMetrics, stopChecked, inspectDb, durability,
 * sumLoads, fmtMs.
 */
export async function phaseFlood(label, ctx) {
  const { opt, log, fmtMs } = ctx;
  const f = opt.flood;
  log(`\n[${label}] valid webhooks at ${f.rate}/s, alone and during a flood of ${f.connections} slow unauthenticated ${Math.round(f.bodyBytes / 1024)} KB uploads`);
  const dataDir = path.join(ctx.work, label);
  const proc = await ctx.startKitrelay(label, { dataDir, queueEnabled: true, receiverUrl: ctx.receiverUrl, signed: true });
  const out = { startupMs: Math.round(proc.readyMs), options: f };
  const loads = [];
  const sampler = memorySampler(proc.url, proc.pid);
  const meterOf = (extra = {}) => cpuMeter({ server: proc.pid, generator: process.pid, receiver: ctx.receiverPid, ...extra });
  try {
    const url = `${proc.url}${ctx.hookPath}`;
    out.probe = await ctx.probe(proc.url);
    loads.push({ ok: 1, unanswered: 0 });
    const pace = async (meter) => {
      const load = await paced({ url, body: ctx.nextBody, rate: f.rate, durationSeconds: f.duration, maxSockets: opt.pacedSockets, keepLatencies: true });
      load.cpu = meter.since();
      loads.push(load);
      return load;
    };
    loads.push(await paced({ url, body: ctx.nextBody, rate: f.rate, durationSeconds: opt.warmup, maxSockets: opt.pacedSockets }));

    // 1. Baseline: the paced load alone; then a second with no load (the sampler's own cost).
    sampler.mark('baseline');
    out.baseline = await pace(meterOf());
    sampler.mark('calm');
    const calm = meterOf();
    await sleep(1_000);
    out.calmCpu = calm.since();
    const b = out.baseline.latencyFromDueMs;
    log(`  baseline: p50 ${fmtMs(b.p50)} / p99 ${fmtMs(b.p99)} / max ${fmtMs(b.max)} ms, errors ${out.baseline.errors}, non-2xx ${out.baseline.non2xx}`);

    // 2. The same load during the flood: it ramps up for a second (its uploads in flight), then the
    // paced load runs; the flood's window ends with it.
    sampler.mark('flood');
    let floodPid;
    const flood = await withFlood(
      { origin: proc.url, hookPath: ctx.hookPath, f, work: ctx.work, label, rampMs: 1_000, measureSeconds: f.duration, onStart: (pid) => (floodPid = pid) },
      () => pace(meterOf({ flood: floodPid })),
    );
    out.underFlood = flood.result;
    out.flood = flood.summary;
    sampler.mark('after');
    await sleep(2_000);
    await sampler.stop();
    out.memory = memoryReport(sampler);
    out.metrics = await ctx.serviceMetrics(proc.url);

    const u = out.underFlood.latencyFromDueMs;
    const c = out.flood.counts;
    log(`  under flood: p50 ${fmtMs(u.p50)} / p99 ${fmtMs(u.p99)} / max ${fmtMs(u.max)} ms (p99 × ${(u.p99 / b.p99).toFixed(2)} of baseline), errors ${out.underFlood.errors}, non-2xx ${out.underFlood.non2xx}`);
    log(`  flood: ${out.flood.started} uploads (at most ${out.flood.maxConcurrent} at once); legacy ${JSON.stringify(c.legacy)}, signed ${JSON.stringify(c.signed)}`);
    log(`  relay RSS (/metrics): ${mib(out.memory.beforeFlood)} before the flood, peak ${mib(out.memory.flood.peakMetricsRss)} during it (+${mib(out.memory.growthBytes)}), ${mib(out.memory.after.lastMetricsRss)} 2 s after`);
  } finally {
    await sampler.stop();
    out.stop = await ctx.stopChecked(proc);
  }
  out.db = ctx.inspectDb(dataDir);
  const { ok, unanswered } = ctx.sumLoads(loads);
  out.durability = ctx.durability(ok, unanswered, out.db);
  // The flood's bodies were never authenticated: none of them may have reached the store.
  out.floodStored = out.db.deliveries - (out.db.events.accepted ?? 0);
  log(`  durability: ${out.durability.acked} acknowledged, ${out.durability.accepted} accepted, ${out.db.deliveries} deliveries stored, ${out.db.quarantine} quarantined: ${out.durability.ok && out.floodStored === 0 ? 'ok' : 'FAILED'}`);
  return out;
}

const mib = (x) => (x === undefined || Number.isNaN(x) ? '—' : `${(x / MiB).toFixed(0)} MiB`);
