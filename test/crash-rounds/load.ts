/**
 * The load: concurrent POSTs of legacy and signed webhooks against the relay, each event carrying
 * its own subscriber id (and, when signed, its own Kit event id), so every acknowledged event can
 * be looked for in the store. Posts keep going until told to stop — the kill lands among them.
 */
import { LEGACY_PATH_PREFIX, SIGNED_PATH_PREFIX, routeToken } from '../../src/ingest/routes.js';
import { fixtureUuid, jsonBody, legacyFixture, signedEnvelope, signedTagAddedEvent } from '../../src/kit/fixtures.js';
import { signPayload } from '../../src/kit/signature.js';
import type { Prng } from './prng.js';
import { KIT_SECRET, LEGACY_ROUTE_ID, ROUTE_SECRET, SIGNED_ENDPOINT, delay } from './relay-process.js';

const LEGACY_PATH = `${LEGACY_PATH_PREFIX}/${LEGACY_ROUTE_ID}/${routeToken(ROUTE_SECRET, LEGACY_ROUTE_ID)}`;
const SIGNED_PATH = `${SIGNED_PATH_PREFIX}/${SIGNED_ENDPOINT}`;

export interface PostRecord {
  readonly post: number;
  readonly system: 'legacy' | 'signed';
  /** The subscriber id of each event the post carries: the event's identity. */
  readonly subscribers: readonly number[];
  readonly body: Buffer;
  /** The HTTP status of the first try; undefined when no answer came (reset, refused, timed out). */
  status?: number;
  /** Why no answer came. */
  error?: string;
  /** The status of the re-send after the restart (as Kit would retry), when there was one. */
  resendStatus?: number;
}

export interface LoadOptions {
  readonly prng: Prng;
  /** The relay to post to. */
  readonly url: string;
  /** Posts in flight at once. */
  readonly concurrency: number;
  /** At most this many posts, even if never stopped. */
  readonly maxPosts: number;
  readonly postTimeoutMs: number;
}

/** Subscriber ids and post numbers, unique over the whole run. */
export interface IdSource {
  nextSubscriber: number;
  nextPost: number;
}

export interface RunningLoad {
  readonly posts: readonly PostRecord[];
  /** Starts no more posts, and waits (at most one post timeout) for those in flight. */
  stop(): Promise<void>;
}

export function startLoad(options: LoadOptions, ids: IdSource): RunningLoad {
  const posts: PostRecord[] = [];
  let isStopped = false;
  const worker = async () => {
    while (!isStopped && posts.length < options.maxPosts) {
      const post = nextPost(options.prng, ids);
      posts.push(post);
      const answer = await send(options.url, post, options.postTimeoutMs);
      if (answer.status !== undefined) post.status = answer.status;
      if (answer.error !== undefined) post.error = answer.error;
      await delay(options.prng.int(0, 8)); // a little jitter, so posts do not march in step
    }
  };
  const workers = Array.from({ length: options.concurrency }, worker);
  return {
    posts,
    async stop() {
      isStopped = true;
      await Promise.all(workers);
    },
  };
}

/** Sends every post that got no 2xx once more, the way Kit retries a failed delivery. */
export async function resend(url: string, posts: readonly PostRecord[], concurrency: number, postTimeoutMs: number): Promise<void> {
  const queue = posts.filter((post) => !isAcknowledged(post.status) && !isAcknowledged(post.resendStatus));
  const worker = async () => {
    for (let post = queue.shift(); post; post = queue.shift()) {
      const answer = await send(url, post, postTimeoutMs);
      if (answer.status !== undefined) post.resendStatus = answer.status;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export function isAcknowledged(status: number | undefined): boolean {
  return status !== undefined && status >= 200 && status < 300;
}

function nextPost(prng: Prng, ids: IdSource): PostRecord {
  const post = ids.nextPost++;
  if (prng.chance(0.5)) {
    const id = ids.nextSubscriber++;
    const body = jsonBody(legacyFixture('subscriber.tag_add', { id, email: `crash-${id}@example.com` }).body);
    return { post, system: 'legacy', subscribers: [id], body };
  }
  // Kit batches signed events (up to 100 per delivery): a few per post exercise the batch commit.
  const subscribers = Array.from({ length: prng.int(1, 3) }, () => ids.nextSubscriber++);
  const events = subscribers.map((id) => signedTagAddedEvent({ id, email: `crash-${id}@example.com`, eventId: fixtureUuid(`crash-rounds|${id}`) }));
  return { post, system: 'signed', subscribers, body: jsonBody(signedEnvelope(events, { deliveryId: post })) };
}

async function send(url: string, post: PostRecord, timeoutMs: number): Promise<{ status?: number; error?: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (post.system === 'signed') {
    // Kit signs every try afresh (a new `t`), over the same bytes.
    headers['x-kit-signature'] = signPayload({ secrets: [KIT_SECRET], body: post.body, timestamp: Math.floor(Date.now() / 1000) });
    headers['x-kit-delivery'] = String(post.post);
  }
  const path = post.system === 'signed' ? SIGNED_PATH : LEGACY_PATH;
  let response: Response;
  try {
    response = await fetch(`${url}${path}`, { method: 'POST', body: post.body, headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error: unknown) {
    return { error: causeOf(error) };
  }
  // The status line is the acknowledgement (the relay answers only after its commit): a body cut
  // off by the kill after it does not make the post unanswered.
  await response.arrayBuffer().catch(() => undefined);
  return { status: response.status };
}

/** undici wraps the socket error (ECONNRESET, ECONNREFUSED) in a TypeError's cause. */
function causeOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.name;
  return String(cause);
}
