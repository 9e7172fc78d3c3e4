/**
 * `kitrelay meta …`: Meta Custom Audiences by hand. `audiences create` makes an audience at Meta
 * and prints the id to put in the config; `sync` runs one audience's sync now (the same run its
 * schedule makes), with a worker of its own for the uploads, so it works whether or not the
 * service is running (both may send: jobs are leased); `runs` lists an audience's runs.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { createSecretResolver } from '../config/secrets.js';
import { IntegrationRegistry } from '../integrations/index.js';
import { audienceKey, graphClient, metaDestinationSchema, runAudienceRemoval, runAudienceSync, type MetaDestinationConfig } from '../integrations/meta/index.js';
import { hashKey } from '../integrations/meta/normalize.js';
import type { ScheduleDeps } from '../integrations/types.js';
import { integrationScheduleDeps, openKitPull, sandboxStandInFor } from '../main.js';
import { findCredentials } from '../sync/kit-access.js';
import { systemClock } from '../lib/clock.js';
import { createHttpClient } from '../lib/http.js';
import { createLog } from '../lib/log.js';
import { userAgent } from '../lib/version.js';
import { createWorker } from '../queue/index.js';
import { sharedRateBuckets, type AnyStore } from '../store/index.js';
import { CliError, printJson, withStore } from './context.js';

interface Target {
  readonly destinationName: string;
  readonly destination: MetaDestinationConfig;
  /** The sandbox's simulator token, when a running sandbox stands in for the destination. */
  readonly overlay?: Readonly<Record<string, string>>;
}

/**
 * The meta destination holding this audience (the only one, or `--destination`); in a sandbox
 * standing a Meta simulator in for it (no token set), the destination as the sandbox runs it.
 */
async function findAudience(store: AnyStore, loaded: LoadedConfig, audience: string, destinationFlag: string | undefined): Promise<Target> {
  const target = findConfigured(loaded, audience, destinationFlag);
  const standIn = await sandboxStandInFor(store, target.destinationName, process.env);
  if (!standIn) return target;
  const parsed = metaDestinationSchema.safeParse(standIn.config);
  return parsed.success ? { destinationName: target.destinationName, destination: parsed.data, overlay: standIn.overlay } : target;
}

function findConfigured(loaded: LoadedConfig, audience: string, destinationFlag: string | undefined): Target {
  const metas = Object.entries(loaded.config.destinations).filter((entry): entry is [string, MetaDestinationConfig] => entry[1].type === 'meta');
  const candidates = metas.filter(([name, destination]) => (destinationFlag === undefined || name === destinationFlag) && Object.hasOwn(destination.audiences, audience));
  const [found] = candidates;
  if (!found) {
    const known = metas.flatMap(([name, destination]) => Object.keys(destination.audiences).map((a) => `${name}/${a}`));
    throw new CliError('no_audience', `No Meta audience "${audience}"${destinationFlag ? ` on ${destinationFlag}` : ''} in the config (audiences: ${known.join(', ') || 'none'})`, 2);
  }
  if (candidates.length > 1) throw new CliError('ambiguous', `Audience "${audience}" is on ${candidates.map(([n]) => n).join(' and ')}: pick one with --destination`, 2);
  return { destinationName: found[0], destination: found[1] };
}

