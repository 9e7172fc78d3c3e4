/**
 * ARCHITECTURE.md's claim, checked: a module stands above what it imports, and nothing imports
 * upward. Floors, lowest first; a module may import its own floor's neighbours (ingest, queue and
 * sync share one) and any floor below. Tests and test helpers (contract suites, harnesses) stand
 * above everything and are not checked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '..', 'src');

/** Keep in step with the table in ARCHITECTURE.md. */
const FLOORS: Readonly<Record<string, number>> = {
  lib: 1,
  store: 2,
  simulators: 2,
  kit: 3,
  schedules: 3,
  integrations: 4,
  config: 5,
  rules: 6,
  ingest: 7,
  queue: 7,
  sync: 7,
  services: 8,
  main: 9,
  cli: 10,
  index: 10,
};

const isTestOnly = (file: string) => /\.test\.ts$|\.contract\.ts$|(^|\/)(harness|contract)\.ts$/.test(file);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function moduleOf(file: string): string {
  const [first = ''] = path.relative(SRC, file).split(path.sep);
  return first.replace(/\.ts$/, '');
}

describe('architecture', () => {
  it('has a floor for every module under src/', () => {
    const modules = new Set(sourceFiles(SRC).map(moduleOf));
    expect([...modules].filter((m) => FLOORS[m] === undefined)).toEqual([]);
  });

  it('imports nothing upward outside tests', () => {
    const upward: string[] = [];
    for (const file of sourceFiles(SRC)) {
      if (isTestOnly(path.relative(SRC, file))) continue;
      const from = moduleOf(file);
      for (const match of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = path.resolve(path.dirname(file), match[1] ?? '');
        if (!target.startsWith(SRC)) continue;
        const to = moduleOf(target.replace(/\.js$/, '.ts'));
        if (to === from) continue;
        if ((FLOORS[to] ?? 0) > (FLOORS[from] ?? 0)) upward.push(`${path.relative(SRC, file)} (${from}, floor ${FLOORS[from]}) imports ${to} (floor ${FLOORS[to]})`);
      }
    }
    expect(upward).toEqual([]);
  });
});
