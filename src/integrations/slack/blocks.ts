/**
 * The part of Slack's Block Kit kitrelay writes (section, header, context, divider, actions with
 * buttons), its limits (reference/destinations.md §1.1–1.2), and `fitMessage`, which brings any
 * message (a default one or a rule's override) within them by truncating. Slack refuses the whole
 * message for one long string (`invalid_blocks`), and a refused message is a failed job: cutting
 * a subscriber's 5,000-character name is always better than not posting.
 *
 * Lengths are counted in UTF-16 code units (`string.length`), never fewer than the characters Slack
 * counts, so a text that fits here fits there.
 */

export interface PlainText {
  readonly type: 'plain_text';
  readonly text: string;
  /** Render `:shortcode:` emoji. */
  readonly emoji?: boolean;
}

export interface MrkdwnText {
  readonly type: 'mrkdwn';
  /** Parsed by Slack: user values must go through `escapeMrkdwn`. */
  readonly text: string;
  readonly verbatim?: boolean;
}

export type TextObject = PlainText | MrkdwnText;

export interface ButtonElement {
  readonly type: 'button';
  readonly text: PlainText;
  readonly action_id?: string;
  readonly value?: string;
  readonly url?: string;
  readonly style?: 'primary' | 'danger';
}

export interface SectionBlock {
  readonly type: 'section';
  readonly block_id?: string;
  readonly text?: TextObject;
  readonly fields?: readonly TextObject[];
  readonly accessory?: ButtonElement;
}

export interface HeaderBlock {
  readonly type: 'header';
  readonly block_id?: string;
  readonly text: PlainText;
}

export interface ContextBlock {
  readonly type: 'context';
  readonly block_id?: string;
  readonly elements: readonly TextObject[];
}

export interface DividerBlock {
  readonly type: 'divider';
  readonly block_id?: string;
}

export interface ActionsBlock {
  readonly type: 'actions';
  readonly block_id?: string;
  readonly elements: readonly ButtonElement[];
}

export type Block = SectionBlock | HeaderBlock | ContextBlock | DividerBlock | ActionsBlock;

/** What a Slack action posts: `text` is the notification fallback, `blocks` what the channel shows. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly Block[];
}

export const BLOCK_KIT_LIMITS = {
  /** Per message (100 is for modals and Home tabs only) [V §1.2]. */
  blocks: 50,
  sectionText: 3000,
  /** Header text, plain_text only [C §1.2]. */
  headerText: 150,
  fieldText: 2000,
  fieldsPerSection: 10,
  contextElements: 10,
  /** Undocumented for context text [U]: held to the field limit to stay on the safe side. */
  contextText: 2000,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  /** action_id and block_id. */
  id: 255,
  /** Slack cuts `text` past 40,000 [V §1.1]; we cut first, with a visible '…'. */
  messageText: 40_000,
  /**
   * Sum of every text in the blocks. Undocumented: `msg_blocks_too_long` was seen at about 13,200
   * [C §1.1, bolt-js #2509], so we stay well under it.
   */
  totalBlockText: 12_000,
} as const;

export const ELLIPSIS = '…';

