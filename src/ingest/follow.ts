/**
 * The event follower: integrations that keep state derived from the subscriber mirror (Meta's
 * expected audience membership) follow it as Kit's events change it, instead of waiting for their
 * next scheduled run to read the whole mirror (issue 10).
 *
 * Each following destination (its integration has `followSubscribers`) has a place in the event
 * stream, a store setting `follow_cursor:<destination>`: the id of the last event it handled. A
 * pass reads the events after it (at most `batch`, in id order; ids rise in commit order, so none
 * is skipped), takes the Kit subscribers of the accepted Kit events among them (the only events
 * that change the mirror: ingest/mirror.ts), reads their mirror rows as they are now, hands them
 * to the integration, and only then saves the last id read. A crash in between repeats the pass:
 * integrations set state from the rows, so doing it twice is harmless. A subscriber no longer in
 * the mirror is skipped (erased, or deleted by a backfill): the scheduled run expires them.
 *
 * A destination followed for the first time starts at the newest event: what happened before is
 * its scheduled run's to read. No destination follows: nothing is read or written.
 */
import type { DestinationConfig, FollowContext, IntegrationRegistry, PolledIngest, SourceEvent } from '../integrations/index.js';
import type { EventHead, MirrorSubscriber, Store } from '../store/types.js';

/** `follow_cursor:<destination>`: the id of the last event the destination's follower handled. */
export const FOLLOW_CURSOR_SETTING = 'follow_cursor';

export interface EventFollowerDeps {
  readonly store: Store;
  readonly registry: IntegrationRegistry;
  /** The destinations as the relay runs them (the sandbox points some at simulators). */
  readonly destinations: Readonly<Record<string, DestinationConfig>>;
  /** Commits a destination's events and the jobs they plan, as its pollers' are (main.ts wires it). */
  readonly ingest?: (destinationName: string, poller: string, events: readonly SourceEvent[]) => Promise<PolledIngest>;
}

export interface EventFollowerOptions {
  readonly deps: EventFollowerDeps;
  readonly clock: { now(): number };
  readonly log: { warn(obj: object, msg: string): void };
  /** How often a caught-up follower looks for new events. @default 1000 */
  readonly everyMs?: number;
  /** Most events one pass reads per destination; a full pass is followed by another at once. @default 500 */
  readonly batch?: number;
}

export interface EventFollower {
  /** The destinations that follow (their integration has `followSubscribers`). */
  readonly destinations: readonly string[];
  /** Runs one pass now (tests); resolves when it is done. */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

interface Following {
  readonly name: string;
  follow(subscribers: readonly MirrorSubscriber[], now: number): Promise<void>;
}

/** Kit subscriber ids of the events that may have changed the mirror, each once. */
export function followedSubscriberIds(heads: readonly EventHead[]): number[] {
  const ids = new Set<number>();
  for (const head of heads) {
    if (head.status !== 'accepted' || head.origin !== 'kit' || head.subscriberId === null) continue;
    const id = Number(head.subscriberId);
    if (Number.isSafeInteger(id) && id > 0) ids.add(id);
  }
  return [...ids];
}

/** Where a destination's follower is: the saved id, or (the first time) the newest event's, saved now. */
async function placeOf(store: Store, key: string): Promise<number> {
  const saved = await store.getSetting(key);
  if (saved !== undefined && /^\d+$/.test(saved)) return Number(saved);
  const [newest] = await store.listEvents({ limit: 1 });
  const place = String(newest?.id ?? 0);
  if (saved === undefined) return Number(await store.initSetting(key, place)); // another process may have saved one meanwhile
  // Unreadable (edited by hand): start again from now, like a new destination.
  await store.setSetting(key, place);
  return Number(place);
}

/**
 * One pass for one destination: returns how many events it read (a full batch means there may be
 * more at once).
 */
async function followOnce(deps: EventFollowerDeps, following: Following, batch: number, now: number): Promise<number> {
  const key = `${FOLLOW_CURSOR_SETTING}:${following.name}`;
  const after = await placeOf(deps.store, key);
  const heads = await deps.store.listEventHeads({ afterId: after, limit: batch });
  const last = heads.at(-1);
  if (last === undefined) return 0;
  const ids = followedSubscriberIds(heads);
  const subscribers = ids.length > 0 ? await deps.store.listSubscribers({ kitIds: ids, limit: ids.length }) : [];
  if (subscribers.length > 0) await following.follow(subscribers, now);
  await deps.store.setSetting(key, String(last.id));
  return heads.length;
}

function followingOf(deps: EventFollowerDeps): Following[] {
  return Object.entries(deps.destinations).flatMap(([name, destination]): Following[] => {
    const integration = deps.registry.get(destination.type);
    if (!integration?.followSubscribers) return [];
    const follow = async (subscribers: readonly MirrorSubscriber[], now: number): Promise<void> => {
      const { ingest } = deps;
      const ctx: FollowContext<DestinationConfig> = { destinationName: name, destination, store: deps.store, now, ...(ingest ? { ingest: (poller: string, events: readonly SourceEvent[]) => ingest(name, poller, events) } : {}) };
      await integration.followSubscribers?.(ctx, subscribers);
    };
    return [{ name, follow }];
  });
}

/**
 * Follows the event stream for every destination whose integration asks to, every `everyMs`
 * (at once again after a full batch, so a backlog drains quickly in bounded passes). Resolves once
 * each new destination's place is saved, so events acknowledged after this are followed.
 */
export async function startEventFollower(options: EventFollowerOptions): Promise<EventFollower> {
  const { deps } = options;
  const everyMs = options.everyMs ?? 1000;
  const batch = options.batch ?? 500;
  const following = followingOf(deps);
  for (const f of following) await placeOf(deps.store, `${FOLLOW_CURSOR_SETTING}:${f.name}`);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<boolean> | undefined;
  let stopped = false;
  /** Whether some destination read a full batch. */
  const pass = async (): Promise<boolean> => {
    let isBehind = false;
    for (const f of following) {
      try {
        isBehind = (await followOnce(deps, f, batch, options.clock.now())) === batch || isBehind;
      } catch (error) {
        // Its place is unchanged: the same events are followed again at the next pass.
        options.log.warn({ destination: f.name, err: error instanceof Error ? error.message : String(error) }, 'following subscriber changes failed; trying again at the next pass');
      }
    }
    return isBehind;
  };
  const runOnce = (): Promise<boolean> => {
    running = (running ?? Promise.resolve(false)).then(pass);
    return running;
  };
  const tick = (): void => {
    if (stopped) return;
    void runOnce().then((isBehind) => {
      if (!stopped) timer = setTimeout(tick, isBehind ? 0 : everyMs);
    });
  };
  if (following.length > 0) timer = setTimeout(tick, everyMs);
  return {
    destinations: following.map((f) => f.name),
    runOnce: async () => {
      await runOnce();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
