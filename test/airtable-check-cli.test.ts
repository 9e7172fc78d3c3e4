/**
 * `kitrelay airtable check <sync> [--repair]` as an operator runs it: a real process, a real
 * SQLite file, the Airtable simulator on loopback. A backfilled table drifts (a row edited, a row
 * added by hand); the check reports it (JSON and lines), `--repair` fixes it printing each fix, and
 * the next check is clean.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAirtableSimulator, type AirtableSimulator } from '../src/integrations/airtable/simulator.js';
import { TABLE, TEST_FIELDS } from '../src/integrations/airtable/harness.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { execCli, tempDir } from './helpers.js';

let sim: AirtableSimulator | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  remove?.();
});

describe('kitrelay airtable check', () => {
  it('reports drift, repairs it printing each fix, and is clean after', { timeout: 60_000 }, async () => {
    sim = await startAirtableSimulator({ rateLimit: false, bases: [{ name: 'Kit', tables: [{ name: TABLE, fields: TEST_FIELDS }] }] });
    const temp = tempDir();
    remove = temp.remove;
    writeFileSync(
      path.join(temp.dir, 'kitrelay.config.mjs'),
      `export default {
        destinations: { airtable: { type: 'airtable', token: { $env: 'AIRTABLE_TOKEN' }, apiUrl: '${sim.url}',
          syncs: { subscribers: { baseId: '${sim.baseId}', table: '${TABLE}', fields: { Email: 'email', Name: 'first_name' } } } } },
        log: { level: 'warn' },
      };\n`,
    );
    const cli = (...args: string[]) => execCli(['--config', path.join(temp.dir, 'kitrelay.config.mjs'), '--data-dir', temp.dir, ...args], { AIRTABLE_TOKEN: sim!.token });
    const store = await openSqliteStore({ path: path.join(temp.dir, 'kitrelay.db') });
    try {
      await store.upsertSubscribers([1, 2, 3].map((n) => ({ kitId: n, email: `s${n}@example.com`, firstName: `Sub ${n}`, state: 'active', fields: {}, tags: [], createdAt: null })), 'backfill', Date.now());
    } finally {
      await store.close();
    }
    expect((await cli('airtable', 'backfill', 'subscribers')).code).toBe(0);
    const row2 = sim.records(TABLE).find((r) => r.fields['Kit ID'] === 2)!;
    sim.person.update(TABLE, row2.id, { Name: 'Typed over' });
    sim.person.create(TABLE, { 'Kit ID': 77, Email: 'stranger@example.com' });

    const report = await cli('airtable', 'check', 'subscribers', '--json');
    expect(report.code).toBe(0);
    expect(JSON.parse(report.stdout)).toMatchObject({ status: 'drift', counts: { rows: 4, ok: 2, different: 1, extra: 1 }, fixes: [] });
    const lines = await cli('airtable', 'check', 'subscribers');
    expect(lines.stdout).toContain('check subscribers: drift');
    expect(lines.stdout).toMatch(/different: Kit id 2 <s2@example\.com> rec\w+ — differs: Name/);
    expect(lines.stdout).toContain('run again with --repair');

    const repaired = await cli('airtable', 'check', 'subscribers', '--repair');
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/fixed: Kit id 2 \(rec\w+\) different: updated — written from Kit: Name/);
    expect(repaired.stdout).toMatch(/fixed: Kit id 77 \(rec\w+\) extra: deleted/);
    expect(repaired.stdout).toContain('2 fixes made');
    expect(sim.records(TABLE).map((r) => r.fields.Name).sort()).toEqual(['Sub 1', 'Sub 2', 'Sub 3']);

    const again = await cli('airtable', 'check', 'subscribers', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'clean', counts: { rows: 3, ok: 3 } });
  });
});