export function registerMeta(program: Command): void {
  const meta = program.command('meta').description('Meta (Facebook) Custom Audiences');
  const audiences = meta.command('audiences').description('audiences at Meta');
  audiences
    .command('create <audience>')
    .description('create the audience at Meta (a customer-file audience) and print the id to put in the config')
    .option('--destination <name>', 'the meta destination (when more than one has this audience)')
    .action(async (audience: string, flags: { destination?: string }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const { destinationName, destination, overlay } = await findAudience(store, loaded, audience, flags.destination);
        const config = destination.audiences[audience]!;
        if (config.audienceId) throw new CliError('exists', `Audience ${audience} already has an id (${config.audienceId})${overlay ? ' in the sandbox' : ' in the config'}`, 2);
        const http = createHttpClient();
        try {
          const secrets = createSecretResolver(process.env, overlay);
          const graph = graphClient((request) => http.send({ timeoutMs: destination.timeoutMs, ...request }), { graphUrl: destination.graphUrl, apiVersion: destination.apiVersion, accessToken: secrets(destination.accessToken), userAgent: userAgent() });
          const created = await graph.createAudience(destination.adAccountId, { name: config.name ?? audience, ...(config.description ? { description: config.description } : {}) });
          if (created.outcome.kind !== 'ok' || !created.body) throw new CliError('meta_error', `Meta refused: ${'message' in created.outcome ? created.outcome.message : created.outcome.kind}`, 1);
          process.stdout.write(`created audience ${config.name ?? audience} at Meta: id ${created.body.id}\nput it in the config: destinations.${destinationName}.audiences.${audience}.audienceId = '${created.body.id}'\n`);
        } finally {
          await http.close();
        }
      });
    });

  meta
    .command('sync <audience>')
    .description('sync one audience now: refresh from the subscriber mirror, send the difference, wait for Meta to take it')
    .option('--destination <name>', 'the meta destination (when more than one has this audience)')
    .option('--dry-run', 'print what a run would add and remove (counts, samples by subscriber id and hash); send nothing')
    .option('--replace', 'replace the whole audience in one session (/usersreplace)')
    .option('--confirm-removals', 'go ahead with removals the guard holds (more than maxRemovalShare, or emptying the audience)')
    .option('--json', 'print JSON')
    .action(async (audience: string, flags: { destination?: string; dryRun?: boolean; replace?: boolean; confirmRemovals?: boolean; json?: boolean }, command: Command) => {
      const result = await withStore(command, (store, loaded) => syncNow(store, loaded, audience, flags));
      if (flags.json) return printJson(result);
      const stats = result.stats as Record<string, unknown>;
      const n = (field: string): number => (typeof stats[field] === 'number' ? stats[field] : 0);
      process.stdout.write(`run ${result.run.id} (${result.run.kind}): ${result.status}${result.detail ? ` — ${result.detail}` : ''}\n`);
      process.stdout.write(`expected ${n('expected')}, to add ${n('toAdd')}, to remove ${n('toRemove')}; sent ${n('rowsSent')} rows in ${n('batches')} batches${typeof stats.matchRate === 'number' ? `; match rate ${(stats.matchRate * 100).toFixed(1)}%` : ''}\n`);
      for (const [label, field] of [['would add', 'addSamples'], ['would remove', 'removeSamples']] as const) {
        for (const sample of (stats[field] as readonly { subscriberId: number; matchKey: string | null }[] | undefined) ?? []) process.stdout.write(`  ${label}: subscriber ${sample.subscriberId} (${sample.matchKey ?? 'no key'})\n`);
      }
      if (result.status !== 'succeeded') process.exitCode = 1;
    });

  meta
    .command('runs <audience>')
    .description("an audience's runs, newest first, with their numbers")
    .option('--destination <name>', 'the meta destination')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print JSON')
    .action(async (audience: string, flags: { destination?: string; limit: string; json?: boolean }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const { destinationName } = findConfigured(loaded, audience, flags.destination);
        const runs = await store.listAudienceRuns({ audience: audienceKey(destinationName, audience), limit: Number(flags.limit) || 20 });
        if (flags.json) return printJson(runs);
        if (runs.length === 0) return void process.stdout.write('(none)\n');
        for (const run of runs) process.stdout.write(`${run.id}  ${new Date(run.startedAt).toISOString()}  ${run.kind}  ${run.status}  ${JSON.stringify(run.stats)}${run.detail ? `  ${run.detail}` : ''}\n`);
      });
    });
}

/**
 * Runs `run` with what an audience run needs in this process: a worker of its own for the
 * destination's uploads (so it works whether or not the service runs), the poller commit, and a
 * progress line on stderr.
 */
