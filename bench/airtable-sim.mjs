// The Airtable simulator of the airtable phase (bench/airtable.mjs) in its own process, so the
// 100,000 records it holds and the bodies it parses neither share the backfill's heap nor count in
// its RSS: dist/'s startAirtableSimulator with one base (`Kit`) and its `Subscribers` table (the
// fields the bench's sync writes), its rate limit ON at a scaled-up pace (Airtable's 5 requests a
// second per base and 50 per token, times a factor: a request over either is answered 429 and the
// base refused for 30 s, as Airtable does), a request record large enough to keep every call of a
// run (the arrival times are what the pace is read from), and a sub-millisecond wall clock. Run as:
//   node bench/airtable-sim.mjs <token> <perBase> <perToken> <maxRequests> <tag names, JSON>
// Prints `airtable-sim {"apiUrl":…,"control":…}`; the control server (node:http, its own port)
// answers GET /info → { baseId, table }, GET /calls → the calls recorded since the start or the
// last `DELETE <apiUrl>/_sim/requests` (statuses by method, the most that arrived within any
// 1,000 ms, the arrival times), and GET /table → the table's rows by Kit id (rows, distinct Kit
// ids, lowest and highest, the Kit ids on more than one row). SIGTERM or SIGINT closes both.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib.mjs';
import { serveControl } from './sim-control.mjs';

const TABLE = 'Subscribers';

const [token, perBaseRaw = '50', perTokenRaw = '500', maxRaw = '30000', tagsRaw = '[]'] = process.argv.slice(2);
const { startAirtableSimulator } = await import(pathToFileURL(path.join(ROOT, 'dist', 'integrations', 'airtable', 'simulator.js')).href);
const fields = [
  { name: 'Kit ID', type: 'number' },
  { name: 'Email', type: 'email' },
  { name: 'Name', type: 'singleLineText' },
  { name: 'State', type: 'singleLineText' },
  { name: 'Tags', type: 'multipleSelects', choices: JSON.parse(tagsRaw) },
  { name: 'Signed up', type: 'dateTime' },
  { name: 'Company', type: 'singleLineText' },
  { name: 'City', type: 'singleLineText' },
];
const sim = await startAirtableSimulator({
  token,
  bases: [{ name: 'Kit', tables: [{ name: TABLE, fields }] }],
  rateLimit: { perBase: Number(perBaseRaw), perToken: Number(perTokenRaw) },
  host: '127.0.0.1',
  port: 0,
  maxRequests: Number(maxRaw),
  now: () => performance.timeOrigin + performance.now(),
});

/** The calls recorded since the last reset: what a run sent, and the pace it arrived at. */
function calls() {
  const entries = sim.requests;
  const byMethodStatus = {};
  const times = [];
  for (const r of entries) {
    const k = `${r.method} ${r.status}`;
    byMethodStatus[k] = (byMethodStatus[k] ?? 0) + 1;
    times.push(r.receivedAt);
  }
  times.sort((a, b) => a - b);
  // The most calls that arrived within any 1,000 ms (the simulator's window): at most perBase. Where
  // more did, the first such windows: when they started (epoch ms) and how many arrived in them.
  let maxInSecond = 0;
  const overages = [];
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= 1000) j += 1;
    const inWindow = i - j + 1;
    maxInSecond = Math.max(maxInSecond, inWindow);
    if (inWindow > Number(perBaseRaw) && overages.length < 10 && (overages.length === 0 || times[j] - overages.at(-1).from >= 1000)) overages.push({ from: times[j], to: times[i], count: inWindow });
  }
  return { received: times.length, byMethodStatus, maxInSecond, overages, times: times.map((t) => Math.round(t * 10) / 10) };
}

/** Rows by Kit id: every subscriber once, none twice. */
function table() {
  const counts = new Map();
  for (const record of sim.records(TABLE)) {
    const id = Number(record.fields['Kit ID']);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  let min = Infinity;
  let max = -Infinity;
  const twice = [];
  for (const [id, n] of counts) {
    min = Math.min(min, id);
    max = Math.max(max, id);
    if (n > 1) twice.push(id);
  }
  let rows = 0;
  for (const n of counts.values()) rows += n;
  return { rows, distinctKitIds: counts.size, minKitId: counts.size ? min : null, maxKitId: counts.size ? max : null, kitIdsOnTwoRows: twice.length, sampleTwice: twice.slice(0, 10) };
}

serveControl('airtable-sim', { apiUrl: sim.url, close: () => sim.close() }, {
  '/info': () => ({ baseId: sim.baseId, table: TABLE }),
  '/calls': () => calls(),
  '/table': () => table(),
});
