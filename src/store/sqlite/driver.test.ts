import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_DRIVER } from './driver.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('sqlite driver', () => {
  it('loads better-sqlite3 13 on Node 22 and later, 12 on Node 20', () => {
    const version = createRequire(import.meta.url)(`${SQLITE_DRIVER}/package.json`) as { version: string };
    const nodeMajor = Number.parseInt(process.versions.node, 10);
    expect(Number.parseInt(version.version, 10)).toBe(nodeMajor >= 22 ? 13 : 12);
  });

  // better-sqlite3 12 on Node 24 aborted the process (SIGABRT, `Assertion failed: (env) != nullptr`)
  // within 0.2 s of this loop: the GC freed statements and iterators outside a JS context.
  it('survives statements, pragmas and iterators becoming garbage while the event loop turns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kitrelay-driver-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const script = `
      import { Sqlite } from ${JSON.stringify(new URL('./driver.ts', import.meta.url).href)};
      const db = new Sqlite(${JSON.stringify(join(dir, 'churn.db'))});
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
      for (let i = 0; i < 200; i++) insert.run('x'.repeat(50));
      const until = Date.now() + 1500;
      let rounds = 0;
      let rows = 0;
      const round = () => {
        for (let i = 0; i < 200; i++) {
          for (const row of db.prepare('SELECT * FROM t WHERE id > ?').iterate(i)) {
            rows++;
            if (row.id > i + 3) break;
          }
          db.pragma('data_version', { simple: true });
          rows += Array.from({ length: 100 }, (_, k) => ({ k, s: 'y'.repeat(20) })).length;
        }
        rounds++;
        if (Date.now() < until) setImmediate(round);
        else { db.close(); console.log(JSON.stringify({ rounds, rows })); }
      };
      setImmediate(round);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      timeout: 30_000,
    });
    const result = JSON.parse(stdout) as { rounds: number; rows: number };
    expect(result.rounds).toBeGreaterThan(1);
    expect(result.rows).toBeGreaterThan(0);
  });
});
