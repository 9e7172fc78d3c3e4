/**
 * The Kit side of the store on PostgreSQL (kit-types.ts): the subscriber mirror, sync checkpoints,
 * the shared rate budget and webhook registrations. Same tables and behaviour as the SQLite
 * reference (src/store/sqlite/core-kit.ts). `applyMirror` takes the caller's client, so a
 * webhook's mirror changes commit in commitDelivery's transaction, with its event or not at all.
 */
import type pg from 'pg';
import type {
  KitStore,
  MirrorChange,
  MirrorFilter,
  MirrorSubscriber,
  MirrorTag,
  RateBudgetDecision,
  RateBudgetInput,
  SubscriberSnapshot,
  SyncCheckpoint,
  WebhookRegistration,
} from '../kit-types.js';
import { withTransaction, type Queryable } from './pool.js';

const DEFAULT_MIRROR_LIMIT = 1000;

/** What a row first seen through a tag_added event (no subscriber object) holds until one arrives. */
const UNKNOWN_EMAIL = '';
const UNKNOWN_STATE = 'unknown';

/**
 * The first key of the rate budget's advisory locks (the second is the credential's hash): any
 * constant kitrelay instances agree on, apart from the other areas' lock keys.
 */
const RATE_BUDGET_LOCK = 7_242_004;

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

// Kit's created_at never changes, so a change that lacks it keeps the one already known.
const UPSERT_SUBSCRIBER = `
  INSERT INTO subscribers (kit_id, email, first_name, state, fields, created_at, updated_at, source)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (kit_id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
    state = excluded.state, fields = excluded.fields, created_at = coalesce(excluded.created_at, subscribers.created_at),
    updated_at = excluded.updated_at, source = excluded.source`;

const ENSURE_SUBSCRIBER = `
  INSERT INTO subscribers (kit_id, email, first_name, state, fields, created_at, updated_at, source)
  VALUES ($1, $2, NULL, '${UNKNOWN_STATE}', '{}', NULL, $3, 'webhook')
  ON CONFLICT (kit_id) DO UPDATE SET
    email = CASE WHEN subscribers.email = '${UNKNOWN_EMAIL}' THEN excluded.email ELSE subscribers.email END,
    updated_at = excluded.updated_at, source = excluded.source`;

// Legacy tag webhooks carry no tag name: another subscriber's row of the same tag lends it, so a
// selection by tag name (a Meta audience's) sees a tag added by webhook.
const UPSERT_TAG = `
  INSERT INTO subscriber_tags (kit_id, tag_id, tag_name, tagged_at)
  VALUES ($1, $2, coalesce($3::text, (SELECT tag_name FROM subscriber_tags WHERE tag_id = $2 AND tag_name IS NOT NULL LIMIT 1)), $4)
  ON CONFLICT (kit_id, tag_id) DO UPDATE SET tag_name = coalesce(excluded.tag_name, subscriber_tags.tag_name),
    tagged_at = coalesce(excluded.tagged_at, subscriber_tags.tagged_at)`;

/**
 * A webhook's mirror changes, in order. Runs inside commitDelivery's transaction (its `client`),
 * for accepted events only.
 */
export async function applyMirror(client: Queryable, changes: readonly MirrorChange[], now: number): Promise<void> {
  // A tag change needs its subscriber's row; one the same event has just written is there.
  let written: number | undefined;
  for (const change of changes) {
    switch (change.kind) {
      case 'subscriber':
        await writeSubscriber(client, change.subscriber, 'webhook', now);
        written = change.subscriber.kitId;
        break;
      case 'tag_added':
        if (written !== change.kitId) await client.query(ENSURE_SUBSCRIBER, [change.kitId, change.email?.toLowerCase() ?? UNKNOWN_EMAIL, now]);
        await writeTag(client, change.kitId, change.tag);
        break;
      case 'tag_removed': {
        const removed = await client.query('DELETE FROM subscriber_tags WHERE kit_id = $1 AND tag_id = $2', [change.kitId, change.tagId]);
        if ((removed.rowCount ?? 0) > 0) {
          await client.query(`UPDATE subscribers SET updated_at = $2, source = 'webhook' WHERE kit_id = $1`, [change.kitId, now]);
        }
        break;
      }
    }
  }
}

async function writeSubscriber(client: Queryable, subscriber: Omit<SubscriberSnapshot, 'tags'>, source: MirrorSubscriber['source'], now: number): Promise<void> {
  await client.query(UPSERT_SUBSCRIBER, [
    subscriber.kitId,
    subscriber.email.toLowerCase(),
    subscriber.firstName,
    subscriber.state,
    JSON.stringify(subscriber.fields) ?? '{}',
    subscriber.createdAt,
    now,
    source,
  ]);
}

