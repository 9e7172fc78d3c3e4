// The flood generator of the `flood` phase (bench/flood.mjs), in its own process so that its 300
// sockets do not share an event loop with the paced generator whose latencies the phase measures.
//
//   node bench/flood-client.mjs '<json options>'
//
// Options: origin (http://127.0.0.1:PORT), legacyPath (a legacy route with a wrong token),
// signedPath (a signed endpoint), connections, bodyBytes, chunkBytes, chunkMs, durationMs,
// maxUploads, uploadTimeoutMs, drainMs, out (a file the summary is written to as JSON).
//
// `connections` slots run at once; even slots upload to the legacy route, odd ones to the signed
// endpoint with a well-formed but wrong `X-Kit-Signature`. An upload is raw HTTP/1.1 on its own
// connection: the headers (declaring the whole body), then `chunkBytes` every `chunkMs` until the
// body is sent or the server answers or closes. A slot starts its next upload `chunkMs` after the
// previous one ended, until `durationMs` is over or `maxUploads` uploads were started in all; the
// uploads still running then get `drainMs` to be answered, and are cut off after it. Each upload is
// counted by the status line the server sent, else `reset` (the connection was reset or a write
// failed before any answer), `closed` (closed cleanly with no answer), `timeout` (no answer within
// `uploadTimeoutMs`), `unfinished` (cut off at the end) or `connect_error`.
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const o = JSON.parse(process.argv[2] ?? '{}');
for (const k of ['origin', 'legacyPath', 'signedPath', 'connections', 'bodyBytes', 'chunkBytes', 'chunkMs', 'durationMs', 'maxUploads', 'uploadTimeoutMs', 'drainMs', 'out']) {
  if (o[k] === undefined) throw new Error(`flood-client: option ${k} is missing`);
}
const { hostname, port } = new URL(o.origin);
const chunk = Buffer.alloc(o.chunkBytes, 0x20); // spaces: a valid JSON prefix would not matter either
const KINDS = ['legacy', 'signed'];

const counts = { legacy: {}, signed: {} };
const answerMs = { legacy: {}, signed: {} }; // kind → outcome → ms from connect to answer
const live = new Set();
let started = 0;
let bytesWritten = 0;
let maxLive = 0;
const t0 = performance.now();
const stopAt = t0 + o.durationMs;

function headersFor(kind) {
  const path = kind === 'legacy' ? o.legacyPath : o.signedPath;
  const lines = [`POST ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Content-Type: application/json', `Content-Length: ${o.bodyBytes}`];
  // Well-formed, current timestamp, wrong digest: refused as bad_signature once the body is read.
  if (kind === 'signed') lines.push(`X-Kit-Signature: t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** One upload on its own connection; resolves with how it ended (never rejects). */
function upload(kind) {
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    let sent = 0;
    let connectedAt;
    let ticker;
    let outcome;
    const finish = (what) => {
      if (outcome !== undefined) return;
      outcome = what;
      clearInterval(ticker);
      clearTimeout(deadline);
      live.delete(entry);
      socket.destroy();
      const tally = counts[kind];
      tally[what] = (tally[what] ?? 0) + 1;
      if (connectedAt !== undefined && /^\d{3}$/.test(what)) (answerMs[kind][what] ??= []).push(performance.now() - connectedAt);
      resolve(what);
    };
    const entry = { cut: () => finish('unfinished') };
    live.add(entry);
    maxLive = Math.max(maxLive, live.size);
    const deadline = setTimeout(() => finish('timeout'), o.uploadTimeoutMs);
    const writeChunk = () => {
      if (sent >= o.bodyBytes || socket.destroyed || socket.writableNeedDrain) return; // slow, never piling up
      const n = Math.min(o.chunkBytes, o.bodyBytes - sent);
      sent += n;
      bytesWritten += n;
      socket.write(n === chunk.length ? chunk : chunk.subarray(0, n));
    };
    socket.once('connect', () => {
      connectedAt = performance.now();
      socket.write(headersFor(kind));
      writeChunk();
      ticker = setInterval(writeChunk, o.chunkMs);
    });
    socket.on('data', (data) => {
      received += data.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      if (m) finish(m[1]);
      else if (received.length > 4096) finish('garbled');
    });
    socket.on('error', (error) => {
      if (connectedAt === undefined) finish('connect_error');
      else finish(['ECONNRESET', 'EPIPE'].includes(error.code) ? 'reset' : `error_${error.code ?? 'unknown'}`);
    });
    socket.on('close', () => finish('closed'));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function slot(i) {
  const kind = KINDS[i % 2];
  while (performance.now() < stopAt && started < o.maxUploads) {
    started += 1;
    await upload(kind);
    await sleep(o.chunkMs);
  }
}

function summary(values) {
  const v = Float64Array.from(values).sort();
  const at = (q) => (v.length ? v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)] : null);
  return { n: v.length, p50: at(0.5), p99: at(0.99), max: v.length ? v[v.length - 1] : null };
}

process.stdout.write('flood started\n');
const slots = Array.from({ length: o.connections }, (_, i) => slot(i));
const allDone = Promise.all(slots);
// The window is over: no new uploads; the running ones get drainMs to be answered.
await Promise.race([allDone, sleep(o.durationMs + o.drainMs)]);
const unfinishedAtEnd = live.size;
for (const entry of [...live]) entry.cut();
await allDone;
const wallSeconds = (performance.now() - t0) / 1000;
const result = {
  options: { ...o, out: undefined },
  started,
  maxConcurrent: maxLive,
  unfinishedAtEnd,
  bytesWritten,
  wallSeconds,
  counts,
  answerMs: Object.fromEntries(KINDS.map((k) => [k, Object.fromEntries(Object.entries(answerMs[k]).map(([s, xs]) => [s, summary(xs)]))])),
};
writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`flood done: ${started} uploads in ${wallSeconds.toFixed(1)} s\n`);
process.exit(0);
