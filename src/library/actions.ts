/**
 * Your own actions over HTTP: `POST /v1.0/reports/{reportId}/export` starts the named handler and answers
 * exactly like the built-in Graph actions (src/http/actions/): the caller is authenticated and authorized
 * first, the body is checked (400, nothing stored), then `202 Accepted` with the operation's absolute
 * `Location` and `Operation-Location` (honouring `publicUrl`), `Retry-After`, and `Idempotency-Key` replays.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { idempotencyKeyOf, matchAction, sendAccepted } from '../http/actions/actions-route.js';
import { resolvePath } from '../http/resolve.js';
import type { Security } from '../http/security.js';
import { origin } from '../http/urls.js';
import { GraphError, badRequest } from '../model/errors.js';
import { API_VERSIONS, type ApiVersion } from '../model/types.js';
import { hashBody, type OperationService } from '../service/operation-service.js';
import type { AnyHandler, HandlerName, InputOf } from './define-handler.js';
import { createHandle, type OperationHandle } from './handle.js';
import { Checker } from './options-check.js';
import { startOperation, targetCollection } from './starter.js';

export interface ActionRequest {
  /** The path parameters, decoded: `{ reportId: 'r1' }` for `/reports/{reportId}/export`. */
  params: Record<string, string>;
  /** The parsed JSON body; undefined when there is none. */
  body: unknown;
}

export interface ActionSpec<N extends string = string, I = unknown> {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path after the version, with `{name}` parameters: `/reports/{reportId}/export`. */
  path: string;
  /** The handler that runs the work. */
  handler: N;
  /**
   * Maps the request to the handler's input (checked against its schema: a 400 when it does not match).
   * Default: the body. Throw a GraphError (e.g. 400) to refuse a request; any other throw is a 400 too.
   */
  input?: (request: ActionRequest) => I;
  /** The permission a token needs (scope or app role); default the collection's write permission. */
  permission?: string;
  /** The collection the operations are filed in (and read from); default `/operations`. */
  collection?: string;
  /** Called after the operation is created (not on an idempotent replay), with its handle. */
  onStarted?: (operation: OperationHandle, request: ActionRequest) => void;
}

/** The actions H's handlers allow: each names a handler and maps to that handler's input. */
export type ActionFor<H extends readonly AnyHandler[]> = {
  [N in HandlerName<H>]: ActionSpec<N, InputOf<H, N>>;
}[HandlerName<H>];

export interface MountOptions {
  service: OperationService;
  security: Security;
  handlers: ReadonlyMap<string, AnyHandler>;
  publicUrl?: string;
  retryAfterSeconds: number;
}