/** Slack's mrkdwn escaping: `&`, `<` and `>` only, so `<@U123>` in a name stays text. */
export function escapeMrkdwn(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function mrkdwn(text: string): MrkdwnText {
  return { type: 'mrkdwn', text };
}

export function plainText(text: string): PlainText {
  return { type: 'plain_text', text, emoji: true };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

const isPrintableAscii = (code: number): boolean => code >= 0x20 && code <= 0x7e;

/**
 * The largest grapheme boundary ≤ budget; a code point boundary when one grapheme is too long.
 * Segmenting costs microseconds per grapheme (a 40,000-character text took most of a second), so
 * only a window around the budget is segmented. It starts at a printable ASCII character, where a
 * grapheme always begins, found at most 1,024 units back; failing that, at 0.
 */
function cutIndex(text: string, budget: number): number {
  let start = Math.max(0, budget - 32);
  const floor = Math.max(0, start - 1024);
  while (start > floor && !isPrintableAscii(text.charCodeAt(start))) start--;
  if (!isPrintableAscii(text.charCodeAt(start))) start = 0;
  let cut = start;
  for (const { index, segment } of graphemes.segment(text.slice(start, budget + 32))) {
    if (start + index + segment.length > budget) break;
    cut = start + index + segment.length;
  }
  if (cut > 0) return cut;
  const code = text.charCodeAt(budget - 1);
  return code >= 0xd800 && code <= 0xdbff ? budget - 1 : budget;
}

/** Backs off before an entity (`&amp;`) or a `<link|label>` / `<@U123>` the cut would open. */
function mrkdwnSafeCut(text: string, cut: number): number {
  const head = text.slice(0, cut);
  const amp = head.lastIndexOf('&');
  if (amp >= 0 && amp >= cut - 8 && !head.slice(amp).includes(';')) cut = amp;
  const open = head.lastIndexOf('<', cut - 1);
  if (open >= 0 && head.indexOf('>', open) < 0) cut = open;
  return cut;
}

/**
 * `text` in at most `max` code units: cut on a grapheme boundary (never inside a surrogate pair or
 * an emoji sequence) and ended with '…'. For mrkdwn, never inside an entity or an angle-bracket
 * token. Lone surrogates become U+FFFD either way: they are not valid UTF-8.
 */
export function truncate(text: string, max: number, options: { readonly isMrkdwn?: boolean } = {}): string {
  const clean = text.replace(LONE_SURROGATE, '\uFFFD');
  if (clean.length <= max) return clean;
  if (max < ELLIPSIS.length) return '';
  let cut = cutIndex(clean, max - ELLIPSIS.length);
  if (options.isMrkdwn) cut = mrkdwnSafeCut(clean, cut);
  return clean.slice(0, cut).trimEnd() + ELLIPSIS;
}

/** An identifier (action_id, block_id, value) in at most `max` units: no '…', no split pair. */
function cutId(value: string, max: number): string {
  return value.length <= max ? value : value.slice(0, cutIndex(value, max));
}

function fitText<T extends TextObject>(object: T, max: number): T {
  return { ...object, text: truncate(object.text, max, { isMrkdwn: object.type === 'mrkdwn' }) };
}

function isHttpUrl(url: string): boolean {
  return URL.canParse(url) && /^https?:$/.test(new URL(url).protocol);
}

function fitButton(button: ButtonElement): ButtonElement | undefined {
  const L = BLOCK_KIT_LIMITS;
  const text = fitText(button.text, L.buttonText);
  if (text.text.trim() === '') return undefined;
  // A cut URL is a broken link and a bad one fails the whole message: drop it instead.
  const { url, ...rest } = button;
  const keepUrl = url !== undefined && url.length <= L.buttonUrl && isHttpUrl(url);
  return {
    ...rest,
    text,
    ...(keepUrl ? { url } : {}),
    ...(button.action_id !== undefined ? { action_id: cutId(button.action_id, L.id) } : {}),
    ...(button.value !== undefined ? { value: cutId(button.value, L.buttonValue) } : {}),
  };
}

function withBlockId<T extends Block>(block: T): T {
  return block.block_id === undefined ? block : { ...block, block_id: cutId(block.block_id, BLOCK_KIT_LIMITS.id) };
}

const nonEmpty = (t: TextObject): boolean => t.text.trim() !== '';

/** One block within its limits: zero blocks when nothing is left, several when fields overflow. */
function fitBlock(block: Block): Block[] {
  const L = BLOCK_KIT_LIMITS;
  switch (block.type) {
    case 'header': {
      const text = fitText({ ...block.text, type: 'plain_text' as const }, L.headerText);
      return nonEmpty(text) ? [withBlockId({ ...block, text })] : [];
    }
    case 'section': {
      const text = block.text ? fitText(block.text, L.sectionText) : undefined;
      const fields = (block.fields ?? []).map((f) => fitText(f, L.fieldText)).filter(nonEmpty);
      const accessory = block.accessory ? fitButton(block.accessory) : undefined;
      const { text: _t, fields: _f, accessory: _a, ...rest } = block;
      const first: SectionBlock = {
        ...rest,
        ...(text && nonEmpty(text) ? { text } : {}),
        ...(fields.length > 0 ? { fields: fields.slice(0, L.fieldsPerSection) } : {}),
        ...(accessory ? { accessory } : {}),
      };
      // Fields past ten continue in sections of their own rather than being lost.
      const more: SectionBlock[] = [];
      for (let i = L.fieldsPerSection; i < fields.length; i += L.fieldsPerSection) {
        more.push({ type: 'section', fields: fields.slice(i, i + L.fieldsPerSection) });
      }
      const head = first.text || first.fields ? [withBlockId(first)] : [];
      return [...head, ...more];
    }
    case 'context': {
      const elements = block.elements.map((e) => fitText(e, L.contextText)).filter(nonEmpty).slice(0, L.contextElements);
      return elements.length > 0 ? [withBlockId({ ...block, elements })] : [];
    }
    case 'actions': {
      const elements = block.elements.flatMap((b) => fitButton(b) ?? []).slice(0, L.actionsElements);
      return elements.length > 0 ? [withBlockId({ ...block, elements })] : [];
    }
    case 'divider':
      return [withBlockId(block)];
    default:
      // A block type this module does not model (from a JS override): passed through as is.
      return [block];
  }
}

/** Every text of a block, in order, with a way to replace them in the same order. */
function textsOf(block: Block): TextObject[] {
  switch (block.type) {
    case 'header':
      return [block.text];
    case 'section':
      return [...(block.text ? [block.text] : []), ...(block.fields ?? []), ...(block.accessory ? [block.accessory.text] : [])];
    case 'context':
      return [...block.elements];
    case 'actions':
      return block.elements.map((b) => b.text);
    default:
      return [];
  }
}

function capTexts(block: Block, cap: number): Block {
  const cut = <T extends TextObject>(t: T): T => (t.text.length > cap ? fitText(t, cap) : t);
  const cutButton = (b: ButtonElement): ButtonElement => ({ ...b, text: cut(b.text) });
  switch (block.type) {
    case 'header':
      return { ...block, text: cut(block.text) };
    case 'section':
      return {
        ...block,
        ...(block.text ? { text: cut(block.text) } : {}),
        ...(block.fields ? { fields: block.fields.map(cut) } : {}),
        ...(block.accessory ? { accessory: cutButton(block.accessory) } : {}),
      };
    case 'context':
      return { ...block, elements: block.elements.map(cut) };
    case 'actions':
      return { ...block, elements: block.elements.map(cutButton) };
    default:
      return block;
  }
}

/** The largest per-text cap that brings the sum of `lengths` under `budget` (water-filling). */
function waterLevel(lengths: readonly number[], budget: number): number {
  const sorted = [...lengths].sort((a, b) => a - b);
  let spent = 0;
  for (let i = 0; i < sorted.length; i++) {
    const rest = sorted.length - i;
    const level = Math.floor((budget - spent) / rest);
    if ((sorted[i] ?? 0) > level) return Math.max(level, 1 + ELLIPSIS.length);
    spent += sorted[i] ?? 0;
  }
  return Infinity;
}

export interface FitOptions {
  /** @default BLOCK_KIT_LIMITS.totalBlockText */
  readonly maxTotalBlockText?: number;
}

/**
 * The message within every limit of BLOCK_KIT_LIMITS, by truncation, never by failing: long texts
 * cut with '…', fields past ten moved to further sections, blocks past 50 replaced by a
 * "… N more" note, empty texts and unusable URLs dropped, the longest texts shortened when the
 * sum is too long, and `text` set (from the first block when the message had none).
 */
export function fitMessage(message: SlackMessage, options: FitOptions = {}): SlackMessage {
  const L = BLOCK_KIT_LIMITS;
  let blocks = message.blocks.flatMap(fitBlock);
  if (blocks.length > L.blocks) {
    const hidden = blocks.length - (L.blocks - 1);
    blocks = [...blocks.slice(0, L.blocks - 1), { type: 'context', elements: [mrkdwn(`${ELLIPSIS} ${hidden} more blocks not shown`)] }];
  }
  const lengths = blocks.flatMap((b) => textsOf(b).map((t) => t.text.length));
  const level = waterLevel(lengths, options.maxTotalBlockText ?? L.totalBlockText);
  if (level !== Infinity) blocks = blocks.map((b) => capTexts(b, level));
  const text = truncate(message.text.trim() !== '' ? message.text : fallbackText(blocks), L.messageText, { isMrkdwn: true });
  return { text, blocks };
}

function fallbackText(blocks: readonly Block[]): string {
  for (const block of blocks) {
    const first = textsOf(block).find(nonEmpty);
    // A header is plain text: escape it, as `text` is read as mrkdwn.
    if (first) return first.type === 'plain_text' ? escapeMrkdwn(first.text) : first.text;
  }
  return 'kitrelay notification';
}

/**
 * Every way a message breaks BLOCK_KIT_LIMITS, each as `<json-pointer>: <problem>` with the pointer
 * Slack's `invalid_blocks` messages use (`/blocks/0/text/text`). Empty when the message fits.
 */
export function blockKitViolations(message: SlackMessage): string[] {
  const L = BLOCK_KIT_LIMITS;
  const out: string[] = [];
  const text = (path: string, t: TextObject | undefined, max: number, type?: TextObject['type']): void => {
    if (!t) return void out.push(`${path}: missing`);
    if (type && t.type !== type) out.push(`${path}/type: must be ${type}`);
    if (t.text.trim() === '') out.push(`${path}/text: empty`);
    if (t.text.length > max) out.push(`${path}/text: ${t.text.length} characters, more than ${max}`);
    if (t.text.match(LONE_SURROGATE)) out.push(`${path}/text: lone surrogate`);
  };
  const count = (path: string, n: number, max: number): void => {
    if (n > max) out.push(`${path}: ${n} items, more than ${max}`);
  };
  const id = (path: string, value: string | undefined, max: number): void => {
    if (value !== undefined && value.length > max) out.push(`${path}: ${value.length} characters, more than ${max}`);
  };
  const button = (path: string, b: ButtonElement): void => {
    text(`${path}/text`, b.text, L.buttonText, 'plain_text');
    id(`${path}/action_id`, b.action_id, L.id);
    id(`${path}/value`, b.value, L.buttonValue);
    id(`${path}/url`, b.url, L.buttonUrl);
    if (b.url !== undefined && !isHttpUrl(b.url)) out.push(`${path}/url: not an http(s) URL`);
  };

  if (message.text.trim() === '') out.push('/text: empty');
  id('/text', message.text, L.messageText);
  count('/blocks', message.blocks.length, L.blocks);
  message.blocks.forEach((block, i) => {
    const at = `/blocks/${i}`;
    id(`${at}/block_id`, block.block_id, L.id);
    switch (block.type) {
      case 'header':
        return text(`${at}/text`, block.text, L.headerText, 'plain_text');
      case 'section':
        if (!block.text && !block.fields?.length) out.push(`${at}: needs text or fields`);
        if (block.text) text(`${at}/text`, block.text, L.sectionText);
        count(`${at}/fields`, block.fields?.length ?? 0, L.fieldsPerSection);
        block.fields?.forEach((f, j) => text(`${at}/fields/${j}`, f, L.fieldText));
        if (block.accessory) button(`${at}/accessory`, block.accessory);
        return;
      case 'context':
        if (block.elements.length === 0) out.push(`${at}/elements: empty`);
        count(`${at}/elements`, block.elements.length, L.contextElements);
        return block.elements.forEach((e, j) => text(`${at}/elements/${j}`, e, L.contextText));
      case 'actions':
        if (block.elements.length === 0) out.push(`${at}/elements: empty`);
        count(`${at}/elements`, block.elements.length, L.actionsElements);
        return block.elements.forEach((b, j) => button(`${at}/elements/${j}`, b));
      default:
        return;
    }
  });
  const total = message.blocks.reduce((sum, b) => sum + textsOf(b).reduce((s, t) => s + t.text.length, 0), 0);
  if (total > L.totalBlockText) out.push(`/blocks: ${total} characters of text in all, more than ${L.totalBlockText}`);
  return out;
}
