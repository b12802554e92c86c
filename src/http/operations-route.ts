/**
 * The operations routes of every family, under one version prefix: GET (read, list, $count), POST
 * (create), PATCH (update), DELETE, and the bound actions. One wildcard route resolves the path itself
 * (see resolve.ts) and dispatches by what the path addresses and the method.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GraphError, notFound } from '../model/errors.js';
import { isTerminal, visibleStatusName, type StatusValue } from '../model/status.js';
import { concreteTypesFor, type ApiVersion } from '../model/types.js';
import type { OperationView } from '../model/operation.js';
import {
  keyOf,
  type CallContext,
  type CollectionRef,
  type OperationService,
} from '../service/operation-service.js';
import { differsFromEtags, visibleChange, waitForChange } from '../service/wait.js';
import { etagOf, ifMatchHolds, ifNoneMatchMatches, parseEtagCondition } from '../model/etag.js';
import { streamEvents, tokenValidUntil } from './event-stream.js';
import { cursorFor } from '../store/sql/query-sql.js';
import { encodeSkiptoken } from './odata/skiptoken.js';
import { nextLinkQuery, parseQueryOptions } from './odata/options.js';
import { parsePrefer, type Preferences } from './prefer.js';
import {
  collectionContext,
  collectionJson,
  entityContext,
  entityJson,
  itemJson,
  renderOperation,
} from './render.js';
import { resolveUserPath, type ResolvedPath } from './resolve.js';
import { encodeSegment, origin } from './urls.js';
import { matchAction, runAction, type RunActionOptions } from './actions/actions-route.js';
import type { SecretBox } from '../service/secret-box.js';
import type { Access, Security } from './security.js';
import { familyLabel } from './metrics.js';
import type { ResponseCache } from './response-cache.js';
import { INNER_ORIGIN_HEADER } from './urls.js';

export const ODATA_JSON =
  'application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8';

export interface OperationsRouteOptions {
  version: ApiVersion;
  service: OperationService;
  security: Security;
  /** Absolute base URL clients reach the service at, e.g. https://lro.example.com; else from the request. */
  publicUrl?: string;
  /** Sent as Retry-After on reads of unfinished operations. */
  retryAfterSeconds: number;
  /** The longest `Prefer: wait` honoured. */
  maxWaitSeconds: number;
  /** Seals secrets an action must answer again on a replay (resetPassword's generated password). */
  secrets: SecretBox;
  /** Keeps answers to plain GETs of an operation, to give them again before Fastify (response-cache.ts). */
  responses?: ResponseCache;
}

const ALLOWED: Record<string, readonly string[]> = {
  collection: ['GET', 'POST'],
  count: ['GET'],
  item: ['GET', 'PATCH', 'DELETE'],
  function: ['GET'],
  cancel: ['POST'],
  events: ['GET'],
  history: ['GET'],
  collectionAction: ['GET'],
};

export function operationsRoute(app: FastifyInstance, options: OperationsRouteOptions): void {
  const { version, service, security } = options;
  const prefix = `/${version}/`;

  app.route({
    method: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS'],
    url: `${prefix}*`,
    handler: async (request, reply) => {
      const rawUrl = request.raw.url ?? '';
      const q = rawUrl.indexOf('?');
      const path = rawUrl.slice(prefix.length, q < 0 ? undefined : q);
      const search = q < 0 ? '' : rawUrl.slice(q + 1);
      const caller = await security.authenticate(request.headers.authorization);
      // An answer is kept for repeats only if resolving its path consulted nothing that can change: the
      // directory's pairs can move a UPN (`name@domain`) to another user; other keys map to themselves.
      let askedDirectory = false;
      const resolved = await resolveUserPath(path, version, caller.me, (key) => {
        if (key.includes('@')) askedDirectory = true;
        return security.canonicalUserKey(caller, key);
      });
      const serviceRoot = `${origin(request, options.publicUrl)}/${version}`;
      if (!resolved) {
        return startAction(request, reply, path, { ...options, caller, serviceRoot });
      }

      const shape = resolved.isFunction
        ? 'function'
        : resolved.target.kind === 'itemAction'
          ? resolved.target.action
          : resolved.target.kind;
      const method = request.method === 'HEAD' ? 'GET' : request.method;
      const allowed = ALLOWED[shape] ?? [];
      if (!allowed.includes(method)) {
        throw new GraphError(
          405,
          'methodNotAllowed',
          `The method ${request.method} is not allowed on this resource.`,
          {
            headers: { Allow: allowed.join(', ') },
          },
        );
      }
      const access: Access = method === 'GET' ? 'read' : 'write';
      security.authorize(caller, access, { family: resolved.family.name, userKey: resolved.params.userId });

      const prefs = parsePrefer(request.headers.prefer);
      const ref: CollectionRef = {
        tenantId: caller.tenantId,
        scope: resolved.scope,
        family: resolved.family,
        types: concreteTypesFor(resolved.family.declaredType, version),
      };
      const ctx: CallContext = {
        actor: caller.actor,
        includeUnknownEnumMembers: prefs.includeUnknownEnumMembers,
        ifMatch: condition(request, 'if-match'),
      };
      const h = new Handler(service, request, reply, resolved, ref, ctx, prefs, serviceRoot, search, options);
      h.tokenValidUntil = tokenValidUntil(caller.principal); // an event stream ends with its token
      if (options.responses && !askedDirectory) {
        h.verified = security.verified?.(request.headers.authorization);
      }
      return h.dispatch(method);
    },
  });
}

