/**
 * The Bonjoro simulator's routes under `/api/v2` (reference/destinations.md §4): greets, profiles,
 * users, campaigns, message templates, industries. Lists use Laravel's paginator envelope; input
 * errors use Laravel's 422 (or, as an option, the documented 400 shape); other errors the nested
 * `{"error":{"message","status_code"}}`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pathOf } from '../../simulators/index.js';
import { UUID_PATTERN, campaignJson, greetJson, profileJson, templateJson, userJson, type GreetJsonContext, type GreetStatus } from './simulator-model.js';
import type { BonjoroState, GreetFilter, GreetInput } from './simulator-state.js';

/** `laravel`: 422 `{"message":"The given data was invalid.","errors":{field:[…]}}`; `documented`: 400 `{"error":{"message","status_code":400}}`. */
export type ValidationStyle = 'laravel' | 'documented';

type Errors = Record<string, string[]>;
type Body = Record<string, unknown>;

export const MAX_PROFILES = 200;
const MAX_PER_PAGE = 100;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const STATUSES: readonly GreetStatus[] = ['open', 'closed', 'sent'];
const SORTS = ['created_at', '-created_at', 'updated_at', '-updated_at'] as const;
const INDUSTRIES = ['Agency', 'Coaching', 'E-commerce', 'Education', 'Financial services', 'Real estate', 'SaaS', 'Other'];

/** Bonjoro's nested error (§4.3); a 500 also repeats the message at the top, as observed live. */
export function errorBody(status: number, message: string): Record<string, unknown> {
  return { error: { message, status_code: status }, ...(status >= 500 ? { message } : {}) };
}

export const UNAUTHENTICATED = { message: 'Unauthenticated.' };
export const TOO_MANY_ATTEMPTS = { message: 'Too Many Attempts.' };
export const WEIRDLY_WRONG = 'Something went weirdly wrong';

