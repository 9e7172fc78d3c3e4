/**
 * `npm run crash -- --rounds 100 [--seed N] [--first-round K] [--out FILE]`: the crash rounds as a
 * command. Prints a line per round and a summary, writes the figures as JSON, and exits non-zero
 * when an invariant failed (the data dir is then kept and its path printed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Figures } from './check.js';
import { runCrashRounds, type CrashRoundsResult, type RoundReport } from './harness.js';

const USAGE = 'usage: npm run crash -- [--rounds N (100)] [--seed N (random)] [--first-round K (1)] [--out FILE (test-results/crash-rounds.json)]';

function parseOptions(): { rounds: number; seed: number; firstRound: number; out: string } {
  const { values } = parseArgs({
    options: { rounds: { type: 'string' }, seed: { type: 'string' }, 'first-round': { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  const whole = (name: string, text: string | undefined, fallback: number, min: number) => {
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(value) || value < min) throw new Error(`--${name} must be a whole number ≥ ${min}\n${USAGE}`);
    return value;
  };
  return {
    rounds: whole('rounds', values.rounds, 100, 1),
    seed: whole('seed', values.seed, Math.floor(Math.random() * 0x7fff_ffff), 0),
    firstRound: whole('first-round', values['first-round'], 1, 1),
    out: values.out ?? 'test-results/crash-rounds.json',
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

function roundLine(report: RoundReport, of: number): string {
  const f = report.figures;
  const t = report.timings;
  const when = report.killAtMs <= report.loadForMs ? 'mid-load' : 'after the load';
  return [
    `round ${report.round}/${of} seed=${report.seed} kill@${report.killAtMs}ms (${when}${report.kills > 1 ? ', +1 in recovery' : ''})`,
    `posted=${f.eventsPosted} ack=${f.acknowledged} lost=${f.lost} unanswered=${f.unansweredPosts} refused=${f.refusedPosts} answerLost=${f.answerLost}`,
    `jobs=${f.jobs} delivered=${f.delivered} dead=${f.dead} unknown=${f.unknownAttempts} dupAfterUnknown=${f.duplicatesAfterUnknown} dupWithoutUnknown=${f.duplicatesWithoutUnknown}`,
    `load=${seconds(t.loadMs)} restart=${seconds(t.restartMs)} drain=${seconds(t.drainMs)} check=${seconds(t.checkMs)} total=${seconds(t.totalMs)}`,
    report.failures.length === 0 ? 'ok' : `FAILED ${report.failures.join(', ')}`,
  ].join('  ');
}

/** Per-round time: spread of the whole round, and the mean of each phase. */
function roundTimes(rounds: readonly RoundReport[]) {
  const totals = rounds.map((r) => r.timings.totalMs).sort((a, b) => a - b);
  const at = (q: number) => Math.round(totals[Math.min(totals.length - 1, Math.floor(q * totals.length))] ?? 0);
  const mean = (phase: keyof RoundReport['timings']) => Math.round(rounds.reduce((sum, r) => sum + r.timings[phase], 0) / Math.max(1, rounds.length));
  return {
    min: at(0), median: at(0.5), p90: at(0.9), max: at(1),
    meanLoad: mean('loadMs'), meanRestart: mean('restartMs'), meanResend: mean('resendMs'), meanDrain: mean('drainMs'), meanCheck: mean('checkMs'),
  };
}

/** The figures the summary and the JSON file carry. */
function summary(result: CrashRoundsResult, figures: Figures) {
  return {
    seed: result.seed,
    rounds: result.rounds.length,
    kills: result.rounds.reduce((sum, r) => sum + r.kills, 0),
    eventsPosted: figures.eventsPosted,
    acknowledged: figures.acknowledged,
    lost: figures.lost,
    acknowledgedOnResend: figures.acknowledgedOnResend,
    storedUnacknowledged: figures.storedUnacknowledged,
    answerLost: figures.answerLost,
    acceptedTwice: figures.acceptedTwice,
    jobs: figures.jobs,
    delivered: figures.delivered,
    dead: figures.dead,
    unfinished: figures.unfinished,
    unknownAttempts: figures.unknownAttempts,
    duplicatesAfterUnknown: figures.duplicatesAfterUnknown,
    duplicatesWithoutUnknown: figures.duplicatesWithoutUnknown,
    succeededUndelivered: figures.succeededUndelivered,
    jobMismatches: figures.jobMismatches,
    posts: figures.posts,
    unansweredPosts: figures.unansweredPosts,
    refusedPosts: figures.refusedPosts,
    elapsedMs: Math.round(result.elapsedMs),
    roundMs: roundTimes(result.rounds),
    failures: result.failures,
    dataDir: result.dataDir ?? null,
  };
}

async function main(): Promise<number> {
  const options = parseOptions();
  const replay = `npm run crash -- --seed ${options.seed} --rounds ${options.rounds}${options.firstRound === 1 ? '' : ` --first-round ${options.firstRound}`}`;
  process.stdout.write(`crash rounds: seed ${options.seed} (replay: ${replay})\n`);
  // Ctrl-C ends the run through the harness, which kills the relay it started.
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort(new Error('interrupted')));
  process.once('SIGTERM', () => abort.abort(new Error('terminated')));
  const onRound = (report: RoundReport) => process.stdout.write(`${roundLine(report, options.firstRound + options.rounds - 1)}\n`);
  const result = await runCrashRounds({ ...options, onRound, signal: abort.signal });
  // The final check covers every round; the round sums stand in when the run broke off before it.
  const figures = summary(result, result.final ?? result.totals);
  mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify({ ...figures, roundReports: result.rounds }, null, 2)}\n`);
  const { failures, dataDir, roundMs, ...counts } = figures;
  process.stdout.write(`\nsummary (${result.final ? 'final check over the whole run' : 'sum of the rounds run'}):\n`);
  for (const [name, value] of Object.entries(counts)) process.stdout.write(`  ${name}: ${String(value)}\n`);
  process.stdout.write(`  per round: min ${seconds(roundMs.min)}, median ${seconds(roundMs.median)}, p90 ${seconds(roundMs.p90)}, max ${seconds(roundMs.max)}\n`);
  process.stdout.write(`  per round, mean of each phase: load ${seconds(roundMs.meanLoad)}, restart ${seconds(roundMs.meanRestart)}, resend ${seconds(roundMs.meanResend)}, drain ${seconds(roundMs.meanDrain)}, check ${seconds(roundMs.meanCheck)}\n`);
  process.stdout.write(`  elapsed: ${seconds(result.elapsedMs)}\n  written: ${options.out}\n`);
  if (failures.length === 0) {
    process.stdout.write('all invariants held\n');
    return 0;
  }
  process.stdout.write(`FAILED:\n${failures.map((f) => `  ${f}`).join('\n')}\n  data dir kept: ${dataDir}\n  replay: ${replay}\n`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
