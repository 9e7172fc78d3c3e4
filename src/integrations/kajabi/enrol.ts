/**
 * The `enrol` action: one person's facts (facts.ts) applied to the enrolment table, then Kit's
 * tags brought in line with it. Every source queues its facts as these jobs, ordered by the
 * person's email (`personOrderKey`), so one person's changes run one at a time in the order they
 * were committed, and the table is written by nothing else.
 *
 * Kit follows the table, never the events: an enrolment that is `granted` carries its offer's tag
 * (and was added to the offer's sequence when it got it); any other status does not. What kitrelay
 * last made Kit show is kept on the row (`kitTagged`), so a fact seen again (Kajabi's retries, the
 * same purchase from both webhook systems, a reconciliation) calls Kit only for a difference: a
 * subscriber is tagged once. An enrolment that ends after Kit showed its tag gets the stop action:
 * the stop tag, for a Kit automation that takes them out of the sequence (Kit has no endpoint for
 * that, README: Kajabi); a later grant of that offer removes the stop tag again, so the next
 * ending fires the automation anew.
 *
 * The table is written before Kit is called, and each Kit step's result right after it: a crash
 * or a retry resumes at the first step not recorded. Every Kit call is safe to repeat (tagging,
 * sequence adds and the subscriber upsert answer 200 for what exists; an untag's 404 is done).
 */
import { KitNotFoundError, type KitCall, type KitClient } from '../../kit/client/index.js';
import type { KajabiCorrectionInput, KajabiEnrolmentInput } from '../../store/kajabi-types.js';
import { callRecordOf, kitErrorResult, openAttemptKit } from '../kit-calls.js';
import type { ActionContext, ActionResult, JobAction, KajabiAttemptStore } from '../types.js';
import { applyFacts, isEnded } from './enrolment.js';
import { enrolParamsSchema, normaliseEmail, type EnrolParams } from './facts.js';
import type { KajabiDestinationConfig } from './schema.js';

export const enrolAction: JobAction<EnrolParams, KajabiDestinationConfig> = {
  kind: 'job',
  description: "apply what Kajabi said about one person's offers to the enrolment table, then tag or untag them in Kit to match (queued by the Kajabi sources, the poller, the settlement check and the reconciliation)",
  params: enrolParamsSchema,
  run,
};

/** One Kit change an enrolment needs. */
export type KitStep =
  | { readonly kind: 'tag'; readonly offerId: string; readonly tag: string; readonly sequenceId?: number; readonly clearStop?: string }
  | { readonly kind: 'untag'; readonly offerId: string; readonly tag: string; readonly stopTag?: string };

/**
 * What Kit must be told for the enrolments to hold: a tag for each granted one Kit does not show,
 * an untag (and the stop action) for each other one it does. `recheck`: Kit drifted (the
 * reconciliation saw it), so the kept record of Kit's state is not trusted.
 */
export function planKit(destination: KajabiDestinationConfig, enrolments: Iterable<KajabiEnrolmentInput>, recheck: boolean): KitStep[] {
  const steps: KitStep[] = [];
  const stopTag = destination.stopAction.tag;
  for (const enrolment of enrolments) {
    const mapping = Object.hasOwn(destination.offers, enrolment.offerId) ? destination.offers[enrolment.offerId] : undefined;
    if (!mapping) continue;
    if (enrolment.status === 'granted') {
      if (enrolment.kitTagged === true && !recheck) continue;
      steps.push({
        kind: 'tag',
        offerId: enrolment.offerId,
        tag: mapping.tag,
        // A sequence add only when access is new in Kit (a recheck of a tag Kit showed adds none).
        ...(mapping.sequenceId !== undefined && enrolment.kitTagged !== true ? { sequenceId: mapping.sequenceId } : {}),
        ...(stopTag !== undefined && enrolment.kitTagged === false ? { clearStop: stopTag } : {}),
      });
      continue;
    }
    const needsStop = isEnded(enrolment.status) && stopTag !== undefined && enrolment.kitTagged === true && !enrolment.isStopApplied;
    if (enrolment.kitTagged === true || (recheck && enrolment.kitTagged !== false) || needsStop) {
      steps.push({ kind: 'untag', offerId: enrolment.offerId, tag: mapping.tag, ...(needsStop ? { stopTag } : {}) });
    }
  }
  return steps;
}

