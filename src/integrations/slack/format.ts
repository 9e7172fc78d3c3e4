/**
 * Default Slack messages, pure: one per kind of event, a digest, and the dead-letter alert. Every
 * message goes through `fitMessage`, so no subscriber value can push it past Slack's limits, and
 * every value from an event is escaped, so a name like `<!channel>` stays text. A rule can replace
 * the default with its own formatter `(event, defaults) => message`; the action fits that too.
 */
import type { KitEvent } from '../../kit/index.js';
import { escapeMrkdwn, fitMessage, mrkdwn, plainText, truncate, type Block, type ButtonElement, type SlackMessage } from './blocks.js';

/** What a message says happened; most Kit types map to one, a rule may pick one (`kind`). */
export type EventKind =
  | 'purchased' | 'upgraded' | 'churned' | 'tag_added' | 'tag_removed' | 'subscribed' | 'unsubscribed' | 'bounced'
  | 'complained' | 'form_subscribed' | 'sequence_started' | 'sequence_completed' | 'link_clicked'
  | 'custom_field_updated' | 'other';

const KIND_OF_TYPE: ReadonlyMap<string, EventKind> = new Map<string, EventKind>([
  ['purchase.created', 'purchased'], ['subscriber.product_purchased', 'purchased'],
  ['subscriber.tag_added', 'tag_added'], ['subscriber.tag_removed', 'tag_removed'],
  ['subscriber.created', 'subscribed'], ['subscriber.activated', 'subscribed'],
  ['subscriber.unsubscribed', 'unsubscribed'], ['subscriber.bounced', 'bounced'], ['subscriber.complained', 'complained'],
  ['subscriber.subscribed_to_form', 'form_subscribed'], ['subscriber.added_to_sequence', 'sequence_started'],
  ['subscriber.sequence_completed', 'sequence_completed'], ['subscriber.link_clicked', 'link_clicked'],
  ['subscriber.custom_field_value_updated', 'custom_field_updated'],
]);

/**
 * Kit has no "upgraded" or "churned" event (those are tags a rule knows, so it passes `kind`), but
 * integrations' events (`kajabi:purchase`, `billing:subscription.upgraded`) say it in their type.
 */
const INTEGRATION_KINDS: readonly (readonly [RegExp, EventKind])[] = [
  [/upgrad/i, 'upgraded'],
  [/churn|cancel|deactivat/i, 'churned'],
  [/purchase|order.created/i, 'purchased'],
];

export function eventKind(type: string): EventKind {
  const known = KIND_OF_TYPE.get(type);
  if (known) return known;
  const colon = type.indexOf(':');
  return colon < 0 ? 'other' : (INTEGRATION_KINDS.find(([pattern]) => pattern.test(type.slice(colon + 1)))?.[1] ?? 'other');
}

export interface FormatOptions {
  /** Replaces the default header (plain text, shown as is). */
  readonly title?: string;
  /** Put before the message: `<!here>`, `<@U123>`… Anything else is shown as text, not parsed. */
  readonly mention?: string;
  /** An http(s) URL shown as an "Open" button; anything else is ignored. */
  readonly link?: string;
  /** Enrichment, label → value (lead score, order history…), shown as fields. */
  readonly extra?: Readonly<Record<string, string>>;
  /** Enrichment failed: the message says some details are missing. */
  readonly isDegraded?: boolean;
  /** Which message to build. @default eventKind(event.type) */
  readonly kind?: EventKind;
}

type Field = readonly [label: string, value: string];

/** One kind's message before assembly: plain headline, mrkdwn summary (escaped), raw fields. */
interface Draft {
  readonly emoji: string;
  readonly headline: string;
  readonly summary: string;
  readonly fields: readonly Field[];
}

type JsonObject = Readonly<Record<string, unknown>>;

function record(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
}

/** A signed event keeps its parts in `data`; a legacy body (or an integration's) at the top. */
function dataOf(event: KitEvent): JsonObject {
  const payload = record(event.payload);
  return record(payload?.data) ?? payload ?? {};
}

