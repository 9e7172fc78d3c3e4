import { describe, expect, it } from 'vitest';
import { rateBudgetContract } from './budget.contract.js';
import { apiKeyCredentialId, memoryRateBudget, oauthCredentialId, storeRateBudget } from './budget.js';
import { storesOnOneFile } from './harness.js';

rateBudgetContract('memory', () => {
  const budget = memoryRateBudget();
  return Promise.resolve({ budgets: [budget, budget], cleanup: () => Promise.resolve() });
});

rateBudgetContract(
  'sqlite store, two handles on one file',
  async () => {
    const { stores, close } = await storesOnOneFile(2);
    return { budgets: [storeRateBudget(stores[0]!), storeRateBudget(stores[1]!)], cleanup: close };
  },
);

describe('credential ids', () => {
  it('are stable, short and carry nothing of the secret', () => {
    const id = apiKeyCredentialId('kit_3f9a0c1d2e');
    expect(id).toBe(apiKeyCredentialId('kit_3f9a0c1d2e'));
    expect(id).toMatch(/^key:[0-9a-f]{16}$/);
    expect(id).not.toContain('3f9a0c1d2e');
    expect(apiKeyCredentialId('kit_other')).not.toBe(id);
  });

  it('name an OAuth token family by app and account, not by the token', () => {
    expect(oauthCredentialId('app', 1)).toMatch(/^oauth:[0-9a-f]{16}$/);
    expect(oauthCredentialId('app', 1)).toBe(oauthCredentialId('app', '1'));
    expect(oauthCredentialId('app', 1)).not.toBe(oauthCredentialId('app', 2));
  });
});
