/**
 * The Bonjoro simulator's objects and how the API shows them (reference/destinations.md §4).
 *
 * Words, as Bonjoro uses them:
 * - **greet**: a video task for one or more recipients (profiles), assigned to a user, in a
 *   campaign ("workspace"), optionally with a message template; `status` open → sent / closed.
 * - **profile**: a recipient, found by email or uuid; created on the fly for unknown emails.
 * - **user**: a team member a greet is assigned to. **campaign**: has an integer `id` AND a `uuid`;
 *   greets take the uuid. **message template**: the email and landing page a greet is sent with.
 *
 * Ids are UUIDs drawn from a PRNG seeded by the `seed` option, so the same seed gives the same
 * account and the same greet ids in the same order. Timestamps are `YYYY-MM-DD HH:MM:SS` (UTC),
 * not ISO-8601 [V].
 */

export interface BonjoroUser {
  readonly id: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
}

export interface BonjoroCampaign {
  readonly id: number;
  readonly uuid: string;
  readonly name: string;
  readonly type: string;
  readonly isDefault: boolean;
  readonly creatorId: string;
  readonly userIds: readonly string[];
}

export interface BonjoroTemplate {
  readonly id: string;
  readonly name: string;
  readonly subjectLine: string;
  readonly creatorId: string;
  readonly createdAt: number;
}

export interface BonjoroProfile {
  readonly id: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  readonly unsubscribed: boolean;
  readonly createdAt: number;
  updatedAt: number;
}

export type GreetStatus = 'open' | 'closed' | 'sent';

export interface BonjoroGreet {
  readonly id: string;
  /** Order of creation, for stable sorting of greets created in the same millisecond. */
  readonly seq: number;
  readonly status: GreetStatus;
  readonly draft: boolean;
  readonly note: string | null;
  assigneeId: string | null;
  /** The campaign's uuid. */
  readonly campaignId: string;
  readonly templateId: string | null;
  readonly profileIds: readonly string[];
  readonly customAttributes: Readonly<Record<string, string | number | boolean | null>>;
  readonly linkId: string;
  readonly eventId: string;
  readonly createdAt: number;
  updatedAt: number;
}

/** Seeded objects: a small team, three campaigns, two templates. */
export interface BonjoroSeed {
  readonly users: readonly BonjoroUser[];
  readonly campaigns: readonly BonjoroCampaign[];
  readonly templates: readonly BonjoroTemplate[];
}

export { prng } from '../../simulators/random.js';

