/**
 * `kitrelay kajabi …`: Kajabi enrolments by hand.
 *
 * - `enrolments list [--status s] [--offer id]` and `enrolments show <email>`: the enrolment table,
 *   the one source of truth Kit's tags follow, with a person's corrections;
 * - `reconcile`: the nightly reconciliation now (its corrections are queued as jobs the service
 *   runs; each is logged as it is applied);
 * - `hooks sync|list`: the public-API hooks pointed at this relay's `hooks` source, registered
 *   idempotently (`POST /v1/hooks`).
 *
 * Each works whether or not the service runs, on the sandbox's simulator when one stands in.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { createSecretResolver } from '../config/secrets.js';
import { kajabiDestinationSchema, openKajabiClient, reconcile, syncHooks, type KajabiDestinationConfig, type ReconcileResult } from '../integrations/kajabi/index.js';
import { normaliseEmail } from '../integrations/kajabi/facts.js';
import { createHttpClient } from '../lib/http.js';
import { integrationScheduleDeps, routeTableFor, sandboxStandInFor } from '../main.js';
import { ENROLMENT_STATUSES, type EnrolmentStatus, type KajabiEnrolment } from '../store/kajabi-types.js';
import type { AnyStore } from '../store/index.js';
import { CliError, iso, printJson, printTable, withStore } from './context.js';

interface Target {
  readonly destinationName: string;
  readonly destination: KajabiDestinationConfig;
  readonly overlay?: Readonly<Record<string, string>>;
}

const kajabis = (loaded: LoadedConfig) => Object.entries(loaded.config.destinations).filter((entry): entry is [string, KajabiDestinationConfig] => entry[1].type === 'kajabi');

/** The kajabi destination (the only one, or `--destination`), as a running sandbox runs it. */
async function findKajabi(store: AnyStore, loaded: LoadedConfig, flag: string | undefined): Promise<Target> {
  const all = kajabis(loaded);
  const candidates = all.filter(([name]) => flag === undefined || name === flag);
  const [found] = candidates;
  if (!found) throw new CliError('no_destination', flag ? `No kajabi destination "${flag}" (kajabi destinations: ${all.map(([n]) => n).join(', ') || 'none'})` : 'No kajabi destination in the config', 2);
  if (candidates.length > 1) throw new CliError('ambiguous', `More than one kajabi destination (${candidates.map(([n]) => n).join(', ')}): pick one with --destination`, 2);
  const [destinationName, destination] = found;
  const standIn = await sandboxStandInFor(store, destinationName, process.env);
  const parsed = standIn ? kajabiDestinationSchema.safeParse(standIn.config) : undefined;
  return parsed?.success && standIn ? { destinationName, destination: parsed.data, overlay: standIn.overlay } : { destinationName, destination };
}

/** Runs `act` with the schedule deps and a client on the destination's key (the sandbox's simulator when it stands in). */
async function withKajabi<T>(store: AnyStore, loaded: LoadedConfig, target: Target, act: (deps: ReturnType<typeof integrationScheduleDeps<KajabiDestinationConfig>>, client: ReturnType<typeof openKajabiClient>['client']) => Promise<T>): Promise<T> {
  const secrets = createSecretResolver(process.env, target.overlay);
  try {
    secrets(target.destination.clientId);
    secrets(target.destination.clientSecret);
  } catch (error) {
    throw new CliError('no_credentials', `${error instanceof Error ? error.message : String(error)} (or start the sandbox, which stands a simulator in)`, 2);
  }
  const http = createHttpClient();
  try {
    const deps = integrationScheduleDeps({ config: loaded.config, store, secrets, http }, target.destinationName, target.destination);
    const opened = openKajabiClient(deps, { now: Date.now });
    try {
      return await act(deps, opened.client);
    } finally {
      await opened.close();
    }
  } finally {
    await http.close();
  }
}

function parseStatus(value: string | undefined): EnrolmentStatus | undefined {
  if (value === undefined) return undefined;
  if (!(ENROLMENT_STATUSES as readonly string[]).includes(value)) throw new CliError('bad_status', `--status must be one of ${ENROLMENT_STATUSES.join(', ')} (got "${value}")`, 2);
  return value as EnrolmentStatus;
}