async function writeTag(client: Queryable, kitId: number, tag: MirrorTag): Promise<void> {
  await client.query(UPSERT_TAG, [kitId, tag.id, tag.name ?? null, tag.taggedAt ?? null]);
}

export class PgKitOps implements KitStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  // ---------------------------------------------------------------- subscriber mirror

  /** Whole snapshots, in one transaction; a snapshot's tags, when it has them, replace the subscriber's tags. */
  async upsertSubscribers(snapshots: readonly SubscriberSnapshot[], source: 'backfill' | 'reconcile', now: number): Promise<void> {
    if (snapshots.length === 0) return;
    // In kit id order (a stable sort: a subscriber twice in a page keeps its last snapshot), so two
    // concurrent pages lock the rows they share in the same order and cannot deadlock.
    const ordered = [...snapshots].sort((a, b) => a.kitId - b.kitId);
    await withTransaction(this.#pool, async (client) => {
      for (const snapshot of ordered) {
        await writeSubscriber(client, snapshot, source, now);
        if (snapshot.tags === undefined) continue;
        const tagIds = snapshot.tags.map((tag) => tag.id);
        await client.query('DELETE FROM subscriber_tags WHERE kit_id = $1 AND tag_id <> ALL($2::bigint[])', [snapshot.kitId, tagIds]);
        for (const tag of snapshot.tags) await writeTag(client, snapshot.kitId, tag);
      }
    });
  }

  async getSubscriber(kitId: number): Promise<MirrorSubscriber | undefined> {
    const { rows } = await this.#pool.query<SubscriberRow>('SELECT * FROM subscribers WHERE kit_id = $1', [kitId]);
    return (await this.#withTags(rows))[0];
  }

  async getSubscriberByEmail(email: string): Promise<MirrorSubscriber | undefined> {
    // Two rows can share an address while a changed email has not reached the stale one: the
    // freshest wins.
    const { rows } = await this.#pool.query<SubscriberRow>('SELECT * FROM subscribers WHERE email = $1 ORDER BY updated_at DESC, kit_id DESC LIMIT 1', [
      email.toLowerCase(),
    ]);
    return (await this.#withTags(rows))[0];
  }

  /** In kit_id order; the page's tags come from one query. */
  async listSubscribers(filter: MirrorFilter): Promise<MirrorSubscriber[]> {
    const clauses: string[] = [];
    const params: unknown[] = [];
    const add = (clause: (param: string) => string, value: unknown): void => {
      if (value === undefined) return;
      params.push(value);
      clauses.push(clause(`$${params.length}`));
    };
    add((p) => `kit_id > ${p}`, filter.afterKitId);
    add((p) => `kit_id = ANY(${p}::bigint[])`, filter.kitIds);
    add((p) => `state = ${p}`, filter.state);
    add((p) => `kit_id IN (SELECT kit_id FROM subscriber_tags WHERE tag_id = ${p})`, filter.tagId);
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    params.push(Math.max(Math.trunc(filter.limit ?? DEFAULT_MIRROR_LIMIT), 1));
    const { rows } = await this.#pool.query<SubscriberRow>(`SELECT * FROM subscribers ${where} ORDER BY kit_id LIMIT $${params.length}`, params);
    return this.#withTags(rows);
  }

  async countSubscribers(): Promise<number> {
    const { rows } = await this.#pool.query<{ count: number }>('SELECT count(*) AS count FROM subscribers');
    return rows[0]?.count ?? 0;
  }

  async #withTags(rows: readonly SubscriberRow[]): Promise<MirrorSubscriber[]> {
    if (rows.length === 0) return [];
    const tags = new Map<number, MirrorTag[]>();
    const { rows: tagRows } = await this.#pool.query<TagRow>('SELECT * FROM subscriber_tags WHERE kit_id = ANY($1::bigint[]) ORDER BY kit_id, tag_id', [
      rows.map((row) => row.kit_id),
    ]);
    for (const tag of tagRows) {
      let list = tags.get(tag.kit_id);
      if (list === undefined) tags.set(tag.kit_id, (list = []));
      list.push(tagFromRow(tag));
    }
    return rows.map((row) => subscriberFromRow(row, tags.get(row.kit_id) ?? []));
  }

  // ---------------------------------------------------------------- sync checkpoints

  async getCheckpoint(name: string): Promise<SyncCheckpoint | undefined> {
    const { rows } = await this.#pool.query<CheckpointRow>('SELECT * FROM sync_checkpoints WHERE name = $1', [name]);
    const row = rows[0];
    return (
      row && {
        name: row.name,
        cursor: row.cursor,
        data: JSON.parse(row.data) as Record<string, unknown>,
        startedAt: row.started_at,
        updatedAt: row.updated_at,
        completedAt: row.completed_at,
      }
    );
  }

  async saveCheckpoint(checkpoint: SyncCheckpoint): Promise<void> {
    const { name, cursor, startedAt, updatedAt, completedAt } = checkpoint;
    await this.#pool.query(
      `INSERT INTO sync_checkpoints (name, cursor, data, started_at, updated_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, data = excluded.data, started_at = excluded.started_at,
         updated_at = excluded.updated_at, completed_at = excluded.completed_at`,
      [name, cursor, JSON.stringify(checkpoint.data) ?? '{}', startedAt, updatedAt, completedAt],
    );
  }

  // ---------------------------------------------------------------- rate budget

  /**
   * A request at `at` counts while at > now − windowMs, so waiting `retryAfterMs` always frees a
   * slot. Where SQLite's check and spend shared the file's write lock, here every spender of one
   * credential first takes a transaction-level advisory lock on it (keyed by the credential's
   * hash; a collision only serialises two credentials): under READ COMMITTED each statement after
   * the lock sees the previous holder's committed spend, so processes never both take the last slot.
   */
  async takeRateBudget(input: RateBudgetInput): Promise<RateBudgetDecision> {
    const { credential, limit, windowMs, now } = input;
    return withTransaction(this.#pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [RATE_BUDGET_LOCK, credential]);
      const blocked = await client.query<{ until: number }>('SELECT until FROM rate_budget_blocks WHERE credential = $1', [credential]);
      const blockedUntil = blocked.rows[0]?.until;
      if (blockedUntil !== undefined && blockedUntil > now) return { ok: false, retryAfterMs: blockedUntil - now };
      await client.query('DELETE FROM rate_budget_log WHERE credential = $1 AND at <= $2', [credential, now - windowMs]);
      const spent = await client.query<{ count: number; oldest: number | null }>(
        'SELECT count(*) AS count, min(at) AS oldest FROM rate_budget_log WHERE credential = $1',
        [credential],
      );
      const { count, oldest } = spent.rows[0] ?? { count: 0, oldest: null };
      if (count < limit) {
        await client.query('INSERT INTO rate_budget_log (credential, at) VALUES ($1, $2)', [credential, now]);
        return { ok: true, remaining: limit - count - 1 };
      }
      const retryAfterMs = oldest === null ? windowMs : oldest + windowMs - now;
      return { ok: false, retryAfterMs: Math.max(retryAfterMs, 1) };
    });
  }

  /** Two processes can each get a 429 with its own Retry-After: the later end holds. */
  async blockRateBudget(credential: string, until: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO rate_budget_blocks (credential, until) VALUES ($1, $2)
       ON CONFLICT (credential) DO UPDATE SET until = greatest(rate_budget_blocks.until, excluded.until)`,
      [credential, until],
    );
  }

  // ---------------------------------------------------------------- webhook registrations

  async listWebhookRegistrations(): Promise<WebhookRegistration[]> {
    const { rows } = await this.#pool.query<RegistrationRow>('SELECT * FROM webhook_registrations ORDER BY system, kit_id');
    return rows.map((row) => ({
      system: row.system as WebhookRegistration['system'],
      kitId: row.kit_id,
      route: row.route,
      url: row.url,
      createdAt: row.created_at,
    }));
  }

  async saveWebhookRegistration(registration: WebhookRegistration): Promise<void> {
    const { system, kitId, route, url, createdAt } = registration;
    await this.#pool.query(
      `INSERT INTO webhook_registrations (system, kit_id, route, url, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (system, kit_id) DO UPDATE SET route = excluded.route, url = excluded.url, created_at = excluded.created_at`,
      [system, kitId, route, url, createdAt],
    );
  }

  async deleteWebhookRegistration(system: WebhookRegistration['system'], kitId: number): Promise<void> {
    await this.#pool.query('DELETE FROM webhook_registrations WHERE system = $1 AND kit_id = $2', [system, kitId]);
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
    fields: JSON.parse(row.fields) as Record<string, string | null>,
    tags,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    source: row.source as MirrorSubscriber['source'],
  };
}