/** An If-Match / If-None-Match field; 400 when it is present but not `*` or a list of entity tags. */
function condition(request: FastifyRequest, name: 'if-match' | 'if-none-match') {
  const field = request.headers[name];
  const parsed = parseEtagCondition(field);
  if (field !== undefined && !parsed) {
    throw new GraphError(
      400,
      'invalidRequest',
      `The ${name === 'if-match' ? 'If-Match' : 'If-None-Match'} header must be * or a list of quoted entity tags (e.g. "3-1a2b3c4d"), as ETag headers carry them.`,
    );
  }
  return parsed;
}

/** A path that is not an operations collection may be a Graph action that starts one. */
function startAction(
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
  o: RunActionOptions,
): Promise<FastifyReply> {
  const actions = matchAction(path, o.version);
  if (actions.length === 0) {
    if (o.caller.me === undefined && /^me(\/|$)/.test(path)) {
      throw new GraphError(
        403,
        'accessDenied',
        "'/me' needs a delegated (user) token; application tokens have no signed-in user.",
      );
    }
    throw notFound(`Resource not found for the segment path '/${o.version}/${path}'.`);
  }
  const matched = actions.find((a) => a.action.method === request.method);
  if (!matched) {
    throw new GraphError(
      405,
      'methodNotAllowed',
      `The method ${request.method} is not allowed on this action.`,
      {
        headers: { Allow: actions.map((a) => a.action.method).join(', ') },
      },
    );
  }
  return runAction(request, reply, matched, o);
}

/** One request's work; a class only to keep the many per-request values out of every signature. */
class Handler {
  private readonly applied: string[] = [];
  tokenValidUntil = Infinity;
  /** Security.verified for this request, when its answer to a plain GET may be kept for repeats. */
  verified: object | undefined;

  constructor(
    private readonly service: OperationService,
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly resolved: ResolvedPath,
    private readonly ref: CollectionRef,
    private readonly ctx: CallContext,
    private readonly prefs: Preferences,
    private readonly serviceRoot: string,
    private readonly search: string,
    private readonly options: OperationsRouteOptions,
  ) {
    if (prefs.includeUnknownEnumMembers) this.applied.push('include-unknown-enum-members');
  }

  async dispatch(method: string): Promise<FastifyReply> {
    const target = this.resolved.target;
    // Log lines of this request carry the operation id next to the request-id.
    if ('id' in target) this.request.log = this.request.log.child({ 'operation-id': target.id });
    switch (target.kind) {
      case 'collection':
        return method === 'GET' ? this.list() : this.create();
      case 'count':
        return this.count();
      case 'item':
        if (method === 'GET') return this.read(target.id);
        if (method === 'PATCH') return this.update(target.id);
        return this.remove(target.id);
      case 'itemAction':
        if (target.action === 'events') return this.stream(target.id);
        if (target.action === 'history') return this.history(target.id);
        return this.cancel(target.id);
      case 'collectionAction':
        return this.stream(undefined);
    }
  }

