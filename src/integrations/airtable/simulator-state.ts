/**
 * The Airtable simulator's workspace: bases, their tables, fields and records, and the writes
 * applied to them. Plain data, no I/O: the routes read requests, this applies them.
 *
 * Words, as Airtable uses them (reference/destinations.md §3):
 * - **base** (`app…`): a database; the unit of the rate limit and of webhooks.
 * - **table** (`tbl…`): addressed by id or by name; its first field is the primary field.
 * - **field** (`fld…`): a typed column, addressed by name or id in writes (simulator-fields.ts).
 * - **record** (`rec…`): a row: `id`, `createdTime`, cells by field; each cell remembers when it
 *   last changed, which is what LAST_MODIFIED_TIME() reads.
 * - **transaction**: one write — an API request or one edit by a person — numbered per base
 *   (`baseTransactionNumber`; simulator-transaction.ts); webhooks turn each into a payload
 *   (simulator-webhooks.ts).
 *
 * Ids are a prefix and 14 letters and digits from a PRNG seeded by the `seed` option: the same
 * seed and the same calls give the same ids.
 */
import { prng } from '../../simulators/random.js';
import { errors, fail, ok, type Result } from './simulator-errors.js';
import { newChoice, parseCell, type AirtableField, type CellValue, type FieldSpec } from './simulator-fields.js';
import { reindex, type MergeIndexes } from './simulator-index.js';
import { Writer, type Transaction } from './simulator-transaction.js';

export type { ChangedRecord, Transaction, Writer } from './simulator-transaction.js';

export interface SimRecord {
  readonly id: string;
  /** Epoch ms. */
  readonly createdTime: number;
  /** Non-empty cells by field id. */
  readonly cells: Map<string, CellValue>;
  /** Epoch ms of each field's last change (set at creation for the cells given). */
  readonly changedAt: Map<string, number>;
  readonly autoNumber: number;
}

export interface SimView {
  readonly id: string;
  readonly name: string;
  readonly type: 'grid';
}

export interface SimTable {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly fields: AirtableField[];
  readonly views: SimView[];
  /** In creation order: Airtable's order when no sort or view says otherwise. */
  readonly records: Map<string, SimRecord>;
  nextAutoNumber: number;
  /** Bumped by every write: iterators may go stale on it. */
  version: number;
  /** Upsert's lookups (simulator-index.ts). */
  readonly mergeIndexes: MergeIndexes;
}

export interface SimBase {
  readonly id: string;
  readonly name: string;
  readonly tables: SimTable[];
  /** The last transaction's number; the next is one more. */
  transactionNumber: number;
}

export interface TableSpec {
  readonly name: string;
  readonly description?: string;
  /** The first is the primary field. */
  readonly fields: readonly FieldSpec[];
  /** Records made at start, fields by name (written with typecast). @default none */
  readonly records?: ReadonlyArray<Readonly<Record<string, unknown>>>;
}

export interface BaseSpec {
  readonly name: string;
  readonly tables: readonly TableSpec[];
}

/** Who made a change, as webhook payloads' `actionMetadata` names them. */
export interface SimUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly permissionLevel: 'none' | 'read' | 'comment' | 'edit' | 'create' | 'owner';
}

/** `publicApi`: a write through the REST API; `client`: a person in Airtable's app [V: webhooks-payload]. */
export type ChangeSource = 'client' | 'publicApi' | 'formSubmission' | 'automation' | 'system' | 'sync' | 'anonymousUser' | 'unknown';

/** A write's fields, checked: cells by field id (undefined clears) and select options to create. */
export interface ParsedFields {
  readonly cells: ReadonlyMap<string, CellValue | undefined>;
  readonly newChoices: ReadonlyMap<string, readonly string[]>;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The seeded base when none is given: a table of Kit subscribers. */
export const DEFAULT_BASE: BaseSpec = {
  name: 'Kit relay',
  tables: [
    {
      name: 'Subscribers',
      fields: [
        { name: 'Email', type: 'email' },
        { name: 'First name', type: 'singleLineText' },
        { name: 'Tags', type: 'multipleSelects', choices: ['customer', 'newsletter', 'vip'] },
        { name: 'Status', type: 'singleSelect', choices: ['active', 'inactive', 'cancelled', 'bounced', 'complained'] },
        { name: 'Subscribed', type: 'checkbox' },
        { name: 'Kit subscriber ID', type: 'number' },
        { name: 'Signed up', type: 'dateTime' },
        { name: 'Notes', type: 'multilineText' },
        { name: 'Last modified', type: 'lastModifiedTime' },
      ],
    },
  ],
};

export class AirtableState {
  readonly bases = new Map<string, SimBase>();
  readonly now: () => number;
  readonly #random: () => number;
  readonly #listeners = new Set<(tx: Transaction) => void>();

  constructor(options: { readonly seed: number; readonly now: () => number }) {
    this.now = options.now;
    this.#random = prng(options.seed);
  }