const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;
const SEGMENT = /^(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|[A-Za-z0-9._~!$&'()*+,;=:@-]+)$/;
/** First segments longrun serves itself under /v1.0 and /beta. */
const RESERVED = new Set(['$batch', '$metadata', 'subscriptions', 'me', 'operations']);

/** Checks the `actions` option; returns each action's Fastify URL (after the version). */
export function checkActions(
  actions: unknown,
  handlers: ReadonlyMap<string, AnyHandler>,
  c: Checker,
): { spec: ActionSpec; url: string }[] {
  if (actions === undefined) return [];
  if (!Array.isArray(actions)) c.fail('actions', 'must be an array', actions);
  const seen = new Set<string>();
  return actions.map((a: unknown, i) => {
    const p = `actions[${i}]`;
    c.object(p, a);
    c.knownKeys(a, p, ['method', 'path', 'handler', 'input', 'permission', 'collection', 'onStarted']);
    c.oneOf(`${p}.method`, a.method ?? null, METHODS);
    if (typeof a.handler !== 'string' || !handlers.has(a.handler))
      c.fail(
        `${p}.handler`,
        `must name a registered handler (${[...handlers.keys()].join(', ') || 'none'})`,
        a.handler,
      );
    if (a.input !== undefined) c.func(`${p}.input`, a.input);
    if (a.onStarted !== undefined) c.func(`${p}.onStarted`, a.onStarted);
    if (
      a.permission !== undefined &&
      (typeof a.permission !== 'string' || !/^[A-Za-z0-9._-]{1,256}$/.test(a.permission))
    )
      c.fail(`${p}.permission`, 'must be a permission name such as Reports.ReadWrite.All', a.permission);
    if (a.collection !== undefined) {
      const ok =
        typeof a.collection === 'string' &&
        API_VERSIONS.every((v) => targetCollection(a.collection as string, v));
      if (!ok || /(^|\/)(users|me)\//.test(a.collection as string))
        c.fail(
          `${p}.collection`,
          'must be an operations collection in v1.0 and beta, not under a user',
          a.collection,
        );
    }
    if (typeof a.path !== 'string' || !a.path.startsWith('/'))
      c.fail(`${p}.path`, "must be a path starting with '/', e.g. /reports/{reportId}/export", a.path);
    const segments = a.path.slice(1).split('/');
    const names = new Set<string>();
    for (const s of segments) {
      const m = SEGMENT.exec(s);
      if (!m)
        c.fail(`${p}.path`, 'must have non-empty segments of URL characters or {name} parameters', a.path);
      if (m[1] && names.has(m[1])) c.fail(`${p}.path`, `must not repeat the parameter {${m[1]}}`, a.path);
      if (m[1]) names.add(m[1]);
    }
    if (RESERVED.has(segments[0]) || API_VERSIONS.some((v) => collidesWithBuiltIn(segments, v)))
      c.fail(
        `${p}.path`,
        "must not be one of longrun's own routes (operations, Graph actions, $batch, ...)",
        a.path,
      );
    const url = '/' + segments.map((s) => (s.startsWith('{') ? `:${s.slice(1, -1)}` : s)).join('/');
    const key = `${a.method} ${url.replace(/:[^/]+/g, ':')}`;
    if (seen.has(key)) c.fail(`${p}.path`, `must not repeat another action's method and path`, a.path);
    seen.add(key);
    return { spec: a as unknown as ActionSpec, url };
  });
}

function collidesWithBuiltIn(segments: string[], version: ApiVersion): boolean {
  const sample = segments.map((s) => (s.startsWith('{') ? 'x' : s)).join('/');
  try {
    return resolvePath(sample, version, undefined) !== undefined || matchAction(sample, version).length > 0;
  } catch {
    return false;
  }
}

export function mountActions(
  app: FastifyInstance,
  actions: { spec: ActionSpec; url: string }[],
  o: MountOptions,
): void {
  for (const { spec, url } of actions) {
    const handler = o.handlers.get(spec.handler)!;
    const collectionPath = spec.collection ?? '/operations';
    for (const version of API_VERSIONS) {
      const collection = targetCollection(collectionPath, version)!;
      app.route({
        method: spec.method,
        url: `/${version}${url}`,
        handler: async (request, reply) => {
          const caller = await o.security.authenticate(request.headers.authorization);
          const family = collection.resolve(version, caller.tenantId).family;
          o.security.authorize(caller, 'write', {
            family: family.name,
            permissions: spec.permission
              ? { delegated: [spec.permission], application: [spec.permission] }
              : undefined,
            action: spec.path,
          });
          const params = { ...(request.params as Record<string, string>) };
          // Bodies with NUL are refused by the JSON parser; path parameters are decoded from %00 here.
          for (const [name, value] of Object.entries(params)) {
            if (value.includes('\u0000'))
              throw badRequest(`The path parameter '${name}' must not contain NUL.`, name);
          }
          const actionRequest: ActionRequest = { params, body: request.body };
          const input = mapInput(spec, actionRequest, request);
          const { record, ref, location, created } = await startOperation(
            o.service,
            {
              handler,
              input,
              options: {
                collection: collectionPath,
                version,
                tenantId: caller.tenantId,
                idempotencyKey: idempotencyKeyOf(request.headers['idempotency-key']),
              },
              actor: caller.actor,
              requestHash: hashBody({
                method: request.method,
                url: request.raw.url,
                body: request.body ?? null,
              }),
            },
            requestChecker,
          );
          if (spec.onStarted && created)
            spec.onStarted(createHandle(o.service, ref, record.id, location), actionRequest);
          return sendAccepted(reply, `${origin(request, o.publicUrl)}${location}`, o.retryAfterSeconds);
        },
      });
    }
  }
}

/** Runs the action's `input` mapping; whatever it throws on a request is that request's fault: a 400. */
function mapInput(spec: ActionSpec, actionRequest: ActionRequest, request: FastifyRequest): unknown {
  if (!spec.input) return actionRequest.body;
  try {
    return spec.input(actionRequest);
  } catch (e) {
    if (e instanceof GraphError) throw e;
    request.log.info({ err: e }, 'action input mapping refused the request');
    throw badRequest('The request does not have what this action needs.');
  }
}

/**
 * The route builds the start options itself, so a failed check is the request's fault: a 400 in the Graph
 * envelope, not a LongrunOptionError.
 */
class RequestChecker extends Checker {
  override fail(option: string, rule: string): never {
    throw badRequest(`The request's ${option.replace(/^options\./, '')} ${rule}.`);
  }
}
const requestChecker = new RequestChecker('request');
