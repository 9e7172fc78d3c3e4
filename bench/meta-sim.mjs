// The Meta simulator of the meta phase (bench/meta.mjs) in its own process, so the 1,000,000
// members it holds and the 10,000-row bodies it parses neither share the relay's heap nor count in
// its RSS: dist/'s startMetaSimulator with one new, empty audience, its usage quota on (the
// standard tier's 5,000 + 40 × audiences calls an hour, usage headers on every answer) or off, a
// short request record (each upload body is about 1 MB; nothing here reads the record) and a
// sub-millisecond wall clock. Run as:
//   node bench/meta-sim.mjs <accessToken> <usage 1|0> <maxRequests>
// Prints `meta-sim {"apiUrl":…,"control":…,"audienceId":…,"adAccountId":…}`; the control server
// (node:http, its own port) answers GET /count → { members, sessions } and GET /dump →
// { members, matched, sessions: [{ id, operation, received, invalid, matched, batches, stage,
// startTime, endTime }] }, GET /extern-ids → every member's EXTERN_ID (numbers, sorted).
// SIGTERM or SIGINT closes both.
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib.mjs';

const [token = 'EAAbenchmetatoken', usageRaw = '1', maxRaw = '20'] = process.argv.slice(2);
const { startMetaSimulator } = await import(pathToFileURL(path.join(ROOT, 'dist', 'integrations', 'meta', 'simulator.js')).href);
const sim = await startMetaSimulator({
  accessToken: token,
  audiences: [{ name: 'Kit customers (bench)', description: 'made by bench/meta-sim.mjs' }],
  ...(usageRaw === '0' ? { usage: false } : {}),
  host: '127.0.0.1',
  port: 0,
  maxRequests: Number(maxRaw),
  now: () => performance.timeOrigin + performance.now(),
});
const audience = () => sim.state.audiences.get(sim.audienceId);

const routes = {
  '/count': () => ({ members: audience()?.members.size ?? 0, sessions: audience()?.sessions.length ?? 0 }),
  '/dump': () => {
    const a = audience();
    return {
      members: a?.members.size ?? 0,
      matched: a ? sim.state.matchedCount(a) : 0,
      sessions: (a?.sessions ?? []).map((s) => ({ id: s.id, operation: s.operation, received: s.received, invalid: s.invalid, matched: s.matched, batches: s.batches, stage: s.stage, startTime: s.startTime, endTime: s.endTime ?? null })),
    };
  },
  '/extern-ids': () => {
    const ids = [];
    for (const member of audience()?.members.values() ?? []) ids.push(Number(member.keys.EXTERN_ID));
    return Float64Array.from(ids).sort();
  },
};
const control = http.createServer((req, res) => {
  const route = Object.hasOwn(routes, req.url ?? '') ? routes[req.url] : undefined;
  if (!route) return void res.writeHead(404).end();
  const body = route();
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body instanceof Float64Array ? Array.from(body) : body));
});
control.listen(0, '127.0.0.1', () => {
  const line = { apiUrl: sim.url, control: `http://127.0.0.1:${control.address().port}`, audienceId: sim.audienceId, adAccountId: sim.adAccountId };
  process.stdout.write(`meta-sim ${JSON.stringify(line)}\n`);
});
const stop = async () => {
  control.close();
  control.closeAllConnections();
  await sim.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