export function registerBonjoroRoutes(app: FastifyInstance, state: BonjoroState, validationStyle: ValidationStyle): void {
  const base = (request: FastifyRequest) => `${request.protocol}://${request.host}`;
  const ctx = (request: FastifyRequest): GreetJsonContext => ({ base: base(request), users: state.users, templates: state.templates, profiles: state.profiles });
  const invalid = (reply: FastifyReply, errors: Errors) => {
    if (validationStyle === 'laravel') return reply.code(422).send({ message: 'The given data was invalid.', errors });
    const first = Object.values(errors)[0]?.[0] ?? 'The given data was invalid.';
    return reply.code(400).send(errorBody(400, first));
  };
  const notFound = (reply: FastifyReply) => reply.code(404).send(errorBody(404, 'Not Found'));
  const idParam = (request: FastifyRequest) => (request.params as { id: string }).id;

  app.get('/api/v2/industries', () => ({ data: INDUSTRIES.map((name, i) => ({ id: i + 1, name })) }));
  app.get('/api/v2/users', (request) => paginate(request, [...state.users.values()], (u) => userJson(u, base(request))));
  app.get('/api/v2/campaigns', (request) => paginate(request, state.campaigns, (c) => campaignJson(c, state.users, base(request))));
  app.get('/api/v2/message-templates', (request) => paginate(request, [...state.templates.values()], (t) => templateJson(t, state.users, base(request))));

  app.get('/api/v2/profiles', (request) => {
    const search = text(queryOf(request).search)?.toLowerCase();
    const profiles = [...state.profiles.values()].reverse().filter((p) => !search || [p.email, p.firstName, p.lastName].some((t) => t?.toLowerCase().includes(search)));
    return paginate(request, profiles, (p) => profileJson(p, base(request)));
  });
  app.get('/api/v2/profiles/:id', (request, reply) => {
    const profile = state.profile(idParam(request));
    return profile ? { data: profileJson(profile, base(request)) } : notFound(reply);
  });
  app.post('/api/v2/profiles', (request, reply) => {
    const body = bodyOf(request);
    const errors: Errors = {};
    const email = requiredEmail(body, 'email', errors);
    const names = nameFields(body, errors);
    if (Object.keys(errors).length > 0 || email === undefined) return invalid(reply, errors);
    const { profile, isNew } = state.upsertProfile({ email, ...names });
    return { message: isNew ? 'Created' : 'Updated', data: profileJson(profile, base(request)) };
  });
  app.put('/api/v2/profiles/:id', (request, reply) => {
    const profile = state.profile(idParam(request));
    if (!profile) return notFound(reply);
    const body = bodyOf(request);
    const errors: Errors = {};
    const email = body.email === undefined ? undefined : requiredEmail(body, 'email', errors);
    const names = nameFields(body, errors);
    if (Object.keys(errors).length > 0) return invalid(reply, errors);
    if (!state.updateProfile(profile, { ...(email === undefined ? {} : { email }), ...names })) return invalid(reply, { email: ['The email has already been taken.'] });
    return { message: 'Updated', data: profileJson(profile, base(request)) };
  });

  app.get('/api/v2/greets', (request, reply) => {
    const query = queryOf(request);
    const errors: Errors = {};
    const status = text(query.status);
    if (status !== undefined && !STATUSES.includes(status as GreetStatus)) errors.status = ['The selected status is invalid.'];
    if (Object.keys(errors).length > 0) return invalid(reply, errors);
    const sort = text(query.sort);
    const filter: GreetFilter = {
      ...(status === undefined ? {} : { status: status as GreetStatus }),
      ...optional('assigneeId', text(query.assignee_id)),
      ...optional('profileId', text(query.profile_id)),
      ...optional('search', text(query.search)),
      ...(SORTS.includes(sort as (typeof SORTS)[number]) ? { sort: sort as (typeof SORTS)[number] } : {}),
    };
    return paginate(request, state.listGreets(filter), (g) => greetJson(g, ctx(request)));
  });
  app.post('/api/v2/greets', (request, reply) => {
    const parsed = validateGreet(bodyOf(request), state);
    if ('errors' in parsed) return invalid(reply, parsed.errors);
    // Bonjoro answers 200, not 201, with the greet under `data` (§4.2).
    return { message: 'Created', data: greetJson(state.createGreet(parsed.input), ctx(request)) };
  });
  app.get('/api/v2/greets/:id', (request, reply) => {
    const greet = state.greet(idParam(request));
    return greet ? { data: greetJson(greet, ctx(request)) } : notFound(reply);
  });
  app.put('/api/v2/greets/:id', (request, reply) => {
    const greet = state.greet(idParam(request));
    if (!greet) return notFound(reply);
    const errors: Errors = {};
    const assignee = reference(bodyOf(request), 'assignee_id', (id) => state.users.has(id), errors, true);
    if (Object.keys(errors).length > 0) return invalid(reply, errors);
    state.reassignGreet(greet, assignee ?? null);
    return { message: 'Updated', data: greetJson(greet, ctx(request)) };
  });
  app.delete('/api/v2/greets/:id', (request, reply) => (state.deleteGreet(idParam(request)) ? { message: 'Deleted' } : notFound(reply)));

  app.setNotFoundHandler((_request, reply) => notFound(reply));
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    // A 500 here is a simulator bug: answered in Bonjoro's words, with the cause alongside.
    return reply.code(status).send(status >= 500 ? { ...errorBody(500, WEIRDLY_WRONG), cause: error.message } : errorBody(status, error.message));
  });
}

function validateGreet(body: Body, state: BonjoroState): { input: GreetInput } | { errors: Errors } {
  const errors: Errors = {};
  const profiles: string[] = [];
  const given = body.profiles;
  if (given === undefined || given === null || (Array.isArray(given) && given.length === 0)) errors.profiles = ['The profiles field is required.'];
  else if (!Array.isArray(given)) errors.profiles = ['The profiles must be an array.'];
  else if (given.length > MAX_PROFILES) errors.profiles = [`The profiles may not have more than ${MAX_PROFILES} items.`];
  else {
    given.forEach((ref: unknown, i) => {
      const field = `profiles.${i}`;
      if (typeof ref !== 'string') errors[field] = [`The ${field} must be a string.`];
      else if (UUID_PATTERN.test(ref)) {
        if (state.profile(ref)) profiles.push(ref);
        else errors[field] = [`The selected ${field} is invalid.`];
      } else if (EMAIL.test(ref.trim())) profiles.push(ref.trim());
      else errors[field] = [`The ${field} must be a valid email address.`];
    });
  }
  const note = body.note;
  if (note !== undefined && note !== null && typeof note !== 'string') errors.note = ['The note must be a string.'];
  const assigneeId = reference(body, 'assignee_id', (id) => state.users.has(id), errors);
  // The uuid, never the integer id the same list shows (§6): an integer is refused.
  const campaignId = reference(body, 'campaign_id', (id) => state.campaignByUuid(id) !== undefined, errors);
  const templateId = reference(body, 'template_id', (id) => state.templates.has(id), errors);
  const customAttributes = attributes(body.custom_attributes, errors);
  if (Object.keys(errors).length > 0) return { errors };
  return {
    input: {
      profiles,
      note: typeof note === 'string' ? note : null,
      assigneeId: assigneeId ?? state.owner.id,
      campaignId: campaignId ?? state.defaultCampaign.uuid,
      templateId: templateId ?? null,
      customAttributes,
    },
  };
}

