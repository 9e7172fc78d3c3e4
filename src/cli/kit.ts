/**
 * `kitrelay kit …`: the Kit side. Register webhooks, take an inventory, backfill the subscriber
 * mirror, recover missed webhooks, log in with OAuth, run the Kit simulator on its own.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { runOAuthLogin, type KitClient } from '../kit/client/index.js';
import type { AnyStore } from '../store/index.js';
import { startKitSimulator } from '../kit/simulator/index.js';
import { createKitWebhooks } from '../kit/simulator/webhooks.js';
import { routeTableFor } from '../main.js';
import { compileRules } from '../rules/route.js';
import { runBackfill } from '../sync/backfill.js';
import { takeInventory } from '../sync/inventory.js';
import { openKitClient, tokenVault } from '../sync/kit-access.js';
import { reconcileWithKit, recoverSignedDeliveries } from '../sync/recover.js';
import { isChange, syncWebhooks, type WebhookAction } from '../sync/webhooks.js';
import { CliError, parseId, printJson, printTable, withStore } from './context.js';

function describeAction(action: WebhookAction): Record<string, string> {
  switch (action.kind) {
    case 'create_legacy':
    case 'keep_legacy':
      return { action: action.kind, system: 'legacy', event: action.route.spec.legacyName, scope: action.route.scopeParam ? `${action.route.scopeParam}=${action.route.scopeValue ?? ''}` : '', target: action.route.url.replace(/\/[^/]{20,}$/, '/…') };
    case 'delete_legacy':
      return { action: `delete_legacy (${action.reason})`, system: 'legacy', event: action.webhook.event.name, scope: '', target: action.webhook.target_url.replace(/\/[^/]{20,}$/, '/…') };
    case 'create_signed':
    case 'update_signed':
      return { action: action.kind, system: 'signed', event: action.events.join(','), scope: '', target: action.route.url };
    case 'keep_signed':
      return { action: action.kind, system: 'signed', event: action.endpoint.events.join(','), scope: '', target: action.endpoint.url };
    case 'delete_signed':
      return { action: `delete_signed (${action.reason})`, system: 'signed', event: action.endpoint.events.join(','), scope: '', target: action.endpoint.url };
    case 'leave':
      return { action: 'leave (not ours)', system: action.system, event: '', scope: '', target: action.url };
  }
}

/** Runs one command with the store and a Kit client, closing both whatever happens. */
function withKitClient<T>(command: Command, run: (client: KitClient, store: AnyStore, loaded: LoadedConfig) => Promise<T>): Promise<T> {
  return withStore(command, async (store, loaded) => {
    const client = await openKitClient(loaded.config, store, process.env);
    try {
      return await run(client, store, loaded);
    } finally {
      await client.close();
    }
  });
}

