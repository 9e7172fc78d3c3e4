/**
 * `kitrelay airtable webhooks …`: each two-way sync's Airtable webhook (integrations/airtable/
 * webhook-setup.ts). `sync [sync]` makes it, or refreshes it (7 more days), pinging the
 * destination's `webhook` source URL on the public base URL (`server.publicBaseUrl`); a webhook
 * of kitrelay's with another URL or table is replaced. `status` shows each one as kitrelay keeps
 * it and as Airtable lists it; `remove <sync>` deletes it (changes are then polled). The MAC
 * secret is never printed.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { createSecretResolver } from '../config/secrets.js';
import { openClient, type AirtableDestinationConfig } from '../integrations/airtable/index.js';
import { loadPoll } from '../integrations/airtable/poll.js';
import { WEBHOOK_SOURCE } from '../integrations/airtable/source.js';
import { removeWebhook, syncWebhook, webhookStatus, type WebhookStatus, type WebhookSyncResult } from '../integrations/airtable/webhooks.js';
import { createHttpClient, type HttpClient } from '../lib/http.js';
import { integrationScheduleDeps, routeTableFor } from '../main.js';
import type { AnyStore } from '../store/index.js';
import { findSync, type Target } from './airtable-target.js';
import { CliError, iso, printJson, printTable, withStore } from './context.js';


const airtables = (loaded: LoadedConfig) => Object.entries(loaded.config.destinations).filter((entry): entry is [string, AirtableDestinationConfig] => entry[1].type === 'airtable');

export function registerAirtableWebhooks(airtable: Command): void {
  const webhooks = airtable.command('webhooks').description("each two-way sync's Airtable webhook: how edits made in Airtable are seen within seconds");

  webhooks
    .command('sync [sync]')
    .description("make or refresh the sync's webhook (every sync with inbound.mode 'webhook' when none is named)")
    .option('--destination <name>', 'the airtable destination (when more than one has this sync)')
    .option('--json', 'print JSON')
    .action(async (sync: string | undefined, flags: { destination?: string; json?: boolean }, command: Command) => {
      const results = await withStore(command, async (store, loaded) => {
        const names = sync !== undefined ? [sync] : airtables(loaded).filter(([name]) => flags.destination === undefined || name === flags.destination).flatMap(([, d]) => Object.entries(d.syncs).filter(([, s]) => s.inbound.mode === 'webhook').map(([n]) => n));
        if (names.length === 0) throw new CliError('no_sync', "No Airtable sync with inbound.mode 'webhook' in the config", 2);
        const out: { sync: string; result: WebhookSyncResult }[] = [];
        for (const name of names) {
          const target = await findSync(store, loaded, name, flags.destination);
          const url = await notificationUrl(store, loaded, target);
          out.push({ sync: `${target.destinationName}/${name}`, result: await withClient(store, loaded, target, (deps) => syncWebhook(deps(name), { notificationUrl: url })) });
        }
        return out;
      });
      if (flags.json) printJson(results);
      else for (const { sync: name, result } of results) process.stdout.write(`${syncLine(name, result)}\n`);
      if (results.some((r) => !r.result.ok)) process.exitCode = 1;
    });

  webhooks
    .command('status')
    .description("each two-way sync's webhook: as kitrelay keeps it and as Airtable lists it, and the poll cursor")
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const rows = await withStore(command, async (store, loaded) => {
        const out: (WebhookStatus & { sync: string; mode: string; pollSince?: number })[] = [];
        for (const [destinationName, destination] of airtables(loaded)) {
          for (const syncName of Object.keys(destination.syncs)) {
            const target = await findSync(store, loaded, syncName, destinationName);
            const sync = target.destination.syncs[syncName];
            const status = await withClient(store, loaded, target, (deps) => webhookStatus(deps(syncName)), () => webhookStatus({ store, destinationName, syncName }));
            const poll = await loadPoll(store, destinationName, syncName);
            out.push({ sync: `${destinationName}/${syncName}`, mode: sync?.inbound.mode ?? '?', ...status, ...(poll ? { pollSince: poll.since } : {}) });
          }
        }
        return out;
      });
      if (flags.json) return printJson(rows);
      printTable(rows.map(statusRow), '(no Airtable syncs)');
    });

  webhooks
    .command('remove <sync>')
    .description("delete kitrelay's webhook of the sync (edits made in Airtable are then polled)")
    .option('--destination <name>', 'the airtable destination (when more than one has this sync)')
    .action(async (sync: string, flags: { destination?: string }, command: Command) => {
      const result = await withStore(command, async (store, loaded) => {
        const target = await findSync(store, loaded, sync, flags.destination);
        return withClient(store, loaded, target, (deps) => removeWebhook(deps(sync)));
      });
      if (!result.ok) throw new CliError('remove_failed', result.error, 1);
      process.stdout.write(result.removed ? `webhook ${result.removed} of ${sync} deleted\n` : `${sync} has no webhook of kitrelay's: nothing to delete\n`);
    });
}

/** The destination's `webhook` source URL, which Airtable pings. */
async function notificationUrl(store: AnyStore, loaded: LoadedConfig, target: Target): Promise<string> {
  const routes = await routeTableFor(store, loaded, process.env);
  const route = routes.sources.get(`${target.destinationName}/${WEBHOOK_SOURCE}`);
  if (!route) throw new CliError('no_route', `${target.destinationName} has no webhook source: set inbound.mode to 'webhook' on one of its syncs`, 2);
  if (!target.overlay && !route.url.startsWith('https://')) process.stderr.write(`warning: Airtable will ping ${route.url.replace(/\/[^/]+$/, '/…')}: set server.publicBaseUrl (or KITRELAY_PUBLIC_URL) to the https URL Airtable can reach\n`);
  return route.url;
}

