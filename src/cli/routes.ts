/** `kitrelay routes`: every inbound URL with its event and scope, to register in Kit. */
import type { Command } from 'commander';
import { unscopedLegacyWarnings } from '../ingest/routes.js';
import { routeTableFor } from '../main.js';
import { printJson, printTable, withStore } from './context.js';

export function registerRoutes(program: Command): void {
  program
    .command('routes')
    .description('list the inbound webhook URLs (Kit legacy routes, signed endpoints, and integrations\' inbound sources)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withStore(command, async (store, loaded) => {
        const table = await routeTableFor(store, loaded, process.env);
        const legacy = [...table.legacy.values()].map((route) => ({
          system: 'legacy',
          id: route.id,
          event: route.spec.legacyName,
          canonical: route.spec.canonical,
          scope: route.scopeParam ? `${route.scopeParam}=${route.scopeValue ?? ''}` : '',
          url: route.url,
          neededBy: route.neededBy.join(','),
        }));
        const signed = [...table.signed.values()].map((route) => ({ system: 'signed', id: route.name, event: '*', canonical: '*', scope: '', url: route.url, neededBy: 'config' }));
        const sources = [...table.sources.values()].map((route) => ({
          system: 'source',
          id: `${route.destinationName}/${route.source.name}`,
          event: `${route.integration.type}:*`,
          canonical: `${route.integration.type}:*`,
          scope: '',
          url: route.url,
          neededBy: route.destinationName,
        }));
        if (options.json) {
          printJson({ legacy, signed, sources, warnings: unscopedLegacyWarnings(loaded.config) });
          return;
        }
        printTable([...legacy, ...signed, ...sources].map(({ system, event, scope, url }) => ({ system, event, scope, url })), '(no routes: add rules or kit.legacy.routes to the config)');
        for (const warning of unscopedLegacyWarnings(loaded.config)) process.stderr.write(`warning: ${warning}\n`);
      });
    });
}
