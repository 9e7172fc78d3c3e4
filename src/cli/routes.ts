/** `kitrelay routes`: every inbound URL with its event and scope, to register in Kit. */
import type { Command } from 'commander';
import { unscopedLegacyWarnings } from '../ingest/routes.js';
import { routeTableFor } from '../main.js';
import { printJson, printTable, withStore } from './context.js';

export function registerRoutes(program: Command): void {
  program
    .command('routes')
    .description('list the inbound webhook URLs (legacy routes and signed endpoints)')
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
        if (options.json) {
          printJson({ legacy, signed, warnings: unscopedLegacyWarnings(loaded.config) });
          return;
        }
        printTable([...legacy, ...signed].map(({ system, event, scope, url }) => ({ system, event, scope, url })), '(no routes: add rules or kit.legacy.routes to the config)');
        for (const warning of unscopedLegacyWarnings(loaded.config)) process.stderr.write(`warning: ${warning}\n`);
      });
    });
}
