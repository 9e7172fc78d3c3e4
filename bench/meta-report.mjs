// The meta phase's part of the verdict, the console summary and BENCHMARKS.md (bench/report.mjs
// calls these; the phase itself is bench/meta.mjs).

import { int, num, statusList, yes } from './format.mjs';

const ratioText = (f) => (f.boundSeconds > 0 ? `${num(f.ratio, 2)} ×` : `n/a (bound 0 s: ${f.batches} batches fit the burst)`);

/** Each run's time against the rate limit's bound, the peak RSS of either run, and correctness. */
export function metaVerdict(r) {
  const m = r.meta;
  if (!m?.full || !m.incremental) return {};
  const t = r.targets;
  const within = (f) => f.boundSeconds > 0 && f.ratio <= t.metaTimeRatio;
  const peak = Math.max(m.full.process.rss.peakMiB, m.incremental.process.rss.peakMiB);
  return {
    metaFullRatio: m.full.ratio,
    metaIncrementalSeconds: m.incremental.runSeconds,
    metaIncrementalBoundSeconds: m.incremental.boundSeconds,
    metaCorrect: m.isCorrect,
    // A bound of 0 (every batch fits the burst) cannot be met within any factor: missed, and said why.
    metaFullMet: within(m.full) && m.isCorrect,
    metaIncrementalMet: within(m.incremental) && m.isCorrect,
    metaPeakRssMiB: peak,
    metaRssMet: peak < t.metaRssMiB,
  };
}

export function renderMetaConsole(r) {
  const m = r.meta;
  if (!m?.full) return [];
  const o = m.options;
  const line = (name, f) => `  ${name}: ${f.batches} batches, ${int(f.rowsPlanned)} rows; run ${num(f.runSeconds, 1)} s vs bound ${num(f.boundSeconds, 1)} s = ${ratioText(f)}; refresh ~${num(f.firstBatchPlannedAt, 1)} s, planning ${num(f.lastBatchPlannedAt - f.firstBatchPlannedAt, 1)} s, sending ${num(f.sendingSeconds, 1)} s; peak RSS ${num(f.process.rss.peakMiB, 1)} MiB`;
  return [
    '',
    `meta: ${int(o.subscribers)} subscribers, selection ${o.select} (${int(m.mirror.selected)} selected), rate limit ${m.destination.rateLimit.perSecond}/s burst ${m.destination.rateLimit.burst}, ${int(m.destination.batchSize)} rows a batch`,
    line('full', m.full),
    line('incremental', m.incremental),
    `  Meta holds ${int(m.check.members)} members, expected ${int(m.check.expected)} (missing ${m.check.missing}, extra ${m.check.extra}), repeated batches ${m.check.repeatedBatchSeqs}: ${m.isCorrect ? 'correct' : 'NOT CORRECT'}`,
  ];
}

export function renderMetaTargetsConsole(r) {
  const v = r.verdict;
  const t = r.targets;
  if (!r.meta?.full) return [];
  return [
    `target Meta full sync ≤ ${t.metaTimeRatio}× the rate limit's bound: ${ratioText(r.meta.full)} ${yes(v.metaFullMet)}`.replaceAll('**', ''),
    `target Meta incremental sync ≤ ${t.metaTimeRatio}× the rate limit's bound: ${num(v.metaIncrementalSeconds, 1)} s, ${ratioText(r.meta.incremental)} ${yes(v.metaIncrementalMet)}`.replaceAll('**', ''),
    `target Meta sync peak RSS < ${t.metaRssMiB} MB: ${num(v.metaPeakRssMiB, 1)} MiB ${yes(v.metaRssMet)}`.replaceAll('**', ''),
  ];
}

