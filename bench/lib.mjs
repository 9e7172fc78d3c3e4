// Helpers for bench/run.mjs: child processes (started, watched and always killed), CPU accounting,
// the two load generators (autocannon, and a paced open-loop one for fixed-rate latency), and
// small statistics. Everything here is bounded: every wait has a deadline, every loop an end.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, fsyncSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH_DIR, '..');
const PARENT_WATCH = pathToFileURL(path.join(BENCH_DIR, 'parent-watch.mjs')).href;

// ------------------------------------------------------------------ child processes

/** Every child still running; killed on exit, on error and on signals. */
const children = new Set();

export function killAllChildren(signal = 'SIGKILL') {
  for (const c of children) {
    try {
      c.kill(signal);
    } catch {
      // already gone
    }
  }
}

let cleanupInstalled = false;
/** Kills the children whatever way the benchmark ends; `onFatal` runs once on a signal or crash. */
export function installCleanup(onFatal = () => {}) {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => killAllChildren('SIGKILL'));
  const fatal = (why, code) => {
    process.stderr.write(`\nbench: ${why}; stopping children\n`);
    try {
      onFatal();
    } finally {
      killAllChildren('SIGKILL');
      process.exit(code);
    }
  };
  process.once('SIGINT', () => fatal('SIGINT', 130));
  process.once('SIGTERM', () => fatal('SIGTERM', 143));
  process.on('uncaughtException', (err) => fatal(`uncaught exception: ${err?.stack ?? err}`, 1));
  process.on('unhandledRejection', (err) => fatal(`unhandled rejection: ${err?.stack ?? err}`, 1));
}

/**
 * Starts `node [nodeArgs] script [args]` with the parent-watch preload, logs its output to
 * `logFile`, and resolves once a line matches `ready` (its first group is returned as `url`).
 */
