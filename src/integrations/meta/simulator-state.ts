/**
 * The Meta simulator's ad account: its customer-file Custom Audiences, their members and their
 * upload sessions. Plain data, no I/O; the routes read parameters, this applies them and answers
 * values or Graph errors.
 *
 * Words, as Meta uses them (reference/destinations.md §2):
 * - **audience**: a customer-file Custom Audience (`subtype: CUSTOM`), numeric string id.
 * - **member**: one uploaded row, keyed by its identity (simulator-payload.ts).
 * - **matched**: a member Meta found a person for; a fixed share (`matchRate`) of identities. The
 *   audience's size as Graph reports it (the count bounds) counts matched members only.
 * - **session**: an upload tracked under a client-chosen `session_id`; every `/users` call has one
 *   (Graph makes one up when none is given). A **replace session** collects `/usersreplace`
 *   batches and, at `last_batch_flag`, becomes the audience's whole membership.
 *
 * Changes apply at once, where Meta takes up to 24 hours (§2.2): a test wants to see them.
 * Ids come from a PRNG seeded by the `seed` option: the same seed gives the same ids.
 */
import { prng } from '../../simulators/random.js';
import { errors, failure, ok, type GraphOutcome } from './simulator-graph.js';
import { isMatched, type MetaMember, type ParsedPayload, type SessionParam } from './simulator-payload.js';

export const CUSTOMER_FILE_SOURCES = ['USER_PROVIDED_ONLY', 'PARTNER_PROVIDED_ONLY', 'BOTH_USER_AND_PARTNER_PROVIDED'] as const;
export type CustomerFileSource = (typeof CUSTOMER_FILE_SOURCES)[number];

/** [U] Graph documents `stage` as a string without its values. */
export type SessionStage = 'uploading' | 'processed' | 'timeout' | 'failed';

export interface MetaSession {
  readonly id: string;
  readonly operation: 'add' | 'remove' | 'replace';
  /** Epoch ms. */
  readonly startTime: number;
  endTime: number | undefined;
  received: number;
  invalid: number;
  matched: number;
  stage: SessionStage;
  estimatedTotal: number | undefined;
  /** `batch_seq` of each batch, in arrival order. */
  readonly batches: number[];
}

export interface StoredMember extends MetaMember {
  readonly isMatched: boolean;
}

export interface MetaAudience {
  readonly id: string;
  name: string;
  description: string;
  readonly subtype: 'CUSTOM';
  readonly customerFileSource: CustomerFileSource;
  /** Epoch ms. */
  readonly createdAt: number;
  updatedAt: number;
  readonly members: Map<string, StoredMember>;
  /** Oldest first. */
  readonly sessions: MetaSession[];
  /** operation_status 471: writes answer 1713230. */
  isFlagged: boolean;
  isDeleted: boolean;
  /** The open replace session and the members its batches brought so far. */
  replace: { readonly session: MetaSession; readonly members: Map<string, StoredMember> } | undefined;
}

export interface AudienceInput {
  /** Digits; an audience id already live is refused. @default the next of `2385…0001`, `…0002`… */
  readonly id?: string;
  readonly name: string;
  readonly description?: string;
  /** @default 'USER_PROVIDED_ONLY' */
  readonly customerFileSource?: CustomerFileSource;
}

/** What `/users` and `/usersreplace` answer (§2.2 [V]). */
export interface BatchAnswer {
  readonly audience_id: string;
  readonly session_id: string;
  readonly num_received: number;
  readonly num_invalid_entries: number;
  readonly invalid_entry_samples: Readonly<Record<string, string>>;
}

export interface MetaStateOptions {
  readonly seed: number;
  readonly now: () => number;
  /** `act_<digits>` or the digits. @default from the seed */
  readonly adAccountId?: string;
  readonly matchRate: number;
  readonly replaceTimeoutMs: number;
}

export class MetaState {
  /** `act_<digits>`: what paths name. */
  readonly adAccountId: string;
  /** The digits alone: what usage headers and `account_id` show. */
  readonly accountId: string;
  readonly audiences = new Map<string, MetaAudience>();
  readonly matchRate: number;
  /** Set, a removal leaving fewer members fails (`tooSmall`) [U]. */
  minimumSize: number | undefined;
  readonly #now: () => number;
  readonly #replaceTimeoutMs: number;
  readonly #random: () => number;
  #audienceSeq: number;

