// The slack phase's part of the verdict, the console summary and BENCHMARKS.md (bench/report.mjs
// calls these; the phase itself is bench/slack.mjs).

import { int, num, pct, share, statusList, yes } from './format.mjs';

/** Steady messages/s (the middle-half slope) against what the channels allow, the 429s after the first second, and whether both targets are met. */
export function slackVerdict(r) {
  const f = r.slack?.fanout;
  if (!f) return {};
  const t = r.targets;
  return {
    slackRateRatio: f.ratioMiddle,
    slackDuplicates: f.counts.duplicates,
    // The rate is the steady slope (as Bonjoro's): the first-burst figure depends on whose burst is subtracted.
    slackRateMet: f.ratioMiddle >= t.slackRateRatio && f.counts.isExact && f.isComplete,
    slack429Total: f.refused.total,
    slack429AfterFirstSecond: f.refused.afterFirstSecond,
    slack429Met: f.refused.afterFirstSecond <= t.slack429AfterFirstSecond && f.counts.isExact && f.isComplete,
  };
}

export function renderSlackConsole(r) {
  const sl = r.slack;
  if (!sl) return [];
  const o = sl.options;
  const f = sl.fanout;
  const s = f.rates;
  return [
    '',
    `slack: ${int(o.webhooks)} webhooks × ${o.channels} channels, per channel ${o.perSecond}/s burst ${o.burst} at the relay and ${o.simLimit ? 'the simulator (429 beyond it)' : 'NOT the simulator (its limit off)'}, concurrency ${o.concurrency}`,
    `  messages ${int(f.counts.messages)}/${int(f.counts.expected)} (duplicates ${f.counts.duplicates}); after the first burst ${num(s.steady, 2)} msg/s = ${num(f.ratioSteady, 3)} × the allowed ${s.allowed}/s (${num(s.spanSeconds, 2)} s vs ideal ${num(s.idealSeconds, 2)} s); middle-half slope ${num(s.middleSlope, 2)}/s; per channel min ${num(s.perChannel.min, 3)}/s`,
    `  429 answers ${f.refused.total} (after the first second ${f.refused.afterFirstSecond}); per channel most in any 1 s ${s.mostInOneSecondPerChannel} (bucket allows ${o.burst + o.perSecond}), ahead of an ideal bucket by ${num(s.overshoot, 3)} at most; longest gap ${num(s.maxGapPerChannelMs, 0)} ms`,
  ];
}

export function renderSlackTargetsConsole(r) {
  const v = r.verdict;
  const t = r.targets;
  if (!r.slack) return [];
  return [
    `target Slack steady messages/s (middle-half slope) ≥ ${pct(t.slackRateRatio)} of ${r.slack.fanout.rates.allowed}/s, every message once: ${num(v.slackRateRatio, 3)} ×, ${v.slackDuplicates} duplicates ${yes(v.slackRateMet)}`.replaceAll('**', ''),
    `target Slack: no 429 beyond the first burst: ${v.slack429AfterFirstSecond} after the first second (${v.slack429Total} in all) ${yes(v.slack429Met)}`.replaceAll('**', ''),
  ];
}

