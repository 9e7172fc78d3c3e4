/**
 * One write to the Airtable simulator's workspace as a **transaction**: the records it created,
 * the cells it changed (new and old values, for webhook payloads) and the records it destroyed.
 * `commit()` numbers it per base (`baseTransactionNumber`) and hands it to the listeners
 * (simulator-webhooks.ts). A write that changed nothing — a PATCH with the values already there —
 * makes no transaction, so no payload [U: Airtable's behaviour for a no-op write].
 */
import { COMPUTED_TYPES, isSameValue, type CellValue } from './simulator-fields.js';
import { reindex, unindex } from './simulator-index.js';
import type { ChangeSource, SimBase, SimRecord, SimTable, SimUser } from './simulator-state.js';

export interface ChangedRecord {
  readonly record: SimRecord;
  /** The fields that changed: their new values (undefined: cleared) and old ones. */
  readonly current: ReadonlyMap<string, CellValue | undefined>;
  readonly previous: ReadonlyMap<string, CellValue | undefined>;
}

/** A committed write, as webhooks see it. */
export interface Transaction {
  readonly base: SimBase;
  readonly table: SimTable;
  readonly number: number;
  /** Epoch ms. */
  readonly at: number;
  readonly source: ChangeSource;
  readonly user: SimUser;
  readonly created: readonly SimRecord[];
  readonly changed: readonly ChangedRecord[];
  readonly destroyed: readonly string[];
}

/** One transaction in the making. */
export class Writer {
  readonly #created: SimRecord[] = [];
  readonly #changed = new Map<string, { record: SimRecord; current: Map<string, CellValue | undefined>; previous: Map<string, CellValue | undefined> }>();
  readonly #destroyed: string[] = [];

  constructor(
    private readonly store: WriterStore,
    private readonly base: SimBase,
    private readonly table: SimTable,
    private readonly source: ChangeSource,
    private readonly user: SimUser,
  ) {}

  create(cells: ReadonlyMap<string, CellValue | undefined>): SimRecord {
    const record = this.store.insert(cells);
    this.#created.push(record);
    return record;
  }

  /** PATCH merges the cells given; PUT (`isReplace`) also clears every editable cell not given. */
  update(record: SimRecord, cells: ReadonlyMap<string, CellValue | undefined>, isReplace: boolean): void {
    const now = this.store.now();
    const next = new Map(cells);
    if (isReplace) for (const field of this.table.fields) if (!COMPUTED_TYPES.has(field.type) && !next.has(field.id)) next.set(field.id, undefined);
    unindex(this.table, record);
    for (const [fieldId, value] of next) {
      const before = record.cells.get(fieldId);
      if (isSameValue(before, value)) continue;
      if (value === undefined) record.cells.delete(fieldId);
      else record.cells.set(fieldId, value);
      record.changedAt.set(fieldId, now);
      let change = this.#changed.get(record.id);
      if (!change) this.#changed.set(record.id, (change = { record, current: new Map(), previous: new Map() }));
      if (!change.previous.has(fieldId)) change.previous.set(fieldId, before);
      change.current.set(fieldId, value);
    }
    reindex(this.table, record);
    this.table.version += 1;
  }

  destroy(record: SimRecord): void {
    unindex(this.table, record);
    this.table.records.delete(record.id);
    this.#changed.delete(record.id);
    this.#destroyed.push(record.id);
    this.table.version += 1;
  }

  /** Numbers the transaction and tells the listeners; a write that changed nothing makes none. */
  commit(): Transaction | undefined {
    if (this.#created.length === 0 && this.#changed.size === 0 && this.#destroyed.length === 0) return undefined;
    this.base.transactionNumber += 1;
    const tx: Transaction = {
      base: this.base,
      table: this.table,
      number: this.base.transactionNumber,
      at: this.store.now(),
      source: this.source,
      user: this.user,
      created: this.#created.filter((r) => this.table.records.has(r.id)),
      changed: [...this.#changed.values()],
      destroyed: this.#destroyed,
    };
    this.store.publish(tx);
    return tx;
  }
}

/** What a Writer needs of the state. */
export interface WriterStore {
  readonly now: () => number;
  /** Adds a record to the writer's table. */
  readonly insert: (cells: ReadonlyMap<string, CellValue | undefined>) => SimRecord;
  readonly publish: (tx: Transaction) => void;
}
