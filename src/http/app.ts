/**
 * The Fastify application: Graph's headers and error envelope on every response, the operations routes
 * under /v1.0 and /beta, and health checks.
 */
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { randomBytes, randomUUID } from 'node:crypto';
import { createSecretBox, DATA_KEY_BYTES, type SecretBox } from '../service/secret-box.js';
import type { Duplex } from 'node:stream';
import { GraphError } from '../model/errors.js';
import type { OperationService } from '../service/operation-service.js';
import type { SubscriptionService } from '../service/subscription-service.js';
import { subscriptionsRoute } from './subscriptions-route.js';
import { adminRoutes } from './admin/admin-route.js';
import { AdminService } from '../service/admin-service.js';
import { dashboardRoute } from './dashboard-route.js';
import { sendGraphError, toGraphError } from './errors.js';
import { operationsRoute } from './operations-route.js';
import { batchRoutes } from './batch.js';
import { metadataRoutes } from './metadata.js';
import { metricsPlugin } from './metrics.js';
import { openApiRoute } from './openapi.js';
import { OPEN_SECURITY, type Security } from './security.js';
import { ResponseCache } from './response-cache.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface AppOptions {
  service: OperationService;
  /** Webhook subscriptions; /subscriptions answers 404 without them. */
  subscriptions?: SubscriptionService;
  security?: Security;
  publicUrl?: string;
  /** Retry-After (seconds) on reads of unfinished operations; default 1. */
  retryAfterSeconds?: number;
  /** The longest `Prefer: wait=N` honoured, in seconds; default 60. */
  maxWaitSeconds?: number;
  /**
   * Which proxies' X-Forwarded-For/-Proto/-Host to believe (Fastify's trustProxy): false (the default: none),
   * true (any), a hop count, or a comma-separated list of addresses and CIDR ranges. `publicUrl` wins over
   * forwarded headers for the URLs longrun hands out.
   */
  trustProxy?: boolean | number | string;
  /** Seals secrets kept for replays; default: a key of this process's own (lost at restart). */
  secrets?: SecretBox;
  /** Connection and timeout limits (docs/SECURITY.md); each has a safe default. */
  limits?: ServerLimits;
  logger?: FastifyServerOptions['logger'];
  /** Serve HTTPS with HTTP/2 and HTTP/1.1 (ALPN) with this certificate and key. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Log a line per request (default off). */
  logRequests?: boolean;
}

export const BODY_LIMIT = 1024 * 1024;

export interface ServerLimits {
  /** Time to receive a request's headers; default 10 s. */
  headersTimeoutMs?: number;
  /** Time to receive a whole request, headers and body; default 30 s. */
  requestTimeoutMs?: number;
  /**
   * A connection with no traffic either way for this long is closed; default 30 s more than the longest
   * `Prefer: wait` (a wait sends nothing until it answers; event streams send a keep-alive every 15 s).
   */
  idleTimeoutMs?: number;
  /** How long a kept-alive connection waits for its next request; default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Open connections at most; more are refused at once. Default 10,000. */
  maxConnections?: number;
}

/** The limits in force: the options given, else the defaults. Checked, so a bad value fails at start. */
export function serverLimits(limits: ServerLimits = {}, maxWaitSeconds = 60): Required<ServerLimits> {
  const resolved = {
    headersTimeoutMs: limits.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: limits.requestTimeoutMs ?? 30_000,
    idleTimeoutMs: limits.idleTimeoutMs ?? (maxWaitSeconds + 30) * 1000,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs ?? 5_000,
    maxConnections: limits.maxConnections ?? 10_000,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`limits.${name} must be a positive integer (got ${String(value)}).`);
    }
  }
  if (resolved.headersTimeoutMs > resolved.requestTimeoutMs) {
    throw new Error('limits.headersTimeoutMs must not be larger than limits.requestTimeoutMs.');
  }
  return resolved;
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a URL or headers over 16 KiB, broken
 * framing) still get Graph's error envelope.
 */
/** Whether a parsed JSON value holds a NUL character anywhere (PostgreSQL can't store one). */
function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(hasNul);
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => k.includes('\u0000') || hasNul(v));
  }
  return false;
}

/** How long the rest of a refused body is read and dropped before the connection is closed. */
const LINGER_MS = 5_000;

/**
 * Lingering close, as nginx does it: a client still uploading a body that was refused (413) would get
 * EPIPE/ECONNRESET, not the answer, if the connection closed at once. Instead the answer is sent on a
 * connection that stays open while Node reads and drops the rest of the body; if the body hasn't ended
 * LINGER_MS after the answer, the connection is closed anyway.
 */
