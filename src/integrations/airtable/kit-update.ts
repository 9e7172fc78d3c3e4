/**
 * The `kit_update` action: an edit made in Airtable, applied to Kit (inbound.ts plans it), or an
 * approved delete request, carried out as an unsubscribe. Kit's calls go through the Kit client
 * the worker hands in (the service's credentials, Kit's shared rate budget), over the attempt's
 * HTTP (its timeout, abort and shadow mode), each reported for the audit record.
 *
 * Every call is safe to repeat: a name and custom fields are set (PUT), a tag is added or removed
 * by id (the tag is found by name, made if Kit has none of that name), an unsubscribe is an
 * unsubscribe. So a retry after any failure sends the whole edit again.
 *
 * Once Kit took it, the subscriber mirror is brought in line at once and the cells the edit came
 * from become the record's synced values: when Kit's webhooks for these very changes arrive, the
 * mirror already holds them and the record already agrees, so nothing is written back to Airtable
 * (no echo loop).
 */
import { z } from 'zod';
import { KitNotFoundError, type KitCall } from '../../kit/client/index.js';
import type { MirrorSubscriber, MirrorTag } from '../../store/types.js';
import { callRecordOf, kitErrorResult, openAttemptKit } from '../kit-calls.js';
import type { ActionContext, ActionResult, JobAction } from '../types.js';
import { contentHash, recordOf } from './fields.js';
import { syncKey } from './records.js';
import type { AirtableDestinationConfig } from './schema.js';

export const kitUpdateParamsSchema = z
  .object({
    sync: z.string().min(1),
    kitId: z.number().int().positive(),
    /** The Airtable row the edit came from. */
    recordId: z.string().min(1),
    /** Kit's first name (null: cleared). */
    firstName: z.string().nullable().optional(),
    /** Custom fields by key (null: cleared). */
    fields: z.record(z.string(), z.string().nullable()).optional(),
    addTags: z.array(z.string().min(1)).optional(),
    removeTags: z.array(z.string().min(1)).optional(),
    /** The cells this edit brings Kit in line with: the record's synced values once it succeeds. */
    synced: z.record(z.string(), z.unknown()).default({}),
    /** An approved delete request: unsubscribe them in Kit. */
    unsubscribe: z.literal(true).optional(),
    deleteRequestId: z.number().int().positive().optional(),
  })
  .strict();

export type KitUpdateParams = z.input<typeof kitUpdateParamsSchema>;
type Params = z.output<typeof kitUpdateParamsSchema>;

export const kitUpdateAction: JobAction<Params, AirtableDestinationConfig> = {
  kind: 'job',
  description: 'apply an edit made in Airtable to the Kit subscriber (name, custom fields, tags), or unsubscribe one whose row deletion was approved',
  params: kitUpdateParamsSchema,
  run,
};

async function run(ctx: ActionContext<Params, AirtableDestinationConfig>): Promise<ActionResult> {
  const { params } = ctx;
  const correlation = { sync: params.sync, kitId: String(params.kitId), recordId: params.recordId };
  if (!ctx.kit) return { outcome: 'failed', error: 'no Kit access in this process (set KIT_API_KEY, or log in with `kitrelay kit login`): the edit was not applied', correlation };
  const store = ctx.airtable;
  if (!store) return { outcome: 'failed', error: 'this worker has no Airtable store wired (a kitrelay bug): nothing was sent', correlation };
  const [subscriber] = await store.listSubscribers({ kitIds: [params.kitId], limit: 1 });
  if (!subscriber) return { outcome: 'failed', error: `subscriber ${params.kitId} is not in the mirror: run \`kitrelay kit backfill\`, then replay`, correlation };

  const calls: KitCall[] = [];
  const done: string[] = [];
  const opened = await openAttemptKit(ctx, calls);
  if ('error' in opened) return opened.isRetryable ? { outcome: 'retry', error: opened.error, correlation } : { outcome: 'failed', error: opened.error, correlation };
  const { client } = opened;
  try {
    if (params.unsubscribe) {
      await client.unsubscribe(params.kitId);
      done.push('unsubscribed');
      await store.upsertSubscribers([{ ...snapshotOf(subscriber), state: 'cancelled' }], 'reconcile', ctx.now);
      await store.forgetAirtableRecords(syncKey(ctx.destinationName, params.sync), [params.kitId]);
      return succeeded(calls, { ...correlation, op: done.join(', '), ...(params.deleteRequestId ? { deleteRequest: String(params.deleteRequestId) } : {}) });
    }
    if (params.firstName !== undefined || params.fields !== undefined) {
      await client.updateSubscriber(params.kitId, { ...(params.firstName !== undefined ? { firstName: params.firstName } : {}), ...(params.fields ? { fields: params.fields } : {}) });
      done.push([params.firstName !== undefined ? 'first name' : '', ...Object.keys(params.fields ?? {})].filter(Boolean).join(', ') + ' set');
    }
    let tags: MirrorTag[] = [...subscriber.tags];
    for (const name of params.addTags ?? []) {
      const { tag } = await client.createTag(name);
      await client.tagSubscriber(tag.id, params.kitId);
      tags = [...tags.filter((t) => t.id !== tag.id), { id: tag.id, name: tag.name, taggedAt: ctx.now }];
      done.push(`tagged "${name}"`);
    }
    for (const name of params.removeTags ?? []) {
      const known = subscriber.tags.find((t) => t.name?.trim().toLowerCase() === name.toLowerCase());
      const tagId = known?.id ?? (/^\d+$/.test(name) ? Number(name) : (await client.createTag(name)).tag.id);
      try {
        await client.untagSubscriber(tagId, params.kitId);
      } catch (error) {
        if (!(error instanceof KitNotFoundError)) throw error; // not tagged: done already
      }
      tags = tags.filter((t) => t.id !== tagId);
      done.push(`untagged "${name}"`);
    }
    const next: MirrorSubscriber = {
      ...subscriber,
      ...(params.firstName !== undefined ? { firstName: params.firstName } : {}),
      fields: { ...subscriber.fields, ...params.fields },
      tags,
    };
    await store.upsertSubscribers([snapshotOf(next)], 'reconcile', ctx.now);
    const sync = Object.hasOwn(ctx.destination.syncs, params.sync) ? ctx.destination.syncs[params.sync] : undefined;
    const [state] = await store.getAirtableRecords(syncKey(ctx.destinationName, params.sync), [params.kitId]);
    if (sync && state) await store.setAirtableRecords(syncKey(ctx.destinationName, params.sync), [{ kitId: params.kitId, recordId: state.recordId, hash: contentHash(recordOf(next, sync).fields), synced: params.synced }], ctx.now);
    return succeeded(calls, { ...correlation, op: done.join('; ') || 'nothing to change' });
  } catch (error) {
    return kitErrorResult(error, calls, done, correlation);
  } finally {
    await client.close();
  }
}

function snapshotOf(subscriber: MirrorSubscriber) {
  return { kitId: subscriber.kitId, email: subscriber.email, firstName: subscriber.firstName, state: subscriber.state, fields: subscriber.fields, tags: subscriber.tags, createdAt: subscriber.createdAt };
}

function succeeded(calls: readonly KitCall[], correlation: Readonly<Record<string, string>>): ActionResult {
  const call = callRecordOf(calls);
  return { outcome: 'succeeded', correlation: { ...correlation, kitCalls: String(calls.length) }, ...(call ? { call } : {}) };
}
