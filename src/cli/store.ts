/** `kitrelay store copy --to postgres://…`: a SQLite deployment's data into PostgreSQL (src/store/copy.ts). */
import type { Command } from 'commander';
import { redactUrl } from '../config/load.js';
import { copyStore } from '../store/copy.js';
import { CliError, load, parseId, printJson, printTable } from './context.js';

interface CopyFlags {
  to: string;
  schema?: string;
  batch?: string;
  json?: boolean;
}

export function registerStore(program: Command): void {
  const store = program.command('store').description('the store itself: move a SQLite deployment to PostgreSQL');
  store
    .command('copy')
    .description(
      'copy the SQLite store (--db / --data-dir) into PostgreSQL: migrates the target, copies every table with its ids in batches, ' +
        'resumes where a stopped copy ended, then compares row counts (exit 1 on a mismatch). Stop the service first: ' +
        'rows it changes during the copy are not copied again.',
    )
    .requiredOption('--to <url>', 'the PostgreSQL database: postgres://user@host:port/database')
    .option('--schema <name>', 'the schema to copy into (default: store.schema from the config, public)')
    .option('--batch <n>', 'rows per batch, each committed with its checkpoint (default 1000)')
    .option('--json', 'print JSON')
    .action(async (flags: CopyFlags, command: Command) => {
      if (!/^postgres(ql)?:\/\//.test(flags.to)) throw new CliError('bad_option', `--to takes a postgres://… URL, not "${flags.to}"`, 2);
      const loaded = await load(command);
      const schema = flags.schema ?? loaded.config.store.schema;
      const result = await copyStore({
        sqlitePath: loaded.databasePath,
        url: flags.to,
        schema,
        ...(flags.batch === undefined ? {} : { batchSize: parseId(flags.batch, '--batch') }),
      });
      if (result.kind === 'refused') throw new CliError(result.reason, result.message, result.reason === 'no_source' ? 2 : 1);
      if (flags.json) printJson({ from: loaded.databasePath, to: redactUrl(flags.to), schema: schema, ...result });
      else {
        printTable(result.tables.map((t) => ({ table: t.table, sqlite: t.source, postgres: t.target, copied: t.copied, ok: t.source === t.target ? 'yes' : 'NO' })));
        const copied = result.tables.reduce((sum, t) => sum + t.copied, 0);
        process.stdout.write(`copied ${copied} row(s) of store ${result.storeId} from ${loaded.databasePath} to ${redactUrl(flags.to)} (schema ${schema}) in ${result.batches} batch(es)\n`);
      }
      if (result.mismatches.length > 0) {
        const names = result.mismatches.map((t) => `${t.table} (SQLite ${t.source}, PostgreSQL ${t.target})`).join(', ');
        throw new CliError('count_mismatch', `row counts differ: ${names}`, 1);
      }
    });
}
