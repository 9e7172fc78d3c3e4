/**
 * The account's small collections: tags, custom fields, forms, sequences and products. They are
 * few (tens to thousands), so they are plain arrays in id order, seeded from the seed model.
 */
import { fieldKey, type CustomField, type Form, type Product, type Sequence, type Tag } from './model.js';
import { hash, type SeedModel } from './seed.js';

export type NameCheck = 'blank' | 'taken';

export class Catalog {
  readonly tags: Tag[];
  readonly customFields: CustomField[];
  readonly forms: Form[];
  readonly sequences: Sequence[];
  readonly products: Product[];
  readonly #now: () => number;
  /** The last id handed out per collection: ids are never reused, even after a delete. */
  readonly #lastId = { tag: 0, field: 0, product: 0 };

  constructor(seed: SeedModel, now: () => number) {
    this.#now = now;
    this.tags = seed.tags.map((t) => ({ ...t }));
    this.customFields = seed.fields.map((f) => ({ ...f }));
    const uid = (id: number) => hash(seed.seed, id, 77).toString(16).padStart(8, '0').slice(0, 10);
    this.forms = seed.forms.map((f) => ({ ...f, uid: uid(f.id), archived: false }));
    this.sequences = seed.sequences.map((s) => ({ ...s, hold: false, repeat: false }));
    this.products = seed.products.map((p) => ({ ...p }));
    this.#lastId.tag = this.tags.length;
    this.#lastId.field = this.customFields.length;
    this.#lastId.product = this.products.length;
  }

  tag(id: number): Tag | undefined {
    return this.tags.find((t) => t.id === id);
  }

  /** Kit matches tag names case-insensitively (reference/kit.md §5 Tags). */
  tagByName(name: string): Tag | undefined {
    const wanted = name.trim().toLowerCase();
    return this.tags.find((t) => t.name.toLowerCase() === wanted);
  }

  createTag(name: string): { tag: Tag; isNew: boolean } | 'blank' {
    const trimmed = name.trim();
    if (trimmed === '') return 'blank';
    const existing = this.tagByName(trimmed);
    if (existing) return { tag: existing, isNew: false };
    const tag: Tag = { id: ++this.#lastId.tag, name: trimmed, createdAt: this.#now() };
    this.tags.push(tag);
    return { tag, isNew: true };
  }

  renameTag(id: number, name: string): Tag | NameCheck | undefined {
    const tag = this.tag(id);
    if (!tag) return undefined;
    const trimmed = name.trim();
    if (trimmed === '') return 'blank';
    const other = this.tagByName(trimmed);
    if (other && other.id !== id) return 'taken';
    tag.name = trimmed;
    return tag;
  }

  customField(id: number): CustomField | undefined {
    return this.customFields.find((f) => f.id === id);
  }

  fieldByKey(key: string): CustomField | undefined {
    return this.customFields.find((f) => fieldKey(f.label) === key);
  }

  #labelCheck(label: string, exceptId?: number): NameCheck | undefined {
    const trimmed = label.trim();
    if (trimmed === '') return 'blank';
    // Labels are unique per account; a clash of derived keys would make `fields` ambiguous, so it counts too.
    const clash = this.customFields.find((f) => f.id !== exceptId && (f.label.toLowerCase() === trimmed.toLowerCase() || fieldKey(f.label) === fieldKey(trimmed)));
    return clash ? 'taken' : undefined;
  }

  createCustomField(label: string): CustomField | NameCheck {
    const problem = this.#labelCheck(label);
    if (problem) return problem;
    const field: CustomField = { id: ++this.#lastId.field, label: label.trim() };
    this.customFields.push(field);
    return field;
  }

  relabelCustomField(id: number, label: string): CustomField | NameCheck | undefined {
    const field = this.customField(id);
    if (!field) return undefined;
    const problem = this.#labelCheck(label, id);
    if (problem) return problem;
    field.label = label.trim();
    return field;
  }

  /** Removes the field; subscribers' values for it disappear with it (they are rendered from this list). */
  deleteCustomField(id: number): CustomField | undefined {
    const index = this.customFields.findIndex((f) => f.id === id);
    if (index === -1) return undefined;
    return this.customFields.splice(index, 1)[0];
  }

  form(id: number): Form | undefined {
    return this.forms.find((f) => f.id === id);
  }

  sequence(id: number): Sequence | undefined {
    return this.sequences.find((s) => s.id === id);
  }

  productByPid(pid: string): Product | undefined {
    return this.products.find((p) => p.pid === pid);
  }

  /** Purchases create the products they name when missing (reference/kit.md §5 Purchases). */
  ensureProduct(pid: string, name: string): Product {
    const existing = this.productByPid(pid);
    if (existing) return existing;
    const product: Product = { id: ++this.#lastId.product, name, pid };
    this.products.push(product);
    return product;
  }
}
