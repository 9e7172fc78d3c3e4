/**
 * The Kit side of the store (kit-types.ts): the subscriber mirror, sync checkpoints, the shared
 * rate budget and webhook registrations. Writes run inside a savepoint of the batch transaction
 * (core.ts); `applyMirror` runs inside commitDelivery's, so a webhook's mirror changes commit with
 * its event or not at all.
 */
import type { Database, Statement } from 'better-sqlite3';
import { StatementCache } from './statements.js';
import type {
  MirrorChange,
  MirrorFilter,
  MirrorSubscriber,
  MirrorTag,
  RateBudgetDecision,
  RateBudgetInput,
  SubscriberSnapshot,
  SyncCheckpoint,
  WebhookRegistration,
} from '../types.js';
import { fromJson, toJson } from '../rows.js';

const DEFAULT_MIRROR_LIMIT = 1000;

/** What a row first seen through a tag_added event (no subscriber object) holds until one arrives. */
const UNKNOWN_EMAIL = '';
const UNKNOWN_STATE = 'unknown';

interface SubscriberRow {
  kit_id: number;
  email: string;
  first_name: string | null;
  state: string;
  fields: string;
  created_at: number | null;
  updated_at: number;
  source: string;
}

interface TagRow {
  kit_id: number;
  tag_id: number;
  tag_name: string | null;
  tagged_at: number | null;
}

interface CheckpointRow {
  name: string;
  cursor: string | null;
  data: string;
  started_at: number;
  updated_at: number;
  completed_at: number | null;
}

interface RegistrationRow {
  system: string;
  kit_id: number;
  route: string;
  url: string;
  created_at: number;
}

export class KitOps {
  readonly #statements: StatementCache;
  readonly #upsertSubscriber: Statement;
  readonly #ensureSubscriber: Statement;
  readonly #touchSubscriber: Statement;
  readonly #upsertTag: Statement;
  readonly #deleteTag: Statement;
  readonly #deleteTagsNotIn: Statement;
  readonly #getSubscriber: Statement<[number], SubscriberRow>;
  readonly #getSubscriberByEmail: Statement<[string], SubscriberRow>;
  readonly #tagsOf: Statement<[string], TagRow>;
  readonly #countSubscribers: Statement<[], number>;
  readonly #getCheckpoint: Statement<[string], CheckpointRow>;
  readonly #saveCheckpoint: Statement;
  readonly #blockedUntil: Statement<[string], number>;
  readonly #pruneBudget: Statement;
  readonly #budgetSpent: Statement<[string], { count: number; oldest: number | null }>;
  readonly #spendBudget: Statement;
  readonly #blockBudget: Statement;
  readonly #listRegistrations: Statement<[], RegistrationRow>;
  readonly #saveRegistration: Statement;
  readonly #deleteRegistration: Statement;

