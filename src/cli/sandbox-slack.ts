/**
 * `kitrelay sandbox slack-press <job>` and `kitrelay sandbox slack-command <email>`: in a running
 * sandbox, the Slack simulator standing in for a Slack destination presses a Replay button (or
 * runs `/kitrelay <email>`), signed as Slack signs, at the relay's interactive URL; then what the
 * relay answered at the response URL is printed, once the worker has posted it.
 */
import type { Command } from 'commander';
import { INTERACTIVE_SOURCE, REPLAY_ACTION_ID, type SlackDestinationConfig } from '../integrations/slack/index.js';
import type { LoadedConfig } from '../config/load.js';
import { routeTableFor, SANDBOX_SIMULATORS_SETTING, type SandboxSimulator } from '../main.js';
import type { AnyStore } from '../store/index.js';
import { CliError, parseId, printJson, withStore } from './context.js';

interface Target {
  readonly destination: string;
  readonly simulatorUrl: string;
  /** The relay's interactive URL for the destination. */
  readonly url: string;
  /** Who presses: `--user`, else the first of replayUsers, else the simulator's own user. */
  readonly userId: string | undefined;
}

interface SlackFlags {
  destination?: string;
  user?: string;
  wait: string;
  json?: boolean;
}

/** What the simulator's sender routes answer. */
interface Sent {
  readonly status: number;
  readonly body: string;
  readonly responseUrl: string;
  readonly responseId: string;
}

interface SimResponse {
  readonly id: string;
  readonly body: unknown;
}

export function registerSandboxSlack(sandbox: Command): void {
  sandbox
    .command('slack-press <job>')
    .description('in the sandbox, press Replay on the dead-letter alert of a job, as a Slack user, and print what kitrelay answers')
    .option('--destination <name>', 'the Slack destination (default: the first one a simulator stands in for)')
    .option('--user <id>', "who presses (default: the destination's first replayUsers entry)")
    .option('--wait <seconds>', 'how long to wait for the answer', '10')
    .option('--json', 'print JSON')
    .action(async (job: string, flags: SlackFlags, command: Command) => {
      parseId(job, 'the job id');
      const target = await withStore(command, (store, loaded) => findTarget(store, loaded, flags));
      const sent = await post(`${target.simulatorUrl}/_sim/press`, { url: target.url, actionId: REPLAY_ACTION_ID, value: job, ...(target.userId ? { userId: target.userId } : {}) });
      await report(target, sent, flags);
    });
  sandbox
    .command('slack-command <email>')
    .description("in the sandbox, run the slash command `/kitrelay <email>` as a Slack user, and print the subscriber's recent events and jobs kitrelay answers")
    .option('--destination <name>', 'the Slack destination (default: the first one a simulator stands in for)')
    .option('--user <id>', "who runs it (default: the destination's first replayUsers entry)")
    .option('--wait <seconds>', 'how long to wait for the answer', '10')
    .option('--json', 'print JSON')
    .action(async (email: string, flags: SlackFlags, command: Command) => {
      const target = await withStore(command, (store, loaded) => findTarget(store, loaded, flags));
      const sent = await post(`${target.simulatorUrl}/_sim/command`, { url: target.url, command: '/kitrelay', text: email, ...(target.userId ? { userId: target.userId } : {}) });
      await report(target, sent, flags);
    });
}

async function findTarget(store: AnyStore, loaded: LoadedConfig, flags: SlackFlags): Promise<Target> {
  const text = await store.getSetting(SANDBOX_SIMULATORS_SETTING);
  if (text === undefined) throw new CliError('not_sandbox', 'No sandbox has run on this data directory: start one with `npm start` (no credentials set)', 1);
  const record = JSON.parse(text) as { relayUrl: string; simulators: readonly SandboxSimulator[] };
  const standIns = record.simulators.filter((sim) => sim.name === 'slack' && sim.destination !== undefined);
  const sim = flags.destination ? standIns.find((s) => s.destination === flags.destination) : standIns[0];
  if (!sim?.destination) throw new CliError('no_simulator', flags.destination ? `No Slack simulator stands in for destination "${flags.destination}" (is its token set? then it is real Slack)` : 'No Slack simulator is running in the sandbox: the config needs a Slack destination whose token is unset', 1);
  const routes = await routeTableFor(store, loaded, process.env, record.relayUrl);
  const route = routes.sources.get(`${sim.destination}/${INTERACTIVE_SOURCE}`);
  if (!route) throw new CliError('no_route', `Destination ${sim.destination} takes no Slack requests: add signingSecret: env('SLACK_SIGNING_SECRET') to it (the sandbox fills the value)`, 1);
  const destination = loaded.config.destinations[sim.destination] as SlackDestinationConfig | undefined;
  return { destination: sim.destination, simulatorUrl: sim.url, url: route.url, userId: flags.user ?? destination?.replayUsers[0] };
}

async function post(url: string, body: unknown): Promise<Sent> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new CliError('not_running', `Could not reach the Slack simulator at ${new URL(url).origin}: is \`npm start\` running? (${error instanceof Error ? error.message : String(error)})`, 1);
  }
  const answer = (await response.json()) as Sent | { error: string };
  if ('error' in answer) throw new CliError('send_failed', answer.error, 1);
  return answer;
}

/** Prints the relay's immediate answer, then waits for what it posts to the response URL. */
async function report(target: Target, sent: Sent, flags: SlackFlags): Promise<void> {
  const waitMs = parseId(flags.wait, '--wait') * 1000;
  const answered = sent.status >= 200 && sent.status < 300;
  const responses = answered ? await waitForResponses(target.simulatorUrl, sent.responseId, waitMs) : [];
  if (flags.json) return printJson({ destination: target.destination, userId: target.userId ?? null, status: sent.status, body: sent.body, responses: responses.map((r) => r.body) });
  process.stdout.write(`${target.destination}: kitrelay answered ${sent.status}${sent.body ? ` ${sent.body}` : ''}\n`);
  if (!answered) {
    process.exitCode = 1;
    return;
  }
  if (responses.length === 0) {
    process.stdout.write(`no answer at the response URL within ${flags.wait} s (is the worker running? \`kitrelay jobs list --destination ${target.destination}\`)\n`);
    process.exitCode = 1;
    return;
  }
  for (const response of responses) process.stdout.write(`${messageText(response.body)}\n`);
}

async function waitForResponses(simulatorUrl: string, id: string, waitMs: number): Promise<SimResponse[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const state = (await (await fetch(`${simulatorUrl}/_sim/state`)).json()) as { responses?: SimResponse[] };
    const mine = (state.responses ?? []).filter((r) => r.id === id);
    if (mine.length > 0 || Date.now() >= deadline) return mine;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A posted message as lines: its blocks' texts (or its `text`), Slack's date tokens shown as their fallback. */
function messageText(body: unknown): string {
  if (typeof body !== 'object' || body === null) return String(body);
  const message = body as { text?: unknown; blocks?: unknown; response_type?: unknown };
  const texts: string[] = [];
  for (const block of Array.isArray(message.blocks) ? (message.blocks as unknown[]) : []) {
    const { text, elements } = block as { text?: { text?: unknown }; elements?: Array<{ text?: unknown }> };
    if (typeof text?.text === 'string') texts.push(text.text);
    for (const element of elements ?? []) if (typeof element.text === 'string') texts.push(element.text);
  }
  const lines = texts.length > 0 ? texts : [typeof message.text === 'string' ? message.text : JSON.stringify(body)];
  const shown = lines.join('\n').replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, '$1');
  return `[${typeof message.response_type === 'string' ? message.response_type : 'answer'}] ${shown}`;
}