export function renderSlackMarkdown(r) {
  const sl = r.slack;
  if (!sl) return [];
  const o = sl.options;
  const f = sl.fanout;
  const s = f.rates;
  const q = f.relay;
  const L = [];
  L.push(`#### Slack: ${int(f.counts.expected)} messages over ${o.channels} channels at 1/s per channel`);
  L.push('');
  L.push(`A \`slack\` destination (bot token, \`apiUrl\` the simulator's, concurrency ${o.concurrency}, its default \`subKeyRateLimit: { perSecond: ${o.perSecond}, burst: ${o.burst} }\` per channel), one rule (\`subscriber.tag_added\`, tag 7) with ${o.channels} actions posting to \`#bench-01\` … \`#bench-${String(o.channels).padStart(2, '0')}\`, so one webhook makes ${o.channels} messages; \`queue.pollIntervalMs\` ${o.pollMs ?? '250 (the default)'}. The Slack simulator (\`startSlackSimulator\` from dist/, in its own process: \`bench/slack-sim.mjs\`) runs with its per-channel limit ${o.simLimit ? `on (${o.perSecond}/s, burst ${o.burst}: 429 with Retry-After beyond it)` : '**off** (`BENCH_SLACK_SIM_LIMIT=0`, a diagnostic run)'}. ${int(o.webhooks)} legacy \`subscriber.tag_add\` webhooks, one new subscriber each, posted on ${o.connections} keep-alive connections as fast as the relay answers; message times are the simulator's arrival times of \`POST /api/chat.postMessage\` answered 200. Allowed: ${o.burst} a channel at once, then ${o.perSecond}/s, so ${o.channels} channels allow ${s.allowed}/s after the first burst and N a channel take (N − ${o.burst})/${o.perSecond} s at best.`);
  L.push('');
  L.push(`| ${int(o.webhooks)} webhooks → ${int(f.counts.expected)} messages | value |`);
  L.push('|---|---:|');
  L.push(`| webhooks acknowledged (2xx) | ${int(f.post.ok)} of ${int(f.post.sent)}, in ${num(f.post.seconds * 1000, 0)} ms |`);
  L.push(`| messages / distinct (channel, job) / **duplicates**; per channel | ${int(f.counts.messages)} / ${int(f.counts.distinctPairs)} / **${f.counts.duplicates}**; ${f.counts.perChannelMin}–${f.counts.perChannelMax} (${f.counts.channelsExact} of ${o.channels} channels exactly ${o.webhooks}) |`);
  L.push(`| **messages/s after the first burst**: (messages − ${o.channels}·${o.burst}) / first → last message (${num(s.spanSeconds, 2)} s; ideal (N − B)/R = ${num(s.idealSeconds, 2)} s) | **${num(s.steady, 2)} = ${num(f.ratioSteady, 3)} × ${s.allowed}/s** |`);
  L.push(`| least-squares slope over the middle half of the stretch after the first ${o.channels * o.burst} (${num(s.middleSeconds, 2)} s) | ${num(s.middleSlope, 2)}/s (${num(f.ratioMiddle, 3)} ×) |`);
  L.push(`| per channel, (N − B) / its first → last: min / median / max | ${num(s.perChannel.min, 3)} / ${num(s.perChannel.median, 3)} / ${num(s.perChannel.max, 3)} /s |`);
  L.push(`| messages/s first → last (the first burst included; ideal ${num(s.idealOverall, 2)}) | ${num(s.overall, 2)} |`);
  L.push(`| **429 answers**: in all / in the first second / **after it** (channels hit) | ${f.refused.total} / ${f.refused.inFirstSecond} / **${f.refused.afterFirstSecond}** (${f.refused.channels}) |`);
  L.push(`| per channel: most messages in any 1 s (a bucket allows B + R = ${o.burst + o.perSecond}) / most ahead of an ideal bucket full at its first message (channels ahead at all) / longest gap | ${s.mostInOneSecondPerChannel} / ${num(s.overshoot, 3)} (${s.channelsAhead}) / ${num(s.maxGapPerChannelMs, 0)} ms |`);
  L.push(`| every call as it arrived, 429'd ones included: most ahead of an ideal bucket per channel (channels ahead at all) | ${num(f.callsAhead.most, 3)} (${f.callsAhead.channels}) |`);
  L.push(`| lateness of each channel's k-th message against max(0, (k − B)/R) s after the first acknowledgement, p50 / p99 / max | ${num(s.latenessMs.p50, 0)} / ${num(s.latenessMs.p99, 0)} / ${num(s.latenessMs.max, 0)} ms |`);
  L.push(`| first acknowledgement → last message | ${num(s.totalSeconds, 2)} s (the webhooks were acknowledged within ${num(f.acksSpanMs, 0)} ms) |`);
  L.push(`| the relay's side — attempts (outcomes); per channel most starts in any 1 s / most ahead of an ideal bucket | ${int(q.attempts)} (${statusList(q.outcomes)}); ${q.mostInOneSecondPerChannel} / ${num(q.overshoot, 3)} |`);
  L.push(`| the relay's side — each attempt's start after it was ready (its channel's token, its subscriber's previous attempt done, Retry-After after a 429; a subscriber's first attempt left out), p50 / p90 / p99 / max | ${num(q.wakeLatenessMs.p50, 0)} / ${num(q.wakeLatenessMs.p90, 0)} / ${num(q.wakeLatenessMs.p99, 0)} / ${num(q.wakeLatenessMs.max, 0)} ms |`);
  L.push(`| \`chat.postMessage\` answers; other requests to the simulator | ${statusList(f.counts.postStatuses)}; ${f.counts.otherRequests} |`);
  L.push(`| kitrelay CPU, first webhook → 1 s after the last message | ${share(f.cpu, 'server')} of a core (simulator ${share(f.cpu, 'simulator')}, benchmark process ${share(f.cpu, 'generator')}) |`);
  L.push('');
  return L;
}

export function renderSlackTargetsMarkdown(r) {
  const v = r.verdict;
  const t = r.targets;
  if (!r.slack) return [];
  return [
    `| Slack steady messages/s (middle-half slope) ≥ ${pct(t.slackRateRatio)} of the ${r.slack.fanout.rates.allowed}/s ${r.slack.options.channels} channels allow at 1/s each, every message once | ${num(v.slackRateRatio, 3)} ×, ${v.slackDuplicates} duplicates | ${yes(v.slackRateMet)} |`,
    `| Slack: no 429 beyond the first burst (after the first second) | ${v.slack429AfterFirstSecond} (${v.slack429Total} in all) | ${yes(v.slack429Met)} |`,
  ];
}
