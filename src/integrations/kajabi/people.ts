/**
 * Who a Kajabi customer is: transactions and purchases name a customer id only, facts need the
 * email. Read once per customer per run (`GET /v1/customers/{id}`).
 */
import { unlessGone } from './client-errors.js';
import type { KajabiClient } from './client.js';
import type { KajabiPerson } from './facts.js';

export class People {
  readonly #client: KajabiClient;
  readonly #known = new Map<string, KajabiPerson | null>();

  constructor(client: KajabiClient) {
    this.#client = client;
  }

  /** Undefined for a customer Kajabi no longer has, or one without an email. */
  async byCustomer(customerId: string): Promise<KajabiPerson | undefined> {
    if (!this.#known.has(customerId)) {
      const customer = await unlessGone(this.#client.getCustomer(customerId));
      this.#known.set(customerId, customer && customer.email ? { email: customer.email, ...(customer.name ? { name: customer.name } : {}), customerId: customer.id, ...(customer.contactId ? { contactId: customer.contactId } : {}) } : null);
    }
    return this.#known.get(customerId) ?? undefined;
  }

  /** Learnt from a list read elsewhere (the reconciliation lists every customer). */
  remember(person: KajabiPerson & { readonly customerId: string }): void {
    this.#known.set(person.customerId, person);
  }
}
