/**
 * The Bonjoro simulator's account: the seeded team, campaigns and templates, and the profiles and
 * greets created through the API. Plain data in maps, no I/O; the routes validate, this applies.
 */
import {
  prng,
  seedAccount,
  uuidFrom,
  type BonjoroCampaign,
  type BonjoroGreet,
  type BonjoroProfile,
  type BonjoroTemplate,
  type BonjoroUser,
  type GreetStatus,
} from './simulator-model.js';

export interface GreetInput {
  /** Existing profile ids and emails, in the order given (emails of unknown profiles create them). */
  readonly profiles: readonly string[];
  readonly note: string | null;
  readonly assigneeId: string | null;
  readonly campaignId: string;
  readonly templateId: string | null;
  readonly customAttributes: Readonly<Record<string, string | number | boolean | null>>;
}

export interface GreetFilter {
  readonly status?: GreetStatus;
  readonly assigneeId?: string;
  readonly profileId?: string;
  /** Case-insensitive substring of a profile's email or name, or of the note. */
  readonly search?: string;
  /** @default '-created_at' (newest first) */
  readonly sort?: 'created_at' | '-created_at' | 'updated_at' | '-updated_at';
}

export class BonjoroState {
  readonly users: ReadonlyMap<string, BonjoroUser>;
  readonly campaigns: readonly BonjoroCampaign[];
  readonly templates: ReadonlyMap<string, BonjoroTemplate>;
  readonly profiles = new Map<string, BonjoroProfile>();
  readonly #greets = new Map<string, BonjoroGreet>();
  readonly #profileByEmail = new Map<string, string>();
  readonly #ids: () => number;
  readonly #now: () => number;
  #seq = 0;

  constructor(options: { readonly seed: number; readonly now: () => number }) {
    const seeded = seedAccount(prng(options.seed));
    this.users = new Map(seeded.users.map((u) => [u.id, u]));
    this.campaigns = seeded.campaigns;
    this.templates = new Map(seeded.templates.map((t) => [t.id, t]));
    // A stream of its own, so runtime ids do not shift when the seeded account grows.
    this.#ids = prng(options.seed ^ 0x5bd1e995);
    this.#now = options.now;
  }

  /** The token's owner: greets created without `assignee_id` go to them [U]. */
  get owner(): BonjoroUser {
    return this.users.values().next().value as BonjoroUser;
  }

  get defaultCampaign(): BonjoroCampaign {
    return this.campaigns.find((c) => c.isDefault) ?? (this.campaigns[0] as BonjoroCampaign);
  }

  campaignByUuid(uuid: string): BonjoroCampaign | undefined {
    return this.campaigns.find((c) => c.uuid.toLowerCase() === uuid.toLowerCase());
  }

  greet(id: string): BonjoroGreet | undefined {
    return this.#greets.get(id.toLowerCase());
  }

