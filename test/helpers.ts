/**
 * Test helpers: a relay on a real SQLite file in a fresh temp dir, listening on a free loopback
 * port, with the webhook receiver simulator as its destination. No fakes besides simulators and
 * the clock.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { startWebhookReceiver, type WebhookReceiver } from '../src/integrations/webhook/simulator.js';
import type { Clock } from '../src/lib/clock.js';
import { silentLog } from '../src/lib/log.js';
import { startRelay, type Relay } from '../src/main.js';

export interface TestRelay {
  readonly relay: Relay;
  readonly receiver: WebhookReceiver;
  readonly dir: string;
  /** http://127.0.0.1:PORT of the relay */
  readonly url: string;
  post(pathname: string, body: Buffer | string, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export function tempDir(prefix = 'kitrelay-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts a relay whose `sink` destination (if the config uses env SINK_URL) is the receiver. */
/** `dir`: a data dir to use (and keep) instead of a new one: a restart on the same database. */
export async function startTestRelay(input: ConfigInput, options: { clock?: Clock; env?: Record<string, string>; dir?: string } = {}): Promise<TestRelay> {
  const { dir, remove } = options.dir !== undefined ? { dir: options.dir, remove: () => undefined } : tempDir();
  const receiver = await startWebhookReceiver();
  const env = { SINK_URL: `${receiver.url}/sink`, ...options.env };
  const loaded = resolveConfig({ ...input, store: { ...input.store, dataDir: dir } }, { cwd: dir, env, source: 'test' });
  const relay = await startRelay({ loaded, env, log: silentLog(), port: 0, ...(options.clock ? { clock: options.clock } : {}) });
  const url = relay.listenUrl;
  return {
    relay,
    receiver,
    dir,
    url,
    async post(pathname, body, headers = {}) {
      const response = await fetch(`${url}${pathname}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async close() {
      await relay.close({ graceMs: 1000 });
      await receiver.close();
      remove();
    },
  };
}

/** Polls until the check passes or the time is up (bounded; never loops forever). */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const ROOT = path.resolve(import.meta.dirname, '..');

/** Runs the `kitrelay` CLI from source in a child process; never rejects (the exit code is in the result). */
export function execCli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

export interface RelayChild {
  readonly child: ChildProcess;
  /** http://127.0.0.1:PORT */
  readonly url: string;
}

/**
 * Starts `kitrelay start` as a child process on `<dir>/kitrelay.config.mjs` and its data in `dir`
 * (no sandbox), resolving once it listens. For crash tests: SIGKILL it and start another.
 */
export function startRelayChild(dir: string, env: Record<string, string>): Promise<RelayChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--config', path.join(dir, 'kitrelay.config.mjs'), '--data-dir', dir, 'start', '--port', '0', '--no-sandbox'], {
    cwd: ROOT, // where tsx resolves from
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'], // stdout (JSON logs) unread: a pipe nobody reads could fill and block the relay
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${stderr}`)), 20_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}: ${stderr}`));
    });
  });
}

/** Resolves once the child has exited (at once if it already has). */
export const exited = (child: ChildProcess): Promise<void> =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