/** A nullable uuid naming an existing object; Laravel's `uuid` then `exists` messages. */
function reference(body: Body, field: string, exists: (id: string) => boolean, errors: Errors, isRequired = false): string | undefined {
  const value = body[field];
  const label = field.replace(/_/g, ' ');
  if (value === undefined || value === null) {
    if (isRequired) errors[field] = [`The ${label} field is required.`];
    return undefined;
  }
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) {
    errors[field] = [`The ${label} must be a valid UUID.`];
    return undefined;
  }
  if (!exists(value.toLowerCase())) {
    errors[field] = [`The selected ${label} is invalid.`];
    return undefined;
  }
  return value.toLowerCase();
}

function attributes(value: unknown, errors: Errors): Record<string, string | number | boolean | null> {
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    errors.custom_attributes = ['The custom attributes must be an array.'];
    return {};
  }
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = v;
    else errors[`custom_attributes.${key}`] = [`The custom_attributes.${key} must be a string, number or boolean.`];
  }
  return out;
}

function requiredEmail(body: Body, field: string, errors: Errors): string | undefined {
  const value = body[field];
  if (value === undefined || value === null || value === '') errors[field] = [`The ${field} field is required.`];
  else if (typeof value !== 'string' || !EMAIL.test(value.trim())) errors[field] = [`The ${field} must be a valid email address.`];
  else return value.trim();
  return undefined;
}

function nameFields(body: Body, errors: Errors): { firstName?: string | null; lastName?: string | null } {
  const out: { firstName?: string | null; lastName?: string | null } = {};
  for (const [field, key] of [['first_name', 'firstName'], ['last_name', 'lastName']] as const) {
    const value = body[field];
    if (value === undefined) continue;
    if (value !== null && typeof value !== 'string') errors[field] = [`The ${field.replace('_', ' ')} must be a string.`];
    else out[key] = value;
  }
  return out;
}

/** Laravel's LengthAwarePaginator as JSON; page links keep the other query parameters [U]. */
function paginate<T>(request: FastifyRequest, items: readonly T[], toJson: (item: T) => unknown): Record<string, unknown> {
  const query = queryOf(request);
  const perPage = Math.min(MAX_PER_PAGE, positiveInt(query.limit) ?? 15);
  const page = positiveInt(query.page) ?? 1;
  const total = items.length;
  const lastPage = Math.max(1, Math.ceil(total / perPage));
  const start = (page - 1) * perPage;
  const slice = items.slice(start, start + perPage);
  const path = `${request.protocol}://${request.host}${pathOf(request.url)}`;
  const pageUrl = (n: number) => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (key !== 'page' && typeof value === 'string') params.append(key, value);
    params.append('page', String(n));
    return `${path}?${params.toString()}`;
  };
  return {
    current_page: page,
    data: slice.map(toJson),
    first_page_url: pageUrl(1),
    from: slice.length > 0 ? start + 1 : null,
    last_page: lastPage,
    last_page_url: pageUrl(lastPage),
    next_page_url: page < lastPage ? pageUrl(page + 1) : null,
    path,
    per_page: perPage,
    prev_page_url: page > 1 ? pageUrl(page - 1) : null,
    to: slice.length > 0 ? start + slice.length : null,
    total,
  };
}

function positiveInt(value: unknown): number | undefined {
  const raw = text(value);
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function text(value: unknown): string | undefined {
  const first = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof first === 'string' && first !== '' ? first : undefined;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function queryOf(request: FastifyRequest): Record<string, unknown> {
  return (request.query ?? {}) as Record<string, unknown>;
}

function bodyOf(request: FastifyRequest): Body {
  const body = request.body;
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Body) : {};
}