  /** Every greet, oldest first. */
  greets(): BonjoroGreet[] {
    return [...this.#greets.values()];
  }

  profileByEmail(email: string): BonjoroProfile | undefined {
    const id = this.#profileByEmail.get(email.trim().toLowerCase());
    return id === undefined ? undefined : this.profiles.get(id);
  }

  profile(id: string): BonjoroProfile | undefined {
    return this.profiles.get(id.toLowerCase());
  }

  /** Creates the profile, or updates the names of the one with that email [U]. */
  upsertProfile(input: { readonly email: string; readonly firstName?: string | null; readonly lastName?: string | null }): { profile: BonjoroProfile; isNew: boolean } {
    const existing = this.profileByEmail(input.email);
    if (existing) {
      if (input.firstName !== undefined) existing.firstName = input.firstName;
      if (input.lastName !== undefined) existing.lastName = input.lastName;
      if (input.firstName !== undefined || input.lastName !== undefined) existing.updatedAt = this.#now();
      return { profile: existing, isNew: false };
    }
    const at = this.#now();
    const profile: BonjoroProfile = { id: uuidFrom(this.#ids), email: input.email.trim(), firstName: input.firstName ?? null, lastName: input.lastName ?? null, unsubscribed: false, createdAt: at, updatedAt: at };
    this.profiles.set(profile.id, profile);
    this.#profileByEmail.set(profile.email.toLowerCase(), profile.id);
    return { profile, isNew: true };
  }

  /** False when another profile has the email. */
  updateProfile(profile: BonjoroProfile, changes: { readonly email?: string; readonly firstName?: string | null; readonly lastName?: string | null }): boolean {
    if (changes.email !== undefined) {
      const owner = this.profileByEmail(changes.email);
      if (owner && owner !== profile) return false;
      this.#profileByEmail.delete(profile.email.toLowerCase());
      profile.email = changes.email.trim();
      this.#profileByEmail.set(profile.email.toLowerCase(), profile.id);
    }
    if (changes.firstName !== undefined) profile.firstName = changes.firstName;
    if (changes.lastName !== undefined) profile.lastName = changes.lastName;
    profile.updatedAt = this.#now();
    return true;
  }

  /** One greet carrying every profile given (duplicates once). */
  createGreet(input: GreetInput): BonjoroGreet {
    const profileIds: string[] = [];
    for (const ref of input.profiles) {
      const id = this.profile(ref)?.id ?? this.upsertProfile({ email: ref }).profile.id;
      if (!profileIds.includes(id)) profileIds.push(id);
    }
    const at = this.#now();
    const greet: BonjoroGreet = {
      id: uuidFrom(this.#ids),
      seq: ++this.#seq,
      status: 'open',
      draft: false,
      note: input.note,
      assigneeId: input.assigneeId,
      campaignId: input.campaignId,
      templateId: input.templateId,
      profileIds,
      customAttributes: { ...input.customAttributes },
      linkId: uuidFrom(this.#ids),
      eventId: uuidFrom(this.#ids),
      createdAt: at,
      updatedAt: at,
    };
    this.#greets.set(greet.id, greet);
    return greet;
  }

  reassignGreet(greet: BonjoroGreet, assigneeId: string | null): void {
    greet.assigneeId = assigneeId;
    greet.updatedAt = this.#now();
  }

  deleteGreet(id: string): boolean {
    return this.#greets.delete(id.toLowerCase());
  }

  listGreets(filter: GreetFilter): BonjoroGreet[] {
    const search = filter.search?.trim().toLowerCase();
    const matches = (greet: BonjoroGreet): boolean => {
      if (filter.status !== undefined && greet.status !== filter.status) return false;
      if (filter.assigneeId !== undefined && greet.assigneeId?.toLowerCase() !== filter.assigneeId.toLowerCase()) return false;
      if (filter.profileId !== undefined && !greet.profileIds.includes(filter.profileId.toLowerCase())) return false;
      if (!search) return true;
      if (greet.note?.toLowerCase().includes(search)) return true;
      return greet.profileIds.some((id) => {
        const p = this.profiles.get(id);
        return p !== undefined && [p.email, p.firstName, p.lastName, [p.firstName, p.lastName].join(' ')].some((text) => text?.toLowerCase().includes(search));
      });
    };
    const sort = filter.sort ?? '-created_at';
    const field = sort.endsWith('updated_at') ? 'updatedAt' : 'createdAt';
    const sign = sort.startsWith('-') ? -1 : 1;
    return this.greets()
      .filter(matches)
      .sort((a, b) => sign * (a[field] - b[field] || a.seq - b.seq));
  }

  /** What `GET /_sim/state` answers: the objects as stored, with what the API does not show (note, campaign). */
  snapshot(): { greets: BonjoroGreet[]; profiles: BonjoroProfile[]; users: BonjoroUser[]; campaigns: readonly BonjoroCampaign[]; templates: BonjoroTemplate[] } {
    return { greets: this.greets(), profiles: [...this.profiles.values()], users: [...this.users.values()], campaigns: this.campaigns, templates: [...this.templates.values()] };
  }
}
