/**
 * A Kajabi reconciliation killed with SIGKILL mid-run (issue 12): the batches it committed stay
 * queued, a rerun queues the same corrections again for everyone, and applying both runs' jobs
 * comes to exactly the table Kajabi shows, each enrolment's status corrected (and logged) once.
 * The expected table is worked out here from the simulator's own state, not by kitrelay's code.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { env } from '../src/config/schema.js';
import { startKajabiSimulator, type KajabiSimulator } from '../src/integrations/kajabi/simulator.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite/index.js';
import { eventually, execCli, exited, startTestRelay, tempDir, type TestRelay } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const PEOPLE = 400;
/** The reconciliation commits its corrections this many customers at a time (reconcile.ts). */
const BATCH = 100;
/** Never by the clock: only the CLI runs the reconciliation here. */
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

/**
 * 400 people, one checkout each: most paid, every tenth refunded, every tenth deactivated, every
 * tenth never paid, every tenth a free offer; every twentieth a paid bundle of both paid offers,
 * every fortieth with the bundle's second offer refunded. Some addresses in mixed case.
 */
function seed(s: KajabiSimulator): void {
  const [a, b, free] = s.credentials.offerIds as [string, string, string];
  for (let i = 0; i < PEOPLE; i++) {
    const kind = i % 10;
    const email = i % 7 === 0 ? `Person${i}@Example.com` : `person${i}@example.com`;
    const offerIds = kind === 9 ? [free] : i % 20 === 0 ? [a, b] : [i % 2 === 0 ? a : b];
    const bought = s.purchase({ email, name: `Person ${i}`, offerIds, isPaid: kind !== 8 });
    if (kind === 6) s.refund(bought.purchases[0]!.id);
    if (kind === 7) s.deactivate(bought.purchases[0]!.id, 'chargeback');
    if (i % 40 === 0) s.refund(bought.purchases[1]!.id);
  }
}

/** What Kajabi shows, one line per person and offer: `email offer status purchase`, from the simulator's state. */
function kajabiShows(s: KajabiSimulator): string[] {
  const { state } = s;
  const refunded = new Set([...state.transactions.values()].filter((t) => t.action === 'refund').flatMap((t) => t.purchaseIds));
  return [...state.purchases.values()]
    .map((p) => {
      const contact = state.contacts.get(state.customers.get(p.customerId)!.contactId)!;
      const paid = state.transactions.get(p.transactionId)!.state === 'succeeded';
      const status = p.deactivatedAt !== null ? 'deactivated' : refunded.has(p.id) ? 'refunded' : paid ? 'granted' : 'pending';
      return `${contact.email.toLowerCase()} ${p.offerId} ${status} ${p.id}`;
    })
    .sort();
}

