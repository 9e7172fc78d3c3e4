/**
 * `kitrelay kajabi …` as an operator runs it: real processes on a config file and a data dir, the
 * Kajabi simulator on loopback, a relay on the same data dir applying what the CLI queues. The
 * reconciliation fills the enrolment table; `enrolments list|show` read it (with the correction
 * log); `hooks sync` registers the configured hooks at the relay's `hooks` source once, and Kajabi's
 * hooks then reach the relay; `hooks list` never prints the URL's token.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { env } from '../src/config/schema.js';
import { startKajabiSimulator, type KajabiSimulator } from '../src/integrations/kajabi/simulator.js';
import { eventually, execCli, startTestRelay, tempDir, type TestRelay } from './helpers.js';

const NEVER = '0 0 1 1 *';

let sim: KajabiSimulator | undefined;
let relay: TestRelay | undefined;
let remove: (() => void) | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await sim?.close();
  sim = undefined;
  remove?.();
  remove = undefined;
});

interface Listed {
  readonly enrolments: readonly { readonly email: string; readonly offerId: string; readonly status: string; readonly purchaseId: string | null }[];
  readonly counts: Readonly<Record<string, number>>;
}

describe('kitrelay kajabi', () => {
  it('lists and shows the enrolments the reconciliation corrected, with their corrections; registers hooks once and hides their token', { timeout: 90_000 }, async () => {
    sim = await startKajabiSimulator({ rateLimit: false, webhooks: { maxAttempts: 1, retryDelayMs: 50 } });
    const [a, b, free] = sim.credentials.offerIds as [string, string, string];
    const ada = sim.purchase({ email: 'ada@example.com', name: 'Ada', offerIds: [a], isPaid: true });
    const bob = sim.purchase({ email: 'bob@example.com', offerIds: [b] }); // never paid
    const cy = sim.purchase({ email: 'Cy@Example.com', offerIds: [a, b], isPaid: true });
    sim.refund(cy.purchases[1]!.id);
    const di = sim.purchase({ email: 'di@example.com', offerIds: [free] });
    const eve = sim.purchase({ email: 'eve@example.com', offerIds: [a], isPaid: true });
    sim.deactivate(eve.purchases[0]!.id, 'chargeback');

    const temp = tempDir();
    remove = temp.remove;
    const destination = {
      type: 'kajabi',
      clientId: env('KAJABI_CLIENT_ID'),
      clientSecret: env('KAJABI_CLIENT_SECRET'),
      baseUrl: sim.url,
      offers: {},
      settlement: { checkSchedule: NEVER },
      poll: { schedule: NEVER },
      reconcile: { schedule: NEVER },
    };
    const credentials = { KAJABI_CLIENT_ID: sim.credentials.clientId, KAJABI_CLIENT_SECRET: sim.credentials.clientSecret };
    // The service on the data dir applies the jobs the CLI queues; its URL is the public one.
    relay = await startTestRelay({ destinations: { kajabi: destination as never }, queue: { pollIntervalMs: 20 } }, { dir: temp.dir, env: credentials });
    const store = relay.relay.store;
    const configPath = path.join(temp.dir, 'kitrelay.config.mjs');
    writeFileSync(configPath, `export default ${JSON.stringify({ destinations: { kajabi: destination }, server: { publicBaseUrl: relay.url }, log: { level: 'warn' } }, null, 2)};\n`);
    const cli = (...args: string[]) => execCli(['--config', configPath, '--data-dir', temp.dir, ...args], credentials);
    const settled = () =>
      eventually(async () => {
        const jobs = await store.listJobs({ destination: 'kajabi', limit: 1000 });
        return jobs.length > 0 && jobs.every((j) => j.status === 'succeeded') ? jobs : undefined;
      }, 15_000, 'every kajabi job to succeed');

    const route = relay.relay.routes.sources.get('kajabi/hooks')!;
    const hookUrl = `${relay.url}${route.path}`;
    const hooks = () => [...sim!.state.hooks.values()].map((h) => `${h.event} ${h.targetUrl} ${h.resourceId}`).sort();
    expect(hooks()).toEqual([]);

    // Each CLI start costs seconds on a busy machine: commands that do not depend on each other
    // run side by side. The reconciliation (every purchase is missing from the table), the first
    // hooks sync, a bad --status and a person with no enrolments.
    const [first, synced, bad, unknown] = await Promise.all([
      cli('kajabi', 'reconcile', '--json'),
      cli('kajabi', 'hooks', 'sync'),
      cli('kajabi', 'enrolments', 'list', '--status', 'paid'),
      cli('kajabi', 'enrolments', 'show', 'nobody@example.com'),
    ]);
    expect(first.code, first.stderr).toBe(0);
    const firstRun = JSON.parse(first.stdout) as { runId: string; corrections: string[] };
    expect(firstRun).toMatchObject({ purchases: 6, transactions: 6, people: 5, statusCorrections: 6, kitCorrections: 0, queued: 5 });
    expect(firstRun.corrections).toContain(`cy@example.com offer ${b}: Kajabi shows refunded (purchase ${cy.purchases[1]!.id}); the table had no enrolment`);

    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe('error: --status must be one of pending, granted, refunded, deactivated, cancelled, lapsed (got "paid")\n');
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('No enrolments for nobody@example.com\n');

    // Hooks: the configured events at the relay's `hooks` source URL.
    expect(synced.code, synced.stderr).toBe(0);
    expect(JSON.parse(synced.stdout)).toMatchObject({ created: [{ event: 'purchase' }, { event: 'payment_succeeded' }], kept: [], removed: [] });
    expect(synced.stderr).toContain('set server.publicBaseUrl'); // http://127.0.0.1: Kajabi could not reach it
    expect(hooks()).toEqual([`payment_succeeded ${hookUrl} null`, `purchase ${hookUrl} null`]);
    await settled();

    const [table, listedOut, refundedOut, again] = await Promise.all([
      cli('kajabi', 'enrolments', 'list'),
      cli('kajabi', 'enrolments', 'list', '--json'),
      cli('kajabi', 'enrolments', 'list', '--status', 'refunded', '--json'),
      cli('kajabi', 'hooks', 'sync'),
    ]);
    const listed = JSON.parse(listedOut.stdout) as Listed;
    expect(listed.counts).toEqual({ pending: 1, granted: 3, refunded: 1, deactivated: 1, cancelled: 0, lapsed: 0 });
    expect(listed.enrolments.map((e) => `${e.email} ${e.offerId} ${e.status} ${e.purchaseId}`).sort()).toEqual(
      [
        `ada@example.com ${a} granted ${ada.purchases[0]!.id}`,
        `bob@example.com ${b} pending ${bob.purchases[0]!.id}`,
        `cy@example.com ${a} granted ${cy.purchases[0]!.id}`,
        `cy@example.com ${b} refunded ${cy.purchases[1]!.id}`,
        `di@example.com ${free} granted ${di.purchases[0]!.id}`,
        `eve@example.com ${a} deactivated ${eve.purchases[0]!.id}`,
      ].sort(),
    );

    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^email\s+offer\s+status\s+purchase\s+transaction\s+kit\s+changed$/);
    expect(lines.filter((l) => /@example\.com/.test(l))).toHaveLength(6);
    expect(table.stdout).toMatch(new RegExp(`bob@example\\.com\\s+${b} Course B\\s+pending\\s+${bob.purchases[0]!.id}\\s+${bob.transaction.id}\\s+never written\\s+\\S+ \\(reconcile\\)`));
    expect(table.stdout).toContain('pending 1, granted 3, refunded 1, deactivated 1, cancelled 0, lapsed 0\n');

    const refunded = JSON.parse(refundedOut.stdout) as Listed;
    expect(refunded.enrolments.map((e) => `${e.email} ${e.offerId} ${e.status}`)).toEqual([`cy@example.com ${b} refunded`]);

    // The second sync finds every hook in place: none created, none removed.
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: [], kept: [{ event: 'purchase' }, { event: 'payment_succeeded' }], removed: [] });
    expect(hooks()).toEqual([`payment_succeeded ${hookUrl} null`, `purchase ${hookUrl} null`]);

    // Drift: Ada refunded in Kajabi since; the next run corrects her row and logs it.
    const adaRefund = sim.refund(ada.purchases[0]!.id);
    const [second, list] = await Promise.all([cli('kajabi', 'reconcile', '--json'), cli('kajabi', 'hooks', 'list')]);
    expect(second.code, second.stderr).toBe(0);
    const secondRun = JSON.parse(second.stdout) as { runId: string };
    expect(secondRun).toMatchObject({ statusCorrections: 1, queued: 1, corrections: [`ada@example.com offer ${a}: Kajabi shows refunded (purchase ${ada.purchases[0]!.id}); the table had granted (purchase ${ada.purchases[0]!.id})`] });

    // The hooks as listed: the URL's token hidden.
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toContain(route.token);
    const hookRows = list.stdout.split('\n').slice(1).filter(Boolean).map((l) => l.split(/\s+/).slice(1).join(' ')).sort();
    expect(hookRows).toEqual([`payment_succeeded ${relay.url}/hooks/in/kajabi/hooks/… *`, `purchase ${relay.url}/hooks/in/kajabi/hooks/… *`]);

    await eventually(async () => ((await store.getKajabiEnrolments('kajabi', 'ada@example.com'))[0]?.status === 'refunded' ? true : undefined), 15_000, "Ada's correction");
    await settled();
    const shown = await cli('kajabi', 'enrolments', 'show', ' ADA@example.com');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`offer ${a}(?: \\([^)]*\\))?: refunded\\n  purchase ${ada.purchases[0]!.id}, transaction ${ada.transaction.id}, refund ${adaRefund.id}, 49\\.00\\n`));
    expect(shown.stdout).toMatch(/ended \S+ \(refund\)/);
    const corrections = shown.stdout.slice(shown.stdout.indexOf('corrections, newest first:')).split('\n').filter((l) => l.startsWith('  '));
    expect(corrections).toHaveLength(3);
    expect(corrections[0]).toMatch(new RegExp(`^  \\S+ offer ${a} status: granted → refunded — ${a}: Kajabi shows refunded .*\\[${escape(secondRun.runId)}\\]$`));
    expect(corrections.slice(1).map((l) => / (status|purchaseId): (.*?) — /.exec(l)?.slice(1, 3).join(': ')).sort()).toEqual([`purchaseId: none → ${ada.purchases[0]!.id}`, 'status: none → granted']);
    expect(corrections.slice(1).every((l) => l.endsWith(`[${firstRun.runId}]`))).toBe(true);

    // The registered hooks reach the relay: a new buyer is enrolled from them alone.
    const fay = sim.purchase({ email: 'fay@example.com', offerIds: [b], isPaid: true });
    await sim.webhooksIdle();
    expect(sim.deliveries.filter((d) => d.isDelivered)).toHaveLength(2);
    await eventually(async () => ((await store.getKajabiEnrolments('kajabi', 'fay@example.com'))[0]?.status === 'granted' ? true : undefined), 15_000, "Fay's enrolment from the hooks");
    expect((await store.getKajabiEnrolments('kajabi', 'fay@example.com'))[0]).toMatchObject({ offerId: b, purchaseId: fay.purchases[0]!.id, changedBy: 'hook' });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
