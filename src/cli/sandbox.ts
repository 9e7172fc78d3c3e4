/**
 * `kitrelay sandbox send <event>`: post a sample Kit webhook (the same bodies the tests use) to a
 * running relay, so a newcomer can watch an event flow through without a Kit account. The Slack
 * simulator's presses and slash commands are in sandbox-slack.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { createSecretResolver } from '../config/secrets.js';
import { canonicalEventType, legacyEventSpec } from '../kit/events.js';
import { jsonBody, legacyFixture, signedEnvelope, signedEvent, subscriberObject } from '../kit/fixtures.js';
import { signPayload } from '../kit/signature.js';
import { routeTableFor, sandboxOverlay, SANDBOX_SIMULATORS_SETTING, type SandboxSimulator } from '../main.js';
import type { KitClient } from '../kit/client/index.js';
import { findCredentials, openKitClient } from '../sync/kit-access.js';
import { CliError, parseId, printJson, withStore } from './context.js';
import { registerSandboxAirtable } from './sandbox-airtable.js';
import { registerSandboxKajabi } from './sandbox-kajabi.js';
import { registerSandboxSlack } from './sandbox-slack.js';

interface SendFlags {
  email: string;
  subscriberId: string;
  signed?: boolean;
  endpoint?: string;
  url?: string;
  json?: boolean;
}

/** A client for the sandbox's simulated Kit (never the real one: these commands change data). */
async function sandboxClient(store: Parameters<typeof findCredentials>[1], loaded: { config: Parameters<typeof findCredentials>[0] }) {
  const credentials = await findCredentials(loaded.config, store, process.env);
  if (credentials.kind !== 'sandbox') {
    throw new CliError('not_sandbox', credentials.kind === 'none' ? 'No sandbox is running: start one with `npm start` (no Kit credentials set)' : 'Kit credentials are configured: sandbox commands only act on the simulated Kit', 1);
  }
  return openKitClient(loaded.config, store, process.env, credentials);
}

async function findOrCreateTag(client: KitClient, name: string) {
  const tags = await client.listTags();
  const byId = /^\d+$/.test(name) ? tags.find((t) => t.id === Number(name)) : undefined;
  return byId ?? tags.find((t) => t.name.toLowerCase() === name.toLowerCase()) ?? (await client.createTag(name)).tag;
}

interface SandboxRecord {
  readonly pid: number;
  readonly relayUrl: string;
  readonly startedAt: number;
  readonly simulators: readonly SandboxSimulator[];
}