describe('kajabi reconcile, killed mid-way', () => {
  it('reruns to the same table Kajabi shows, each enrolment corrected and logged once though two runs queued it', { timeout: 90_000 }, async () => {
    sim = await startKajabiSimulator({ rateLimit: false });
    seed(sim);
    const expected = kajabiShows(sim);
    // The control itself: 400 checkouts + 20 bundles' second offers; one purchase per person and offer.
    expect(expected).toHaveLength(PEOPLE + 20);
    expect(new Set(expected.map((line) => line.split(' ').slice(0, 2).join(' '))).size).toBe(PEOPLE + 20);
    const byStatus = (lines: readonly string[]) => Object.fromEntries(['granted', 'pending', 'refunded', 'deactivated'].map((s) => [s, lines.filter((l) => l.split(' ')[2] === s).length]));
    expect(byStatus(expected)).toEqual({ granted: 290, pending: 40, refunded: 50, deactivated: 40 });

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
      concurrency: 8,
    };
    const configPath = path.join(temp.dir, 'kitrelay.config.mjs');
    writeFileSync(configPath, `export default ${JSON.stringify({ destinations: { kajabi: destination }, log: { level: 'warn' } }, null, 2)};\n`);
    const credentials = { KAJABI_CLIENT_ID: sim.credentials.clientId, KAJABI_CLIENT_SECRET: sim.credentials.clientSecret };
    const cli = (...args: string[]) => execCli(['--config', configPath, '--data-dir', temp.dir, ...args], credentials);
    const store: SqliteStore = await openSqliteStore({ path: path.join(temp.dir, 'kitrelay.db') });
    const kajabiJobs = () => store.listJobs({ destination: 'kajabi', limit: 1000 });
    try {
      // Each customer read takes a while: the run commits a batch every few seconds.
      sim.faults.add({ kind: 'delay', ms: 40, method: 'GET', path: '/v1/customers/*', times: Infinity });
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--config', configPath, '--data-dir', temp.dir, 'kajabi', 'reconcile'], { cwd: ROOT, env: { ...process.env, ...credentials }, stdio: 'ignore' });
      await eventually(async () => ((await kajabiJobs()).length >= BATCH ? true : undefined), 30_000, 'the first batch of enrol jobs');
      child.kill('SIGKILL');
      await exited(child);
      expect(child.signalCode).toBe('SIGKILL');
      const killedJobs = await kajabiJobs();
      // Killed part-way: whole batches queued (every customer in them differed), not everyone.
      expect(killedJobs.length).toBeLessThan(PEOPLE);
      expect(killedJobs.length % BATCH).toBe(0);
      expect(killedJobs.every((j) => j.action === 'enrol')).toBe(true);
      expect(await store.listKajabiEnrolments({ destination: 'kajabi', limit: 10 })).toEqual([]);
      const seenRequests = sim.requests.filter((r) => r.path.startsWith('/v1/customers/')).length;
      expect(seenRequests).toBeLessThan(PEOPLE);

      // Rerun to the end: nothing was applied yet, so it queues a correction for everyone again.
      sim.faults.clear();
      const rerun = await cli('kajabi', 'reconcile', '--json');
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(JSON.parse(rerun.stdout)).toMatchObject({ purchases: PEOPLE + 20, transactions: PEOPLE + 50, people: PEOPLE, statusCorrections: PEOPLE + 20, kitCorrections: 0, queued: PEOPLE });
      const queued = killedJobs.length + PEOPLE;
      expect(await kajabiJobs()).toHaveLength(queued);

      // The service applies both runs' jobs, each person's in the order they were queued.
      relay = await startTestRelay({ destinations: { kajabi: destination as never }, queue: { pollIntervalMs: 20 } }, { dir: temp.dir, env: credentials });
      const jobs = await eventually(async () => {
        const all = await kajabiJobs();
        return all.every((j) => j.status === 'succeeded' || j.status === 'dead') ? all : undefined;
      }, 40_000, 'every kajabi job to settle');
      expect(jobs).toHaveLength(queued);
      expect(jobs.filter((j) => j.status !== 'succeeded')).toEqual([]);
      await relay.close();
      relay = undefined;

      const rows = await store.listKajabiEnrolments({ destination: 'kajabi', limit: 10_000 });
      expect(rows.map((r) => `${r.email} ${r.offerId} ${r.status} ${r.purchaseId}`).sort()).toEqual(expected);
      expect(new Set(rows.map((r) => `${r.email} ${r.offerId}`)).size).toBe(rows.length);
      expect(rows.every((r) => r.changedBy === 'reconcile')).toBe(true);

      // One status correction per enrolment (none → what Kajabi shows): the second job for the
      // same person found the row already so and logged nothing.
      const corrections = await store.listKajabiCorrections({ destination: 'kajabi', limit: 10_000 });
      const statusLog = corrections.filter((c) => c.what === 'status');
      expect(statusLog.map((c) => `${c.email} ${c.offerId} ${c.after}`).sort()).toEqual(expected.map((line) => line.split(' ').slice(0, 3).join(' ')));
      expect(statusLog.every((c) => c.before === null)).toBe(true);
      expect(corrections.filter((c) => c.what === 'purchaseId')).toHaveLength(PEOPLE + 20);
      expect(corrections.filter((c) => c.what !== 'status' && c.what !== 'purchaseId')).toEqual([]);
      // Both runs' jobs made corrections: the killed run's for its batches, the rerun's for the rest.
      const byRun = new Map<string, number>();
      for (const c of statusLog) byRun.set(String(c.runId), (byRun.get(String(c.runId)) ?? 0) + 1);
      expect(byRun.size).toBe(2);

      const third = await cli('kajabi', 'reconcile', '--json');
      expect(third.code, third.stderr).toBe(0);
      expect(JSON.parse(third.stdout)).toMatchObject({ people: PEOPLE, statusCorrections: 0, kitCorrections: 0, queued: 0, corrections: [] });
    } finally {
      await store.close();
    }
  });
});