async function run(ctx: ActionContext<EnrolParams, KajabiDestinationConfig>): Promise<ActionResult> {
  const { params, destinationName, destination } = ctx;
  const email = normaliseEmail(params.person.email);
  const correlation: Record<string, string> = { email, origin: params.origin, ...(params.runId ? { run: params.runId } : {}) };
  const store = ctx.kajabi;
  if (!store) return { outcome: 'failed', error: 'this worker has no Kajabi store wired (a kitrelay bug): nothing was applied', correlation };

  const current = await store.getKajabiEnrolments(destinationName, email);
  const applied = applyFacts(destinationName, params.person, current, params.facts, params.origin);
  const isCorrection = params.origin === 'reconcile';
  const corrections: KajabiCorrectionInput[] = isCorrection
    ? applied.changes.map((change) => ({ destination: destinationName, runId: params.runId ?? null, email, offerId: change.offerId, what: change.what, why: params.reason ?? 'Kajabi disagreed with the table', before: change.before, after: change.after }))
    : [];
  if (applied.changed.size > 0 || corrections.length > 0) {
    await store.saveKajabiEnrolments(
      [...applied.changed].map((offerId) => applied.enrolments.get(offerId) as KajabiEnrolmentInput),
      corrections,
      ctx.now,
    );
  }
  const summary = applied.changes.filter((c) => c.what === 'status').map((c) => `${c.offerId}: ${c.before ?? 'none'} → ${c.after ?? 'none'}`);
  if (summary.length > 0) correlation['enrolment'] = summary.join('; ').slice(0, 500);

  const steps = planKit(destination, applied.enrolments.values(), params.recheckKit);
  if (steps.length === 0) return { outcome: 'succeeded', correlation: { ...correlation, kit: 'nothing to change' } };

  const calls: KitCall[] = [];
  const done: string[] = [];
  const opened = await openAttemptKit(ctx, calls);
  if ('error' in opened) return opened.isRetryable ? { outcome: 'retry', error: opened.error, correlation } : { outcome: 'failed', error: opened.error, correlation };
  const { client } = opened;
  const tagIds = new Map<string, number>();
  /** Tags Kit now shows (true) or not (false), by id, for the mirror. */
  const mirrorTags = new Map<number, { readonly name: string; readonly isOn: boolean }>();
  const tagId = async (name: string): Promise<number> => {
    const known = tagIds.get(name.toLowerCase());
    if (known !== undefined) return known;
    const { tag } = await client.createTag(name);
    tagIds.set(name.toLowerCase(), tag.id);
    return tag.id;
  };
  try {
    for (const step of steps) {
      const before = applied.enrolments.get(step.offerId) as KajabiEnrolmentInput;
      let next: KajabiEnrolmentInput;
      if (step.kind === 'tag') {
        const subscriberId = await tagPerson(client, await tagId(step.tag), params.person.email, params.person.name);
        mirrorTags.set(await tagId(step.tag), { name: step.tag, isOn: true });
        done.push(`tagged "${step.tag}"`);
        if (step.sequenceId !== undefined) {
          await client.addToSequence(step.sequenceId, { email: params.person.email });
          done.push(`added to sequence ${step.sequenceId}`);
        }
        if (step.clearStop !== undefined) {
          await untag(client, await tagId(step.clearStop), email);
          mirrorTags.set(await tagId(step.clearStop), { name: step.clearStop, isOn: false });
          done.push(`untagged stop tag "${step.clearStop}"`);
        }
        next = { ...before, kitTagged: true, kitSyncedAt: ctx.now, kitSubscriberId: subscriberId, isStopApplied: false };
      } else {
        await untag(client, await tagId(step.tag), email);
        mirrorTags.set(await tagId(step.tag), { name: step.tag, isOn: false });
        done.push(`untagged "${step.tag}"`);
        if (step.stopTag !== undefined) {
          await tagPerson(client, await tagId(step.stopTag), params.person.email, params.person.name);
          mirrorTags.set(await tagId(step.stopTag), { name: step.stopTag, isOn: true });
          done.push(`tagged stop tag "${step.stopTag}"`);
        }
        next = { ...before, kitTagged: false, kitSyncedAt: ctx.now, isStopApplied: before.isStopApplied || step.stopTag !== undefined };
      }
      applied.enrolments.set(step.offerId, next);
      const kitCorrections: KajabiCorrectionInput[] =
        isCorrection && params.recheckKit
          ? [{ destination: destinationName, runId: params.runId ?? null, email, offerId: step.offerId, what: 'kit_tag', why: params.reason ?? "Kit's tags disagreed with the table", before: step.kind === 'tag' ? 'absent' : 'present', after: step.kind === 'tag' ? 'present' : 'absent' }]
          : [];
      await store.saveKajabiEnrolments([next], kitCorrections, ctx.now);
    }
    await updateMirror(store, email, mirrorTags, ctx.now);
    const call = callRecordOf(calls);
    return { outcome: 'succeeded', correlation: { ...correlation, kit: done.join('; ').slice(0, 500), kitCalls: String(calls.length) }, ...(call ? { call } : {}) };
  } catch (error) {
    return kitErrorResult(error, calls, done, correlation);
  } finally {
    await client.close();
  }
}

