/**
 * A short crash-rounds run (the harness of `npm run crash`): three rounds of SIGKILL under load on a
 * real SQLite file lose no acknowledged event, leave no job unfinished, and deliver no job twice
 * except after an attempt whose outcome is unknown.
 */
import { describe, expect, it } from 'vitest';
import { runCrashRounds } from './harness.js';

describe('crash rounds', () => {
  it('three rounds of SIGKILL under load lose no acknowledged event and deliver no job twice without an unknown attempt', async ({ signal }) => {
    const seed = Math.floor(Math.random() * 0x7fff_ffff);
    const result = await runCrashRounds({ rounds: 3, seed, maxPostsPerRound: 150, signal });
    const context = `seed ${seed} (replay: npm run crash -- --seed ${seed} --rounds 3); data dir ${result.dataDir ?? 'removed'}`;

    expect(result.failures, context).toEqual([]);
    expect(result.rounds, context).toHaveLength(3);
    expect(result.final, context).toBeDefined();
    const final = result.final!;
    expect(final.acknowledged, context).toBeGreaterThan(0);
    expect(final.lost, context).toBe(0);
    expect(final.jobs, context).toBe(final.delivered + final.dead);
    expect(final.duplicatesWithoutUnknown, context).toBe(0);
  }, 90_000);
});
