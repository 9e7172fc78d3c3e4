/**
 * The properties, checked against a real relay over HTTP (harness.ts):
 *
 * - P1: never a 5xx (nor no answer) while the store is healthy;
 * - P2: nothing is stored from an unauthenticated (or otherwise refused) request;
 * - P3: every authenticated body is committed (2xx, its events stored) or kept in quarantine
 *   byte-exact: a refused legacy body (400) and a signed body whose envelope is bad (400) whole; a
 *   bad event of a good signed envelope (200) as the exact bytes of its element of `events`. Events
 *   nested deeper than `server.maxJsonDepth` (default 128) are quarantined with reason `too_deep`.
 *   Repeating a body never grows quarantine: it holds one entry per route and bytes;
 * - P4: the relay is healthy afterwards (checked by the runner through `Harness.health`).
 *
 * What a case must become is decided from its bytes where that is unambiguous (oracle.ts: not
 * UTF-8 JSON, too deep, not an envelope) and from the generator's mutation otherwise (mutations.ts).
 */
import type { FuzzCase, LegacyCase, SignedCase, UnauthCase } from './arbitraries.js';
import { routeToken } from '../../src/ingest/routes.js';
import { legacyToken, ROUTE_SECRET, signatureHeader } from './auth.js';
import type { Answer, Harness, Request, Snapshot } from './harness.js';
import { DEPTH_LIMIT, elementsOf, envelopeVerdict, legacyVerdict } from './oracle.js';
const SIGNED_PATH = '/hooks/kit/signed/main';

export type PropertyId = 'P1' | 'P2' | 'P3' | 'P4';

export interface Violation {
  readonly property: PropertyId;
  /** What broke, stable across cases (`bad-event-not-quarantined`…). */
  readonly code: string;
  /** The mutation that broke it (`deep@subscriber.fields`, `invalid-utf8`…). */
  readonly label: string;
  readonly message: string;
}

/** Violations of one family share a cause; the runner shrinks one counterexample per family. */
export const familyOf = (v: Violation): string => `${v.property}:${v.code}:${v.label}`;

export interface BatchResult {
  readonly answers: ReadonlyArray<readonly Answer[]>;
  readonly violations: readonly Violation[];
}

// ---------------------------------------------------------------- requests

function requestFor(h: Harness, c: FuzzCase): Request {
  const headers: Record<string, string> = c.contentType === undefined ? {} : { 'content-type': c.contentType };
  const now = Math.floor(Date.now() / 1000);
  const signed = (signing: SignedCase['signing']): Request => {
    const signature = signatureHeader(signing, c.body, now);
    const delivery = c.kind === 'signed' ? c.deliveryHeader : undefined;
    return { path: SIGNED_PATH, headers: { ...headers, ...(signature !== undefined ? { 'x-kit-signature': signature } : {}), ...(delivery !== undefined ? { 'x-kit-delivery': delivery } : {}) }, body: c.body };
  };
  if (c.kind === 'legacy') return { path: h.route(c.event).path, headers, body: c.body };
  if (c.kind === 'signed') return signed(c.signing);
  const t = c.target;
  const valid = { kind: 'computed', secrets: ['current'], skewSeconds: 0, style: 'plain', over: 'body' } as const;
  switch (t.kind) {
    case 'legacy-token': {
      const route = h.route(t.event);
      const other = h.route(t.event === 'subscriber.tag_add' ? 'subscriber.tag_remove' : 'subscriber.tag_add');
      return { path: `${route.path.slice(0, -route.token.length)}${legacyToken(t.token, route.token, other.token)}`, headers, body: c.body };
    }
    case 'signature':
      return signed(t.signing);
    case 'unknown-legacy':
      return { path: `/hooks/kit/legacy/${encodeURIComponent(t.routeId)}/${routeToken(ROUTE_SECRET, t.routeId)}`, headers, body: c.body };
    case 'unknown-endpoint':
      return { ...signed(valid), path: `/hooks/kit/signed/${encodeURIComponent(t.name)}` };
    case 'other-path':
      return { ...signed(valid), path: t.path };
    case 'content-type':
    case 'oversize':
      return t.route === 'legacy' ? { path: h.route(t.event).path, headers, body: c.body } : signed(valid);
    case 'method': {
      const request = t.route === 'legacy' ? { path: h.route(t.event).path, headers, body: c.body } : signed(valid);
      return t.method === 'GET' ? { ...request, method: 'GET', body: undefined } : { ...request, method: t.method };
    }
  }
}