/** "Customer (#42)", "#4001" or undefined: a tag, form, sequence or product by name and id. */
function thing(event: KitEvent, part: JsonObject | undefined): string | undefined {
  const name = textOf(part?.name) ?? textOf(part?.title) ?? textOf(part?.label);
  const id = textOf(part?.id) ?? event.scope?.value;
  if (name && id) return `${name} (#${id})`;
  return name ?? (id !== undefined ? `#${id}` : undefined);
}

interface Who {
  readonly plain: string;
  readonly md: string;
}

function who(event: KitEvent): Who {
  const s = event.subscriber;
  const name = [s?.firstName?.trim(), s?.fields.last_name?.trim()].filter(Boolean).join(' ');
  const id = s?.id !== undefined ? `subscriber #${s.id}` : undefined;
  const handle = s?.email ?? id ?? 'Someone';
  if (!name) return { plain: handle, md: escapeMrkdwn(handle) };
  return { plain: `${name} (${handle})`, md: `*${escapeMrkdwn(name)}* (${escapeMrkdwn(handle)})` };
}

function money(purchase: JsonObject): string | undefined {
  const total = purchase.total;
  const currency = textOf(purchase.currency) ?? '';
  return typeof total === 'number' && Number.isFinite(total) ? `${total.toFixed(2)} ${currency}`.trim() : textOf(total);
}

function products(purchase: JsonObject): string | undefined {
  const list = Array.isArray(purchase.products) ? purchase.products : [];
  const names = list.flatMap((p) => {
    const product = record(p);
    const name = textOf(product?.name);
    const quantity = typeof product?.quantity === 'number' && product.quantity > 1 ? `${product.quantity} × ` : '';
    return name ? [`${quantity}${name}`] : [];
  });
  return names.length > 0 ? names.join(', ') : undefined;
}

const field = (label: string, value: string | undefined | null): Field[] => (value ? [[label, value]] : []);

function purchasedDraft(event: KitEvent, w: Who): Draft {
  const data = dataOf(event);
  const purchase = event.purchase ?? record(data.purchase);
  const what = purchase ? products(purchase) : thing(event, record(data.product));
  return {
    emoji: ':moneybag:',
    headline: `New purchase: ${w.plain}`,
    summary: what ? `${w.md} bought *${escapeMrkdwn(what)}*` : `${w.md} made a purchase`,
    fields: purchase
      ? [...field('Total', money(purchase)), ...field('Status', textOf(purchase.status)), ...field('Transaction', textOf(purchase.transaction_id))]
      : [],
  };
}

/** A subscriber event that names one thing (tag, form, sequence, link). */
function about(emoji: string, headline: string, verb: (w: string, x: string) => string, fallback: string) {
  return (w: Who, x: string | undefined): Draft => ({
    emoji,
    headline: `${headline}: ${w.plain}`,
    summary: x ? verb(w.md, escapeMrkdwn(x)) : `${w.md} ${fallback}`,
    fields: [],
  });
}

const TAG_ADDED = about(':label:', 'Tag added', (w, x) => `${w} was tagged *${x}*`, 'was tagged');
const TAG_REMOVED = about(':label:', 'Tag removed', (w, x) => `*${x}* was removed from ${w}`, 'lost a tag');
const FORM = about(':memo:', 'Form subscription', (w, x) => `${w} subscribed through form *${x}*`, 'subscribed through a form');
const SEQUENCE_STARTED = about(':arrow_forward:', 'Added to sequence', (w, x) => `${w} was added to sequence *${x}*`, 'was added to a sequence');
const SEQUENCE_DONE = about(':checkered_flag:', 'Sequence completed', (w, x) => `${w} completed sequence *${x}*`, 'completed a sequence');
const LINK = about(':link:', 'Link clicked', (w, x) => `${w} clicked ${x}`, 'clicked a link');