  /** A prefix and 14 letters and digits [U: the length]: `rec…`, `tbl…`, `ach…`. */
  newId(prefix: string): string {
    let id = prefix;
    for (let i = 0; i < 14; i += 1) id += ALPHABET[Math.floor(this.#random() * ALPHABET.length)];
    return id;
  }

  /** Random bytes from the seeded stream (secrets, tokens). */
  bytes(count: number): Buffer {
    return Buffer.from(Array.from({ length: count }, () => Math.floor(this.#random() * 256)));
  }

  createBase(spec: BaseSpec): SimBase {
    const base: SimBase = { id: this.newId('app'), name: spec.name, tables: [], transactionNumber: 0 };
    this.bases.set(base.id, base);
    for (const table of spec.tables) this.createTable(base, table);
    return base;
  }

  createTable(base: SimBase, spec: TableSpec): SimTable {
    if (spec.fields.length === 0) throw new RangeError(`airtable simulator: table ${spec.name} needs at least one field`);
    if (base.tables.some((t) => t.name === spec.name)) throw new RangeError(`airtable simulator: base ${base.id} already has a table ${spec.name}`);
    const fields = spec.fields.map((f): AirtableField => ({
      id: this.newId('fld'),
      name: f.name,
      type: f.type,
      ...(f.description === undefined ? {} : { description: f.description }),
      choices: (f.choices ?? []).map((name, i) => newChoice(name, i, this.newId('sel'))),
    }));
    const table: SimTable = { id: this.newId('tbl'), name: spec.name, ...(spec.description === undefined ? {} : { description: spec.description }), fields, views: [{ id: this.newId('viw'), name: 'Grid view', type: 'grid' }], records: new Map(), nextAutoNumber: 1, version: 0, mergeIndexes: new Map() };
    base.tables.push(table);
    for (const fieldsByName of spec.records ?? []) {
      const parsed = this.parseFields(table, fieldsByName, true);
      if ('error' in parsed) throw new RangeError(`airtable simulator: seed record for ${spec.name}: ${parsed.error.message}`);
      this.addChoices(table, parsed.ok.newChoices);
      this.#insert(table, parsed.ok.cells);
    }
    return table;
  }

  /** A table by id or by name (URL-decoded). */
  table(base: SimBase, ref: string): SimTable | undefined {
    return base.tables.find((t) => t.id === ref) ?? base.tables.find((t) => t.name === ref);
  }

  /** Checks a write's `fields` (names or ids) against the table; nothing changes yet. */
  parseFields(table: SimTable, raw: unknown, isTypecast: boolean): Result<ParsedFields> {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail(errors.invalidRequest('"fields" must be an object'));
    const cells = new Map<string, CellValue | undefined>();
    const newChoices = new Map<string, readonly string[]>();
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      const field = fieldOf(table, key);
      if (!field) return fail(errors.unknownField(key));
      const parsed = parseCell(field, value, isTypecast);
      if ('error' in parsed) return parsed;
      cells.set(field.id, parsed.ok.value);
      if (parsed.ok.newChoices.length > 0) newChoices.set(field.id, parsed.ok.newChoices);
    }
    return ok({ cells, newChoices });
  }

  /** Adds the select options a typecast write brought (once the whole write checked out). */
  addChoices(table: SimTable, newChoices: ReadonlyMap<string, readonly string[]>): void {
    for (const [fieldId, names] of newChoices) {
      const field = table.fields.find((f) => f.id === fieldId);
      for (const name of names) if (field && !field.choices.some((c) => c.name === name)) field.choices.push(newChoice(name, field.choices.length, this.newId('sel')));
    }
  }

  /** Starts a write to one table; `commit()` numbers it and tells the listeners. */
  begin(base: SimBase, table: SimTable, source: ChangeSource, user: SimUser): Writer {
    return new Writer({ now: this.now, insert: (cells) => this.#insert(table, cells), publish: (tx) => this.#publish(tx) }, base, table, source, user);
  }

  /** Calls `listener` with every committed transaction; returns how to stop. */
  onCommit(listener: (tx: Transaction) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #publish(tx: Transaction): void {
    for (const listener of this.#listeners) listener(tx);
  }

  #insert(table: SimTable, cells: ReadonlyMap<string, CellValue | undefined>): SimRecord {
    const now = this.now();
    const record: SimRecord = { id: this.newId('rec'), createdTime: now, cells: new Map(), changedAt: new Map(), autoNumber: table.nextAutoNumber++ };
    for (const [fieldId, value] of cells) {
      if (value === undefined) continue;
      record.cells.set(fieldId, value);
      record.changedAt.set(fieldId, now);
    }
    table.records.set(record.id, record);
    reindex(table, record);
    table.version += 1;
    return record;
  }
}

/** A field by id, else by name. */
export function fieldOf(table: SimTable, key: string): AirtableField | undefined {
  return table.fields.find((f) => f.id === key) ?? table.fields.find((f) => f.name === key);
}
