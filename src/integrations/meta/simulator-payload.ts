/**
 * What a `/users` or `/usersreplace` call carries (reference/destinations.md §2.2–2.4): the
 * `payload` (schema, data) and the optional `session`, checked as Graph checks them.
 *
 * - More than 10,000 rows, a row whose length differs from the schema's, a schema naming an
 *   unknown key: the whole call fails (code 100).
 * - A value that is not what its key takes (hashed keys: 64 lowercase hex digits; EXTERN_ID and
 *   MADID: any text, sent unhashed, §2.4) or a row with no value at all is not an error: the row
 *   is counted in `num_invalid_entries`, shown in `invalid_entry_samples`, and skipped.
 *
 * A row's **identity** is what membership is keyed by: its EMAIL hash when it has one, else its
 * EXTERN_ID, else its first non-empty value in schema order, written `KEY:value`. Meta matches on
 * any key; one identity per row keeps adds and removes idempotent and easy to inspect (a removal
 * must name a member the way it was added) [U].
 *
 * Read and ignored: `is_raw` (per the reference it says whether keys are combined, like
 * `LN_FN_ZIP`, not whether they are hashed), `app_ids`, `page_ids`, `data_source`, and the
 * `namespace` parameter of usersreplace.
 */
import { createHash } from 'node:crypto';
import { errors, failure, ok, type GraphOutcome } from './simulator-graph.js';

export const MAX_ROWS = 10_000;
/** How many invalid entries `invalid_entry_samples` shows [U]. */
export const MAX_SAMPLES = 10;

export const KEYS = ['EXTERN_ID', 'EMAIL', 'PHONE', 'GEN', 'DOBY', 'DOBM', 'DOBD', 'LN', 'FN', 'FI', 'CT', 'ST', 'ZIP', 'MADID', 'COUNTRY'] as const;
export type MetaKey = (typeof KEYS)[number];

/** The single-key schemas (a string, `data` a flat list) and the key each stands for. */
const SINGLE_KEYS: Readonly<Record<string, MetaKey>> = { EMAIL_SHA256: 'EMAIL', PHONE_SHA256: 'PHONE', MOBILE_ADVERTISER_ID: 'MADID' };
const UNHASHED: ReadonlySet<MetaKey> = new Set(['EXTERN_ID', 'MADID']);
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** One person as stored: the identity and every non-empty value the row gave. */
export interface MetaMember {
  readonly identity: string;
  readonly keys: Readonly<Partial<Record<MetaKey, string>>>;
}

export interface ParsedPayload {
  readonly schema: readonly MetaKey[];
  /** The valid rows, in order (a repeated identity keeps its last row). */
  readonly members: readonly MetaMember[];
  readonly received: number;
  readonly invalid: number;
  /** Offending value → its key (`""` → `ROW` for a row with no value at all) [U]. */
  readonly samples: Readonly<Record<string, string>>;
}

export interface SessionParam {
  /** An int64 the client chose, as digits. */
  readonly id: string;
  readonly batchSeq: number | undefined;
  readonly isLastBatch: boolean;
  readonly estimatedTotal: number | undefined;
}

export function parsePayload(value: unknown): GraphOutcome<ParsedPayload> {
  if (value === undefined || value === null) return failure(errors.invalidParameter('The parameter payload is required'));
  if (typeof value !== 'object' || Array.isArray(value)) return failure(errors.invalidParameter('Param payload must be a JSON object'));
  const { schema: rawSchema, data } = value as { schema?: unknown; data?: unknown };
  const schema = parseSchema(rawSchema);
  if (schema.kind === 'error') return schema;
  if (!Array.isArray(data) || data.length === 0) return failure(errors.schemaMismatch());
  if (data.length > MAX_ROWS) return failure(errors.invalidParameter(`Too many users in one request: at most ${MAX_ROWS} are allowed, ${data.length} were sent`));
  const keys = schema.value.keys;
  const rows: Array<readonly unknown[]> = [];
  for (const row of data as unknown[]) {
    // A single-key schema takes a flat list; rows of one value are read the same way [U].
    const cells = schema.value.isSingle && !Array.isArray(row) ? [row] : row;
    if (!Array.isArray(cells) || cells.length !== keys.length) return failure(errors.schemaMismatch());
    rows.push(cells);
  }
  const members = new Map<string, MetaMember>();
  const samples: Record<string, string> = {};
  let invalid = 0;
  for (const cells of rows) {
    const read = readRow(keys, cells);
    if ('member' in read) {
      members.delete(read.member.identity);
      members.set(read.member.identity, read.member);
      continue;
    }
    invalid += 1;
    if (Object.keys(samples).length < MAX_SAMPLES) samples[read.sample] = read.key;
  }
  return ok({ schema: keys, members: [...members.values()], received: rows.length, invalid, samples });
}

