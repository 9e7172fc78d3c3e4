/**
 * Kit's v4 objects as the API returns them (reference/kit.md §4), snake_case as on the wire so
 * nothing is lost in translation; only the fields kitrelay reads are typed. Inputs to the client
 * are kitrelay's camelCase.
 */

export type SubscriberState = 'active' | 'inactive' | 'bounced' | 'complained' | 'cancelled';

export interface KitSubscriber {
  readonly id: number;
  readonly first_name: string | null;
  readonly email_address: string;
  /** One of `SubscriberState`; a string so a state Kit adds later still parses. */
  readonly state: string;
  readonly created_at: string;
  /** Keyed by custom-field key (`last_name`), reference/kit.md §4. Absent with `slim=true`. */
  readonly fields?: Readonly<Record<string, string | null>>;
  /** On tag lists and tagging answers. */
  readonly tagged_at?: string;
  /** On sequence and form lists and adds. */
  readonly added_at?: string;
  /** With `include=tags`. */
  readonly tags?: readonly { readonly id: number; readonly name: string }[];
}

export interface KitTag {
  readonly id: number;
  readonly name: string;
  readonly created_at?: string;
  /** On a subscriber's tag list. */
  readonly tagged_at?: string;
}

export interface KitCustomField {
  readonly id: number;
  /** `ck_field_<id>_<key>`: stable across label renames. */
  readonly name: string;
  readonly key: string;
  readonly label: string;
}

export interface KitSequence {
  readonly id: number;
  readonly name: string;
  readonly hold?: boolean;
  readonly repeat?: boolean;
  readonly created_at?: string;
}

export interface KitForm {
  readonly id: number;
  readonly name: string;
  readonly type?: string;
  readonly format?: string | null;
  readonly archived?: boolean;
  readonly uid?: string;
  readonly embed_js?: string;
  readonly embed_url?: string;
  readonly created_at?: string;
}

export interface KitPurchaseProduct {
  readonly name: string;
  readonly pid: string | number;
  readonly lid: string | number;
  readonly quantity: number;
  readonly unit_price: number;
  readonly sku?: string | null;
}

export interface KitPurchase {
  readonly id: number;
  readonly transaction_id: string;
  readonly status?: string;
  readonly email_address: string;
  readonly subscriber_id?: number;
  readonly currency: string;
  readonly transaction_time?: string;
  readonly subtotal?: number;
  readonly discount?: number;
  readonly tax?: number;
  readonly shipping?: number;
  readonly total?: number;
  readonly products: readonly KitPurchaseProduct[];
}

export interface KitAccount {
  readonly user: { readonly id?: number; readonly email: string };
  readonly account: {
    readonly id: number;
    readonly name: string;
    readonly plan_type?: string;
    readonly primary_email_address?: string;
    readonly created_at?: string;
    readonly timezone?: { readonly name: string; readonly friendly_name?: string; readonly utc_offset?: string };
  };
}

/** A legacy `/v4/webhooks` subscription. Kit's `event.name` drops the `subscriber.` prefix (reference/kit.md §7A). */
export interface KitWebhook {
  readonly id: number;
  readonly account_id?: number;
  readonly target_url: string;
  readonly event: { readonly name: string } & Readonly<Record<string, string | number | null>>;
}

/** A Webhooks 2.0 endpoint (reference/kit.md §7B). */
export interface KitWebhookEndpoint {
  readonly id: number;
  readonly name?: string | null;
  readonly url: string;
  readonly events: readonly string[];
  readonly status: string;
  readonly description?: string | null;
  readonly created_at?: string;
  readonly previous_secret_expires_at?: string | null;
  /** Only in the answers to create and rotate. */
  readonly secret?: string;
}

/** One delivery of a Webhooks 2.0 endpoint; Kit's exact JSON is [UNC], so only the documented fields are typed. */
export interface KitWebhookDelivery {
  readonly id: number | string;
  readonly status: string;
  readonly event_type?: string;
  readonly attempt_count?: number;
  readonly completed_at?: string | null;
  readonly created_at?: string;
  readonly attempts?: readonly Readonly<Record<string, unknown>>[];
}

/** Kit's `pagination` object (reference/kit.md §3). */
export interface KitPagination {
  readonly has_previous_page: boolean;
  readonly has_next_page: boolean;
  readonly start_cursor: string | null;
  readonly end_cursor: string | null;
  readonly per_page: number;
  readonly total_count?: number;
}

/** A bulk call's answer: synchronous (≤100 items) or accepted for background processing (>100, 202 `{}`). */
export type BulkResult<T, F> =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly items: readonly T[]; readonly failures: readonly F[] };

/** An OAuth token set, as kitrelay keeps it (encrypted at rest, token-store.ts). */
export interface OAuthTokens {
  readonly accessToken: string;
  readonly refreshToken?: string;
  /** When the access token expires (epoch ms, by our clock at receipt); undefined when Kit did not say. */
  readonly expiresAt?: number;
  /** When the token set was received (epoch ms, our clock): with `expiresAt`, gives its lifetime. */
  readonly obtainedAt?: number;
  readonly scope?: string;
  readonly tokenType?: string;
}