/** Upgraded or churned: what triggered it is the tag, the product or the event type. */
function trigger(event: KitEvent): string {
  const data = dataOf(event);
  return thing(event, event.tag ?? record(data.tag) ?? record(data.product) ?? record(data.offer)) ?? event.type;
}

function status(emoji: string, headline: string, verb: string) {
  return (event: KitEvent, w: Who): Draft => ({ emoji, headline: `${headline}: ${w.plain}`, summary: `${w.md} ${verb}`, fields: field('State', event.subscriber?.state) });
}

const SUBSCRIBED = status(':tada:', 'New subscriber', 'subscribed');
const UNSUBSCRIBED = status(':door:', 'Unsubscribed', 'unsubscribed');
const BOUNCED = status(':no_entry:', 'Bounced', 'bounced: their address no longer takes mail');
const COMPLAINED = status(':warning:', 'Spam complaint', 'marked an email as spam');

function customFieldDraft(event: KitEvent, w: Who): Draft {
  const data = dataOf(event);
  const cf = event.customField ?? record(data.custom_field) ?? {};
  const key = textOf(cf.key);
  const label = textOf(cf.label) ?? key ?? event.scope?.value ?? 'a custom field';
  const value = textOf(data.new_value) ?? (key !== undefined ? event.subscriber?.fields[key] : undefined);
  return {
    emoji: ':pencil2:',
    headline: `Custom field updated: ${w.plain}`,
    summary: `${w.md} now has *${escapeMrkdwn(label)}* set`,
    fields: [...field(label, value ?? '(empty)'), ...field('Before', textOf(data.old_value))],
  };
}

/** Any other type: its name, whom it concerns, and the payload's first plain values. */
function genericDraft(event: KitEvent, w: Who): Draft {
  const fields = Object.entries(dataOf(event)).flatMap(([k, v]) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? field(k, String(v).trim()) : []));
  return {
    emoji: ':incoming_envelope:',
    headline: event.subscriber ? `${event.type}: ${w.plain}` : event.type,
    summary: event.subscriber ? `*${escapeMrkdwn(event.type)}* for ${w.md}` : `*${escapeMrkdwn(event.type)}*`,
    fields: fields.slice(0, 8),
  };
}

function draftOf(event: KitEvent, kind: EventKind): Draft {
  const w = who(event);
  const data = dataOf(event);
  switch (kind) {
    case 'purchased': return purchasedDraft(event, w);
    case 'upgraded': return { emoji: ':arrow_up:', headline: `Upgraded: ${w.plain}`, summary: `${w.md} upgraded`, fields: field('Trigger', trigger(event)) };
    case 'churned': return { emoji: ':wave:', headline: `Churned: ${w.plain}`, summary: `${w.md} churned`, fields: field('Trigger', trigger(event)) };
    case 'tag_added': return TAG_ADDED(w, thing(event, event.tag ?? record(data.tag)));
    case 'tag_removed': return TAG_REMOVED(w, thing(event, event.tag ?? record(data.tag)));
    case 'form_subscribed': return FORM(w, thing(event, record(data.form)));
    case 'sequence_started': return SEQUENCE_STARTED(w, thing(event, record(data.sequence) ?? record(data.course)));
    case 'sequence_completed': return SEQUENCE_DONE(w, thing(event, record(data.sequence) ?? record(data.course)));
    case 'link_clicked': return LINK(w, textOf(record(data.link)?.url) ?? event.scope?.value);
    case 'subscribed': return SUBSCRIBED(event, w);
    case 'unsubscribed': return UNSUBSCRIBED(event, w);
    case 'bounced': return BOUNCED(event, w);
    case 'complained': return COMPLAINED(event, w);
    case 'custom_field_updated': return customFieldDraft(event, w);
    case 'other': return genericDraft(event, w);
  }
}