function parseSchema(value: unknown): GraphOutcome<{ keys: readonly MetaKey[]; isSingle: boolean }> {
  if (typeof value === 'string') {
    const key = SINGLE_KEYS[value] ?? (KEYS.includes(value as MetaKey) ? (value as MetaKey) : undefined);
    return key ? ok({ keys: [key], isSingle: true }) : failure(errors.invalidParameter(`Invalid schema: ${value} is not a supported key`));
  }
  if (!Array.isArray(value) || value.length === 0) return failure(errors.invalidParameter('The parameter payload.schema is required'));
  const keys: MetaKey[] = [];
  for (const entry of value as unknown[]) {
    // `EMAIL_SHA256` inside a multi-key schema is read as EMAIL [U].
    const key = typeof entry === 'string' ? (SINGLE_KEYS[entry] ?? (KEYS.includes(entry as MetaKey) ? (entry as MetaKey) : undefined)) : undefined;
    if (!key) return failure(errors.invalidParameter(`Invalid schema: ${String(entry)} is not a supported key`));
    if (keys.includes(key)) return failure(errors.invalidParameter(`Invalid schema: ${key} appears twice`));
    keys.push(key);
  }
  return ok({ keys, isSingle: false });
}

/** A valid row's member, or why the row is invalid (its first bad value and that value's key). */
function readRow(keys: readonly MetaKey[], cells: readonly unknown[]): { member: MetaMember } | { sample: string; key: string } {
  const values: Partial<Record<MetaKey, string>> = {};
  for (const [i, key] of keys.entries()) {
    const cell = cells[i];
    if (cell === '' || cell === null || cell === undefined) continue;
    // EXTERN_ID may come as a number; everything else is text.
    const text = typeof cell === 'number' && key === 'EXTERN_ID' ? String(cell) : cell;
    if (typeof text !== 'string') return { sample: JSON.stringify(cell), key };
    if (!UNHASHED.has(key) && !SHA256_HEX.test(text)) return { sample: text, key };
    values[key] = text;
  }
  const identity = identityOf(keys, values);
  return identity === undefined ? { sample: '', key: 'ROW' } : { member: { identity, keys: values } };
}

function identityOf(keys: readonly MetaKey[], values: Partial<Record<MetaKey, string>>): string | undefined {
  const key = values.EMAIL !== undefined ? 'EMAIL' : values.EXTERN_ID !== undefined ? 'EXTERN_ID' : keys.find((k) => values[k] !== undefined);
  return key === undefined ? undefined : `${key}:${values[key] as string}`;
}

/** `session` on /users (optional) and /usersreplace (required). */
export function parseSession(value: unknown, isRequired: boolean): GraphOutcome<SessionParam | undefined> {
  if (value === undefined || value === null) return isRequired ? failure(errors.invalidParameter('The parameter session is required')) : ok(undefined);
  if (typeof value !== 'object' || Array.isArray(value)) return failure(errors.invalidParameter('Param session must be a JSON object'));
  const s = value as Record<string, unknown>;
  const id = typeof s.session_id === 'number' && Number.isSafeInteger(s.session_id) && s.session_id > 0 ? String(s.session_id) : typeof s.session_id === 'string' && /^[1-9]\d{0,18}$/.test(s.session_id) ? s.session_id : undefined;
  if (id === undefined) return failure(errors.invalidParameter('Param session[session_id] must be a positive integer'));
  const batchSeq = wholeNumber(s.batch_seq);
  if (s.batch_seq !== undefined && (batchSeq === undefined || batchSeq < 1)) return failure(errors.invalidParameter('Param session[batch_seq] must be a positive integer'));
  if (isRequired && batchSeq === undefined) return failure(errors.invalidParameter('The parameter session[batch_seq] is required'));
  const last = s.last_batch_flag;
  if (last !== undefined && typeof last !== 'boolean' && last !== 'true' && last !== 'false') return failure(errors.invalidParameter('Param session[last_batch_flag] must be a boolean'));
  const estimated = wholeNumber(s.estimated_num_total);
  return ok({ id, batchSeq, isLastBatch: last === true || last === 'true', estimatedTotal: estimated });
}

function wholeNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Whether Meta "matched" this identity to a person: a fixed share of identities, chosen by the
 * first 32 bits of the identity's SHA-256, so the same identity always matches or never does and
 * a test can compute the count it should see.
 */
export function isMatched(identity: string, matchRate: number): boolean {
  const head = createHash('sha256').update(identity).digest().readUInt32BE(0);
  return head / 2 ** 32 < matchRate;
}
