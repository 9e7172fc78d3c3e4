/**
 * The relay as a child process, the way an operator runs it (`kitrelay start`), so a SIGKILL kills
 * everything it had in memory: its SQLite writer thread, its leases, its in-flight HTTP calls.
 * Only the data dir survives, as after a real crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Set so legacy route URLs are the same in every process the harness starts. */
export const ROUTE_SECRET = 'crash-rounds-route-secret';
export const KIT_SECRET = 'whsec_crash_rounds_secret';
export const LEGACY_ROUTE_ID = 'tag_add-4242';
export const SIGNED_ENDPOINT = 'main';
/** Kept of each child's output, for the error when it fails to start or stop. */
const OUTPUT_TAIL_CHARS = 8_000;

/**
 * Short leases and polls so a killed relay's jobs are reclaimed within seconds; a fast retry
 * policy and a lenient breaker so faulted jobs finish (delivered or dead) within the drain wait.
 */
const CONFIG = `export default {
  kit: {
    legacy: { routes: [{ event: 'subscriber.tag_add', tag_id: 4242 }] },
    signed: { endpoints: [{ name: '${SIGNED_ENDPOINT}', secrets: [{ $env: 'KIT_SECRET' }] }] },
  },
  destinations: {
    sink: {
      type: 'webhook', url: { $env: 'SINK_URL' }, concurrency: 16, timeoutMs: 10000,
      retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 },
      breaker: { failureThreshold: 1000, cooldownMs: 200, maxCooldownMs: 1000 },
    },
  },
  rules: [{ id: 'everything', on: '*', actions: [{ destination: 'sink' }] }],
  queue: { leaseMs: 1500, heartbeatMs: 300, pollIntervalMs: 50 },
  log: { level: 'error' },
};
`;

export interface RelayProcess {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly pid: number;
  /** SIGKILL: nothing is flushed, no lease handed back. */
  kill(): Promise<void>;
  /** SIGTERM: a graceful stop; resolves with the exit code. */
  stop(timeoutMs: number): Promise<number | null>;
  /** The last lines the process wrote, for diagnostics. */
  output(): string;
}

export interface RelayFiles {
  readonly dataDir: string;
  readonly configPath: string;
}

export function writeRelayConfig(dataDir: string): RelayFiles {
  const configPath = path.join(dataDir, 'kitrelay.config.mjs');
  writeFileSync(configPath, CONFIG);
  return { dataDir, configPath };
}

export function databasePath(files: RelayFiles): string {
  return path.join(files.dataDir, 'kitrelay.db');
}

export function startRelayProcess(files: RelayFiles, sinkUrl: string, timeoutMs: number): Promise<RelayProcess> {
  const args = ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--config', files.configPath, '--data-dir', files.dataDir, 'start', '--port', '0', '--no-sandbox'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT, // where tsx resolves from
    env: { ...process.env, SINK_URL: sinkUrl, KIT_SECRET, KITRELAY_ROUTE_SECRET: ROUTE_SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // Both pipes are read to the end: an unread pipe fills up and blocks the relay mid-write.
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  // A harness that exits without its cleanup (an uncaught error, process.exit) takes the relay with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exit = exited(child).then(() => void process.off('exit', killOnExit));

  return new Promise((resolve, reject) => {
    let isSettled = false;
    const fail = (why: string) => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      child.stderr.off('data', onData);
      child.kill('SIGKILL');
      reject(new Error(`relay did not start (${why}): ${output}`));
    };
    const timer = setTimeout(() => fail(`no "listening on" within ${timeoutMs} ms`), timeoutMs);
    const onData = () => {
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (!match?.[1] || isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      child.stderr.off('data', onData);
      resolve(handle(child, match[1], exit, () => output));
    };
    child.stderr.on('data', onData);
    void exit.then(() => fail(`exited with ${child.exitCode ?? child.signalCode}`));
  });
}

function handle(child: ChildProcess, url: string, exit: Promise<void>, output: () => string): RelayProcess {
  return {
    url,
    pid: child.pid ?? -1,
    async kill() {
      child.kill('SIGKILL');
      await exit;
    },
    async stop(timeoutMs) {
      child.kill('SIGTERM');
      const isStopped = await Promise.race([exit.then(() => true), delay(timeoutMs).then(() => false)]);
      if (!isStopped) {
        child.kill('SIGKILL');
        await exit;
        throw new Error(`relay did not stop within ${timeoutMs} ms of SIGTERM: ${output()}`);
      }
      return child.exitCode;
    },
    output,
  };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
