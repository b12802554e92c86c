/**
 * Graph-style change-notification subscriptions on operations: create (after the validation handshake),
 * read, renew (PATCH expirationDateTime), delete.
 */
import { randomUUID } from 'node:crypto';
import { badRequest, notFound } from '../model/errors.js';
import { normalizeTimestamp, now, toEpochMs } from '../model/time.js';
import type { SubscriptionRecord, SubscriptionStore } from '../store/subscriptions.js';
import { CheckedNotificationUrl, checkNotificationUrl, type WebhookPolicy } from './notification-url.js';
import { postWebhook } from './webhook-request.js';

export const CHANGE_TYPES = ['created', 'updated', 'deleted'] as const;
/** Graph caps subscription lifetimes per resource; longrun allows up to 30 days. */
export const MAX_LIFETIME_MS = 30 * 24 * 3600 * 1000;
const VALIDATION_TIMEOUT_MS = 10_000;

/** Graph subscription properties longrun accepts and ignores (they concern features it doesn't have). */
const IGNORED_PROPERTIES = new Set([
  'applicationId',
  'creatorId',
  'includeResourceData',
  'encryptionCertificate',
  'encryptionCertificateId',
  'lifecycleNotificationUrl',
  'latestSupportedTlsVersion',
  'notificationQueryOptions',
  'notificationUrlAppId',
  'notificationContentType',
]);

export interface SubscriptionTarget {
  /** The collection scope and, for one operation, its id. */
  scope: string;
  operationId: string | null;
}

export class SubscriptionService {
  constructor(
    readonly store: SubscriptionStore,
    readonly policy: WebhookPolicy,
  ) {}

  /**
   * Creates a subscription. `resolve` turns the `resource` path into what it watches (and checks the
   * caller may read it); the notification URL must pass the policy and echo the validation token.
   */
  async create(
    tenantId: string,
    actor: string,
    rawBody: unknown,
    resolve: (resource: string) => SubscriptionTarget,
  ): Promise<SubscriptionRecord> {
    if (rawBody === null || typeof rawBody !== 'object' || Array.isArray(rawBody)) {
      throw badRequest('The request body must be a JSON object.');
    }
    const body = rawBody as Record<string, unknown>;
    for (const key of Object.keys(body)) {
      if (!['changeType', 'notificationUrl', 'resource', 'expirationDateTime', 'clientState'].includes(key)) {
        if (!IGNORED_PROPERTIES.has(key) && !key.startsWith('@')) {
          throw badRequest(
            `Could not find a property named '${key}' on type 'microsoft.graph.subscription'.`,
            key,
          );
        }
      }
    }
    const changeType = checkChangeType(body.changeType);
    const resource = requiredString(body, 'resource', 2048);
    const target = resolve(resource);
    const expirationMs = checkExpiration(body.expirationDateTime);
    const clientState =
      body.clientState === undefined || body.clientState === null
        ? null
        : requiredString(body, 'clientState', 128);
    const url = await checkNotificationUrl(requiredString(body, 'notificationUrl', 2048), this.policy);
    await validateEndpoint(url);
    return this.store.create({
      tenantId,
      id: randomUUID(),
      resource,
      scope: target.scope,
      operationId: target.operationId,
      changeType,
      notificationUrl: url.toString(),
      clientState,
      expirationMs,
      createdBy: actor,
      createdAt: now(),
    });
  }

  /** The subscription, or undefined: the caller decides whether it may be seen. */
  find(tenantId: string, id: string): Promise<SubscriptionRecord | undefined> {
    return this.store.get(tenantId, id);
  }

  async get(tenantId: string, id: string): Promise<SubscriptionRecord> {
    const sub = await this.store.get(tenantId, id);
    if (!sub) throw notFound(`The subscription '${id}' does not exist.`);
    return sub;
  }

  list(tenantId: string): Promise<SubscriptionRecord[]> {
    return this.store.list(tenantId);
  }