export async function withMetaRunner<T>(
  store: AnyStore,
  loaded: LoadedConfig,
  target: Target,
  run: (deps: ScheduleDeps<MetaDestinationConfig>, progress: (report: { done?: number; total?: number; message: string }) => void) => Promise<T>,
  options: { readonly withWorker?: boolean; readonly withKit?: boolean } = {},
): Promise<T> {
  const { destinationName, destination } = target;
  const { config } = loaded;
  const secrets = createSecretResolver(process.env, target.overlay);
  const http = createHttpClient();
  const log = createLog({ level: 'warn', destination: process.stderr });
  const worker = options.withWorker === false ? undefined : createWorker({ store, clock: systemClock, log, integrations: new IntegrationRegistry(), http, destinations: { [destinationName]: destination }, queue: config.queue, secrets, ...sharedRateBuckets(store) });
  worker?.start();
  const isTty = process.stderr.isTTY;
  // Kit's side of the run, as the service's scheduled run has it: the sandbox's Kit simulator, or
  // the configured credentials; without either, the mirror as webhooks keep it.
  const credentials = await findCredentials(config, store, process.env);
  const kit = options.withKit === false ? undefined : await openKitPull(undefined, credentials, { config, store, env: process.env, clock: systemClock }).catch(() => undefined);
  const deps = integrationScheduleDeps({ config, store, secrets, http, ...(kit ? { kit: kit.pull } : {}), ...(worker ? { onJobs: () => worker.nudge() } : {}) }, destinationName, destination);
  const progress = (report: { done?: number; total?: number; message: string }) => {
    const counts = report.total !== undefined ? ` [${report.done ?? 0}/${report.total}]` : report.done !== undefined ? ` [${report.done}]` : '';
    process.stderr.write(isTty ? `\r\x1b[K${report.message}${counts}` : `${report.message}${counts}\n`);
  };
  try {
    return await run(deps, progress);
  } finally {
    if (isTty) process.stderr.write('\n');
    await worker?.stop({ graceMs: 5000 });
    await kit?.close();
    await http.close();
  }
}

async function syncNow(store: AnyStore, loaded: LoadedConfig, audience: string, flags: { destination?: string; dryRun?: boolean; replace?: boolean; confirmRemovals?: boolean }) {
  const target = await findAudience(store, loaded, audience, flags.destination);
  return withMetaRunner(
    store,
    loaded,
    target,
    (deps, progress) =>
      runAudienceSync(deps, audience, {
        now: Date.now,
        progress,
        ...(flags.dryRun ? { dryRun: true } : {}),
        ...(flags.replace ? { replace: true } : {}),
        ...(flags.confirmRemovals ? { confirmRemovals: true } : {}),
      }),
    { withWorker: !flags.dryRun },
  );
}

/**
 * Erasure's part at Meta: every audience that holds this address (by its hash) removes the person
 * now, before the store forgets them. Answers what was removed where; audiences no longer in the
 * config are reported, not touched.
 */
export async function removeFromAudiences(store: AnyStore, loaded: LoadedConfig, email: string): Promise<{ readonly removed: readonly string[]; readonly skipped: readonly string[] }> {
  const hashed = hashKey('EMAIL', email);
  if (!hashed.ok) return { removed: [], skipped: [] };
  const memberships = (await store.findAudienceMembers(hashed.value)).filter((m) => m.sentRow !== null);
  const removed: string[] = [];
  const skipped: string[] = [];
  const byAudience = new Map<string, (typeof memberships)[number][]>();
  for (const m of memberships) byAudience.set(m.audience, [...(byAudience.get(m.audience) ?? []), m]);
  for (const [key, members] of byAudience) {
    const [destinationName = '', audience = ''] = key.split('/');
    const destination = loaded.config.destinations[destinationName];
    if (destination?.type !== 'meta' || !Object.hasOwn(destination.audiences, audience)) {
      skipped.push(`${key} (not in the config any more)`);
      continue;
    }
    const target = await findAudience(store, loaded, audience, destinationName);
    const result = await withMetaRunner(store, loaded, target, (deps, progress) => runAudienceRemoval(deps, audience, members, `erase: ${members.length} member(s)`, { now: Date.now, progress }), { withKit: false });
    if (result.status !== 'succeeded') throw new CliError('meta_error', `Meta did not take the removal from ${key} (run ${result.run.id}): nothing was erased; see \`kitrelay meta runs ${audience}\``, 1);
    removed.push(key);
  }
  return { removed, skipped };
}