  constructor(options: MetaStateOptions) {
    const seeded = prng(options.seed);
    const digits = (n: number) => String(Math.floor(seeded() * 9 * 10 ** (n - 1)) + 10 ** (n - 1));
    this.accountId = options.adAccountId?.replace(/^act_/, '') ?? digits(15);
    this.adAccountId = `act_${this.accountId}`;
    this.#audienceSeq = Math.floor(seeded() * 1e11);
    // A stream of its own, so runtime ids do not shift when the seeded account grows.
    this.#random = prng(options.seed ^ 0x3c6ef372);
    this.#now = options.now;
    this.matchRate = options.matchRate;
    this.#replaceTimeoutMs = options.replaceTimeoutMs;
  }

  now(): number {
    return this.#now();
  }

  createAudience(input: AudienceInput): MetaAudience {
    this.#audienceSeq += 1;
    // 17 digits like Meta's (`23850000000000001`): past 2^53, so built as text.
    const id = input.id ?? `2385${String(this.#audienceSeq).padStart(13, '0')}`;
    if (!/^\d+$/.test(id) || this.audiences.has(id)) throw new Error(`audience id ${id} is not digits, or is taken`);
    const now = this.#now();
    const audience: MetaAudience = {
      id,
      name: input.name,
      description: input.description ?? '',
      subtype: 'CUSTOM',
      customerFileSource: input.customerFileSource ?? 'USER_PROVIDED_ONLY',
      createdAt: now,
      updatedAt: now,
      members: new Map(),
      sessions: [],
      isFlagged: false,
      isDeleted: false,
      replace: undefined,
    };
    this.audiences.set(id, audience);
    return audience;
  }

  /** A live audience, its replace session expired if its time is up. */
  audience(id: string): MetaAudience | undefined {
    const audience = this.audiences.get(id);
    if (!audience || audience.isDeleted) return undefined;
    this.#expireReplace(audience);
    return audience;
  }

  /** Live audiences, newest first. */
  liveAudiences(): MetaAudience[] {
    return [...this.audiences.values()].filter((a) => !a.isDeleted).reverse();
  }

  /** Matched members: the audience's size as Graph counts it. */
  matchedCount(audience: MetaAudience): number {
    let count = 0;
    for (const member of audience.members.values()) if (member.isMatched) count += 1;
    return count;
  }