  /** Renewal: only expirationDateTime can change, as in Graph. */
  async update(tenantId: string, id: string, rawBody: unknown): Promise<SubscriptionRecord> {
    const body = (rawBody ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body))
      throw badRequest('The request body must be a JSON object.');
    for (const key of Object.keys(body)) {
      if (key !== 'expirationDateTime' && !key.startsWith('@')) {
        throw badRequest(`Only 'expirationDateTime' can be updated on a subscription, not '${key}'.`, key);
      }
    }
    const sub = await this.store.setExpiration(tenantId, id, checkExpiration(body.expirationDateTime));
    if (!sub) throw notFound(`The subscription '${id}' does not exist.`);
    return sub;
  }

  async delete(tenantId: string, id: string): Promise<void> {
    if (!(await this.store.delete(tenantId, id))) throw notFound(`The subscription '${id}' does not exist.`);
  }

  // For the deliverer (src/engine/webhook-deliverer.ts): see SubscriptionStore.
  claimDue(owner: string, leaseMs: number, limit: number) {
    return this.store.claimDue(owner, leaseMs, limit);
  }
  pending(sub: SubscriptionRecord, limit: number) {
    return this.store.pending(sub, limit);
  }
  delivered(sub: SubscriptionRecord, cursor: number) {
    return this.store.delivered(sub, cursor);
  }
  failed(sub: SubscriptionRecord, nextAttemptAt: number) {
    return this.store.failed(sub, nextAttemptAt);
  }
  purgeExpired(nowMs: number) {
    return this.store.purgeExpired(nowMs);
  }
}

function requiredString(body: Record<string, unknown>, name: string, maxLength: number): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0)
    throw badRequest(`'${name}' is required and must be a string.`, name);
  if (value.length > maxLength) throw badRequest(`'${name}' must be at most ${maxLength} characters.`, name);
  return value;
}

function checkChangeType(value: unknown): string {
  if (typeof value !== 'string' || value === '')
    throw badRequest("'changeType' is required, e.g. 'updated'.", 'changeType');
  const types = value.split(',').map((t) => t.trim());
  for (const t of types) {
    if (!(CHANGE_TYPES as readonly string[]).includes(t)) {
      throw badRequest(`'${t}' is not a valid changeType; use created, updated, deleted.`, 'changeType');
    }
  }
  return [...new Set(types)].join(',');
}

function checkExpiration(value: unknown): number {
  const text = typeof value === 'string' ? normalizeTimestamp(value) : undefined;
  if (!text)
    throw badRequest("'expirationDateTime' is required, as an ISO 8601 date-time.", 'expirationDateTime');
  const ms = toEpochMs(text);
  if (ms <= Date.now()) throw badRequest("'expirationDateTime' must be in the future.", 'expirationDateTime');
  if (ms > Date.now() + MAX_LIFETIME_MS) {
    throw badRequest("'expirationDateTime' can be at most 30 days from now.", 'expirationDateTime');
  }
  return ms;
}

/**
 * Graph's validation handshake: POST {notificationUrl}?validationToken=… and expect, within 10 seconds, a
 * 200 whose plain-text body is the token. The request goes to the addresses the URL's check resolved, and
 * reads at most a few KB of the answer (webhook-request.ts): a token is about 50 bytes.
 */
async function validateEndpoint(url: CheckedNotificationUrl): Promise<void> {
  const token = `Validation: ${randomUUID()}`;
  const target = new CheckedNotificationUrl(url, url.addresses);
  target.searchParams.set('validationToken', token);
  let ok = false;
  try {
    const res = await postWebhook(target, {
      body: '',
      contentType: 'text/plain; charset=utf-8',
      timeoutMs: VALIDATION_TIMEOUT_MS,
    });
    ok = res.status === 200 && res.complete && res.body === token;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw badRequest(
      'Subscription validation request failed. Notification endpoint must respond with 200 OK and the validationToken as plain text within 10 seconds.',
      'notificationUrl',
    );
  }
}
