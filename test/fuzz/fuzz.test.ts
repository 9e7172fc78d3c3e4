/**
 * Property-based fuzzing of legacy and signed ingest against a real relay on loopback: a few
 * thousand hostile deliveries per run, with a fixed seed so a failure replays. The volume run is
 * `npm run fuzz` (run.ts); both share runner.ts.
 */
import { describe, expect, it } from 'vitest';
import { runFuzz } from './runner.js';

/** Fixed so CI failures replay; every failure report repeats it with its fast-check path. */
const SEED = 20_260_901;

describe('ingest under hostile input (fast-check)', () => {
  it(
    'never answers 5xx, stores nothing unauthenticated, commits or quarantines byte-exact every authenticated body, and stays healthy',
    async () => {
      const summary = await runFuzz({ seed: SEED, cases: 3_000, seconds: 30, shrinkSeconds: 3, maxFamilies: 6 });
      const reports = summary.failures.map((f) => `${f.family} (seed ${f.seed}, path ${f.path ?? '-'})\n${f.report}${f.minimal ? `\nFails alone: ${f.minimal}` : ''}`);
      expect(reports, `fuzz seed ${SEED}: ${summary.failures.length} failing families`).toEqual([]);
      // The run must have done its work, not ended early on a wedged relay or a slow machine.
      expect(summary.cases.legacy + summary.cases.signed + summary.cases.unauth).toBeGreaterThan(1_000);
      expect(summary.checked.P4).toBe(3);
    },
    90_000,
  );
});
