/**
 * `npm run fuzz`: the fuzz properties at volume against a real relay on loopback.
 *
 *   npm run fuzz -- [--cases 100000] [--seconds 1200] [--seed N] [--concurrency 16]
 *                   [--groups legacy,signed,unauth] [--out test-results/fuzz.json]
 *
 * Prints progress and a summary, writes the summary as JSON, and exits non-zero on any failure.
 * Each failure lists its fast-check seed and path: replay it with `--seed` and the vitest test's
 * `replay` helper, or read the counterexample in the report.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runFuzz, type GroupName, type Summary } from './runner.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '1200' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    out: { type: 'string', default: 'test-results/fuzz.json' },
    groups: { type: 'string', default: 'legacy,signed,unauth' },
  },
});

const positive = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${text}`);
  return n;
};

function print(summary: Summary): void {
  const total = summary.cases.legacy + summary.cases.signed + summary.cases.unauth;
  const seconds = summary.elapsedMs / 1000;
  console.log(`\n== fuzz summary (seed ${summary.seed}) ==`);
  console.log(`cases: ${total} in ${seconds.toFixed(1)} s (${Math.round(total / seconds)}/s): legacy ${summary.cases.legacy}, signed ${summary.cases.signed}, unauthenticated ${summary.cases.unauth}`);
  console.log(`checked: P1 no 5xx ${summary.checked.P1} · P2 nothing stored ${summary.checked.P2} · P3 committed or quarantined ${summary.checked.P3} · P4 healthy ${summary.checked.P4}`);
  for (const [group, statuses] of Object.entries(summary.statuses)) console.log(`statuses ${group}: ${JSON.stringify(statuses)}`);
  console.log(`committed events ${summary.committedEvents} · quarantined ${summary.quarantined} · rejected ${summary.rejected}`);
  const families = Object.entries(summary.violations).sort((a, b) => b[1] - a[1]);
  console.log(`violations: ${families.length === 0 ? 'none' : ''}`);
  for (const [family, count] of families) console.log(`  ${String(count).padStart(6)}  ${family}`);
  console.log(`failures (shrunk): ${summary.failures.length}`);
  for (const f of summary.failures) {
    console.log(`\n--- ${f.family} (seed ${f.seed}, path ${f.path ?? '-'}, ${f.shrinks} shrinks)\n${f.report}`);
    if (f.minimal) console.log(`Fails alone: ${f.minimal}`);
  }
}

async function main(): Promise<number> {
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Math.trunc(Number(values.seed));
  const cases = positive('cases', values.cases);
  const seconds = positive('seconds', values.seconds);
  console.log(`fuzzing ${cases} cases, at most ${seconds} s, seed ${seed}`);
  const groups = values.groups.split(',').map((g) => g.trim()) as GroupName[];
  const summary = await runFuzz({ seed, cases, seconds, groups, concurrency: positive('concurrency', values.concurrency), log: (line) => console.log(line) });
  print(summary);
  const out = path.resolve(values.out);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nsummary written to ${path.relative(process.cwd(), out)}`);
  return summary.failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