/** Sends a case, twice when it repeats (the second after the first is answered). */
async function send(h: Harness, c: FuzzCase): Promise<Answer[]> {
  const first = await h.send(requestFor(h, c));
  return c.repeat ? [first, await h.send(requestFor(h, c))] : [first];
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

// ---------------------------------------------------------------- batches

/** Authenticated cases: P1 and P3 per answer, after one refresh of the store's indexes. */
export async function runAuthenticated(h: Harness, cases: readonly (LegacyCase | SignedCase)[]): Promise<BatchResult> {
  const answers = await mapLimit(cases, h.concurrency, (c) => send(h, c));
  await h.refresh();
  const violations = cases.flatMap((c, i) => answers[i]!.flatMap((a) => [...serverErrors(c, a), ...(c.kind === 'legacy' ? checkLegacy(h, c, a) : checkSigned(h, c, a))]));
  return { answers, violations };
}

/** Refused cases: P1 per answer, 4xx each, and P2 over the batch (nothing else writes meanwhile). */
export async function runUnauthenticated(h: Harness, cases: readonly UnauthCase[]): Promise<BatchResult> {
  const before = await h.snapshot();
  const answers = await mapLimit(cases, h.concurrency, (c) => send(h, c));
  const after = await h.snapshot();
  const violations: Violation[] = cases.flatMap((c, i) => answers[i]!.flatMap((a) => serverErrors(c, a)));
  cases.forEach((c, i) => {
    for (const a of answers[i]!) {
      if (a.status >= 200 && a.status < 400) violations.push({ property: 'P2', code: 'answered-2xx', label: c.label, message: `${describeTarget(c)} was answered ${a.status} ${brief(a)}` });
    }
  });
  if (!sameSnapshot(before, after)) {
    // The culprit most likely got a 2xx or a 400 (quarantined), else some unusual answer.
    const stores = (a: Answer) => (a.status >= 200 && a.status < 300) || a.status === 400;
    const suspect = cases.find((_, i) => answers[i]!.some(stores)) ?? cases.find((_, i) => answers[i]!.some((a) => ![401, 404, 413, 414, 415].includes(a.status)));
    violations.push({
      property: 'P2',
      code: 'stored',
      label: suspect?.label ?? 'unattributed',
      message: `refused requests stored something: newest ids before ${JSON.stringify(before)}, after ${JSON.stringify(after)}; answers ${JSON.stringify(answers.map((as) => as.map((a) => a.status)))}`,
    });
  }
  return { answers, violations };
}

const sameSnapshot = (a: Snapshot, b: Snapshot) => a.delivery === b.delivery && a.event === b.event && a.quarantine === b.quarantine;

// ---------------------------------------------------------------- checks

function serverErrors(c: FuzzCase, a: Answer): Violation[] {
  if (a.error !== undefined) return [{ property: 'P1', code: 'no-answer', label: c.label, message: `no HTTP answer: ${a.error}` }];
  if (a.status >= 500) return [{ property: 'P1', code: `status-${a.status}`, label: c.label, message: `answered ${a.status} ${brief(a)}` }];
  return [];
}

function oversize(h: Harness, c: FuzzCase, a: Answer): Violation[] | undefined {
  if (c.body.length <= h.bodyLimitBytes) return undefined;
  return a.status === 413 || a.status >= 500 ? [] : [{ property: 'P3', code: 'oversize-not-413', label: c.label, message: `${c.body.length} bytes answered ${a.status}` }];
}

function checkLegacy(h: Harness, c: LegacyCase, a: Answer): Violation[] {
  const early = oversize(h, c, a);
  if (early) return early;
  const verdict = legacyVerdict(c);
  const v = (code: string, message: string): Violation => ({ property: 'P3', code, label: c.label, message: `${c.event}: ${message}` });
  if (a.status === 200) {
    const stored = h.eventsOf(Number(a.json?.delivery_id));
    if (stored !== 1) return [v('committed-without-event', `answered 200 ${brief(a)} but the delivery has ${stored} events`)];
    return verdict.expect === 'bad' ? [v(verdict.reason ? `committed-${verdict.reason}` : 'bad-body-committed', `a body that must be quarantined was committed ${brief(a)}`)] : [];
  }
  if (a.status === 400) {
    const found: Violation[] = [];
    found.push(...quarantineProblems(h.quarantined(h.route(c.event).id, c.body), verdict.reason, (code, m) => v(code, m)));
    if (verdict.expect === 'good') found.push(v('good-body-refused', `a valid body was refused ${brief(a)}`));
    const ids: unknown = a.json?.quarantine_ids;
    const hits = h.quarantined(h.route(c.event).id, c.body).map((q) => q.id);
    if (Array.isArray(ids) && ids.some((id) => !hits.includes(Number(id)))) found.push(v('quarantine-id-not-these-bytes', `answer names quarantine ${JSON.stringify(ids)}, entries with these bytes are ${JSON.stringify(hits)}`));
    return found;
  }
  if (a.status >= 500 || a.error) return [];
  return [v('neither-committed-nor-quarantined', `answered ${a.status} ${brief(a)}`)];
}

/** One entry with these bytes, with the expected reason. */
function quarantineProblems(hits: readonly { reason: string }[], reason: string | undefined, v: (code: string, message: string) => Violation): Violation[] {
  if (hits.length === 0) return [v('not-quarantined-byte-exact', 'refused, but no quarantine entry holds the exact bytes sent')];
  const found: Violation[] = [];
  if (hits.length > 1) found.push(v('quarantine-grew', `${hits.length} quarantine entries hold the same bytes (repeats must not grow quarantine)`));
  if (reason && hits[0]!.reason !== reason) found.push(v(`reason-not-${reason}`, `quarantined with reason ${hits[0]!.reason}`));
  return found;
}

function checkSigned(h: Harness, c: SignedCase, a: Answer): Violation[] {
  const early = oversize(h, c, a);
  if (early) return early;
  const envelope = envelopeVerdict(c.body);
  const v = (code: string, message: string, label = c.label): Violation => ({ property: 'P3', code, label, message });
  if (a.status === 400) {
    const found = quarantineProblems(h.quarantined('main', c.body), undefined, v);
    if (envelope === 'ok') found.push(v('good-envelope-refused', `a well-formed envelope was answered 400 ${brief(a)}`));
    return found;
  }
  if (a.status !== 200) return a.status >= 500 || a.error ? [] : [v('neither-committed-nor-quarantined', `answered ${a.status} ${brief(a)}`)];
  const slices = envelope === 'bad' ? undefined : elementsOf(c.body);
  if (!slices) return [v('bad-envelope-committed', `answered 200 ${brief(a)} to a body that is no envelope`)];
  const found: Violation[] = [];
  let inQuarantine = 0;
  slices.forEach(({ bytes, depth }, i) => {
    const hits = h.quarantined('main', bytes);
    const tooDeep = depth > DEPTH_LIMIT;
    const expect = tooDeep ? 'bad' : slices.length === c.elements.length ? c.elements[i]! : 'either';
    const label = tooDeep ? 'too-deep-event' : (c.elementLabels[i] ?? c.label);
    const ve = (code: string, message: string) => v(code, `event ${i} of ${slices.length}: ${message}`, label);
    if (hits.length > 0) inQuarantine++;
    if (expect === 'bad') found.push(...quarantineProblems(hits, tooDeep ? 'too_deep' : undefined, ve).map((x) => (x.code === 'not-quarantined-byte-exact' ? { ...x, code: 'bad-event-not-quarantined-byte-exact' } : x)));
    else if (hits.length > 1) found.push(ve('quarantine-grew', `${hits.length} quarantine entries hold the same bytes`));
    if (expect === 'good' && hits.length > 0) found.push(ve('good-event-quarantined', `a valid event was quarantined (${hits[0]!.reason})`));
  });
  const stored = h.eventsOf(Number(a.json?.delivery_id));
  if (stored !== slices.length - inQuarantine) {
    found.push(v('event-lost', `${slices.length} events: ${inQuarantine} quarantined byte-exact, ${stored} stored; ${slices.length - inQuarantine - stored} neither (answer ${brief(a)})`));
  }
  return found;
}

function describeTarget(c: UnauthCase): string {
  return `${c.target.kind} (${c.label})`;
}

function brief(a: Answer): string {
  return JSON.stringify(a.json ?? a.error).slice(0, 300);
}