  addUsers(audience: MetaAudience, payload: ParsedPayload, param: SessionParam | undefined): GraphOutcome<BatchAnswer> {
    const blocked = this.#writeBlock(audience);
    if (blocked) return failure(blocked);
    const session = this.#userSession(audience, 'add', param);
    if (session.kind === 'error') return session;
    for (const member of payload.members) audience.members.set(member.identity, this.#store(member));
    return ok(this.#record(audience, session.value, payload, param));
  }

  removeUsers(audience: MetaAudience, payload: ParsedPayload, param: SessionParam | undefined): GraphOutcome<BatchAnswer> {
    const blocked = this.#writeBlock(audience);
    if (blocked) return failure(blocked);
    const present = payload.members.filter((m) => audience.members.has(m.identity));
    if (this.minimumSize !== undefined && present.length > 0 && audience.members.size - present.length < this.minimumSize) return failure(errors.tooSmall(this.minimumSize));
    const session = this.#userSession(audience, 'remove', param);
    if (session.kind === 'error') return session;
    for (const member of present) audience.members.delete(member.identity);
    return ok(this.#record(audience, session.value, payload, param));
  }

  /**
   * One `/usersreplace` batch (§2.3 [U] for the rules): the first batch of a new session id opens
   * it; batches collect members; the last one makes them the audience, unless none came (an empty
   * replace is refused and the session fails). One replace at a time per audience.
   */
  replaceBatch(audience: MetaAudience, payload: ParsedPayload, param: SessionParam): GraphOutcome<BatchAnswer> {
    if (audience.isFlagged) return failure(errors.flagged());
    let open = audience.replace;
    if (open && open.session.id !== param.id) return failure(errors.replaceInProgress(open.session.id));
    if (!open) {
      if (audience.sessions.some((s) => s.id === param.id)) return failure(errors.invalidParameter(`Session ${param.id} has already ended: start a replace with a new session_id`));
      const session = this.#newSession(audience, 'replace', param.id);
      audience.replace = open = { session, members: new Map() };
    }
    const { session, members } = open;
    for (const member of payload.members) members.set(member.identity, this.#store(member));
    const answer = this.#record(audience, session, payload, param);
    if (!param.isLastBatch) return ok(answer);
    audience.replace = undefined;
    session.endTime = this.#now();
    if (members.size === 0) {
      session.stage = 'failed';
      return failure(errors.invalidParameter(`Replace session ${session.id} received no valid users: a replace cannot empty an audience`));
    }
    audience.members.clear();
    for (const [identity, member] of members) audience.members.set(identity, member);
    session.stage = 'processed';
    audience.updatedAt = this.#now();
    return ok(answer);
  }

  /** A fresh trace id for an answer: the shape of Graph's, 23 characters. */
  traceId(): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
    return Array.from({ length: 23 }, () => alphabet[Math.floor(this.#random() * alphabet.length)]).join('');
  }

  #writeBlock(audience: MetaAudience) {
    if (audience.isFlagged) return errors.flagged();
    if (audience.replace) return errors.replaceInProgress(audience.replace.session.id);
    return undefined;
  }

  #expireReplace(audience: MetaAudience): void {
    const open = audience.replace;
    if (!open || this.#now() - open.session.startTime < this.#replaceTimeoutMs) return;
    open.session.stage = 'timeout';
    open.session.endTime = open.session.startTime + this.#replaceTimeoutMs;
    audience.replace = undefined;
  }

  /** The session a `/users` call counts under: the client's (continued across batches) or a new one. */
  #userSession(audience: MetaAudience, operation: 'add' | 'remove', param: SessionParam | undefined): GraphOutcome<MetaSession> {
    if (!param) return ok(this.#newSession(audience, operation, this.#sessionId()));
    const existing = audience.sessions.find((s) => s.id === param.id);
    if (existing && existing.operation !== operation) return failure(errors.invalidParameter(`Session ${param.id} belongs to another operation on this audience`));
    return ok(existing ?? this.#newSession(audience, operation, param.id));
  }

  #newSession(audience: MetaAudience, operation: MetaSession['operation'], id: string): MetaSession {
    const session: MetaSession = { id, operation, startTime: this.#now(), endTime: undefined, received: 0, invalid: 0, matched: 0, stage: 'uploading', estimatedTotal: undefined, batches: [] };
    audience.sessions.push(session);
    return session;
  }

  /** Counts a batch into its session and answers Graph's read-after-write struct. */
  #record(audience: MetaAudience, session: MetaSession, payload: ParsedPayload, param?: SessionParam): BatchAnswer {
    session.received += payload.received;
    session.invalid += payload.invalid;
    session.matched += payload.members.filter((m) => isMatched(m.identity, this.matchRate)).length;
    if (param?.batchSeq !== undefined) session.batches.push(param.batchSeq);
    if (param?.estimatedTotal !== undefined) session.estimatedTotal = param.estimatedTotal;
    if (session.operation !== 'replace') {
      const isLast = param === undefined || param.isLastBatch;
      session.stage = isLast ? 'processed' : 'uploading';
      session.endTime = isLast ? this.#now() : undefined;
      audience.updatedAt = this.#now();
    }
    return { audience_id: audience.id, session_id: session.id, num_received: payload.received, num_invalid_entries: payload.invalid, invalid_entry_samples: payload.samples };
  }

  #store(member: MetaMember): StoredMember {
    return { ...member, isMatched: isMatched(member.identity, this.matchRate) };
  }

  /** Graph's made-up session ids: int64s, here 16 digits. */
  #sessionId(): string {
    return String(Math.floor(this.#random() * 9e15) + 1e15);
  }
}
