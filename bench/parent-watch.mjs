// Preloaded (`node --import`) into every process the benchmark starts: if the benchmark process
// dies without cleaning up (SIGKILL, OOM), its children notice they were re-parented within a
// second and stop themselves, so nothing keeps listening on loopback afterwards.
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => process.exit(1), 15_000).unref();
  }, 1_000);
  timer.unref();
}