  private async read(id: string): Promise<FastifyReply> {
    const parsed = parseQueryOptions(this.search, this.queryContext('entity'));
    const ifNoneMatch = condition(this.request, 'if-none-match');
    let record: OperationView;
    if (this.prefs.wait !== undefined && this.prefs.wait > 0) {
      // Prefer: wait=N (RFC 7240): hold the read until the operation differs from what the client saw
      // (its If-None-Match, else the operation when the request arrived) or the time is up.
      const seconds = Math.min(this.prefs.wait, this.options.maxWaitSeconds);
      // The client going away ends the wait. Only while waiting: 'close' also comes after every answer, and
      // an abort then would be wasted work. Not an AbortController: the wait takes a one-listener signal
      // (wait.ts WaitSignal), so a held read keeps no EventTarget alive for its whole wait.
      const aborted = new CloseSignal();
      const onClose = () => aborted.abort();
      this.request.raw.once('close', onClose);
      try {
        ({ record } = await waitForChange(
          this.service.changes,
          (key) => this.service.store.read(key),
          keyOf(this.ref, id),
          seconds * 1000,
          ifNoneMatch ? differsFromEtags(ifNoneMatch) : visibleChange,
          aborted,
        ));
      } finally {
        this.request.raw.off('close', onClose);
      }
      this.applied.push(`wait=${seconds}`);
    } else {
      record = await this.service.get(this.ref, id);
    }
    const keep = this.verified !== undefined && this.prefs.wait === undefined;
    const etag = etagOf(record);
    this.reply.header('ETag', etag);
    // Clients that can follow a push stream learn where it is (the client's poller follows it instead of
    // polling). `getOperationStatus(...)` has no `/events` under it, so it gets no Link.
    if (!this.resolved.isFunction) this.reply.header('Link', this.eventsLink());
    if (this.ctx.ifMatch && !ifMatchHolds(this.ctx.ifMatch, etag)) {
      throw new GraphError(
        412,
        'preconditionFailed',
        `The operation's ETag is ${etag}, not the one in If-Match.`,
      );
    }
    if (!isTerminal(record.status)) this.reply.header('Retry-After', String(this.options.retryAfterSeconds));
    if (ifNoneMatch && ifNoneMatchMatches(ifNoneMatch, etag)) {
      // RFC 9110 §15.4.5: 304 carries the validator and the headers a 200 would (Retry-After), no body.
      this.setApplied();
      return this.reply.code(304).send();
    }
    const context = entityContext(
      { serviceRoot: this.serviceRoot, contextPath: this.resolved.contextPath, select: parsed.select },
      this.resolved.isFunction,
    );
    const text = entityJson(record, context, {
      includeUnknownEnumMembers: this.ctx.includeUnknownEnumMembers,
      select: parsed.select,
    });
    const reply = this.jsonText(200, text);
    if (keep) this.keepAnswer(record, id, text);
    return reply;
  }

  /** Offers this 200 to the response cache, for repeats of the same request (response-cache.ts). */
  private keepAnswer(record: OperationView, id: string, text: string): void {
    const raw = this.request.raw;
    // Only requests from this node's own listening server: not a $batch step or an app that never listens.
    if (raw.headers[INNER_ORIGIN_HEADER] !== undefined || !this.request.server.server.listening) return;
    const headers: [string, string][] = [];
    for (const [name, value] of Object.entries(this.reply.getHeaders())) {
      if (name === 'request-id' || name === 'client-request-id' || name === 'content-length') continue;
      if (typeof value === 'string') headers.push([name, value]);
      else if (typeof value === 'number') headers.push([name, String(value)]);
      else return; // a repeated header: not a shape the cache keeps
    }
    this.options.responses!.remember(raw, {
      record,
      key: keyOf(this.ref, id),
      verified: this.verified!,
      headers,
      body: Buffer.from(text),
      family: familyLabel(raw.url ?? ''),
    });
  }

  private async list(): Promise<FastifyReply> {
    const parsed = parseQueryOptions(this.search, this.queryContext('collection'));
    const query = {
      filter: parsed.filter,
      orderBy: parsed.orderBy,
      top: parsed.top,
      after: parsed.skiptoken,
    };
    const [{ records, hasMore }, count] = await Promise.all([
      this.service.list(this.ref, query),
      parsed.count ? this.service.count(this.ref, parsed.filter) : Promise.resolve(undefined),
    ]);
    const options = { includeUnknownEnumMembers: this.ctx.includeUnknownEnumMembers, select: parsed.select };
    let nextLink: string | undefined;
    if (hasMore) {
      const token = encodeSkiptoken(
        cursorFor(parsed.orderBy, records[records.length - 1]),
        parsed.fingerprint,
      );
      const path = (this.request.raw.url ?? '').split('?')[0];
      nextLink = `${origin(this.request, this.options.publicUrl)}${path}?${nextLinkQuery(this.search, token)}`;
    }
    return this.jsonText(
      200,
      collectionJson({
        context: collectionContext({
          serviceRoot: this.serviceRoot,
          contextPath: this.resolved.contextPath,
          select: parsed.select,
        }),
        count,
        items: records.map((r) => itemJson(r, options)),
        nextLink,
      }),
    );
  }

  private async count(): Promise<FastifyReply> {
    const parsed = parseQueryOptions(this.search, this.queryContext('count'));
    const n = await this.service.count(this.ref, parsed.filter);
    return this.reply.code(200).type('text/plain; charset=utf-8').send(String(n));
  }