type DepsFor = (syncName: string) => Parameters<typeof syncWebhook>[0];

/** Runs `act` with a client on the destination's token (the sandbox's simulator when it stands in); `orElse` when there is no token. */
async function withClient<T>(store: AnyStore, loaded: LoadedConfig, target: Target, act: (deps: DepsFor) => Promise<T>, orElse?: () => Promise<T>): Promise<T> {
  const secrets = createSecretResolver(process.env, target.overlay);
  try {
    secrets(target.destination.token);
  } catch (error) {
    if (orElse) return orElse();
    throw new CliError('no_token', `${error instanceof Error ? error.message : String(error)} (or start the sandbox, which stands a simulator in)`, 2);
  }
  const http: HttpClient = createHttpClient();
  try {
    const deps = integrationScheduleDeps({ config: loaded.config, store, secrets, http }, target.destinationName, target.destination);
    const opened = openClient(deps, { now: Date.now, warn: (message) => process.stderr.write(`warning: ${message}\n`) });
    const { client } = opened;
    try {
      return await act((syncName) => {
        const sync = target.destination.syncs[syncName];
        if (!sync) throw new CliError('no_sync', `No sync "${syncName}" on ${target.destinationName}`, 2);
        return { store, client, destinationName: target.destinationName, syncName, sync, now: Date.now };
      });
    } finally {
      await opened.close();
    }
  } finally {
    await http.close();
  }
}

function syncLine(sync: string, result: WebhookSyncResult): string {
  if (!result.ok) return `${sync}: FAILED — ${result.error}`;
  const { webhook } = result;
  const replaced = result.replaced && result.replaced !== webhook.webhookId ? ` (replacing ${result.replaced})` : '';
  return `${sync}: webhook ${webhook.webhookId} ${result.action}${replaced}, expires ${iso(webhook.expirationTime)}, pings ${webhook.notificationUrl}`;
}

function statusRow(row: WebhookStatus & { sync: string; mode: string; pollSince?: number }): Record<string, string> {
  const { local, remote } = row;
  const airtable = remote === undefined ? (row.error ? `unreadable: ${row.error}` : '') : remote === null ? 'GONE from the base' : `${remote.isHookEnabled ? 'enabled' : 'EXPIRED'}${remote.lastNotification ? `, last ping ${remote.lastNotification.success ? 'ok' : `failed: ${remote.lastNotification.error ?? '?'}`} ${iso(remote.lastNotification.at)}` : ''}`;
  return {
    sync: row.sync,
    mode: row.mode,
    webhook: local?.webhookId ?? '(none)',
    expires: local ? iso(local.expirationTime) : '',
    cursor: local ? String(local.cursor) : '',
    airtable,
    failing: local?.failingSince !== undefined ? `since ${iso(local.failingSince)}: ${local.lastError ?? ''}` : '',
    'polled to': row.pollSince !== undefined ? iso(row.pollSince) : '',
  };
}
