/**
 * Once per `vitest run`: the SQLite writer thread as one prebuilt file. Run from source, every
 * store opens its writer thread through tsx, which resolves and transpiles the writer's modules
 * anew in each thread (about 110 ms of a store's ~270 ms start on this machine), and most tests
 * open at least one store (the store and queue test files ran in 30 s with the bundle, 65 s
 * without). esbuild (the transpiler tsx itself uses, a devDependency) bundles
 * src/store/sqlite/writer.ts with the packages left external, and `import.meta.url` kept as the
 * writer's own so the migrations and the native module resolve as they do from source. Stores
 * opened by the tests, and kitrelay processes they start, find it in KITRELAY_WRITER_BUNDLE
 * (src/store/sqlite/store.ts). Watch mode builds none: the sources may change under it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type { TestProject } from 'vitest/node';

const ROOT = path.resolve(import.meta.dirname, '..');

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  if (project.config.watch) return undefined;
  const writer = path.join(ROOT, 'src/store/sqlite/writer.ts');
  const dir = path.join(ROOT, 'node_modules/.cache/kitrelay');
  mkdirSync(dir, { recursive: true });
  const outfile = path.join(dir, `sqlite-writer-${process.pid}.mjs`);
  await build({
    entryPoints: [writer],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(writer).href) },
    logLevel: 'error',
  });
  process.env.KITRELAY_WRITER_BUNDLE = outfile;
  return () => rmSync(outfile, { force: true });
}
