// The bonjoro phase's part of the verdict, the console summary and BENCHMARKS.md (bench/report.mjs
// calls these; the phase itself is bench/bonjoro.mjs).

import { int, num, pct, share, statusList, yes } from './format.mjs';

/** Steady greets/s against R, the burst's share within R's bound, and whether both targets are met. */
export function bonjoroVerdict(r) {
  const b = r.bonjoro;
  if (!b) return {};
  const t = r.targets;
  const s = b.sustained;
  const u = b.burst;
  return {
    bonjoroRateRatio: s.ratioSteady,
    bonjoroDuplicates: s.counts.duplicates + u.counts.duplicates,
    bonjoroRateMet: s.ratioSteady >= t.bonjoroRateRatio && s.counts.isExact && s.isComplete,
    bonjoroBurstShare: u.bound.share,
    bonjoroBurstMet: u.bound.share >= t.bonjoroBurstShare && u.counts.isExact && u.isComplete,
  };
}

export function renderBonjoroConsole(r) {
  const b = r.bonjoro;
  if (!b) return [];
  const o = b.options;
  const s = b.sustained;
  const u = b.burst;
  const q = u.bound;
  return [
    '',
    `bonjoro: destination rateLimit { perSecond: ${o.rate}, burst: ${o.bucket} }, concurrency ${o.concurrency}, simulator unthrottled`,
    `  sustained, ${int(o.tags)} webhooks: greets ${int(s.counts.greets)} (${int(s.counts.distinctMarkers)} distinct markers, duplicates ${s.counts.duplicates}); ${num(s.rates.middleSlope, 2)} greets/s steady = ${num(s.ratioSteady, 3)} × R (slope over the middle half after the first ${o.bucket}; count/window there ${num(s.rates.middle, 2)}/s; after the first ${o.bucket} ${num(s.rates.steady, 2)}/s; overall ${num(s.rates.overall, 2)}/s, an ideal bucket ${num(s.rates.idealOverall, 2)}/s); most in 1 s ${s.rates.mostInOneSecond}, longest gap ${num(s.rates.maxGapMs, 0)} ms`,
    `  burst of ${int(o.burstTags)}: ${q.within}/${q.n} greets within R's bound + ${o.toleranceMs} ms (${pct(q.share, 1)}); lateness p50 ${num(q.latenessMs.p50, 0)} / p99 ${num(q.latenessMs.p99, 0)} / max ${num(q.latenessMs.max, 0)} ms; took ${num(q.totalSeconds, 2)} s vs ideal ${num(q.idealSeconds, 2)} s ((M − B)/R; M/R ${num(q.naiveSeconds, 2)} s); duplicates ${u.counts.duplicates}`,
  ];
}

export function renderBonjoroTargetsConsole(r) {
  const v = r.verdict;
  const t = r.targets;
  if (!r.bonjoro) return [];
  return [
    `target Bonjoro greets/s ≥ ${pct(t.bonjoroRateRatio)} of R, every greet once: ${num(v.bonjoroRateRatio, 3)} × R, ${v.bonjoroDuplicates} duplicates ${yes(v.bonjoroRateMet)}`.replaceAll('**', ''),
    `target Bonjoro burst within R's bound (+${r.bonjoro.options.toleranceMs} ms): ${pct(v.bonjoroBurstShare, 1)} ${yes(v.bonjoroBurstMet)}`.replaceAll('**', ''),
  ];
}

