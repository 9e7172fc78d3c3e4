// Preloaded (`node --import`) into a process whose memory the benchmark judges (the meta phase's
// `kitrelay meta sync`): prints `rss-probe start` once loaded (the benchmark's "ready" line), and
// at exit one line `rss-probe {…}` with the kernel's peak resident set (VmHWM, /proc/self/status:
// every thread of the process, the SQLite writer's included) and the V8 figures sampled every
// 250 ms (peak heap used, external, array buffers), and the CPU time of all its threads. Linux only for VmHWM; elsewhere it is null.
import { readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const kib = (field) => {
    try {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  };
  const peak = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, rss: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], m[k]);
  };
  const timer = setInterval(sample, 250);
  timer.unref();
  process.stderr.write('rss-probe start\n');
  process.on('exit', () => {
    sample();
    const mib = (x) => Math.round((x / 2 ** 20) * 10) / 10;
    const hwm = kib('VmHWM');
    const used = process.cpuUsage();
    const line = { cpuSeconds: Math.round((used.user + used.system) / 1e4) / 100, vmHWMMiB: hwm === null ? null : mib(hwm * 1024), vmRSSMiB: mib((kib('VmRSS') ?? 0) * 1024), peakSampledMiB: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, mib(v)])) };
    process.stderr.write(`rss-probe ${JSON.stringify(line)}\n`);
  });
}
