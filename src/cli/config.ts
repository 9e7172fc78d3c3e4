/** `kitrelay config check`: load and validate the config; print what it means. */
import type { Command } from 'commander';
import { requiredEnvMissing } from '../config/load.js';
import { unscopedLegacyWarnings } from '../ingest/routes.js';
import { load, printJson } from './context.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with the config file');
  config
    .command('check')
    .description('validate the config: errors name the field and the fix')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const loaded = await load(command);
      const warnings = [...loaded.warnings, ...unscopedLegacyWarnings(loaded.config)];
      const missing = requiredEnvMissing(loaded, process.env);
      const summary = {
        ok: true,
        source: loaded.source,
        database: loaded.databaseLabel,
        publicBaseUrl: loaded.publicBaseUrl,
        rules: loaded.config.rules.map((rule) => rule.id),
        destinations: Object.keys(loaded.config.destinations),
        signedEndpoints: loaded.config.kit.signed.endpoints.map((endpoint) => endpoint.name),
        missingEnv: missing,
        warnings,
      };
      if (options.json) return printJson(summary);
      const out = [
        `config OK: ${loaded.source}`,
        `  ${summary.rules.length} rule(s), ${summary.destinations.length} destination(s), ${summary.signedEndpoints.length} signed endpoint(s)`,
        `  database ${loaded.databaseLabel}; public URL ${loaded.publicBaseUrl}`,
        ...missing.map((name) => `  not set: ${name} (the sandbox stands in a simulator; set it for the real service)`),
        ...warnings.map((warning) => `  warning: ${warning}`),
      ];
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