/** A version-4 UUID from the generator. */
export function uuidFrom(random: () => number): string {
  const bytes = Array.from({ length: 16 }, () => Math.floor(random() * 256));
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `2021-01-11 01:51:26` (UTC). */
export function timestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

const SEED_AT = Date.parse('2024-01-02T09:00:00Z');
const TEAM = [
  ['Ava', 'Stone'],
  ['Ben', 'Okafor'],
  ['Chloe', 'Nakamura'],
] as const;
const CAMPAIGNS = [
  ['Task List', 'Default'],
  ['New Subscribers', 'Onboarding'],
  ['Win Back', 'Retention'],
] as const;
const TEMPLATES = [
  ['Magic', "Here's a personal video I recorded for you."],
  ['Welcome aboard', 'A quick hello from the team'],
] as const;

export function seedAccount(random: () => number): BonjoroSeed {
  const users = TEAM.map(([firstName, lastName]) => ({ id: uuidFrom(random), firstName, lastName, email: `${firstName.toLowerCase()}.${lastName.toLowerCase()}@bonjoro-sim.test` }));
  const owner = (users[0] as BonjoroUser).id;
  const campaigns = CAMPAIGNS.map(([name, type], i) => ({ id: i + 1, uuid: uuidFrom(random), name, type, isDefault: i === 0, creatorId: owner, userIds: users.map((u) => u.id) }));
  const templates = TEMPLATES.map(([name, subjectLine], i) => ({ id: uuidFrom(random), name, subjectLine, creatorId: owner, createdAt: SEED_AT + i * 3_600_000 }));
  return { users, campaigns, templates };
}

// ---- the API's JSON ----

export function userJson(user: BonjoroUser, base: string): Record<string, unknown> {
  return {
    id: user.id,
    name: `${user.firstName} ${user.lastName}`,
    first_name: user.firstName,
    last_name: user.lastName,
    bio: null,
    image: null,
    self_url: `${base}/api/v2/users/${user.id}`,
    team_url: `${base}/api/v2/team`,
  };
}

export function campaignJson(campaign: BonjoroCampaign, users: ReadonlyMap<string, BonjoroUser>, base: string): Record<string, unknown> {
  const user = (id: string) => userJson(users.get(id) as BonjoroUser, base);
  return {
    id: campaign.id,
    uuid: campaign.uuid,
    slug: campaign.name.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
    name: campaign.name,
    goal: null,
    type: campaign.type,
    is_default: campaign.isDefault,
    is_private: false,
    archived_at: null,
    creator: user(campaign.creatorId),
    users: campaign.userIds.map(user),
  };
}

export function templateJson(template: BonjoroTemplate, users: ReadonlyMap<string, BonjoroUser>, base: string): Record<string, unknown> {
  return {
    id: template.id,
    name: template.name,
    is_greet_shareable: true,
    theme: null,
    landing_page: null,
    state: 'open',
    email_template: { layout: 'html', subject_line: template.subjectLine, message_template: 'Hi {first_name|there}, I recorded a message for you, check it out!' },
    creator: userJson(users.get(template.creatorId) as BonjoroUser, base),
    stats: { total: 0, percentage_replies: 0, percentage_views: 0, percentage_reactions: 0, percentage_clicks: 0, percentage_opens: 0 },
    created_at: timestamp(template.createdAt),
    updated_at: timestamp(template.createdAt),
  };
}

export function profileJson(profile: BonjoroProfile, base: string): Record<string, unknown> {
  const name = [profile.firstName, profile.lastName].filter((part) => part).join(' ');
  return {
    id: profile.id,
    email: profile.email,
    name: name || profile.email,
    first_name: profile.firstName,
    last_name: profile.lastName,
    image: null,
    work: { current: null, title: null },
    unsubscribed: profile.unsubscribed,
    demographic: { location: null, country: null, age: null, sex: null },
    self_url: `${base}/api/v2/profiles/${profile.id}`,
    attributes_url: `${base}/api/v2/profiles/${profile.id}/attributes`,
    events_url: `${base}/api/v2/profiles/${profile.id}/events`,
    created_at: timestamp(profile.createdAt),
    updated_at: timestamp(profile.updatedAt),
  };
}

export interface GreetJsonContext {
  readonly base: string;
  readonly users: ReadonlyMap<string, BonjoroUser>;
  readonly templates: ReadonlyMap<string, BonjoroTemplate>;
  readonly profiles: ReadonlyMap<string, BonjoroProfile>;
}

/** greetFull (§4.2), plus `custom_attributes`. */
export function greetJson(greet: BonjoroGreet, ctx: GreetJsonContext): Record<string, unknown> {
  const { base } = ctx;
  const assignee = greet.assigneeId === null ? undefined : ctx.users.get(greet.assigneeId);
  const template = greet.templateId === null ? undefined : ctx.templates.get(greet.templateId);
  return {
    id: greet.id,
    status: greet.status,
    draft: greet.draft,
    assignee: assignee ? userJson(assignee, base) : null,
    event: { id: greet.eventId, type: 'ApiEvent', source: 'Api', message: greet.note ?? '', occured_at: timestamp(greet.createdAt) },
    link_id: greet.linkId,
    thumb_url: `${base}/images/greet-placeholder.png`,
    record_url: `${base}/greets/${greet.id}/record`,
    uploads_url: `${base}/api/v2/greets/${greet.id}/uploads`,
    self_url: `${base}/api/v2/greets/${greet.id}`,
    attributes_url: `${base}/api/v2/attributes?greet_id=${greet.id}`,
    events_url: `${base}/api/v2/greets/${greet.id}/events`,
    created_at: timestamp(greet.createdAt),
    updated_at: timestamp(greet.updatedAt),
    profiles: greet.profileIds.flatMap((id) => {
      const profile = ctx.profiles.get(id);
      return profile ? [profileJson(profile, base)] : [];
    }),
    message_template: template ? templateJson(template, ctx.users, base) : null,
    // PHP encodes an empty associative array as `[]` [U]: a client must not assume an object.
    custom_attributes: Object.keys(greet.customAttributes).length === 0 ? [] : greet.customAttributes,
  };
}