  private async create(): Promise<FastifyReply> {
    const { record, created } = await this.service.create(this.ref, this.request.body, this.ctx);
    const path = (this.request.raw.url ?? '').split('?')[0].replace(/\/$/, '');
    this.reply.header(
      'Location',
      `${origin(this.request, this.options.publicUrl)}${path}/${encodeSegment(record.id)}`,
    );
    return this.respondWithOperation(created ? 201 : 200, record);
  }

  private async update(id: string): Promise<FastifyReply> {
    const record = await this.service.update(this.ref, id, this.request.body, this.ctx);
    return this.respondWithOperation(200, record);
  }

  private async stream(id: string | undefined): Promise<FastifyReply> {
    await streamEvents(this.request, this.reply, {
      service: this.service,
      ref: this.ref,
      id,
      validUntil: this.tokenValidUntil,
      render: (record) =>
        renderOperation(record, { includeUnknownEnumMembers: this.ctx.includeUnknownEnumMembers }),
    });
    return this.reply;
  }

  /** `{operation}/history`: its transitions, oldest first (time, from, to, actor, kind). */
  private async history(id: string): Promise<FastifyReply> {
    await this.service.get(this.ref, id); // 404 for a missing operation
    const events = await this.service.history(this.ref, id);
    const name = (s: number | null) =>
      s === null ? null : visibleStatusName(s as StatusValue, this.ctx.includeUnknownEnumMembers);
    return this.json(200, {
      value: events.map((e) => ({
        at: e.at,
        from: name(e.fromStatus),
        to: name(e.toStatus),
        actor: e.actor,
        kind: e.kind,
      })),
    });
  }

  /** Bound action `cancel`: 202, with the operation's Location to watch it end. */
  private async cancel(id: string): Promise<FastifyReply> {
    const record = await this.service.cancel(this.ref, id, this.ctx);
    this.reply.header('ETag', etagOf(record));
    const path = (this.request.raw.url ?? '').split('?')[0].replace(/\/cancel$/, '');
    const location = `${origin(this.request, this.options.publicUrl)}${path}`;
    this.reply.header('Location', location);
    // A canceled operation is terminal: no "poll again" (clients that see it as unknownFutureValue stop
    // on the missing Retry-After; docs/decisions/0017-checkpoints-and-canceled.md).
    if (!isTerminal(record.status)) this.reply.header('Retry-After', String(this.options.retryAfterSeconds));
    return this.json(202, {
      '@odata.context': entityContext({
        serviceRoot: this.serviceRoot,
        contextPath: this.resolved.contextPath,
      }),
      ...renderOperation(record, { includeUnknownEnumMembers: this.ctx.includeUnknownEnumMembers }),
    });
  }

  private async remove(id: string): Promise<FastifyReply> {
    await this.service.delete(this.ref, id, this.ctx);
    return this.reply.code(204).send();
  }

  private respondWithOperation(status: number, record: Parameters<typeof renderOperation>[0]): FastifyReply {
    this.reply.header('ETag', etagOf(record));
    if (this.prefs.returnMinimal) {
      this.applied.push('return=minimal');
      this.setApplied();
      return this.reply.code(204).send();
    }
    return this.json(status, {
      '@odata.context': entityContext({
        serviceRoot: this.serviceRoot,
        contextPath: this.resolved.contextPath,
      }),
      ...renderOperation(record, { includeUnknownEnumMembers: this.ctx.includeUnknownEnumMembers }),
    });
  }

  /** RFC 8288 Link to this operation's event stream: the request's own path (any key form) + `/events`. */
  private eventsLink(): string {
    const path = (this.request.raw.url ?? '').split('?')[0].replace(/\/$/, '');
    return `<${origin(this.request, this.options.publicUrl)}${path}/events>; rel="alternate"; type="text/event-stream"`;
  }

  private queryContext(kind: 'entity' | 'collection' | 'count') {
    return { kind, types: this.ref.types, includeUnknownEnumMembers: this.ctx.includeUnknownEnumMembers };
  }

  private setApplied(): void {
    if (this.applied.length > 0) this.reply.header('Preference-Applied', this.applied.join(', '));
  }

  private json(status: number, body: unknown): FastifyReply {
    return this.jsonText(status, JSON.stringify(body));
  }

  private jsonText(status: number, text: string): FastifyReply {
    this.setApplied();
    return this.reply.code(status).header('content-type', ODATA_JSON).send(text);
  }
}

/**
 * A held read's end when its client goes away, for waitForChange (wait.ts WaitSignal): the wait holds at
 * most one listener at a time, so a field does what an AbortSignal's listener list would.
 */
class CloseSignal {
  aborted = false;
  private listener: (() => void) | undefined;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return; // as an AbortSignal: 'abort' fires once, and an aborted one not again
    this.listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener === listener) this.listener = undefined;
  }
}
