/**
 * Schedules: two processes, one run. Two real processes run a scheduler on the same SQLite file with
 * the same every-second schedule; each slot runs exactly once between them, and no two runs overlap.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURE = path.join(ROOT, 'test/fixtures/schedule-process.ts');

interface RunLine {
  owner: string;
  runId: number;
  trigger: string;
  scheduledFor: number;
  startedAt: number;
  endedAt: number;
}

/** Runs the fixture to its end (bounded: killed after `timeoutMs`). */
function runProcess(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('schedules across processes', () => {
  it('runs each slot of a schedule once between two processes sharing the store', async () => {
    const { dir, remove } = tempDir('kitrelay-schedules-procs-');
    try {
      const db = path.join(dir, 'kitrelay.db');
      const out = path.join(dir, 'runs.jsonl');
      await (await openSqliteStore({ path: db })).close(); // created and migrated once, up front
      // Both run until the same moment: a few seconds together once both have started.
      const stopAt = Date.now() + 8_000;
      const results = await Promise.all(['proc-a', 'proc-b'].map((name) => runProcess([db, out, String(stopAt), name], 25_000)));
      for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });

      const lines = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as RunLine);
      const store = await openSqliteStore({ path: db });
      const runs = await store.listScheduleRuns({ schedule: 'tick', limit: 1000 }).finally(() => store.close());

      expect(lines.length).toBeGreaterThanOrEqual(3);
      expect(runs).toHaveLength(lines.length);
      expect(runs.filter((run) => run.status !== 'succeeded')).toEqual([]);
      // One run per slot, in the store and in what the runs did.
      const slots = runs.map((run) => run.scheduledFor);
      expect(new Set(slots).size).toBe(slots.length);
      expect(new Set(lines.map((line) => line.scheduledFor)).size).toBe(lines.length);
      // And never two at once.
      const ordered = [...lines].sort((a, b) => a.startedAt - b.startedAt);
      for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.startedAt).toBeGreaterThanOrEqual(ordered[i - 1]!.endedAt);
      // Which process wins a slot is up to the write lock; both were there to contest each one.
      const byOwner = new Map<string, number>();
      for (const line of lines) byOwner.set(line.owner, (byOwner.get(line.owner) ?? 0) + 1);
      console.info(`schedule runs by process: ${JSON.stringify(Object.fromEntries(byOwner))}`);
    } finally {
      remove();
    }
  });
});