function enrolmentRow(e: KajabiEnrolment): Record<string, string | number> {
  return {
    email: e.email,
    offer: e.offerTitle ? `${e.offerId} ${e.offerTitle}` : e.offerId,
    status: e.status,
    purchase: e.purchaseId ?? '-',
    transaction: e.transactionId ?? '-',
    kit: e.kitTagged === null ? 'never written' : e.kitTagged ? 'tagged' : 'untagged',
    changed: `${iso(e.updatedAt)} (${e.changedBy})`,
  };
}

export function registerKajabi(program: Command): void {
  const kajabi = program.command('kajabi').description('Kajabi: course enrolments as the source of truth for Kit tags');
  const enrolments = kajabi.command('enrolments').description('the enrolment table: what Kajabi says about each person and offer');

  enrolments
    .command('list')
    .description('enrolments, oldest first (filters: --status, --offer)')
    .option('--destination <name>', 'the kajabi destination (when more than one)')
    .option('--status <status>', `only this status (${ENROLMENT_STATUSES.join(', ')})`)
    .option('--offer <id>', 'only this offer')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(async (flags: { destination?: string; status?: string; offer?: string; limit: string; json?: boolean }, command: Command) => {
      const limit = Number(flags.limit);
      if (!Number.isSafeInteger(limit) || limit <= 0) throw new CliError('bad_limit', `--limit must be a positive whole number (got "${flags.limit}")`, 2);
      const status = parseStatus(flags.status);
      const { rows, counts } = await withStore(command, async (store, loaded) => {
        const target = await findKajabi(store, loaded, flags.destination);
        const found = await store.listKajabiEnrolments({ destination: target.destinationName, ...(status ? { status } : {}), ...(flags.offer ? { offerId: flags.offer } : {}), limit });
        return { rows: found, counts: await store.countKajabiEnrolments(target.destinationName) };
      });
      if (flags.json) return printJson({ enrolments: rows, counts });
      printTable(rows.map(enrolmentRow), '(no enrolments)');
      process.stdout.write(`\n${Object.entries(counts).map(([s, n]) => `${s} ${n}`).join(', ')}\n`);
    });

  enrolments
    .command('show <email>')
    .description("one person's enrolments, with every correction the reconciliation made to them")
    .option('--destination <name>', 'the kajabi destination (when more than one)')
    .option('--json', 'print JSON')
    .action(async (email: string, flags: { destination?: string; json?: boolean }, command: Command) => {
      const found = await withStore(command, async (store, loaded) => {
        const target = await findKajabi(store, loaded, flags.destination);
        const address = normaliseEmail(email);
        return { enrolments: await store.getKajabiEnrolments(target.destinationName, address), corrections: await store.listKajabiCorrections({ destination: target.destinationName, email: address, limit: 50 }) };
      });
      if (flags.json) return printJson(found);
      if (found.enrolments.length === 0) {
        process.stdout.write(`No enrolments for ${email}\n`);
        process.exitCode = 1;
        return;
      }
      for (const e of found.enrolments) {
        process.stdout.write(
          [
            `offer ${e.offerId}${e.offerTitle ? ` (${e.offerTitle})` : ''}: ${e.status}`,
            `  purchase ${e.purchaseId ?? '-'}, transaction ${e.transactionId ?? '-'}${e.refundTransactionId ? `, refund ${e.refundTransactionId}` : ''}${e.amountInCents !== null ? `, ${(e.amountInCents / 100).toFixed(2)}` : ''}`,
            `  purchased ${iso(e.purchasedAt)}, settled ${iso(e.settledAt)}${e.endedAt !== null ? `, ended ${iso(e.endedAt)} (${e.endReason ?? '?'})` : ''}`,
            `  Kajabi contact ${e.contactId ?? '-'}, customer ${e.customerId ?? '-'}; Kit subscriber ${e.kitSubscriberId ?? '-'}: ${e.kitTagged === null ? 'tag never written' : e.kitTagged ? 'tagged' : 'untagged'}${e.isStopApplied ? ', stop action applied' : ''} (${iso(e.kitSyncedAt)})`,
            `  last changed ${iso(e.updatedAt)} by ${e.changedBy}`,
          ].join('\n') + '\n',
        );
      }
      if (found.corrections.length > 0) {
        process.stdout.write('\ncorrections, newest first:\n');
        for (const c of found.corrections) process.stdout.write(`  ${iso(c.at)} offer ${c.offerId} ${c.what}: ${c.before ?? 'none'} → ${c.after ?? 'none'} — ${c.why}${c.runId ? ` [${c.runId}]` : ''}\n`);
      }
    });

  kajabi
    .command('reconcile')
    .description("compare every Kajabi purchase and transaction with the enrolment table and Kit's tags now; corrections are queued (the service applies and logs each)")
    .option('--destination <name>', 'the kajabi destination (when more than one)')
    .option('--json', 'print JSON')
    .action(async (flags: { destination?: string; json?: boolean }, command: Command) => {
      const result = await withStore(command, async (store, loaded) => {
        const target = await findKajabi(store, loaded, flags.destination);
        return withKajabi(store, loaded, target, (deps, client) => reconcile(deps, client, { now: Date.now, runId: `cli-${new Date().toISOString()}`, progress: (message) => process.stderr.write(`${message}\n`) }));
      });
      if (flags.json) return printJson(result);
      printReconcile(result);
    });

  const hooks = kajabi.command('hooks').description("Kajabi's public-API hooks, pointed at this relay");
  hooks
    .command('sync')
    .description("register the hooks (config `hooks.events`) at this relay's `hooks` source URL, idempotently; hooks at an old URL of it are replaced")
    .option('--destination <name>', 'the kajabi destination (when more than one)')
    .action(async (flags: { destination?: string }, command: Command) => {
      const result = await withStore(command, async (store, loaded) => {
        const target = await findKajabi(store, loaded, flags.destination);
        const routes = await routeTableFor(store, loaded, process.env);
        const route = routes.sources.get(`${target.destinationName}/hooks`);
        if (!route) throw new CliError('no_route', `${target.destinationName} has no hooks source`, 2);
        if (!target.overlay && !route.url.startsWith('https://')) process.stderr.write(`warning: Kajabi will post to ${route.url.replace(/\/[^/]+$/, '/…')}: set server.publicBaseUrl (or KITRELAY_PUBLIC_URL) to the https URL Kajabi can reach\n`);
        return withKajabi(store, loaded, target, async (_deps, client) => syncHooks(client, { siteId: await client.siteId(), targetUrl: route.url, events: target.destination.hooks.events }));
      });
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });
  hooks
    .command('list')
    .description("the site's hooks (their URLs' tokens hidden)")
    .option('--destination <name>', 'the kajabi destination (when more than one)')
    .option('--json', 'print JSON')
    .action(async (flags: { destination?: string; json?: boolean }, command: Command) => {
      const list = await withStore(command, async (store, loaded) => {
        const target = await findKajabi(store, loaded, flags.destination);
        return withKajabi(store, loaded, target, (_deps, client) => client.listHooks());
      });
      const shown = list.map((h) => ({ id: h.id, event: h.event, target: h.targetUrl.replace(/\/[^/]+$/, '/…'), resource: h.resourceId ?? '*' }));
      if (flags.json) return printJson(shown);
      printTable(shown, '(no hooks)');
    });
}

function printReconcile(result: ReconcileResult): void {
  process.stdout.write(`run ${result.runId}: ${result.purchases} purchases and ${result.transactions} transactions read; ${result.people} people\n`);
  process.stdout.write(`${result.statusCorrections} enrolment corrections and ${result.kitCorrections} Kit tag corrections queued for ${result.queued} people\n`);
  for (const line of result.corrections) process.stdout.write(`  ${line}\n`);
  if (result.kitPull && 'error' in result.kitPull) process.stdout.write(`note: Kit's changes could not be pulled (${String(result.kitPull['error'])}): tags were compared with the mirror as webhooks keep it\n`);
  if (result.queued > 0) process.stdout.write('The service applies them in order and logs each correction: `kitrelay kajabi enrolments show <email>`.\n');
}