export function registerKit(program: Command): void {
  const kit = program.command('kit').description('the Kit side: webhooks, backfill, recovery, login, simulator');

  kit
    .command('webhooks')
    .description('Kit webhook registration')
    .command('sync')
    .description("make Kit's registered webhooks match the routes: create missing, remove kitrelay's unneeded, leave others")
    .option('--dry-run', 'show the plan, change nothing')
    .option('--json', 'print JSON')
    .action(async (flags: { dryRun?: boolean; json?: boolean }, command: Command) => {
      await withKitClient(command, async (client, store, loaded) => {
        const routes = await routeTableFor(store, loaded, process.env);
        const result = await syncWebhooks({ client, store, config: loaded.config, routes, publicBaseUrl: loaded.publicBaseUrl, now: () => Date.now(), isDryRun: Boolean(flags.dryRun) });
        if (flags.json) return printJson({ dryRun: Boolean(flags.dryRun), changed: result.changed, actions: result.actions.map(describeAction) });
        printTable(result.actions.map(describeAction), '(no webhooks needed and none registered)');
        process.stdout.write(`${flags.dryRun ? 'would change' : 'changed'} ${result.changed} webhook(s); ${result.actions.filter((a) => !isChange(a)).length} left as they are\n`);
      });
    });

  kit
    .command('inventory')
    .description('every webhook in the Kit account, on both systems: what it points at, duplicates, failing endpoints')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withKitClient(command, async (client, _store, loaded) => {
        const items = await takeInventory({ client, relayBaseUrl: loaded.publicBaseUrl });
        if (flags.json) return printJson(items);
        printTable(
          items.map((i) => ({
            system: i.system,
            id: i.id,
            events: i.events.join(',').slice(0, 60),
            scope: i.scope,
            owner: i.owner,
            url: i.url.replace(/\/[^/]{20,}$/, '/…'),
            duplicates: i.duplicateOf.join(','),
            'also served by': i.alsoServedBy.join(','),
            failing: i.failingDeliveries ?? '',
          })),
          '(no webhooks registered in this Kit account)',
        );
      });
    });

  kit
    .command('backfill')
    .description('pull every Kit subscriber (and their tags) into the subscriber mirror; resumes an interrupted run')
    .option('--restart', 'start over instead of resuming')
    .option('--page-size <n>', 'subscribers per page (up to 1000)')
    .option('--max-pages <n>', 'stop after this many pages (the checkpoint is kept)')
    .action(async (flags: { restart?: boolean; pageSize?: string; maxPages?: string }, command: Command) => {
      await withKitClient(command, async (client, store, loaded) => {
        const started = Date.now();
        const isTty = process.stderr.isTTY;
        const result = await runBackfill({
          client,
          store,
          now: () => Date.now(),
          pageSize: flags.pageSize ? parseId(flags.pageSize, '--page-size') : loaded.config.kit.sync.pageSize,
          isRestart: Boolean(flags.restart),
          ...(flags.maxPages ? { maxPages: parseId(flags.maxPages, '--max-pages') } : {}),
          onProgress: (p) => {
            const rate = Math.round(p.written / Math.max(1, (Date.now() - started) / 1000));
            const line = `backfill${p.isResumed ? ' (resumed)' : ''}: ${bar(p.written, p.total)} ${p.written}${p.total !== undefined ? `/${p.total}` : ''} subscribers, ${p.pages} pages, ${rate}/s`;
            process.stderr.write(isTty ? `\r${line}` : `${line}\n`);
          },
        });
        if (isTty) process.stderr.write('\n');
        process.stdout.write(`${result.isComplete ? 'backfill complete' : 'backfill stopped (run again to resume)'}: ${result.written} subscribers in ${result.pages} pages; mirror holds ${await store.countSubscribers()}\n`);
      });
    });

  kit
    .command('recover')
    .description('recover missed webhooks: signed deliveries from Kit\'s history; then reconcile tags and states with the mirror')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withKitClient(command, async (client, store, loaded) => {
        const routes = await routeTableFor(store, loaded, process.env);
        const deps = { client, store, config: loaded.config, rules: compileRules(loaded.config), routes, now: () => Date.now() };
        const signed = await recoverSignedDeliveries(deps);
        const legacy = await reconcileWithKit(deps);
        if (flags.json) return printJson({ signed, legacy });
        process.stdout.write(
          `signed: ${signed.deliveriesRead} failed/retrying deliveries read, ${signed.eventsAccepted} event(s) recovered, ${signed.eventsAlreadyHere} already here${signed.withoutEvents.length ? `, ${signed.withoutEvents.length} without events in Kit's history` : ''}\n` +
            `reconciliation: ${legacy.tagsChecked} tag(s) compared, ${legacy.tagAddedEmitted} tag_added and ${legacy.tagRemovedEmitted} tag_removed event(s) emitted; ${legacy.subscribersChecked} recently changed subscriber(s) compared, ${legacy.stateEventsEmitted} state event(s) emitted (source: reconciled)\n`,
        );
      });
    });

  kit
    .command('login')
    .description('authorise kitrelay with your Kit OAuth app (authorization code + PKCE through a local callback)')
    .option('--timeout <ms>', 'how long to wait for the browser', '300000')
    .action(async (flags: { timeout: string }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const oauth = loaded.config.kit.api.oauth;
        if (!oauth) throw new CliError('kit_not_configured', 'Set kit.api.oauth (clientId, …) in the config first', 1);
        const vault = tokenVault(loaded.config, store, process.env);
        if (!vault) throw new CliError('no_encryption_key', 'Set KITRELAY_ENCRYPTION_KEY (32 random bytes, hex or base64): tokens are stored encrypted', 1);
        const clientSecret = oauth.clientSecret ? process.env[oauth.clientSecret.$env] : undefined;
        const tokens = await runOAuthLogin({
          authorizeUrl: oauth.authorizeUrl,
          tokenUrl: oauth.tokenUrl,
          clientId: oauth.clientId,
          ...(clientSecret ? { clientSecret } : {}),
          redirectPort: oauth.redirectPort,
          timeoutMs: parseId(flags.timeout, '--timeout'),
          openUrl: (url) => {
            process.stderr.write(`Open this URL in a browser to authorise kitrelay:\n  ${url}\n`);
          },
        });
        await vault.save(tokens);
        process.stdout.write('Kit OAuth tokens stored (encrypted)\n');
      });
    });

  kit
    .command('simulator')
    .description('run the Kit simulator on its own (API + both webhook systems), for trying things out')
    .option('--port <port>', 'listen port', '8790')
    .option('--subscribers <n>', 'seeded subscribers (generated on demand: 1000000 is fine)', '1000')
    .action(async (flags: { port: string; subscribers: string }) => {
      const webhooks = createKitWebhooks();
      const sim = await startKitSimulator({ port: Number(flags.port), seed: { subscribers: parseId(flags.subscribers, '--subscribers') }, plugins: [webhooks.plugin] });
      process.stderr.write(`Kit simulator on ${sim.url} (API key: kit_sim_key). Ctrl-C to stop.\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await webhooks.close();
      await sim.close();
    });
}

function bar(done: number, total: number | undefined): string {
  if (!total) return '';
  const width = 20;
  const filled = Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}
