/**
 * `kitrelay meta …` as an operator runs it: real processes, a real SQLite file, the Meta simulator
 * on loopback. Create an audience, dry-run a sync (nothing sent), sync (with the CLI's own worker),
 * list the runs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startMetaSimulator, type MetaSimulator } from '../src/integrations/meta/simulator.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { execCli, tempDir } from './helpers.js';

let sim: MetaSimulator | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  remove?.();
});

function writeConfig(dir: string, s: MetaSimulator, audienceId?: string): void {
  writeFileSync(
    path.join(dir, 'kitrelay.config.mjs'),
    `export default {
      destinations: { meta: { type: 'meta', accessToken: { $env: 'META_ACCESS_TOKEN' }, adAccountId: '${s.adAccountId}', graphUrl: '${s.url}',
        audiences: { customers: { ${audienceId ? `audienceId: '${audienceId}', ` : ''}name: 'Kit customers', select: { tags: { any: ['customer'] } } } } } },
      log: { level: 'warn' },
    };\n`,
  );
}

describe('kitrelay meta', () => {
  it('creates an audience, dry-runs a sync without sending, syncs, answers what was sent about an address, lists the runs, and erases a person from the audience', async () => {
    sim = await startMetaSimulator({ usage: false, audiences: [] });
    const temp = tempDir();
    remove = temp.remove;
    const cli = (...args: string[]) => execCli(['--config', path.join(temp.dir, 'kitrelay.config.mjs'), '--data-dir', temp.dir, ...args], { META_ACCESS_TOKEN: sim!.accessToken });
    writeConfig(temp.dir, sim);

    const created = await cli('meta', 'audiences', 'create', 'customers');
    expect(created.stderr).toBe('');
    const id = /id (\d+)/.exec(created.stdout)?.[1];
    expect(id).toBeDefined();
    expect(sim.audience(id!)).toMatchObject({ name: 'Kit customers' });
    writeConfig(temp.dir, sim, id);

    const store = await openSqliteStore({ path: path.join(temp.dir, 'kitrelay.db') });
    try {
      await store.upsertSubscribers([1, 2].map((n) => ({ kitId: n, email: `c${n}@example.com`, firstName: null, state: 'active', fields: {}, tags: [{ id: 3, name: 'Customer' }], createdAt: null })), 'backfill', Date.now());
    } finally {
      await store.close();
    }

    const dry = await cli('meta', 'sync', 'customers', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run: nothing was sent');
    expect(dry.stdout).toMatch(/would add: subscriber 1 \([0-9a-f]{64}\)/);
    expect(sim.members(id!)).toEqual([]);

    const synced = await cli('meta', 'sync', 'customers');
    expect(synced.code).toBe(0);
    expect(synced.stdout).toMatch(/: succeeded\n/);
    expect(synced.stdout).toContain('sent 2 rows in 1 batches');
    expect(sim.members(id!)).toHaveLength(2);

    // What was sent to Meta about c1, by hashing the address (it never left the machine).
    const audit = JSON.parse((await cli('audit', '--email', ' C1@Example.com', '--destination', 'customers', '--json')).stdout) as { matchKey: string; sends: { subscriberId: number; batch: { op: string; status: string; audience: string } }[] };
    expect(audit.sends).toMatchObject([{ subscriberId: 1, batch: { op: 'add', status: 'acked', audience: 'meta/customers' } }]);
    expect(sim.members(id!).map((m) => m.keys.EMAIL)).toContain(audit.matchKey);
    expect((await cli('audit', '--email', 'nobody@example.com', '--destination', 'meta')).stdout).toContain(': 0 row(s)');

    const runs = JSON.parse((await cli('meta', 'runs', 'customers', '--json')).stdout) as { kind: string; status: string }[];
    expect(runs.map((r) => [r.kind, r.status])).toEqual([['sync', 'succeeded'], ['dry_run', 'succeeded']]);

    // GDPR: erase removes c1 from the audience at Meta first, then forgets them here (hashes included).
    const erased = await cli('erase', 'c1@example.com', '--json');
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({ subscriberIds: ['1'], mirror: 1, audiences: { removed: ['meta/customers'], skipped: [] } });
    expect(sim.members(id!).map((m) => m.keys.EMAIL)).not.toContain(audit.matchKey);
    expect(sim.members(id!)).toHaveLength(1);
    expect((await cli('audit', '--email', 'c1@example.com', '--destination', 'customers')).stdout).toContain(': 0 row(s)');
    const unknown = await cli('meta', 'sync', 'nobody');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No Meta audience "nobody"');
  }, 90_000); // a dozen CLI processes, each starting tsx
});