/**
 * Tags the subscriber with this email; one Kit has never seen (a purchaser who never subscribed)
 * is added first, with Kajabi's first name. An existing subscriber's name is left alone (Kit's
 * upsert would overwrite it), so the upsert is only the fallback.
 */
async function tagPerson(client: KitClient, tagId: number, email: string, name: string | undefined): Promise<number> {
  try {
    return (await client.tagSubscriberByEmail(tagId, email.trim())).subscriber.id;
  } catch (error) {
    if (!(error instanceof KitNotFoundError)) throw error;
  }
  const firstName = name?.trim().split(/\s+/)[0];
  const { subscriber } = await client.createSubscriber({ email: email.trim(), ...(firstName ? { firstName } : {}) });
  await client.tagSubscriber(tagId, subscriber.id);
  return subscriber.id;
}

/**
 * The mirror row, when there is one, shows the tags as Kit now has them: the reconciliation
 * compares Kit's tags through it, and Kit's own webhooks for these changes (where Kit sends them)
 * find it already so.
 */
async function updateMirror(store: KajabiAttemptStore, email: string, tags: ReadonlyMap<number, { readonly name: string; readonly isOn: boolean }>, now: number): Promise<void> {
  if (tags.size === 0) return;
  const subscriber = await store.getSubscriberByEmail(email);
  if (!subscriber) return;
  const kept = subscriber.tags.filter((t) => !tags.has(t.id));
  const added = [...tags].filter(([, t]) => t.isOn).map(([id, t]) => ({ id, name: t.name, taggedAt: now }));
  await store.upsertSubscribers([{ kitId: subscriber.kitId, email: subscriber.email, firstName: subscriber.firstName, state: subscriber.state, fields: subscriber.fields, tags: [...kept, ...added], createdAt: subscriber.createdAt }], 'reconcile', now);
}

/** Untagging what Kit does not show (404: no such subscriber or tagging) is done already. */
async function untag(client: KitClient, tagId: number, email: string): Promise<void> {
  try {
    await client.untagSubscriberByEmail(tagId, email);
  } catch (error) {
    if (!(error instanceof KitNotFoundError)) throw error;
  }
}
