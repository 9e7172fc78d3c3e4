/**
 * Block Kit limits for messages (reference/destinations.md §1.2), checked as Slack does before it
 * posts: a violation answers `invalid_blocks` with one `response_metadata.messages` string per
 * problem, `"[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"`. The
 * shape of those strings is Slack's; the exact wording of each is [U].
 *
 * Checked: at most 50 blocks; known block types; text objects; section text ≤ 3000, fields ≤ 10
 * of ≤ 2000 each, text or fields present; header plain_text ≤ 150; actions ≤ 25 elements, context
 * ≤ 10; buttons (text ≤ 75, action_id ≤ 255, value ≤ 2000, url ≤ 3000); block_id ≤ 255.
 * Not checked: the other elements' own limits, and the total length Slack calls
 * `msg_blocks_too_long`.
 */

export const MAX_BLOCKS = 50;

const KNOWN_TYPES = new Set(['section', 'divider', 'header', 'context', 'actions', 'image', 'rich_text', 'input', 'file', 'video', 'markdown', 'table']);

type Problems = string[];

/** Either the blocks, or why they are not an array of blocks (`invalid_blocks_format`). */
export function readBlocks(value: unknown): { readonly blocks: readonly unknown[] | undefined } | { readonly formatError: string } {
  if (value === undefined || value === null || value === '') return { blocks: undefined };
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value) as unknown;
    } catch {
      return { formatError: '[ERROR] failed to parse blocks as JSON' };
    }
  }
  if (!Array.isArray(parsed)) return { formatError: '[ERROR] blocks must be an array' };
  return { blocks: parsed.length === 0 ? undefined : parsed };
}

/** Every problem found, `[]` when the blocks are valid. */
export function blockProblems(blocks: readonly unknown[]): string[] {
  const problems: Problems = [];
  if (blocks.length > MAX_BLOCKS) problems.push(error(`no more than ${MAX_BLOCKS} items allowed`, '/blocks'));
  blocks.forEach((block, i) => checkBlock(block, `/blocks/${i}`, problems));
  return problems;
}

function error(message: string, pointer: string): string {
  return `[ERROR] ${message} [json-pointer:${pointer}]`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkBlock(block: unknown, at: string, problems: Problems): void {
  if (!isObject(block)) {
    problems.push(error('must be an object', at));
    return;
  }
  const { type } = block;
  if (typeof type !== 'string') {
    problems.push(error('missing required field: type', at));
    return;
  }
  if (!KNOWN_TYPES.has(type)) {
    problems.push(error(`unsupported type: ${type}`, `${at}/type`));
    return;
  }
  maxLength(block.block_id, 255, `${at}/block_id`, problems);
  switch (type) {
    case 'section':
      return checkSection(block, at, problems);
    case 'header':
      if (block.text === undefined) problems.push(error('missing required field: text', at));
      else checkText(block.text, 150, `${at}/text`, problems, true);
      return;
    case 'actions':
      return checkElements(block.elements, 25, at, problems, (element, where) => checkElement(element, where, problems));
    case 'context':
      return checkElements(block.elements, 10, at, problems, (element, where) => {
        if (isObject(element) && (element.type === 'plain_text' || element.type === 'mrkdwn')) checkText(element, 3000, where, problems);
      });
    default:
      return undefined;
  }
}

function checkSection(block: Record<string, unknown>, at: string, problems: Problems): void {
  const { text, fields, accessory } = block;
  if (text === undefined && fields === undefined) problems.push(error('must provide at least one of [text, fields]', at));
  if (text !== undefined) checkText(text, 3000, `${at}/text`, problems);
  if (fields !== undefined) {
    if (!Array.isArray(fields)) problems.push(error('must be an array', `${at}/fields`));
    else {
      if (fields.length > 10) problems.push(error('no more than 10 items allowed', `${at}/fields`));
      fields.forEach((field, j) => checkText(field, 2000, `${at}/fields/${j}`, problems));
    }
  }
  if (accessory !== undefined) checkElement(accessory, `${at}/accessory`, problems);
}

function checkElements(elements: unknown, max: number, at: string, problems: Problems, check: (element: unknown, where: string) => void): void {
  if (!Array.isArray(elements)) {
    problems.push(error('missing required field: elements', at));
    return;
  }
  if (elements.length === 0) problems.push(error('must provide at least 1 item', `${at}/elements`));
  if (elements.length > max) problems.push(error(`no more than ${max} items allowed`, `${at}/elements`));
  elements.forEach((element, j) => check(element, `${at}/elements/${j}`));
}

/** Buttons only; other interactive elements pass. */
function checkElement(element: unknown, at: string, problems: Problems): void {
  if (!isObject(element)) {
    problems.push(error('must be an object', at));
    return;
  }
  if (typeof element.type !== 'string') {
    problems.push(error('missing required field: type', at));
    return;
  }
  if (element.type !== 'button') return;
  if (element.text === undefined) problems.push(error('missing required field: text', at));
  else checkText(element.text, 75, `${at}/text`, problems, true);
  maxLength(element.action_id, 255, `${at}/action_id`, problems);
  maxLength(element.value, 2000, `${at}/value`, problems);
  maxLength(element.url, 3000, `${at}/url`, problems);
}

/** A text object: `{type: plain_text|mrkdwn, text}`, 1 to `max` characters. */
function checkText(value: unknown, max: number, at: string, problems: Problems, isPlainOnly = false): void {
  if (!isObject(value)) {
    problems.push(error('must be an object', at));
    return;
  }
  const allowed = isPlainOnly ? ['plain_text'] : ['plain_text', 'mrkdwn'];
  if (typeof value.type !== 'string' || !allowed.includes(value.type)) problems.push(error(`must be one of [${allowed.join(', ')}]`, `${at}/type`));
  if (typeof value.text !== 'string') {
    problems.push(error('missing required field: text', at));
    return;
  }
  if (value.text.length === 0) problems.push(error('must be more than 0 characters', `${at}/text`));
  maxLength(value.text, max, `${at}/text`, problems);
}

function maxLength(value: unknown, max: number, at: string, problems: Problems): void {
  if (value === undefined) return;
  if (typeof value !== 'string') {
    problems.push(error('must be a string', at));
    return;
  }
  if (value.length > max) problems.push(error(`must be less than ${max + 1} characters`, at));
}