function lingerOnBody(request: FastifyRequest, reply: FastifyReply): void {
  // HTTP/2 (TLS): the refused stream ends alone, the connection stays; its socket can't be touched.
  if (request.raw.complete || request.raw.httpVersionMajor >= 2) return;
  reply.removeHeader('connection'); // Fastify asks for Connection: close, which would reset the upload
  reply.raw.once('finish', () => {
    const timer = setTimeout(() => {
      if (!request.raw.complete) request.raw.socket?.destroy();
    }, LINGER_MS);
    timer.unref();
    request.raw.once('end', () => clearTimeout(timer));
  });
}

/** Fastify's trustProxy for our option: a hop count becomes "the nearest n hops". */
function trustedProxies(
  value: AppOptions['trustProxy'],
): boolean | string | ((a: string, hop: number) => boolean) {
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return value ?? false;
}

function hasBody(headers: FastifyRequest['headers']): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

function rejectMalformedRequest(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const body = JSON.stringify({
    error: {
      code: tooLarge ? 'requestHeaderFieldsTooLarge' : 'invalidRequest',
      message: tooLarge ? 'The URL or headers are larger than 16 KiB.' : 'The request is not valid HTTP.',
      innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID() },
    },
  });
  socket.end(
    `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const limits = serverLimits(options.limits, options.maxWaitSeconds ?? 60);
  const security = options.security ?? OPEN_SECURITY;
  const secrets = options.secrets ?? createSecretBox(randomBytes(DATA_KEY_BYTES));
  // With TLS: HTTP/2, and HTTP/1.1 for clients that don't offer h2. Typed as the HTTP/1 instance: the
  // routes use only what both servers' request and reply objects share.
  const server = options.tls
    ? ({ http2: true, https: { allowHTTP1: true, cert: options.tls.cert, key: options.tls.key } } as object)
    : {};
  const httpOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
  // Repeated plain GETs of an operation answered before Fastify (response-cache.ts): plain HTTP only
  // (its server is made here), not when every request must be logged, and only with a security that can
  // say without I/O that a token is unchanged and a store that can say whether an operation is.
  const verified = security.verified?.bind(security);
  let responses: ResponseCache | undefined;
  let observe: (family: string, method: string, status: number, seconds: number) => void = () => {};
  if (!options.tls && !options.logRequests && verified && options.service.tellsCurrent) {
    responses = new ResponseCache({
      verified,
      isCurrent: (key, view) => options.service.isCurrent(key, view),
      observe: (...args) => observe(...args),
    });
  }
  const cache = responses;
  const serverFactory = cache
    ? (handler: (request: IncomingMessage, response: ServerResponse) => void) => {
        // What Fastify does for a plain HTTP server of its own (lib/server.js), with the cache in front.
        const made = createServer(httpOptions, (request, response) =>
          cache.handle(request, response, handler),
        );
        made.keepAliveTimeout = limits.keepAliveTimeoutMs;
        made.requestTimeout = limits.requestTimeoutMs;
        made.setTimeout(limits.idleTimeoutMs);
        return made;
      }
    : undefined;
  const app = Fastify({
    ...server,
    ...(serverFactory ? { serverFactory } : {}),
    // Slow or stalled clients can't hold connections: headers, whole requests and idle sockets are timed.
    requestTimeout: limits.requestTimeoutMs,
    // Node checks the header and request deadlines on this interval (30 s by default: too coarse).
    http: httpOptions,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    trustProxy: trustedProxies(options.trustProxy),
    genReqId: () => randomUUID(),
    // Graph's name for it; per-request logs are off by default (they cost more than the request).
    logController: new LogController({
      requestIdLogLabel: 'request-id',
      disableRequestLogging: !options.logRequests,
    }),
    // OData URLs carry parentheses, quotes and colons; the operations route parses paths itself.
    routerOptions: { maxParamLength: 2048, ignoreDuplicateSlashes: false },
    clientErrorHandler: rejectMalformedRequest,
    // Errors Fastify raises before routing (a malformed URL) get Graph's envelope too.
    frameworkErrors: (error, request, reply) => {
      reply.header('request-id', request.id);
      return sendGraphError(request, reply, toGraphError(error));
    },
  });

  app.server.maxConnections = limits.maxConnections;

  // A request with a body is authenticated before the body is read: an anonymous client can't make the
  // server buffer up to the body limit, or hold a connection open by trickling a body.
  // Callback-style hooks (here and below): an async hook costs every request a promise and microtask hops.
  app.addHook('onRequest', (request, _reply, done) => {
    if (security === OPEN_SECURITY || !hasBody(request.headers)) return done();
    security.authenticate(request.headers.authorization).then(() => done(), done);
  });

  // Only JSON bodies are accepted; without this, Fastify would parse text/plain into a string.
  app.removeContentTypeParser('text/plain');
  // Graph's own examples POST actions with `Content-Type: application/json` and no body: that is "no body",
  // not malformed JSON. Non-empty bodies go to Fastify's parser (which also refuses __proto__ poisoning).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    return parseJson(request, text, (error, value) => {
      if (!error && hasNul(value)) {
        return done(
          new GraphError(
            400,
            'invalidRequest',
            'Strings in the request body must not contain NUL characters.',
          ),
        );
      }
      done(error, value);
    });
  });

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('request-id', request.id);
    const clientRequestId = request.headers['client-request-id'];
    if (typeof clientRequestId === 'string') reply.header('client-request-id', clientRequestId);
    reply.header('OData-Version', '4.0');
    reply.header('Cache-Control', 'no-store');
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const graphError = toGraphError(error);
    if (graphError.status === 413) lingerOnBody(request, reply);
    if (graphError.status === 503)
      request.log.warn({ reason: (error as Error).message }, 'store unavailable');
    else if (graphError.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendGraphError(request, reply, graphError);
  });

  app.setNotFoundHandler((request, reply) =>
    sendGraphError(
      request,
      reply,
      new GraphError(404, 'itemNotFound', `No resource at '${request.url.split('?')[0]}'.`),
    ),
  );

  dashboardRoute(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    try {
      await options.service.store.ping();
      return { status: 'ok' };
    } catch {
      return sendGraphError(
        request,
        reply,
        new GraphError(503, 'serviceNotAvailable', 'The store is not reachable.', {
          headers: { 'Retry-After': '5' },
        }),
      );
    }
  });

  // Prometheus metrics, $metadata and the OpenAPI document (public), JSON batching.
  const metrics = metricsPlugin(app, { service: options.service });
  observe = (family, method, status, seconds) => metrics.observe(family, method, status, seconds);
  metadataRoutes(app);
  openApiRoute(app);
  batchRoutes(app, { security });

  if (options.subscriptions) {
    subscriptionsRoute(app, {
      subscriptions: options.subscriptions,
      security,
      publicUrl: options.publicUrl?.replace(/\/$/, ''),
    });
  }

  // The operator API (longrun's own namespace), for stores that answer the operator's queries.
  const adminStore = options.service.store.admin;
  if (adminStore) {
    adminRoutes(app, {
      admin: new AdminService(options.service, adminStore),
      security,
      publicUrl: options.publicUrl?.replace(/\/$/, ''),
    });
  }

  for (const version of ['v1.0', 'beta'] as const) {
    operationsRoute(app, {
      version,
      service: options.service,
      security,
      publicUrl: options.publicUrl?.replace(/\/$/, ''),
      retryAfterSeconds: options.retryAfterSeconds ?? 1,
      maxWaitSeconds: options.maxWaitSeconds ?? 60,
      secrets,
      responses,
    });
  }
  if (responses) disableOnNewHooks(app, responses);
  return app;
}

/** The hooks that run on requests: answers from the cache would skip them. */
const REQUEST_HOOKS = new Set([
  'onRequest',
  'preParsing',
  'preValidation',
  'preHandler',
  'preSerialization',
  'onSend',
  'onResponse',
  'onError',
  'onTimeout',
  'onRequestAbort',
]);

/**
 * An embedding application may add its own request hooks to the app (an IP allow-list, the library's
 * loopback-only guard, a rate limit): answers from the cache would skip them, so the first such hook turns
 * the cache off. Child contexts inherit `addHook` from the root, so their hooks count too (more than needed:
 * safe).
 */
function disableOnNewHooks(app: FastifyInstance, responses: ResponseCache): void {
  // Called with the context's own `this` (not bound): a child context's hook stays the child's.
  const addHook = app.addHook as (this: FastifyInstance, ...args: unknown[]) => FastifyInstance;
  (app as { addHook: unknown }).addHook = function (this: FastifyInstance, name: string, ...rest: unknown[]) {
    if (REQUEST_HOOKS.has(name)) responses.disable();
    return addHook.call(this, name, ...rest);
  };
}
