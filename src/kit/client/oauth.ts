/**
 * `kitrelay kit login`: Kit's OAuth authorisation-code flow with PKCE (reference/kit.md §1) for a
 * CLI, through a loopback redirect (RFC 8252 §7.3): a one-shot server on
 * `http://127.0.0.1:<port>/callback` receives Kit's redirect, checks its `state`, and the code is
 * exchanged (with the PKCE verifier) for the token set, which the caller stores in the vault.
 */
import { createHash, randomBytes } from 'node:crypto';
import { secretsMatch } from '../../lib/compare.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http.js';
import { KitOAuthError } from './errors/oauth-error.js';
import { DEFAULT_AUTHORIZE_URL, DEFAULT_TOKEN_URL, exchangeCode, type TokenEndpoint } from './token-endpoint.js';
import type { OAuthTokens } from './types.js';

export interface OAuthLoginOptions {
  /** @default 'https://api.kit.com/v4/oauth/authorize' */
  readonly authorizeUrl?: string;
  /** [UNC] reference/kit.md §1. @default 'https://api.kit.com/v4/oauth/token' */
  readonly tokenUrl?: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  /**
   * The loopback port; set it to the one in the redirect URI registered with your Kit app.
   * @default 0 (any free port: for servers that allow any loopback port, as RFC 8252 asks)
   */
  readonly redirectPort?: number;
  /** Space-separated, e.g. `read write`. @default none (the app's scopes) */
  readonly scope?: string;
  /** Shows the authorisation URL to the user: print it, or open a browser. May return before the user acts. */
  readonly openUrl: (url: string) => void | Promise<void>;
  /** The whole login, from opening the URL to holding tokens. @default 300_000 */
  readonly timeoutMs?: number;
  readonly tokenEncoding?: TokenEndpoint['encoding'];
  /** @default a client of its own, closed at the end */
  readonly http?: HttpClient;
  readonly clock?: Clock;
}

/** What the redirect brought: the code, and a way to answer the browser once the exchange is done. */
interface Callback {
  readonly code: string;
  readonly reply: (status: number, message: string) => void;
}

export async function runOAuthLogin(options: OAuthLoginOptions): Promise<OAuthTokens> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const timeoutMs = options.timeoutMs ?? 300_000;
  const isOwnHttp = options.http === undefined;
  const http = options.http ?? createHttpClient();

  const callback = deferred<Callback>();
  const server = createServer((req, res) => handleRedirect(req, res, state, callback));
  let timer: NodeJS.Timeout | undefined;
  try {
    const redirectUri = await listen(server, options.redirectPort ?? 0);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KitOAuthError('timeout', `no redirect from Kit within ${timeoutMs} ms`)), timeoutMs);
    });
    // Either may settle while the flow awaits something else (`openUrl`): mark them handled now;
    // the races below still see their outcome.
    deadline.catch(() => undefined);
    callback.promise.catch(() => undefined);
    const url = new URL(options.authorizeUrl ?? DEFAULT_AUTHORIZE_URL);
    url.searchParams.set('client_id', options.clientId);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    url.searchParams.set('state', state);
    if (options.scope !== undefined) url.searchParams.set('scope', options.scope);
    // Not awaited before listening for the redirect: an `openUrl` that waits for the browser's
    // whole round trip would otherwise wait on itself. Its failure still fails the login.
    const opening = Promise.resolve().then(() => options.openUrl(url.toString()));
    opening.catch(() => undefined);

    const { code, reply } = await Promise.race([callback.promise, deadline, opening.then(() => callback.promise)]);
    const endpoint: TokenEndpoint = {
      tokenUrl: options.tokenUrl ?? DEFAULT_TOKEN_URL,
      clientId: options.clientId,
      ...(options.clientSecret === undefined ? {} : { clientSecret: options.clientSecret }),
      ...(options.tokenEncoding === undefined ? {} : { encoding: options.tokenEncoding }),
    };
    try {
      const exchange = exchangeCode(endpoint, { http, clock: options.clock ?? systemClock }, { code, redirectUri, codeVerifier: verifier });
      const tokens = await Promise.race([exchange, deadline]);
      reply(200, 'kitrelay is now connected to Kit. You can close this tab.');
      return tokens;
    } catch (err: unknown) {
      reply(502, 'kitrelay could not complete the Kit login; see the terminal.');
      throw err;
    }
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (isOwnHttp) await http.close();
  }
}

function handleRedirect(req: IncomingMessage, res: ServerResponse, state: string, callback: Deferred<Callback>): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method !== 'GET' || url.pathname !== '/callback') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
    return;
  }
  const reply = (status: number, message: string): void => {
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(message);
  };
  if (!isSameState(url.searchParams.get('state'), state)) {
    // A stale tab or a forged redirect (login CSRF): the login fails rather than take its code.
    reply(400, 'This login link does not match the one kitrelay opened. Run `kitrelay kit login` again.');
    callback.reject(new KitOAuthError('state_mismatch', 'the redirect carried another state than the login sent'));
    return;
  }
  const error = url.searchParams.get('error');
  const code = url.searchParams.get('code');
  if (error !== null || code === null || code === '') {
    reply(400, 'Kit did not authorise kitrelay.');
    const messages = [error ?? 'no code in the redirect', url.searchParams.get('error_description') ?? ''].filter((m) => m !== '');
    callback.reject(new KitOAuthError('authorization_denied', 'Kit redirected without an authorisation code', { messages }));
    return;
  }
  callback.resolve({ code, reply });
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** `Promise.withResolvers`, which Node 20 lacks. */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function isSameState(received: string | null, expected: string): boolean {
  return received !== null && secretsMatch(expected, received);
}

/** Listens on loopback only (nothing off the machine can reach the callback); returns the redirect URI. */
function listen(server: Server, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`);
    });
  });
}
