/**
 * `/subscriptions` under /v1.0 and /beta: Graph change-notification subscriptions on operation
 * collections or single operations. Creating one needs read access to what it watches; so does reading,
 * renewing or deleting it, and another tenant's subscriptions don't exist (404).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest } from '../model/errors.js';
import { fromEpochMs } from '../model/time.js';
import type { ApiVersion } from '../model/types.js';
import type { SubscriptionService, SubscriptionTarget } from '../service/subscription-service.js';
import type { SubscriptionRecord } from '../store/subscriptions.js';
import { ODATA_JSON } from './operations-route.js';
import { origin } from './urls.js';
import { resolvePath } from './resolve.js';
import type { Caller, Security } from './security.js';

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
    const target = (caller: Caller, resource: string) => resolveTarget(o.security, caller, version, resource);

    app.post(base, async (request, reply) => {
      const caller = await o.security.authenticate(request.headers.authorization);
      const sub = await o.subscriptions.create(caller.tenantId, caller.actor, request.body, (r) =>
        target(caller, r),
      );
      reply.header('Location', `${origin(request, o.publicUrl)}${base}/${sub.id}`);
      return reply
        .code(201)
        .header('content-type', ODATA_JSON)
        .send(JSON.stringify(render(sub, context(request, true))));
    });

    app.get(base, async (request, reply) => {
      const caller = await o.security.authenticate(request.headers.authorization);
      const visible = (await o.subscriptions.list(caller.tenantId)).filter((sub) => canRead(caller, sub));
      const body = { '@odata.context': context(request, false), value: visible.map((s) => render(s)) };
      return reply.header('content-type', ODATA_JSON).send(JSON.stringify(body));
    });

    app.get<{ Params: { id: string } }>(`${base}/:id`, async (request, reply) => {
      const { caller, sub } = await load(request);
      void caller;
      return reply
        .header('content-type', ODATA_JSON)
        .send(JSON.stringify(render(sub, context(request, true))));
    });

    app.patch<{ Params: { id: string } }>(`${base}/:id`, async (request, reply) => {
      const { caller } = await load(request);
      const sub = await o.subscriptions.update(caller.tenantId, request.params.id, request.body);
      return reply
        .header('content-type', ODATA_JSON)
        .send(JSON.stringify(render(sub, context(request, true))));
    });

    app.delete<{ Params: { id: string } }>(`${base}/:id`, async (request, reply) => {
      const { caller } = await load(request);
      await o.subscriptions.delete(caller.tenantId, request.params.id);
      return reply.code(204).send();
    });

    /** The caller's subscription, if they may still read what it watches (else it does not exist for them). */
    async function load(request: FastifyRequest<{ Params: { id: string } }>) {
      const caller = await o.security.authenticate(request.headers.authorization);
      const sub = await o.subscriptions.get(caller.tenantId, request.params.id);
      if (!canRead(caller, sub)) await o.subscriptions.get(caller.tenantId, '\u0000'); // throws 404
      return { caller, sub };
    }

    function canRead(caller: Caller, sub: SubscriptionRecord): boolean {
      try {
        target(caller, sub.resource);
        return true;
      } catch {
        return false;
      }
    }
  }
}

/** What a `resource` path watches; throws 400 when it is not an operations collection or operation. */
function resolveTarget(
  security: Security,
  caller: Caller,
  version: ApiVersion,
  resource: string,
): SubscriptionTarget {
  const path = resource.replace(/^\/+/, '').replace(/^(v1\.0|beta)\//, '');
  const resolved = resolvePath(path.split('?')[0], version, caller.me, (k) =>
    security.canonicalUserKey(caller, k),
  );
  const kind = resolved?.target.kind;
  if (!resolved || (kind !== 'collection' && kind !== 'item')) {
    throw badRequest(
      `'${resource}' is not an operations collection or operation that can be subscribed to.`,
      'resource',
    );
  }
  security.authorize(caller, 'read', { family: resolved.family.name, userKey: resolved.params.userId });
  return { scope: resolved.scope, operationId: resolved.target.kind === 'item' ? resolved.target.id : null };
}

function render(sub: SubscriptionRecord, context?: string): Record<string, unknown> {
  return {
    ...(context ? { '@odata.context': context } : {}),
    id: sub.id,
    resource: sub.resource,
    changeType: sub.changeType,
    clientState: sub.clientState,
    notificationUrl: sub.notificationUrl,
    expirationDateTime: fromEpochMs(sub.expirationMs),
    creatorId: sub.createdBy,
    applicationId: null,
    includeResourceData: false,
    latestSupportedTlsVersion: 'v1_2',
  };
}