export function startNode({ name, script, args = [], nodeArgs = [], env = {}, logFile, ready, timeoutMs = 30_000, cwd = ROOT }) {
  // BENCH_CPU_PROF_DIR: every child writes a V8 CPU profile there on exit (node --cpu-prof).
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`, `--cpu-prof-name=${name}.${Date.now()}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, ...nodeArgs, '--import', PARENT_WATCH, script, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const log = createWriteStream(logFile, { flags: 'a' });
  let tail = '';
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const startedAt = performance.now();
  const readyPromise = new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      reject(new Error(`${name}: not ready after ${timeoutMs} ms; last output:\n${tail}`));
    }, timeoutMs);
    const onData = (chunk) => {
      const text = chunk.toString('utf8');
      log.write(text);
      tail = (tail + text).slice(-4000);
      if (buffered === null) return;
      buffered += text;
      const m = ready.exec(buffered);
      if (m) {
        buffered = null;
        clearTimeout(timer);
        resolve(m[1]);
      } else if (buffered.length > 65_536) buffered = buffered.slice(-8192);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited (code ${code}, signal ${signal}) before it was ready; last output:\n${tail}`));
    });
  });
  return readyPromise.then(
    (url) => ({
      name,
      child,
      pid: child.pid,
      url,
      readyMs: performance.now() - startedAt,
      exited,
      tail: () => tail,
      /** SIGTERM, then SIGKILL after `timeoutMs`. Resolves with how it ended. */
      async stop(stopTimeoutMs = 30_000) {
        if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, killed: false };
        const t0 = performance.now();
        child.kill('SIGTERM');
        let timer;
        const timeout = new Promise((resolve) => {
          timer = setTimeout(() => resolve('timeout'), stopTimeoutMs);
        });
        const first = await Promise.race([exited, timeout]);
        clearTimeout(timer);
        if (first === 'timeout') {
          child.kill('SIGKILL');
          const res = await exited;
          log.end();
          return { ...res, killed: true, stopMs: performance.now() - t0 };
        }
        log.end();
        return { ...first, killed: false, stopMs: performance.now() - t0 };
      },
    }),
    (err) => {
      child.kill('SIGKILL');
      log.end();
      throw err;
    },
  );
}

// ------------------------------------------------------------------ CPU accounting

let clkTck = 100; // the Linux default when getconf is missing
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 }).trim()) || 100;
} catch {
  clkTck = 100;
}

/** CPU seconds (user + system, all threads) a process has used; undefined off Linux. */
export function cpuSeconds(pid) {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clkTck;
  } catch {
    return undefined;
  }
}

/** CPU seconds per thread of a process: Map tid → { name, seconds }; empty off Linux. */
export function threadCpuSeconds(pid) {
  const out = new Map();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(Number(tid), { name, seconds: (Number(fields[11]) + Number(fields[12])) / clkTck });
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/** CPU seconds the whole machine has been busy (all cores; /proc/stat); undefined off Linux. */
export function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return (f.reduce((a, b) => a + b, 0) - idle) / clkTck;
  } catch {
    return undefined;
  }
}

/**
 * Snapshot the CPU time of several processes; `.since()` gives the seconds each used since, and
 * `others`: CPU seconds the rest of the machine used meanwhile (other people's work on a shared
 * box), so a reader can tell a quiet measurement from a crowded one.
 */
export function cpuMeter(procs) {
  const start = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const serverThreads0 = procs.server === undefined ? undefined : threadCpuSeconds(procs.server);
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  return {
    since() {
      const wall = (performance.now() - t0) / 1000;
      const out = { wallSeconds: wall };
      if (serverThreads0) {
        // The server's busiest threads: for kitrelay the main (HTTP) thread and the SQLite writer.
        const now = threadCpuSeconds(procs.server);
        out.serverThreads = [...now]
          .map(([tid, t]) => ({ tid, name: tid === procs.server ? 'main' : t.name, seconds: t.seconds - (serverThreads0.get(tid)?.seconds ?? 0) }))
          .sort((a, b) => b.seconds - a.seconds)
          .slice(0, 3);
      }
      let ours = 0;
      for (const [k, pid] of Object.entries(procs)) {
        const now = cpuSeconds(pid);
        out[k] = now === undefined || start[k] === undefined ? undefined : now - start[k];
        ours += out[k] ?? 0;
      }
      const machine1 = machineBusySeconds();
      out.others = machine0 === undefined || machine1 === undefined ? undefined : Math.max(0, machine1 - machine0 - ours);
      return out;
    },
  };
}

/**
 * Waits (at most `maxWaitMs`) until the processes outside `ownPids` use less than `thresholdCores`
 * over one second. Returns how long it waited and how busy the machine was at the end.
 */
export async function waitForQuiet({ ownPids, maxWaitMs, thresholdCores }) {
  const t0 = performance.now();
  for (;;) {
    const meter = cpuMeter(ownPids);
    await sleep(1_000);
    const s = meter.since();
    const otherCores = s.others === undefined ? 0 : s.others / s.wallSeconds;
    const waitedMs = performance.now() - t0;
    if (otherCores < thresholdCores || waitedMs + 1_000 > maxWaitMs) return { waitedMs, otherCores, quiet: otherCores < thresholdCores };
  }
}

// ------------------------------------------------------------------ request bodies

/**
 * A body factory: `next()` returns the template with a fresh subscriber id (and the email made from
 * it) every call, so no two bodies are byte-identical and legacy fingerprint dedupe never applies.
 * Ids count up from `startId`; with `scattered`, the count goes through a bijection of 32-bit
 * integers (multiplication by an odd constant) onto 10-digit ids, so consecutive bodies name
 * subscribers far apart, as real traffic does (every id still new).
 */
export function bodyFactory(template, sentinel, startId, { scattered = false } = {}) {
  const parts = template.split(sentinel);
  if (parts.length < 2) throw new Error(`body template does not contain ${sentinel}`);
  let count = startId;
  const idOf = (n) => (scattered ? 1_000_000_000 + (Math.imul(n, 0x9e3779b1) >>> 0) : n);
  return {
    next() {
      count += 1;
      return parts.join(String(idOf(count)));
    },
    get lastId() {
      return idOf(count);
    },
  };
}

// ------------------------------------------------------------------ autocannon

/**
 * One autocannon run (in this process, main thread). `body` is a factory called per request.
 * Options: url (with the path), connections, duration | amount, overallRate, title.
 */
export function cannon({ url, body, connections, duration, amount, overallRate, title }) {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const opts = {
      url: target.origin,
      title,
      connections,
      pipelining: 1,
      timeout: 10,
      requests: [
        {
          method: 'POST',
          path: `${target.pathname}${target.search}`,
          headers: { 'content-type': 'application/json' },
          setupRequest(req) {
            req.body = body();
            return req;
          },
        },
      ],
    };
    if (amount !== undefined) opts.amount = amount;
    else opts.duration = duration;
    if (overallRate !== undefined) {
      opts.overallRate = overallRate;
      // Latencies as measured: autocannon's coordinated-omission correction takes 1/rate in seconds
      // as if it were ms and adds made-up samples; the paced generator below handles that case.
      opts.ignoreCoordinatedOmission = true;
    }
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(summarizeCannon(result, connections))));
  });
}

function summarizeCannon(r, connections) {
  const completed = r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'];
  return {
    durationSeconds: r.duration,
    reqPerSecMean: r.requests.average,
    reqPerSecStddev: r.requests.stddev,
    ok: r['2xx'],
    non2xx: r.non2xx,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    errors: r.errors,
    timeouts: r.timeouts,
    sent: r.requests.sent,
    completed,
    // Requests written but not answered when autocannon stopped (it closes the sockets): the
    // server may have committed them without the 2xx ever being counted here. At most one per
    // connection (no pipelining); with a rate limit autocannon's `sent` over-counts, hence the cap.
    unanswered: Math.min(connections, Math.max(0, r.requests.sent - completed)),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
  };
}

// ------------------------------------------------------------------ paced open-loop generator

/**
 * Open-loop load at a fixed arrival rate: request i is due at t0 + i/rate, whatever happened to the
 * earlier ones (up to `maxSockets` keep-alive connections; beyond that requests wait in the agent's
 * queue, and that wait counts). Latency is measured from the due time (so a slow server or a late
 * generator cannot hide queueing: no coordinated omission) and from the actual send.
 */
export function paced({ url, body, rate, durationSeconds, maxSockets = 64, drainTimeoutMs = 15_000, keepLatencies = false }) {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const total = Math.max(1, Math.round(rate * durationSeconds));
  const fromDue = new Float64Array(total).fill(Number.NaN);
  const fromSend = new Float64Array(total).fill(Number.NaN);
  const isOnNewConnection = new Uint8Array(total); // 1: the request opened the connection it went on
  const statuses = {};
  let sent = 0;
  let finished = 0;
  let ok = 0;
  let errors = 0;
  let maxLagMs = 0;
  const interval = 1000 / rate;
  const t0 = performance.now() + 5;

  return new Promise((resolve) => {
    let drainTimer;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(drainTimer);
      agent.destroy();
      const wall = (performance.now() - t0) / 1000;
      resolve({
        rate,
        durationSeconds,
        sent,
        ok,
        non2xx: Object.entries(statuses).reduce((n, [s, c]) => (s.startsWith('2') ? n : n + c), 0),
        statusCodes: statuses,
        errors,
        unanswered: sent - finished,
        achievedRate: sent / Math.max(wall, 1e-9),
        maxGeneratorLagMs: maxLagMs,
        latencyFromDueMs: percentiles(fromDue),
        latencyFromSendMs: percentiles(fromSend),
        // Requests that had to open a connection (the agent had no free keep-alive socket) and the
        // others, from due time: under a connection flood they wait in the server's accept queue.
        connectionsOpened: isOnNewConnection.reduce((n, x) => n + x, 0),
        latencyOnNewConnectionMs: percentiles(fromDue.filter((_, i) => isOnNewConnection[i] === 1)),
        latencyOnReusedConnectionMs: percentiles(fromDue.filter((_, i) => isOnNewConnection[i] === 0)),
        // With keepLatencies: every request's latency from its due time, in order (NaN: no 2xx).
        ...(keepLatencies ? { fromDueMs: Array.from(fromDue, (x) => Math.round(x * 10) / 10) } : {}),
      });
    };
    const settle = () => {
      finished += 1;
      if (sent === total && finished === total) finish();
    };
    const fire = (i) => {
      const due = t0 + i * interval;
      const payload = body();
      const start = performance.now();
      maxLagMs = Math.max(maxLagMs, start - due);
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const end = performance.now();
            statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
            if (!req.reusedSocket) isOnNewConnection[i] = 1;
            if (res.statusCode >= 200 && res.statusCode < 300) {
              ok += 1;
              fromDue[i] = end - due;
              fromSend[i] = end - start;
            }
            settle();
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors += 1;
        settle();
      });
      req.end(payload);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1);
      while (sent < due) fire(sent++);
      if (sent < total) setTimeout(tick, 1);
      else drainTimer = setTimeout(finish, drainTimeoutMs);
    };
    setTimeout(tick, 5);
  });
}

// ------------------------------------------------------------------ statistics

/** p50/p90/p99/p99.9/max/mean of the finite values (ms). */
export function percentiles(values) {
  const v = Float64Array.from(Array.prototype.filter.call(values, Number.isFinite)).sort();
  const at = (q) => (v.length === 0 ? Number.NaN : v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]);
  let sum = 0;
  for (const x of v) sum += x;
  return { n: v.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: v.length ? v[v.length - 1] : Number.NaN, mean: v.length ? sum / v.length : Number.NaN };
}

/** fdatasync cost on the data directory's filesystem: what a synchronous=FULL commit waits for. */
export function fsyncProbe(dir, iterations = 200) {
  const file = path.join(dir, 'fsync-probe.bin');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096, 7);
  const times = new Float64Array(iterations);
  try {
    for (let i = 0; i < iterations; i++) {
      writeSync(fd, block);
      const t = performance.now();
      fsyncSync(fd);
      times[i] = performance.now() - t;
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return percentiles(times);
}

/**
 * A fixed CPU-bound workload (SHA-256 of 1 KiB) run for `ms` in this process: hashes per ms. On a
 * shared VM the host's contention is invisible from inside (no steal time), but it shows up as a
 * slower CPU; comparing this figure across phases tells a slow phase from a slow machine.
 */
export function cpuCalibration(ms = 300) {
  const buf = Buffer.alloc(1024, 1);
  for (let i = 0; i < 2_000; i++) createHash('sha256').update(buf).digest(); // warm-up, not counted
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 100; i++) createHash('sha256').update(buf).digest();
    n += 100;
    t = performance.now();
  }
  return n / (t - t0);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function getJson(url, timeoutMs = 5_000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.json();
}

export async function getText(url, timeoutMs = 5_000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}