/** Whether a simulator answers its inspection route, within a second. */
async function isAnswering(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/_sim/state`, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

export function registerSandbox(program: Command): void {
  const sandbox = program.command('sandbox').description('try kitrelay without a Kit account');
  sandbox
    .command('status')
    .description('the simulators the running sandbox started (Kit, the webhook receiver, stand-ins such as Bonjoro), with their URLs')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async (store) => {
        const text = await store.getSetting(SANDBOX_SIMULATORS_SETTING);
        if (text === undefined) throw new CliError('not_sandbox', 'No sandbox has run on this data directory: start one with `npm start` (no credentials set)', 1);
        const record = JSON.parse(text) as SandboxRecord;
        // The stand-ins' configs and tokens are for commands acting for a destination, not for show.
        const simulators = await Promise.all(record.simulators.map(async ({ standIn: _standIn, ...sim }) => ({ ...sim, isRunning: await isAnswering(sim.url) })));
        if (flags.json) return printJson({ relayUrl: record.relayUrl, pid: record.pid, startedAt: new Date(record.startedAt).toISOString(), simulators });
        process.stdout.write(`sandbox started ${new Date(record.startedAt).toISOString()} (pid ${record.pid}), relay ${record.relayUrl}\n`);
        for (const sim of simulators) {
          process.stdout.write(`  ${sim.name.padEnd(10)} ${sim.url.padEnd(28)} ${sim.isRunning ? 'running' : 'not answering'}${sim.destination ? `  (stands in for destination ${sim.destination})` : ''}\n`);
        }
      });
    });
  sandbox
    .command('tag <email> <tag>')
    .description('in the sandbox\'s simulated Kit, tag a subscriber (created if new) by tag name or id: Kit then sends the webhook')
    .action(async (email: string, tagName: string, _flags: unknown, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const client = await sandboxClient(store, loaded);
        try {
          const tag = await findOrCreateTag(client, tagName);
          const subscriber = (await client.createSubscriber({ email })).subscriber;
          const result = await client.tagSubscriber(tag.id, subscriber.id);
          process.stdout.write(`${result.isNew ? 'tagged' : 'already tagged'}: ${subscriber.email_address} (subscriber ${subscriber.id}) with "${tag.name}" (tag ${tag.id})${result.isNew ? ' — Kit sends the webhook now; watch `kitrelay events list`' : ''}\n`);
        } finally {
          await client.close();
        }
      });
    });
  sandbox
    .command('untag <email> <tag>')
    .description('in the sandbox\'s simulated Kit, remove a tag from a subscriber')
    .action(async (email: string, tagName: string, _flags: unknown, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const client = await sandboxClient(store, loaded);
        try {
          const tag = await findOrCreateTag(client, tagName);
          await client.untagSubscriberByEmail(tag.id, email);
          process.stdout.write(`removed "${tag.name}" from ${email}\n`);
        } finally {
          await client.close();
        }
      });
    });
  sandbox
    .command('unsubscribe <email>')
    .description('in the sandbox\'s simulated Kit, unsubscribe a subscriber')
    .action(async (email: string, _flags: unknown, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const client = await sandboxClient(store, loaded);
        try {
          const subscriber = await client.findSubscriberByEmail(email);
          if (!subscriber) throw new CliError('not_found', `No subscriber ${email} in the sandbox's Kit`, 1);
          await client.unsubscribe(subscriber.id);
          process.stdout.write(`unsubscribed ${email} (subscriber ${subscriber.id})\n`);
        } finally {
          await client.close();
        }
      });
    });
  sandbox
    .command('purchase <email>')
    .description("a purchase by a subscriber (created in the sandbox's Kit if new): Kit's legacy product-purchase webhook for a product the routes name, posted to the running relay (the example config announces it in the Slack simulator's #sales)")
    .option('--product <id>', 'the product id (default: the first product route)')
    .option('--json', 'print JSON')
    .action(async (email: string, flags: { product?: string; json?: boolean }, command: Command) => {
      const request = await withStore(command, async (store, loaded) => {
        const client = await sandboxClient(store, loaded);
        let subscriberId: number;
        try {
          subscriberId = (await client.createSubscriber({ email })).subscriber.id;
        } finally {
          await client.close();
        }
        // The running sandbox's own address (it may listen elsewhere than the public URL).
        const running = await store.getSetting(SANDBOX_SIMULATORS_SETTING);
        const base = running ? (JSON.parse(running) as SandboxRecord).relayUrl : loaded.publicBaseUrl;
        const routes = await routeTableFor(store, loaded, process.env, base);
        const products = [...routes.legacy.values()].filter((r) => r.spec.legacyName === 'subscriber.product_purchase');
        const route = flags.product === undefined ? products[0] : products.find((r) => r.scopeValue === flags.product);
        if (!route) {
          const known = products.map((r) => r.scopeValue).join(', ') || 'none';
          throw new CliError('no_route', `No legacy product-purchase route${flags.product === undefined ? '' : ` for product ${flags.product}`} (products routed: ${known}): add a rule on subscriber.product_purchased or kit.legacy.routes`, 1);
        }
        const fixture = legacyFixture('subscriber.product_purchase', { id: subscriberId, email, ...(route.scopeValue !== undefined ? { scopeValue: route.scopeValue } : {}) });
        return { url: route.url, body: jsonBody(fixture.body), subscriberId, product: route.scopeValue };
      });
      let response: Response;
      try {
        response = await fetch(request.url, { method: 'POST', body: request.body, headers: { 'content-type': 'application/json' } });
      } catch (error) {
        throw new CliError('not_running', `Could not reach the relay: is \`npm start\` running? (${error instanceof Error ? error.message : String(error)})`, 1);
      }
      const answer: unknown = await response.json().catch(() => undefined);
      if (flags.json) return printJson({ status: response.status, subscriberId: request.subscriberId, product: request.product, answer });
      process.stdout.write(`${response.status}: ${email} (subscriber ${request.subscriberId}) bought product ${request.product ?? '?'} — watch \`kitrelay events list\` and \`kitrelay sandbox status\` (the Slack simulator's #sales)\n`);
      if (!response.ok) process.exitCode = 1;
    });
  registerSandboxSlack(sandbox);
  registerSandboxAirtable(sandbox);
  registerSandboxKajabi(sandbox);
  sandbox
    .command('send <event>')
    .description('post a sample Kit webhook to the running relay: a legacy event (tag_add, subscriber.tag_add…) or, with --signed, a Webhooks 2.0 event (subscriber.tag_added…)')
    .option('--email <email>', 'subscriber email', 'ada@example.com')
    .option('--subscriber-id <id>', 'Kit subscriber id', '1')
    .option('--signed', 'send a signed Webhooks 2.0 delivery instead of a legacy one')
    .option('--endpoint <name>', 'signed endpoint name (default: the first)')
    .option('--url <base>', 'relay base URL (default: the config\'s public URL)')
    .option('--json', 'print JSON')
    .action(async (event: string, flags: SendFlags, command: Command) => {
      const id = parseId(flags.subscriberId, '--subscriber-id');
      const request = await withStore(command, async (store, loaded): Promise<{ url: string; body: Buffer; headers: Record<string, string> }> => {
        const base = (flags.url ?? loaded.publicBaseUrl).replace(/\/+$/, '');
        if (!flags.signed) {
          const spec = legacyEventSpec(event) ?? legacyEventSpec(`subscriber.${event}`);
          const routes = await routeTableFor(store, loaded, process.env, base);
          const route = [...routes.legacy.values()].find((r) => r.spec === spec);
          if (!spec || !route) throw new CliError('no_route', `No legacy route for "${event}". Routes: ${[...routes.legacy.values()].map((r) => r.spec.slug).join(', ')}`, 1);
          const fixture = legacyFixture(spec.legacyName, { id, email: flags.email, ...(route.scopeValue !== undefined ? { scopeValue: route.scopeValue } : {}) });
          return { url: route.url, body: jsonBody(fixture.body), headers: {} };
        }
        const endpoint = flags.endpoint ? loaded.config.kit.signed.endpoints.find((e) => e.name === flags.endpoint) : loaded.config.kit.signed.endpoints[0];
        if (!endpoint) throw new CliError('no_endpoint', 'No signed endpoint in the config (kit.signed.endpoints)', 1);
        const secrets = createSecretResolver(process.env, await sandboxOverlay(store, loaded, process.env));
        const first = endpoint.secrets[0];
        if (!first) throw new CliError('no_secret', `Signed endpoint ${endpoint.name} has no secret`, 1);
        const type = canonicalEventType(event);
        const data = { subscriber: subscriberObject({ id, email: flags.email }), ...(type.includes('tag') ? { tag: { id: 7, name: 'VIP' } } : {}) };
        const body = jsonBody(signedEnvelope([signedEvent(type, data, { eventId: randomUUID(), created: new Date().toISOString().replace(/\.\d+Z$/, 'Z') })], { deliveryId: Date.now() }));
        const header = signPayload({ secrets: [secrets(first)], body, timestamp: Math.floor(Date.now() / 1000) });
        return { url: `${base}/hooks/kit/signed/${endpoint.name}`, body, headers: { 'x-kit-signature': header } };
      });
      let response: Response;
      try {
        response = await fetch(request.url, { method: 'POST', body: request.body, headers: { 'content-type': 'application/json', ...request.headers } });
      } catch (error) {
        throw new CliError('not_running', `Could not reach the relay at ${request.url.replace(/\/[^/]{20,}$/, '/…')}: is \`npm start\` running? (${error instanceof Error ? error.message : String(error)})`, 1);
      }
      const answer: unknown = await response.json().catch(() => undefined);
      if (flags.json) return printJson({ status: response.status, answer });
      process.stdout.write(`${response.status} ${JSON.stringify(answer)}\n`);
      if (!response.ok) process.exitCode = 1;
    });
}