const MENTION = /^<[!@#][^>]+>(\s*<[!@#][^>]+>)*$/;

/** A mention as Slack syntax when it is one (config is trusted), else as escaped text. */
function mentionPrefix(mention: string | undefined): string {
  if (!mention?.trim()) return '';
  return `${MENTION.test(mention.trim()) ? mention.trim() : escapeMrkdwn(mention)} `;
}

function fieldBlocks(fields: readonly Field[]): Block[] {
  const blocks: Block[] = [];
  for (let i = 0; i < fields.length; i += 10) {
    blocks.push({ type: 'section', fields: fields.slice(i, i + 10).map(([l, v]) => mrkdwn(`*${escapeMrkdwn(l)}*\n${escapeMrkdwn(v)}`)) });
  }
  return blocks;
}

function isHttpUrl(url: string | undefined): url is string {
  return url !== undefined && URL.canParse(url) && /^https?:$/.test(new URL(url).protocol);
}

function buttons(...elements: (ButtonElement | undefined)[]): Block[] {
  const kept = elements.filter((b): b is ButtonElement => b !== undefined);
  return kept.length > 0 ? [{ type: 'actions', elements: kept }] : [];
}

/** The link as a button; its action_id lets the inbound Slack route acknowledge the click. */
function linkButton(link: string | undefined, label: string): ButtonElement | undefined {
  return isHttpUrl(link) ? { type: 'button', text: plainText(label), url: link, action_id: 'kitrelay_link' } : undefined;
}

/** A time Slack shows in the reader's time zone, with the ISO time as fallback. */
function slackDate(ms: number | undefined): string[] {
  if (ms === undefined || !Number.isFinite(ms)) return [];
  return [`<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${new Date(ms).toISOString()}>`];
}

export function formatEvent(event: KitEvent, options: FormatOptions = {}): SlackMessage {
  const draft = draftOf(event, options.kind ?? eventKind(event.type));
  const headline = options.title ?? `${draft.emoji} ${draft.headline}`;
  const mention = mentionPrefix(options.mention);
  const context = [escapeMrkdwn(event.type), ...(event.kitEventId ? [escapeMrkdwn(event.kitEventId)] : []), ...slackDate(event.occurredAt)].join(' · ');
  const blocks: Block[] = [
    { type: 'header', text: plainText(headline) },
    { type: 'section', text: mrkdwn(`${mention}${draft.summary}`) },
    ...fieldBlocks(draft.fields),
    ...fieldBlocks(Object.entries(options.extra ?? {})),
    ...buttons(linkButton(options.link, 'Open')),
    {
      type: 'context',
      elements: [mrkdwn(context), ...(options.isDegraded ? [mrkdwn(':warning: Enrichment failed: some details are missing.')] : [])],
    },
  ];
  return fitMessage({ text: `${mention}${escapeMrkdwn(options.title ?? draft.headline)}`, blocks });
}

export interface DigestInput {
  /** Events in the window by type (canonical, or `origin:type` for an integration's). */
  readonly counts: Readonly<Record<string, number>>;
  /** The window's length: 600,000 reads "in the last 10 minutes". */
  readonly windowMs: number;
  /** A few of the window's events; the first five are shown. */
  readonly examples?: readonly KitEvent[];
  /** Where to see them all. */
  readonly link?: string;
  readonly title?: string;
  readonly mention?: string;
}

const NOUNS: Readonly<Partial<Record<EventKind, readonly [string, string]>>> = {
  purchased: ['purchase', 'purchases'], upgraded: ['upgrade', 'upgrades'], churned: ['churned subscriber', 'churned subscribers'],
  tag_added: ['tag added', 'tags added'], tag_removed: ['tag removed', 'tags removed'],
  subscribed: ['new subscriber', 'new subscribers'], unsubscribed: ['unsubscribe', 'unsubscribes'],
  bounced: ['bounce', 'bounces'], complained: ['spam complaint', 'spam complaints'],
  form_subscribed: ['form subscription', 'form subscriptions'], sequence_started: ['sequence start', 'sequence starts'],
  sequence_completed: ['sequence completion', 'sequence completions'], link_clicked: ['link click', 'link clicks'],
  custom_field_updated: ['custom field update', 'custom field updates'],
};

const count = (n: number): string => n.toLocaleString('en-US');

function duration(ms: number): string {
  const [size, unit] = ms % 3_600_000 === 0 && ms > 0 ? [ms / 3_600_000, 'hour'] : ms % 60_000 === 0 && ms > 0 ? [ms / 60_000, 'minute'] : [Math.round(ms / 1000), 'second'];
  return size === 1 ? unit : `${size} ${unit}s`;
}

const EXAMPLES_SHOWN = 5;

export function formatDigest(input: DigestInput): SlackMessage {
  // Group by kind (subscriber.created and .activated are both new subscribers); unknown types by name.
  const groups = new Map<string, { label: string; noun?: readonly [string, string]; n: number }>();
  for (const [type, n] of Object.entries(input.counts)) {
    if (!Number.isFinite(n) || n <= 0) continue;
    const noun = NOUNS[eventKind(type)];
    const label = noun ? noun[1].charAt(0).toUpperCase() + noun[1].slice(1) : type;
    groups.set(label, { label, noun, n: (groups.get(label)?.n ?? 0) + n });
  }
  const total = [...groups.values()].reduce((sum, g) => sum + g.n, 0);
  const only = groups.size === 1 ? [...groups.values()][0]?.noun : undefined;
  const noun = only ? only[total === 1 ? 0 : 1] : total === 1 ? 'event' : 'events';
  const headline = input.title ?? `${count(total)} ${noun} in the last ${duration(input.windowMs)}`;
  const byCount = [...groups.values()].sort((a, b) => b.n - a.n).map((g): Field => [g.label, count(g.n)]);
  const examples = (input.examples ?? []).slice(0, EXAMPLES_SHOWN).map((e) => `• ${truncate(draftOf(e, eventKind(e.type)).summary, 300, { isMrkdwn: true })}`);
  const hidden = total - examples.length;
  const mention = mentionPrefix(input.mention);
  const blocks: Block[] = [
    { type: 'header', text: plainText(`:bar_chart: ${headline}`) },
    ...(mention ? [{ type: 'section' as const, text: mrkdwn(mention.trim()) }] : []),
    ...(groups.size > 1 ? fieldBlocks(byCount) : []),
    ...(examples.length > 0 ? [{ type: 'section' as const, text: mrkdwn([...examples, ...(hidden > 0 ? [`…and ${count(hidden)} more`] : [])].join('\n')) }] : []),
    ...buttons(linkButton(input.link, 'View all')),
  ];
  return fitMessage({ text: `${mention}${escapeMrkdwn(headline)}`, blocks });
}

export interface DeadLetterAlertInput {
  readonly jobId: number | string;
  readonly destination: string;
  readonly rule: string;
  readonly action?: string;
  /** The job's last error. */
  readonly error: string | null;
  readonly attempts: number;
  readonly maxAttempts?: number;
  readonly email?: string | null;
  readonly subscriberId?: string | null;
  readonly eventType?: string;
  /** Epoch ms. */
  readonly failedAt?: number;
  /** The job in the dashboard. */
  readonly link?: string;
  readonly mention?: string;
}

/** The action_id of the dead-letter alert's Replay button; its value is the job id. */
export const REPLAY_ACTION_ID = 'kitrelay_replay';

export function formatDeadLetterAlert(input: DeadLetterAlertInput): SlackMessage {
  const id = String(input.jobId);
  const attempts = input.maxAttempts !== undefined ? `${input.attempts} of ${input.maxAttempts}` : String(input.attempts);
  const subscriber = input.email ?? (input.subscriberId ? `#${input.subscriberId}` : undefined);
  // A remote error may hold ``` and close the code block early: only the look suffers, so soften it.
  const error = escapeMrkdwn(truncate((input.error ?? 'no error recorded').replace(/```/g, "'''"), 2500));
  const mention = mentionPrefix(input.mention);
  const replay: ButtonElement = { type: 'button', text: plainText('Replay'), action_id: REPLAY_ACTION_ID, value: id, style: 'primary' };
  const fields: Field[] = [
    ['Destination', input.destination], ['Rule', input.rule], ...field('Action', input.action), ['Attempts', attempts],
    ...field('Subscriber', subscriber), ...field('Event', input.eventType),
  ];
  const blocks: Block[] = [
    { type: 'header', text: plainText(`:rotating_light: Job #${id} is dead (${input.destination})`) },
    { type: 'section', text: mrkdwn(`${mention}Job *#${escapeMrkdwn(id)}* gave up after ${escapeMrkdwn(attempts)} attempts.`) },
    ...fieldBlocks(fields),
    { type: 'section', text: mrkdwn(`*Last error*\n\`\`\`${error}\`\`\``) },
    ...buttons(replay, linkButton(input.link, 'Open job')),
    ...slackDate(input.failedAt).map((date): Block => ({ type: 'context', elements: [mrkdwn(`Dead since ${date}`)] })),
  ];
  const text = `${mention}Job #${escapeMrkdwn(id)} to ${escapeMrkdwn(input.destination)} is dead after ${input.attempts} attempts: ${truncate(error, 300, { isMrkdwn: true })}`;
  return fitMessage({ text, blocks });
}

/** The Replay button of a job in a dead-jobs digest: `kitrelay_replay_<job id>` (unique in a message), value the job id. */
export function replayActionIdOf(jobId: number | string): string {
  return `${REPLAY_ACTION_ID}_${jobId}`;
}

/** Whether a pressed button's action_id is a Replay button (the alert's, or one of a digest's). */
export function isReplayActionId(actionId: string): boolean {
  return actionId === REPLAY_ACTION_ID || actionId.startsWith(`${REPLAY_ACTION_ID}_`);
}

export interface DeadJobsDigestInput {
  /** Dead jobs in the window. */
  readonly total: number;
  readonly windowMs: number;
  /** A few of them, with what their alerts carried. */
  readonly jobs: readonly Omit<DeadLetterAlertInput, 'mention' | 'link'>[];
  readonly mention?: string;
  readonly title?: string;
}

/** A digest of dead-job alerts: how many, a line and a Replay button for each of the first few. */
export function formatDeadJobsDigest(input: DeadJobsDigestInput): SlackMessage {
  const headline = input.title ?? `${count(input.total)} ${input.total === 1 ? 'job' : 'jobs'} dead in the last ${duration(input.windowMs)}`;
  const mention = mentionPrefix(input.mention);
  const shown = input.jobs.slice(0, EXAMPLES_SHOWN);
  const lines = shown.map((job) => {
    const error = truncate((job.error ?? 'no error recorded').replace(/\s+/g, ' '), 200);
    const who = job.email ?? (job.subscriberId ? `#${job.subscriberId}` : undefined);
    return `• Job *#${escapeMrkdwn(String(job.jobId))}* → ${escapeMrkdwn(job.destination)} (${escapeMrkdwn(job.rule)})${who ? ` for ${escapeMrkdwn(who)}` : ''}: ${escapeMrkdwn(error)}`;
  });
  const hidden = input.total - shown.length;
  const replays = shown.map((job): ButtonElement => ({ type: 'button', text: plainText(`Replay #${job.jobId}`), action_id: replayActionIdOf(job.jobId), value: String(job.jobId) }));
  const blocks: Block[] = [
    { type: 'header', text: plainText(`:rotating_light: ${headline}`) },
    ...(mention ? [{ type: 'section' as const, text: mrkdwn(mention.trim()) }] : []),
    ...(lines.length > 0 ? [{ type: 'section' as const, text: mrkdwn([...lines, ...(hidden > 0 ? [`…and ${count(hidden)} more: \`kitrelay jobs list --status dead\``] : [])].join('\n')) }] : []),
    ...buttons(...replays),
  ];
  return fitMessage({ text: `${mention}${escapeMrkdwn(headline)}`, blocks });
}
