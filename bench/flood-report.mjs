// The flood phase's part of the verdict, the console summary and BENCHMARKS.md (bench/report.mjs
// calls these; the phase itself is bench/flood.mjs).

const MiB = 2 ** 20;
const int = (x) => (x === undefined || x === null || Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'));
const ms = (x, digits = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : Number(x).toFixed(digits));
const mib = (x) => (x === undefined || x === null || Number.isNaN(x) ? '—' : (x / MiB).toFixed(0));
const yes = (b) => (b === undefined ? 'not run' : b ? '**met**' : '**missed**');
const share = (cpu, who) => (cpu?.[who] === undefined ? '—' : `${((cpu[who] / cpu.wallSeconds) * 100).toFixed(0)}%`);
const others = (cpu) => (cpu?.others === undefined ? '—' : (cpu.others / cpu.wallSeconds).toFixed(2));

/** Latency ratio, RSS growth and whether the two flood targets are met. */
export function floodVerdict(r) {
  const f = r.flood;
  if (!f) return {};
  const t = r.targets;
  const p99Ratio = f.underFlood.latencyFromDueMs.p99 / f.baseline.latencyFromDueMs.p99;
  const reusedRatio = f.underFlood.latencyOnReusedConnectionMs.p99 / f.baseline.latencyOnReusedConnectionMs.p99;
  const rssGrowthMiB = f.memory.growthBytes / MiB;
  const isClean = (load) => load.errors === 0 && load.non2xx === 0;
  return {
    floodP99Ratio: p99Ratio,
    floodP99RatioReused: reusedRatio,
    floodRssGrowthMiB: rssGrowthMiB,
    floodLatencyMet: p99Ratio <= t.floodP99Ratio && isClean(f.baseline) && isClean(f.underFlood),
    floodRssMet: rssGrowthMiB <= t.floodRssGrowthMiB,
    floodStoredNothing: f.floodStored === 0,
  };
}

const statusList = (counts) => Object.entries(counts).sort().map(([k, n]) => `${k}: ${int(n)}`).join(', ') || '—';

export function renderFloodConsole(r) {
  const f = r.flood;
  if (!f) return [];
  const v = r.verdict;
  const o = f.options;
  const row = (name, p) => {
    const l = p.latencyFromDueMs;
    return `  ${name.padEnd(18)}${ms(l.p50).padStart(7)}${ms(l.p90).padStart(7)}${ms(l.p99).padStart(8)}${ms(l.max).padStart(8)}   non-2xx ${p.non2xx}, errors ${p.errors}; ${p.connectionsOpened} connections opened (p99 on them ${ms(p.latencyOnNewConnectionMs.p99)} ms, on reused ones ${ms(p.latencyOnReusedConnectionMs.p99)} ms)`;
  };
  return [
    '',
    `flood: valid webhooks at ${o.rate}/s (paced, from due time), ${o.duration} s each;      p50    p90     p99     max (ms)`,
    row('alone', f.baseline),
    row(`during the flood`, f.underFlood),
    `  p99 during the flood / alone: ${ms(v.floodP99Ratio, 2)}× (on reused connections ${ms(v.floodP99RatioReused, 2)}×)`,
    `  flood: ${int(f.flood.started)} uploads of ${int(o.bodyBytes)} bytes on ${o.connections} connections (${int(o.chunkBytes)} B every ${o.chunkMs} ms); legacy, wrong token: ${statusList(f.flood.counts.legacy)}; signed, bad signature: ${statusList(f.flood.counts.signed)}`,
    `  kitrelay read ${mib(f.memory.flood.bytesRead)} MiB (rchar) during the flood, ${mib(f.memory.baseline.bytesRead)} MiB alone; the flood client wrote ${mib(f.flood.bytesWritten)} MiB`,
    `  relay RSS: ${mib(f.memory.beforeFlood)} MiB before the flood, peak ${mib(f.memory.flood.peakMetricsRss)} MiB during it (+${mib(f.memory.growthBytes)} MiB), ${mib(f.memory.after.lastMetricsRss)} MiB 2 s after; Buffer memory peak ${mib(f.memory.flood.peakExternal)} MiB`,
  ];
}

export function renderFloodTargetsConsole(r) {
  const v = r.verdict;
  const t = r.targets;
  return [
    `target flood p99 ≤ ${t.floodP99Ratio}× baseline p99: ${ms(v.floodP99Ratio, 2)}× ${yes(v.floodLatencyMet)}`.replaceAll('**', ''),
    `target flood RSS growth ≤ ${t.floodRssGrowthMiB} MiB: ${ms(v.floodRssGrowthMiB, 0)} MiB ${yes(v.floodRssMet)}`.replaceAll('**', ''),
  ];
}

export function renderFloodMarkdown(r) {
  const f = r.flood;
  if (!f) return [];
  const v = r.verdict;
  const o = f.options;
  const b = f.baseline;
  const u = f.underFlood;
  const m = f.memory;
  const L = [];
  L.push(`#### Valid webhooks during a flood of unauthenticated uploads (workers delivering)`);
  L.push('');
  L.push(`Paced open loop at ${int(o.rate)} valid legacy webhooks/s for ${o.duration} s (after a ${r.options.warmup} s warm-up), first alone, then while ${o.connections} connections upload ${int(o.bodyBytes)}-byte bodies at ${int(o.chunkBytes)} bytes every ${o.chunkMs} ms (\`bench/flood-client.mjs\`, its own process): half to the legacy route with a wrong token, half to the signed endpoint \`main\` with a well-formed, wrong \`X-Kit-Signature\`. A slot starts its next upload ${o.chunkMs} ms after the last one ended (at most ${int(o.maxUploads)} uploads in all); the flood starts 1 s before the measurement and ends with it. Latency from each request's due time.`);
  L.push('');
  L.push('| valid webhooks | sent/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | errors | connections opened | p99 ms on them / on reused connections | kitrelay CPU | flood client CPU | other processes (cores) |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, p] of [['alone', b], ['during the flood', u]]) {
    const l = p.latencyFromDueMs;
    L.push(`| ${name} | ${int(p.achievedRate)} | ${ms(l.p50)} | ${ms(l.p90)} | **${ms(l.p99)}** | ${ms(l.max)} | ${p.non2xx} | ${p.errors} | ${p.connectionsOpened} | ${ms(p.latencyOnNewConnectionMs.p99)} / ${ms(p.latencyOnReusedConnectionMs.p99)} | ${share(p.cpu, 'server')} | ${share(p.cpu, 'flood')} | ${others(p.cpu)} |`);
  }
  L.push('');
  L.push(`p99 during the flood / alone: **${ms(v.floodP99Ratio, 2)}×** (requests on reused keep-alive connections only: ${ms(v.floodP99RatioReused, 2)}×). Worst event-loop delay of kitrelay per 250 ms (its \`/metrics\`): ${ms(m.baseline.loopDelayMaxMs, 0)} ms alone, ${ms(m.flood.loopDelayMaxMs, 0)} ms during the flood.`);
  L.push('');
  L.push('| kitrelay memory (`kitrelay_process_resident_memory_bytes`, every 250 ms) | MiB |');
  L.push('|---|---:|');
  L.push(`| RSS when the baseline started | ${mib(m.rssAtBaselineStart)} |`);
  L.push(`| RSS after the baseline (the valid load alone grew it by ${mib(m.baselineGrowthBytes)}) | ${mib(m.beforeFlood)} |`);
  L.push(`| **peak RSS during the flood** (growth over the line above) | **${mib(m.flood.peakMetricsRss)} (+${mib(m.growthBytes)})** |`);
  L.push(`| RSS 2 s after the flood | ${mib(m.after.lastMetricsRss)} |`);
  L.push(`| peak Buffer memory (\`nodejs_external_memory_bytes\`) alone / during the flood | ${mib(m.baseline.peakExternal)} / ${mib(m.flood.peakExternal)} |`);
  L.push(`| peak V8 heap used alone / during the flood | ${mib(m.baseline.peakHeapUsed)} / ${mib(m.flood.peakHeapUsed)} |`);
  L.push('');
  const fl = f.flood;
  const answer = (kind, status) => {
    const a = fl.answerMs[kind][status];
    return a ? ` (${ms(a.p50, 0)} / ${ms(a.p99, 0)} ms)` : '';
  };
  const cell = (kind) => Object.entries(fl.counts[kind]).sort().map(([s, n]) => `${s}: ${int(n)}${answer(kind, s)}`).join(', ') || '—';
  L.push(`How the flood was answered: ${int(fl.started)} uploads${fl.started >= o.maxUploads ? ' (the cap)' : ''}, at most ${fl.maxConcurrent} at once; the flood client wrote ${int(fl.bytesWritten / MiB)} MiB, and kitrelay read ${mib(m.flood.bytesRead)} MiB from its sockets and files meanwhile (\`rchar\` of /proc/<pid>/io; ${mib(m.baseline.bytesRead)} MiB during the baseline). Status (p50 / p99 from connect to the status line); "reset": the connection was reset before the client read an answer.`);
  L.push('');
  L.push('| uploads to | answers |');
  L.push('|---|---|');
  L.push(`| legacy route, wrong token | ${cell('legacy')} |`);
  L.push(`| signed endpoint, bad signature | ${cell('signed')} |`);
  const rejected = f.metrics?.rejected ? Object.entries(f.metrics.rejected).map(([k, n]) => `${k.replace(/^reason="(.*)"$/, '$1')} ${int(n)}`).join(', ') : '—';
  L.push(`| kitrelay's own count (\`kitrelay_ingest_rejected_total\`) | ${rejected} |`);
  L.push('');
  L.push(`Stored from the flood: ${f.floodStored === 0 ? 'nothing' : `**${f.floodStored} deliveries**`} (${int(f.db.deliveries)} deliveries on disk, all valid webhooks; ${f.db.quarantine} quarantined).`);
  L.push('');
  return L;
}

export function renderFloodTargetsMarkdown(r) {
  const v = r.verdict;
  const t = r.targets;
  return [
    `| valid webhooks' p99 during the flood ≤ ${t.floodP99Ratio}× their p99 alone, no errors | ${ms(v.floodP99Ratio, 2)}× (reused connections ${ms(v.floodP99RatioReused, 2)}×) | ${yes(v.floodLatencyMet)} |`,
    `| kitrelay RSS growth during the flood ≤ ${t.floodRssGrowthMiB} MiB | ${ms(v.floodRssGrowthMiB, 0)} MiB | ${yes(v.floodRssMet)} |`,
  ];
}
