/**
 * The RateBudget port's contract: every implementation (memory, the store) runs this suite, so the
 * client can rely on the same semantics whichever one production wires in.
 */
import { describe, expect, it } from 'vitest';
import type { RateBudget } from './budget.js';

export interface BudgetHarness {
  /** Two handles on one budget (two processes on one store, or one memory budget twice). */
  readonly budgets: readonly [RateBudget, RateBudget];
  cleanup(): Promise<void>;
}

const T0 = Date.parse('2026-01-01T00:00:00Z');

export function rateBudgetContract(name: string, open: () => Promise<BudgetHarness>): void {
  describe(`RateBudget contract: ${name}`, () => {
    async function withBudget(test: (budgets: readonly [RateBudget, RateBudget]) => Promise<void>): Promise<void> {
      const harness = await open();
      try {
        await test(harness.budgets);
      } finally {
        await harness.cleanup();
      }
    }

    it('lets `limit` requests through in a window, then says how long to wait', () =>
      withBudget(async ([budget]) => {
        const input = { credential: 'key:a', limit: 3, windowMs: 1000 };
        for (let i = 0; i < 3; i++) expect((await budget.take({ ...input, now: T0 + i })).ok).toBe(true);
        const refused = await budget.take({ ...input, now: T0 + 10 });
        expect(refused.ok).toBe(false);
        if (!refused.ok) {
          expect(refused.retryAfterMs).toBeGreaterThan(0);
          expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
        }
        // The window slides: once the first request is a window old, one more fits.
        expect((await budget.take({ ...input, now: T0 + 1001 })).ok).toBe(true);
      }));

    it('counts the requests of both handles against one budget', () =>
      withBudget(async ([a, b]) => {
        const input = { credential: 'key:shared', limit: 4, windowMs: 1000, now: T0 };
        const decisions = await Promise.all([a.take(input), b.take(input), a.take(input), b.take(input), a.take(input), b.take(input)]);
        expect(decisions.filter((d) => d.ok)).toHaveLength(4);
      }));

    it('keeps credentials apart', () =>
      withBudget(async ([budget]) => {
        const now = T0;
        expect((await budget.take({ credential: 'key:x', limit: 1, windowMs: 1000, now })).ok).toBe(true);
        expect((await budget.take({ credential: 'key:y', limit: 1, windowMs: 1000, now })).ok).toBe(true);
        expect((await budget.take({ credential: 'key:x', limit: 1, windowMs: 1000, now })).ok).toBe(false);
      }));

    // The client stamps each take ahead by its expected latency m (now + m, window + m; see
    // RateBudget): a slow process's stamp lies ahead of a fast one's clock and must still count.
    it('counts takes stamped ahead by another caller', () =>
      withBudget(async ([slow, fast]) => {
        const credential = 'key:ahead';
        // The slow caller sends at T0 with m = 300: stamped T0 + 300, window 1300.
        expect((await slow.take({ credential, limit: 1, windowMs: 1300, now: T0 + 300 })).ok).toBe(true);
        // The fast one, m = 50, at T0 + 1100: Kit may still count the slow request until T0 + 1300.
        const refused = await fast.take({ credential, limit: 1, windowMs: 1050, now: T0 + 1150 });
        expect(refused.ok).toBe(false);
        if (!refused.ok) expect(refused.retryAfterMs).toBe(200);
        expect((await fast.take({ credential, limit: 1, windowMs: 1050, now: T0 + 1350 })).ok).toBe(true);
      }));

    it('refuses every handle while a credential is blocked, until the block ends', () =>
      withBudget(async ([a, b]) => {
        const input = { credential: 'key:blocked', limit: 100, windowMs: 1000 };
        await a.block('key:blocked', T0 + 5000);
        const refused = await b.take({ ...input, now: T0 });
        expect(refused.ok).toBe(false);
        if (!refused.ok) expect(refused.retryAfterMs).toBe(5000);
        expect((await b.take({ ...input, now: T0 + 5000 })).ok).toBe(true);
      }));
  });
}