export function renderBonjoroMarkdown(r) {
  const b = r.bonjoro;
  if (!b) return [];
  const o = b.options;
  const s = b.sustained;
  const u = b.burst;
  const q = u.bound;
  const L = [];
  L.push(`#### Bonjoro: greets/s at the destination's rate limit, and a burst of ${int(o.burstTags)}`);
  L.push('');
  L.push(`A \`bonjoro\` destination with \`rateLimit: { perSecond: ${o.rate}, burst: ${o.bucket} }\` (R = ${o.rate}/s, B = ${o.bucket}) and concurrency ${o.concurrency}, one rule (\`subscriber.tag_added\`, tag 7, \`once\` per subscriber → \`greet\`), \`queue.pollIntervalMs\` ${o.pollMs ?? '250 (the default)'}; the Bonjoro simulator (\`startBonjoroSimulator\` from dist/, in its own process: \`bench/bonjoro-sim.mjs\`) runs with its own rate limit off, so the relay's bucket alone sets the pace. Legacy \`subscriber.tag_add\` webhooks, one new subscriber each, posted on ${o.connections} keep-alive connections as fast as the relay answers; greet times are the simulator's arrival times of \`POST /api/v2/greets\`. A fresh relay, data directory and simulator for each part.`);
  L.push('');
  L.push(`| sustained: ${int(o.tags)} webhooks | value |`);
  L.push('|---|---:|');
  L.push(`| webhooks acknowledged (2xx) | ${int(s.post.ok)} of ${int(s.post.sent)}, in ${num(s.post.seconds, 2)} s (${int(s.post.perSecond)}/s) |`);
  L.push(`| greets / distinct \`kitrelay_job\` markers / **duplicates** | ${int(s.counts.greets)} / ${int(s.counts.distinctMarkers)} / **${s.counts.duplicates}** |`);
  L.push(`| **steady greets/s**: least-squares slope of greet number against arrival time over the middle half of the stretch after the first ${o.bucket} (${num(s.rates.middleSeconds, 2)} s) | **${num(s.rates.middleSlope, 2)} = ${num(s.ratioSteady, 3)} × R** |`);
  L.push(`| greets/s in that middle half, count / window | ${num(s.rates.middle, 2)} (${num(s.ratioMiddle, 3)} × R) |`);
  L.push(`| greets/s from greet ${o.bucket + 1} to the last (${num(s.rates.steadySeconds, 2)} s; the first ${o.bucket} took ${num(s.rates.firstBucketSeconds, 2)} s, and the tokens refilled meanwhile are spent here) | ${num(s.rates.steady, 2)} (${num(s.ratioAfterBucket, 3)} × R) |`);
  L.push(`| greets/s first → last greet (${num(s.rates.spanSeconds, 2)} s; the bucket's first ${o.bucket} included) | ${num(s.rates.overall, 2)} (an ideal bucket: R·(N−1)/(N−B) = ${num(s.rates.idealOverall, 2)}) |`);
  L.push(`| most greets in any 1 s (a bucket allows B + R = ${o.bucket + o.rate}) / longest gap between two greets | ${s.rates.mostInOneSecond} / ${num(s.rates.maxGapMs, 0)} ms |`);
  L.push(`| most greets ahead of an ideal bucket (R/s, B, full at the first greet) at any time | ${num(s.rates.overshoot, 2)} (the first greet arrived ${num(s.rates.firstArrivalAfterFirstAttemptMs, 0)} ms after its attempt started: the bucket starts then) |`);
  L.push(`| the relay's side — its attempts' start times (\`attempts.started_at\`, ms): steady slope / most in any 1 s / most ahead of an ideal bucket | ${num(s.relayRates.middleSlope, 2)}/s / ${s.relayRates.mostInOneSecond} / ${num(s.relayRates.overshoot, 2)} |`);
  L.push(`| \`POST /greets\` answers; other requests to the simulator | ${statusList(s.counts.postStatuses)}; ${s.counts.otherRequests} |`);
  L.push(`| kitrelay CPU, first webhook → 1 s after the last greet | ${share(s.cpu, 'server')} of a core (simulator ${share(s.cpu, 'simulator')}, benchmark process ${share(s.cpu, 'generator')}) |`);
  L.push('');
  L.push(`Burst: ${int(o.burstTags)} webhooks posted at once (acknowledged within ${num(q.acksSpanMs, 0)} ms). **R's bound** for the i-th greet (by arrival): when an ideal token bucket (R/s, B tokens, full at the first acknowledgement) fed the webhooks at their acknowledgement times would release the i-th call — for webhooks acknowledged at once, max(0, (i − B)/R) s after the first acknowledgement — plus a tolerance of ${o.toleranceMs} ms. Lateness: arrival − bound (negative: early).`);
  L.push('');
  L.push(`| burst of ${int(o.burstTags)} | value |`);
  L.push('|---|---:|');
  L.push(`| greets / distinct markers / **duplicates** | ${int(u.counts.greets)} / ${int(u.counts.distinctMarkers)} / **${u.counts.duplicates}** |`);
  L.push(`| **greets within R's bound + ${o.toleranceMs} ms** | **${q.within} / ${q.n} (${pct(q.share, 1)})** |`);
  L.push(`| within max(0, (i − B)/R) s of the first acknowledgement + ${o.toleranceMs} ms | ${q.withinSimple} / ${q.n} |`);
  L.push(`| lateness against the bound, p50 / p90 / p99 / max | ${num(q.latenessMs.p50, 0)} / ${num(q.latenessMs.p90, 0)} / ${num(q.latenessMs.p99, 0)} / ${num(q.latenessMs.max, 0)} ms |`);
  L.push(`| greets ahead of the bound by more than 1 ms | ${q.early} |`);
  L.push(`| the relay's side — attempt starts within the bound + ${o.toleranceMs} ms; lateness p50 / p99 / max | ${q.relayWithin} / ${q.n}; ${num(q.relayLatenessMs.p50, 0)} / ${num(q.relayLatenessMs.p99, 0)} / ${num(q.relayLatenessMs.max, 0)} ms |`);
  L.push(`| **burst time**, first acknowledgement → last greet | **${num(q.totalSeconds, 2)} s** (ideal (M − B)/R = ${num(q.idealSeconds, 2)} s; M/R = ${num(q.naiveSeconds, 2)} s) |`);
  L.push(`| each greet's delay from its webhook's acknowledgement, p50 / p99 / max | ${num(q.delayMs.p50, 0)} / ${num(q.delayMs.p99, 0)} / ${num(q.delayMs.max, 0)} ms |`);
  L.push(`| most greets in any 1 s / longest gap | ${q.windows.mostInOneSecond} / ${num(q.windows.maxGapMs, 0)} ms |`);
  L.push(`| most greets ahead of an ideal bucket full at the first greet | ${num(q.overshoot, 2)} |`);
  L.push('');
  return L;
}

export function renderBonjoroTargetsMarkdown(r) {
  const v = r.verdict;
  const t = r.targets;
  if (!r.bonjoro) return [];
  return [
    `| Bonjoro steady greets/s (after the first burst) ≥ ${pct(t.bonjoroRateRatio)} of R = ${r.bonjoro.options.rate}/s, greets = webhooks, no duplicate | ${num(v.bonjoroRateRatio, 3)} × R, ${v.bonjoroDuplicates} duplicates | ${yes(v.bonjoroRateMet)} |`,
    `| every greet of a ${int(r.bonjoro.options.burstTags)}-tag burst within R's bound + ${r.bonjoro.options.toleranceMs} ms, no duplicate | ${pct(v.bonjoroBurstShare, 1)} | ${yes(v.bonjoroBurstMet)} |`,
  ];
}