export function renderMetaMarkdown(r) {
  const m = r.meta;
  if (!m?.full) return [];
  const o = m.options;
  const L = [];
  const f = m.full;
  const g = m.incremental;
  L.push(`#### Meta audience sync: ${int(o.subscribers)} subscribers, a new audience, then ${num(o.churn * 100, 1)} % churn`);
  L.push('');
  L.push(`The mirror holds the Kit simulator's seed (${int(o.subscribers)} subscribers, filled in ${num(m.mirror.seconds, 1)} s, not measured); the audience selects ${o.select === 'customers' ? 'active subscribers tagged `Customer`' : 'every active subscriber'} (${int(m.mirror.selected)}), keys EMAIL and EXTERN_ID; rate limit ${m.destination.rateLimit.perSecond}/s, burst ${m.destination.rateLimit.burst}; ${int(m.destination.batchSize)} rows a batch; the Meta simulator's usage quota ${m.destination.usageQuota ? 'on' : 'off'}. Each run is \`kitrelay meta sync\` in a child process with its own worker. Bound: max(0, n − B)/R s for n batches.`);
  L.push('');
  L.push('| | full (new audience) | incremental (after churn) |');
  L.push('|---|---:|---:|');
  L.push(`| batches (rows) | ${f.batches} (${int(f.rowsPlanned)}) | ${g.batches} (${int(g.rowsPlanned)}: ${statusList(g.byOp)}) |`);
  L.push(`| **run time** (the run's record) / the rate limit's bound | **${num(f.runSeconds, 1)} s** / ${num(f.boundSeconds, 1)} s = **${ratioText(f)}** | **${num(g.runSeconds, 1)} s** / ${num(g.boundSeconds, 1)} s = **${ratioText(g)}** |`);
  L.push(`| refresh (run start → first batch planned) | ${num(f.firstBatchPlannedAt, 1)} s | ${num(g.firstBatchPlannedAt, 1)} s |`);
  L.push(`| planning (first → last batch planned) | ${num(f.lastBatchPlannedAt - f.firstBatchPlannedAt, 1)} s | ${num(g.lastBatchPlannedAt - g.firstBatchPlannedAt, 1)} s |`);
  L.push(`| sending (first → last upload start; (n − B)/R = ${num(f.boundSeconds, 1)} s) / after the last ack | ${num(f.sendingSeconds, 1)} s / ${num(f.tailSeconds, 2)} s | ${num(g.sendingSeconds, 1)} s / ${num(g.tailSeconds, 2)} s |`);
  L.push(`| upload p50 / max | ${f.uploadMs.p50} / ${f.uploadMs.max} ms | ${g.uploadMs.p50} / ${g.uploadMs.max} ms |`);
  L.push(`| process wall time (spawn → exit) / CPU | ${num(f.process.wallSeconds, 1)} s / ${num(f.process.cpuSeconds, 1)} s | ${num(g.process.wallSeconds, 1)} s / ${num(g.process.cpuSeconds, 1)} s |`);
  L.push(`| **peak RSS** (VmHWM) / V8 heap used, peak | **${num(f.process.rss.peakMiB, 1)} MiB** / ${num(f.process.rss.probe?.peakSampledMiB?.heapUsed, 1)} MiB | **${num(g.process.rss.peakMiB, 1)} MiB** / ${num(g.process.rss.probe?.peakSampledMiB?.heapUsed, 1)} MiB |`);
  L.push(`| attempts | ${statusList(f.outcomes)} | ${statusList(g.outcomes)} |`);
  L.push('');
  const c = m.check;
  L.push(`Churn: ${int(m.churn.subscribers)} subscribers (${int(m.churn.cancelled)} unsubscribed, ${int(m.churn.untagged)} untagged, ${int(m.churn.added)} new); expected ${int(m.churn.expectedBefore)} → ${int(m.churn.expectedAfter)}. At the end Meta holds ${int(c.members)} members; the bench's own count from the seed and the churn is ${int(c.expected)} (missing ${c.missing}, extra ${c.extra}); the store expects ${int(g.storeCounts.expected)}, ${g.storeCounts.toAdd} to add, ${g.storeCounts.toRemove} to remove; ${c.batchesAtMeta} batches reached Meta, no batch_seq repeated (${c.repeatedBatchSeqs}), rows received ${int(c.rowsReceived)} = planned ${int(c.rowsPlanned)}: **${m.isCorrect ? 'correct' : 'not correct'}**.`);
  L.push('');
  return L;
}

export function renderMetaTargetsMarkdown(r) {
  const v = r.verdict;
  const t = r.targets;
  if (!r.meta?.full) return [];
  return [
    `| Meta full sync of ${int(r.meta.options.subscribers)} subscribers into a new audience ≤ ${t.metaTimeRatio}× the rate limit's bound | ${ratioText(r.meta.full)} | ${yes(v.metaFullMet)} |`,
    `| Meta incremental sync after ${num(r.meta.options.churn * 100, 1)} % churn ≤ ${t.metaTimeRatio}× the bound | ${num(v.metaIncrementalSeconds, 1)} s, ${ratioText(r.meta.incremental)} | ${yes(v.metaIncrementalMet)} |`,
    `| Meta sync peak RSS < ${t.metaRssMiB} MB | ${num(v.metaPeakRssMiB, 1)} MiB | ${yes(v.metaRssMet)} |`,
  ];
}
