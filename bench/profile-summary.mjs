#!/usr/bin/env node
// Summarizes V8 CPU profiles (`.cpuprofile`, as written by `node --cpu-prof`, e.g. from
// `BENCH_CPU_PROF=1 npm run bench`): per profile (one per thread), the share of samples that were
// idle, and the top functions and files by self time.
// Usage: node bench/profile-summary.mjs <dir-or-file>... [--top N]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const topIdx = args.indexOf('--top');
const top = topIdx === -1 ? 25 : Number(args.splice(topIdx, 2)[1]);
const files = [];
const walk = (p) => {
  if (statSync(p).isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
  else if (p.endsWith('.cpuprofile')) files.push(p);
};
for (const a of args) walk(a);
if (files.length === 0) {
  console.error('usage: node bench/profile-summary.mjs <dir-or-file>... [--top N]');
  process.exit(2);
}

const shortUrl = (url) => {
  if (!url) return '(native)';
  const m = /node_modules\/(.*)$/.exec(url);
  if (m) return `npm:${m[1]}`;
  const d = /\/dist\/(.*)$/.exec(url);
  if (d) return `dist/${d[1]}`;
  return url.replace(/^file:\/\//, '');
};

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of prof.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = prof.samples.length;
  const durMs = (prof.endTime - prof.startTime) / 1000;
  const fn = new Map();
  const urls = new Map();
  let idle = 0;
  for (const [id, n] of counts) {
    const node = byId.get(id);
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idle += n;
    const key = `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + n);
    const u = functionName.startsWith('(') ? functionName : shortUrl(url);
    urls.set(u, (urls.get(u) ?? 0) + n);
  }
  const pct = (n) => `${((n / total) * 100).toFixed(1)}%`.padStart(6);
  console.log(`\n== ${file}\n   ${total} samples over ${durMs.toFixed(0)} ms; idle ${pct(idle)}`);
  console.log('   by file (self):');
  for (const [k, n] of [...urls].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`   ${pct(n)}  ${k}`);
  console.log('   by function (self):');
  for (const [k, n] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`   ${pct(n)}  ${k}`);
}