  constructor(db: Database) {
    this.#statements = new StatementCache(db);
    // The statements webhooks run for every event bind by position (see core-ingest.ts).
    // Kit's created_at never changes, so a change that lacks it keeps the one already known.
    this.#upsertSubscriber = db.prepare(`
      INSERT INTO subscribers (kit_id, email, first_name, state, fields, created_at, updated_at, source)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (kit_id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
        state = excluded.state, fields = excluded.fields, created_at = coalesce(excluded.created_at, subscribers.created_at),
        updated_at = excluded.updated_at, source = excluded.source`);
    this.#ensureSubscriber = db.prepare(`
      INSERT INTO subscribers (kit_id, email, first_name, state, fields, created_at, updated_at, source)
      VALUES (?, ?, NULL, '${UNKNOWN_STATE}', '{}', NULL, ?, 'webhook')
      ON CONFLICT (kit_id) DO UPDATE SET
        email = CASE WHEN subscribers.email = '${UNKNOWN_EMAIL}' THEN excluded.email ELSE subscribers.email END,
        updated_at = excluded.updated_at, source = excluded.source`);
    this.#touchSubscriber = db.prepare(`UPDATE subscribers SET updated_at = @now, source = 'webhook' WHERE kit_id = @kitId`);
    // Legacy tag webhooks carry no tag name: another subscriber's row of the same tag lends it, so
    // a selection by tag name (a Meta audience's) sees a tag added by webhook.
    this.#upsertTag = db.prepare(`
      INSERT INTO subscriber_tags (kit_id, tag_id, tag_name, tagged_at)
      VALUES (?, ?, coalesce(?, (SELECT tag_name FROM subscriber_tags WHERE tag_id = ? AND tag_name IS NOT NULL LIMIT 1)), ?)
      ON CONFLICT (kit_id, tag_id) DO UPDATE SET tag_name = coalesce(excluded.tag_name, subscriber_tags.tag_name),
        tagged_at = coalesce(excluded.tagged_at, subscriber_tags.tagged_at)`);
    this.#deleteTag = db.prepare('DELETE FROM subscriber_tags WHERE kit_id = @kitId AND tag_id = @tagId');
    this.#deleteTagsNotIn = db.prepare(
      'DELETE FROM subscriber_tags WHERE kit_id = @kitId AND tag_id NOT IN (SELECT value FROM json_each(@tagIds))',
    );
    this.#getSubscriber = db.prepare('SELECT * FROM subscribers WHERE kit_id = ?');
    // Two rows can share an address while a changed email has not reached the stale one: the
    // freshest wins.
    this.#getSubscriberByEmail = db.prepare('SELECT * FROM subscribers WHERE email = ? ORDER BY updated_at DESC, kit_id DESC LIMIT 1');
    this.#tagsOf = db.prepare('SELECT * FROM subscriber_tags WHERE kit_id IN (SELECT value FROM json_each(?)) ORDER BY kit_id, tag_id');
    this.#countSubscribers = db.prepare<[], number>('SELECT count(*) FROM subscribers').pluck();
    this.#getCheckpoint = db.prepare('SELECT * FROM sync_checkpoints WHERE name = ?');
    this.#saveCheckpoint = db.prepare(`
      INSERT INTO sync_checkpoints (name, cursor, data, started_at, updated_at, completed_at)
      VALUES (@name, @cursor, @data, @startedAt, @updatedAt, @completedAt)
      ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, data = excluded.data, started_at = excluded.started_at,
        updated_at = excluded.updated_at, completed_at = excluded.completed_at`);
    this.#blockedUntil = db.prepare<[string], number>('SELECT until FROM rate_budget_blocks WHERE credential = ?').pluck();
    this.#pruneBudget = db.prepare('DELETE FROM rate_budget_log WHERE credential = @credential AND at <= @cutoff');
    this.#budgetSpent = db.prepare('SELECT count(*) AS count, min(at) AS oldest FROM rate_budget_log WHERE credential = ?');
    this.#spendBudget = db.prepare('INSERT INTO rate_budget_log (credential, at) VALUES (@credential, @now)');
    // Two processes can each get a 429 with its own Retry-After: the later end holds.
    this.#blockBudget = db.prepare(`
      INSERT INTO rate_budget_blocks (credential, until) VALUES (@credential, @until)
      ON CONFLICT (credential) DO UPDATE SET until = max(rate_budget_blocks.until, excluded.until)`);
    this.#listRegistrations = db.prepare('SELECT * FROM webhook_registrations ORDER BY system, kit_id');
    this.#saveRegistration = db.prepare(`
      INSERT INTO webhook_registrations (system, kit_id, route, url, created_at) VALUES (@system, @kitId, @route, @url, @createdAt)
      ON CONFLICT (system, kit_id) DO UPDATE SET route = excluded.route, url = excluded.url, created_at = excluded.created_at`);
    this.#deleteRegistration = db.prepare('DELETE FROM webhook_registrations WHERE system = ? AND kit_id = ?');
  }

  // ---------------------------------------------------------------- subscriber mirror

  /** Whole snapshots; a snapshot's tags, when it has them, replace the subscriber's tags. */
  upsertSubscribers(snapshots: readonly SubscriberSnapshot[], source: 'backfill' | 'reconcile', now: number): void {
    for (const snapshot of snapshots) {
      this.#writeSubscriber(snapshot, source, now);
      if (snapshot.tags === undefined) continue;
      this.#deleteTagsNotIn.run({ kitId: snapshot.kitId, tagIds: JSON.stringify(snapshot.tags.map((tag) => tag.id)) });
      for (const tag of snapshot.tags) this.#writeTag(snapshot.kitId, tag);
    }
  }

  /** A webhook's changes, in order. Runs inside commitDelivery, for accepted events only. */
  applyMirror(changes: readonly MirrorChange[], now: number): void {
    // A tag change needs its subscriber's row; one the same event has just written is there.
    let written: number | undefined;
    for (const change of changes) {
      switch (change.kind) {
        case 'subscriber':
          this.#writeSubscriber(change.subscriber, 'webhook', now);
          written = change.subscriber.kitId;
          break;
        case 'tag_added':
          if (written !== change.kitId) this.#ensureSubscriber.run(change.kitId, change.email?.toLowerCase() ?? UNKNOWN_EMAIL, now);
          this.#writeTag(change.kitId, change.tag);
          break;
        case 'tag_removed':
          if (this.#deleteTag.run({ kitId: change.kitId, tagId: change.tagId }).changes > 0) {
            this.#touchSubscriber.run({ kitId: change.kitId, now });
          }
          break;
      }
    }
  }

  getSubscriber(kitId: number): MirrorSubscriber | undefined {
    const row = this.#getSubscriber.get(kitId);
    return row && this.#withTags([row])[0];
  }

  getSubscriberByEmail(email: string): MirrorSubscriber | undefined {
    const row = this.#getSubscriberByEmail.get(email.toLowerCase());
    return row && this.#withTags([row])[0];
  }

  /** In kit_id order; the page's tags come from one query. */
  listSubscribers(filter: MirrorFilter): MirrorSubscriber[] {
    const clauses: string[] = [];
    const params: Record<string, unknown> = {};
    const add = (clause: string, name: string, value: unknown): void => {
      if (value === undefined) return;
      clauses.push(clause);
      params[name] = value;
    };
    add('kit_id > @afterKitId', 'afterKitId', filter.afterKitId);
    add('kit_id IN (SELECT value FROM json_each(@kitIds))', 'kitIds', filter.kitIds && JSON.stringify(filter.kitIds));
    add('state = @state', 'state', filter.state);
    add('kit_id IN (SELECT kit_id FROM subscriber_tags WHERE tag_id = @tagId)', 'tagId', filter.tagId);
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    const limit = Math.max(Math.trunc(filter.limit ?? DEFAULT_MIRROR_LIMIT), 1);
    const sql = `SELECT * FROM subscribers ${where} ORDER BY kit_id LIMIT @limit`;
    const rows = this.#statements.get(sql).all({ ...params, limit }) as SubscriberRow[];
    return this.#withTags(rows);
  }

  countSubscribers(): number {
    return this.#countSubscribers.get() ?? 0;
  }

  #writeSubscriber(subscriber: Omit<SubscriberSnapshot, 'tags'>, source: MirrorSubscriber['source'], now: number): void {
    this.#upsertSubscriber.run(
      subscriber.kitId,
      subscriber.email.toLowerCase(),
      subscriber.firstName,
      subscriber.state,
      toJson(subscriber.fields) ?? '{}',
      subscriber.createdAt,
      now,
      source,
    );
  }

  #writeTag(kitId: number, tag: MirrorTag): void {
    this.#upsertTag.run(kitId, tag.id, tag.name ?? null, tag.id, tag.taggedAt ?? null);
  }

  #withTags(rows: readonly SubscriberRow[]): MirrorSubscriber[] {
    if (rows.length === 0) return [];
    const tags = new Map<number, MirrorTag[]>();
    for (const tag of this.#tagsOf.all(JSON.stringify(rows.map((row) => row.kit_id)))) {
      let list = tags.get(tag.kit_id);
      if (list === undefined) tags.set(tag.kit_id, (list = []));
      list.push(tagFromRow(tag));
    }
    return rows.map((row) => subscriberFromRow(row, tags.get(row.kit_id) ?? []));
  }

  // ---------------------------------------------------------------- sync checkpoints

  getCheckpoint(name: string): SyncCheckpoint | undefined {
    const row = this.#getCheckpoint.get(name);
    return (
      row && {
        name: row.name,
        cursor: row.cursor,
        data: fromJson<Record<string, unknown>>(row.data, {}),
        startedAt: row.started_at,
        updatedAt: row.updated_at,
        completedAt: row.completed_at,
      }
    );
  }

  saveCheckpoint(checkpoint: SyncCheckpoint): void {
    const { name, cursor, startedAt, updatedAt, completedAt } = checkpoint;
    this.#saveCheckpoint.run({ name, cursor, data: toJson(checkpoint.data) ?? '{}', startedAt, updatedAt, completedAt });
  }

  // ---------------------------------------------------------------- rate budget

  /**
   * A request at `at` counts while at > now − windowMs, so waiting `retryAfterMs` always frees a
   * slot. A write: the check and the spend share the write lock, so processes sharing the file
   * never both take the last slot.
   */
  takeRateBudget(input: RateBudgetInput): RateBudgetDecision {
    const { credential, limit, windowMs, now } = input;
    const blockedUntil = this.#blockedUntil.get(credential);
    if (blockedUntil !== undefined && blockedUntil > now) return { ok: false, retryAfterMs: blockedUntil - now };
    this.#pruneBudget.run({ credential, cutoff: now - windowMs });
    const spent = this.#budgetSpent.get(credential) ?? { count: 0, oldest: null };
    if (spent.count < limit) {
      this.#spendBudget.run({ credential, now });
      return { ok: true, remaining: limit - spent.count - 1 };
    }
    const retryAfterMs = spent.oldest === null ? windowMs : spent.oldest + windowMs - now;
    return { ok: false, retryAfterMs: Math.max(retryAfterMs, 1) };
  }

  blockRateBudget(credential: string, until: number): void {
    this.#blockBudget.run({ credential, until });
  }

  // ---------------------------------------------------------------- webhook registrations

  listWebhookRegistrations(): WebhookRegistration[] {
    return this.#listRegistrations.all().map((row) => ({
      system: row.system as WebhookRegistration['system'],
      kitId: row.kit_id,
      route: row.route,
      url: row.url,
      createdAt: row.created_at,
    }));
  }

  saveWebhookRegistration(registration: WebhookRegistration): void {
    const { system, kitId, route, url, createdAt } = registration;
    this.#saveRegistration.run({ system, kitId, route, url, createdAt });
  }

  deleteWebhookRegistration(system: WebhookRegistration['system'], kitId: number): void {
    this.#deleteRegistration.run(system, kitId);
  }
}

function tagFromRow(row: TagRow): MirrorTag {
  return { id: row.tag_id, ...(row.tag_name !== null && { name: row.tag_name }), ...(row.tagged_at !== null && { taggedAt: row.tagged_at }) };
}

function subscriberFromRow(row: SubscriberRow, tags: readonly MirrorTag[]): MirrorSubscriber {
  return {
    kitId: row.kit_id,
    email: row.email,
    firstName: row.first_name,
    state: row.state,
    fields: fromJson<Record<string, string | null>>(row.fields, {}),
    tags,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    source: row.source as MirrorSubscriber['source'],
  };
}
