/**
 * `/subscriptions` under /v1.0 and /beta: Graph change-notification subscriptions on operation
 * collections or single operations. Creating one needs read access to what it watches. A subscription
 * belongs to its creator: nobody else sees, renews or deletes it (an administrator with LongRun.Admin
 * excepted), renewing or deleting needs write access to what it watches, and a subscription the caller may
 * not see answers exactly like a missing one (404).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, notFound } from '../model/errors.js';
import { fromEpochMs } from '../model/time.js';
import type { ApiVersion } from '../model/types.js';
import type { SubscriptionService, SubscriptionTarget } from '../service/subscription-service.js';
import type { SubscriptionRecord } from '../store/subscriptions.js';
import { ODATA_JSON } from './operations-route.js';
import { origin } from './urls.js';
import { resolveUserPath } from './resolve.js';
import type { Access, Caller, Security } from './security.js';
import { ADMIN_PERMISSION } from '../auth/permissions.js';

export interface SubscriptionsRouteOptions {
  subscriptions: SubscriptionService;
  security: Security;
  publicUrl?: string;
}

export function subscriptionsRoute(app: FastifyInstance, o: SubscriptionsRouteOptions): void {
  for (const version of ['v1.0', 'beta'] as const) {
    const base = `/${version}/subscriptions`;
    const context = (request: FastifyRequest, entity: boolean) =>
      `${origin(request, o.publicUrl)}/${version}/$metadata#subscriptions${entity ? '/$entity' : ''}`;
    const target = (caller: Caller, resource: string, access: Access = 'read') =>
      resolveTarget(o.security, caller, version, resource, access);

    app.post(base, async (request, reply) => {
      const caller = await o.security.authenticate(request.headers.authorization);
      const resource = (request.body as { resource?: unknown } | undefined)?.resource;
      const resolved = typeof resource === 'string' ? await target(caller, resource) : undefined;
      const sub = await o.subscriptions.create(caller.tenantId, caller.actor, request.body, () => resolved!);
      reply.header('Location', `${origin(request, o.publicUrl)}${base}/${sub.id}`);
      return reply
        .code(201)
        .header('content-type', ODATA_JSON)
        .send(JSON.stringify(render(sub, caller, context(request, true))));
    });

    app.get(base, async (request, reply) => {
      const caller = await o.security.authenticate(request.headers.authorization);
      const visible: SubscriptionRecord[] = [];
      for (const sub of await o.subscriptions.list(caller.tenantId)) {
        if (await canSee(caller, sub)) visible.push(sub);
      }
      const body = {
        '@odata.context': context(request, false),
        value: visible.map((s) => render(s, caller)),
      };
      return reply.header('content-type', ODATA_JSON).send(JSON.stringify(body));
    });

    app.get<{ Params: { id: string } }>(`${base}/:id`, async (request, reply) => {
      const { caller, sub } = await load(request, 'read');
      return reply
        .header('content-type', ODATA_JSON)
        .send(JSON.stringify(render(sub, caller, context(request, true))));
    });

    app.patch<{ Params: { id: string } }>(`${base}/:id`, async (request, reply) => {
      const { caller } = await load(request, 'write');
      const sub = await o.subscriptions.update(caller.tenantId, request.params.id, request.body);
      return reply
        .header('content-type', ODATA_JSON)
        .send(JSON.stringify(render(sub, caller, context(request, true))));
    });

    app.delete<{ Params: { id: string } }>(`${base}/:id`, async (request, reply) => {
      const { caller } = await load(request, 'write');
      await o.subscriptions.delete(caller.tenantId, request.params.id);
      return reply.code(204).send();
    });

    /**
     * The subscription, if the caller may see it (or, for `write`, change it); otherwise it does not exist
     * for them, and the answer is exactly the one for a missing id.
     */
    async function load(request: FastifyRequest<{ Params: { id: string } }>, access: Access) {
      const caller = await o.security.authenticate(request.headers.authorization);
      const { id } = request.params;
      const sub = await o.subscriptions.find(caller.tenantId, id);
      if (!sub || !(await canSee(caller, sub, access))) throw subscriptionNotFound(id);
      return { caller, sub };
    }

    /**
     * Only its creator sees a subscription (and may renew or delete it while they still have access to what
     * it watches), or an administrator of the tenant (docs/decisions/0009).
     */
    async function canSee(
      caller: Caller,
      sub: SubscriptionRecord,
      access: Access = 'read',
    ): Promise<boolean> {
      if (isSubscriptionAdmin(caller)) return true;
      if (sub.createdBy !== caller.actor) return false;
      try {
        await target(caller, sub.resource, access);
        return true;
      } catch {
        return false;
      }
    }
  }
}

/** What a `resource` path watches; throws 400 when it is not an operations collection or operation. */
async function resolveTarget(
  security: Security,
  caller: Caller,
  version: ApiVersion,
  resource: string,
  access: Access,
): Promise<SubscriptionTarget> {
  const path = resource.replace(/^\/+/, '').replace(/^(v1\.0|beta)\//, '');
  const resolved = await resolveUserPath(path.split('?')[0], version, caller.me, (k) =>
    security.canonicalUserKey(caller, k),
  );
  const kind = resolved?.target.kind;
  if (!resolved || (kind !== 'collection' && kind !== 'item')) {
    throw badRequest(
      `'${resource}' is not an operations collection or operation that can be subscribed to.`,
      'resource',
    );
  }
  security.authorize(caller, access, { family: resolved.family.name, userKey: resolved.params.userId });
  return { scope: resolved.scope, operationId: resolved.target.kind === 'item' ? resolved.target.id : null };
}

function isSubscriptionAdmin(caller: Caller): boolean {
  const p = caller.principal;
  if (!p) return false;
  return p.kind === 'application' ? p.roles.has(ADMIN_PERMISSION) : p.scopes.has(ADMIN_PERMISSION);
}

const subscriptionNotFound = (id: string) => notFound(`The subscription '${id}' does not exist.`);

/** `clientState` is the creator's shared secret with their receiver: nobody else sees it. */
function render(sub: SubscriptionRecord, caller: Caller, context?: string): Record<string, unknown> {
  return {
    ...(context ? { '@odata.context': context } : {}),
    id: sub.id,
    resource: sub.resource,
    changeType: sub.changeType,
    clientState: sub.createdBy === caller.actor ? sub.clientState : null,
    notificationUrl: sub.notificationUrl,
    expirationDateTime: fromEpochMs(sub.expirationMs),
    creatorId: sub.createdBy,
    applicationId: null,
    includeResourceData: false,
    latestSupportedTlsVersion: 'v1_2',
  };
}
