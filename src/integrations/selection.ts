/**
 * Which Kit subscribers a destination sync holds (a Meta audience, an Airtable table): a selection
 * by tags and states, read from the subscriber mirror. Pure; shared by the integrations that keep
 * a set of subscribers in step.
 */
import { z } from 'zod';
import type { MirrorSubscriber, MirrorTag } from '../store/types.js';

const tagRef = z.union([z.number().int().positive(), z.string().min(1)]);

export const selectionSchema = z
  .object({
    /** Tags by id or name: any of `any` (when given), all of `all`, none of `none`. */
    tags: z
      .object({
        any: z.array(tagRef).min(1).optional(),
        all: z.array(tagRef).min(1).optional(),
        none: z.array(tagRef).min(1).optional(),
      })
      .strict()
      .default({}),
    /** Kit subscriber states that qualify. @default ['active'] */
    states: z.array(z.string().min(1)).min(1).default(['active']),
  })
  .strict();

export type SelectionConfig = z.output<typeof selectionSchema>;

type TagRef = number | string;

function hasTag(tags: readonly MirrorTag[], ref: TagRef): boolean {
  // A number, or digits, is a tag id; anything else a tag name (case does not matter in Kit's UI).
  if (typeof ref === 'number' || /^\d+$/.test(ref)) return tags.some((tag) => tag.id === Number(ref));
  const name = ref.trim().toLowerCase();
  return tags.some((tag) => tag.name?.trim().toLowerCase() === name);
}

export function isSelected(subscriber: Pick<MirrorSubscriber, 'state' | 'tags'>, select: SelectionConfig): boolean {
  if (!select.states.includes(subscriber.state)) return false;
  const { any, all, none } = select.tags;
  if (any && !any.some((ref) => hasTag(subscriber.tags, ref))) return false;
  if (all && !all.every((ref) => hasTag(subscriber.tags, ref))) return false;
  if (none?.some((ref) => hasTag(subscriber.tags, ref))) return false;
  return true;
}
