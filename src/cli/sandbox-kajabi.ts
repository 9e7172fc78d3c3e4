/**
 * `kitrelay sandbox kajabi-purchase <email>` and `sandbox kajabi-refund <email>`: in a running
 * sandbox, buy an offer in the Kajabi simulator standing in for a kajabi destination (paid at once
 * unless `--unpaid`), or refund it. The purchase's webhooks reach the relay and the offer's tag
 * appears in the simulated Kit once settled; the refund sends no webhook (as in Kajabi) and the
 * tag goes at the next poll (`kajabi-poll:<destination>`).
 */
import type { Command } from 'commander';
import { kajabiDestinationSchema, type KajabiDestinationConfig } from '../integrations/kajabi/index.js';
import { CliError } from './context.js';
import { callSimulator, findStandIn } from './sandbox-sim.js';

interface Target {
  readonly simulatorUrl: string;
  readonly destination: KajabiDestinationConfig;
}

interface SimState {
  readonly offers: readonly { id: string; title: string; priceInCents: number }[];
  readonly contacts: readonly { id: string; email: string; customerId: string | null }[];
  readonly purchases: readonly { id: string; customerId: string; offerId: string; createdAt: number; deactivatedAt: number | null }[];
  readonly transactions: readonly { id: string; action: string; purchaseIds: readonly string[] }[];
}

export function registerSandboxKajabi(sandbox: Command): void {
  sandbox
    .command('kajabi-purchase <email>')
    .description("in the sandbox's Kajabi simulator, buy an offer (default: the first the config maps to a tag); the tag appears in the simulated Kit once settled")
    .option('--offer <id>', 'the offer (an id `kitrelay kajabi enrolments` or the simulator shows)')
    .option('--name <name>', "the buyer's name", 'Sandbox Buyer')
    .option('--unpaid', 'leave the payment unsettled: no tag until the settlement check finds it paid (it never will)')
    .action(async (email: string, flags: { offer?: string; name: string; unpaid?: boolean }, command: Command) => {
      const target = await findTarget(command);
      const offerId = flags.offer ?? Object.keys(target.destination.offers)[0];
      if (offerId === undefined) throw new CliError('no_offer', 'The kajabi destination maps no offer: give --offer <id>', 2);
      const made = (await call(`${target.simulatorUrl}/_sim/purchases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, name: flags.name, offerIds: [offerId], isPaid: !flags.unpaid }) })) as { purchaseIds: string[]; transactionId: string };
      const tag = target.destination.offers[offerId]?.tag;
      process.stdout.write(`${email} bought offer ${offerId} (purchase ${made.purchaseIds.join(', ')}, transaction ${made.transactionId}${flags.unpaid ? ', unpaid' : ', paid'})\n`);
      process.stdout.write(flags.unpaid ? 'Unpaid: the enrolment stays pending and no tag is added (`npx kitrelay kajabi enrolments show <email>`).\n' : `The webhooks reach kitrelay now; ${tag ? `the Kit tag "${tag}" appears` : 'the enrolment is recorded'} within seconds (\`npx kitrelay kajabi enrolments show ${email}\`).\n`);
    });

  sandbox
    .command('kajabi-refund <email>')
    .description("in the sandbox's Kajabi simulator, refund a person's newest purchase (Kajabi sends no webhook: the next poll finds it and the tag goes)")
    .option('--offer <id>', 'the offer whose purchase is refunded (default: their newest purchase)')
    .action(async (email: string, flags: { offer?: string }, command: Command) => {
      const target = await findTarget(command);
      const state = (await call(`${target.simulatorUrl}/_sim/state`)) as SimState;
      const address = email.trim().toLowerCase();
      const customerIds = new Set(state.contacts.filter((c) => c.email.toLowerCase() === address && c.customerId !== null).map((c) => c.customerId));
      const refunded = new Set(state.transactions.filter((t) => t.action === 'refund').flatMap((t) => t.purchaseIds));
      const purchases = state.purchases.filter((p) => customerIds.has(p.customerId) && (flags.offer === undefined || p.offerId === flags.offer) && !refunded.has(p.id)).sort((a, b) => b.createdAt - a.createdAt || Number(b.id) - Number(a.id));
      const [purchase] = purchases;
      if (!purchase) throw new CliError('not_found', `No purchase by ${email}${flags.offer ? ` of offer ${flags.offer}` : ''} to refund (buy one with \`npx kitrelay sandbox kajabi-purchase ${email}\`)`, 1);
      const made = (await call(`${target.simulatorUrl}/_sim/purchases/${purchase.id}/refund`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })) as { transactionId: string };
      process.stdout.write(`refunded ${email}'s purchase ${purchase.id} of offer ${purchase.offerId} (refund transaction ${made.transactionId}); the next poll (${target.destination.poll.schedule}) removes the tag${target.destination.stopAction.tag ? ` and adds "${target.destination.stopAction.tag}"` : ''}\n`);
    });
}

async function findTarget(command: Command): Promise<Target> {
  const found = await findStandIn(command, 'kajabi', kajabiDestinationSchema, 'No Kajabi simulator is running in the sandbox: the config needs a kajabi destination whose client id is unset');
  return { simulatorUrl: found.url, destination: found.destination };
}

const call = (url: string, init: RequestInit = {}) => callSimulator('Kajabi', url, init);
