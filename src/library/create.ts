/**
 * The library's entry point: `createLongrun` checks every option, registers typed handlers, mounts your
 * actions, and returns a node whose `start` is typed by the handlers it was given and returns a handle.
 * It wraps the node src/longrun.ts assembles (what `longrun serve` runs), adding what an embedding
 * application needs: safe defaults (no `auth`: loopback only), handles, and option errors that say what
 * is wrong.
 */
import type { FastifyInstance } from 'fastify';
import type { DelivererOptions } from '../engine/webhook-deliverer.js';
import type { RetentionOptions } from '../engine/retention.js';
import type { ScenarioConfig } from '../engine/scenarios/scenario.js';
import type { WorkerOptions } from '../engine/worker.js';
import type { ServerLimits } from '../http/app.js';
import { OPEN_SECURITY, type Security } from '../http/security.js';
import { GraphError } from '../model/errors.js';
import { createLongrun as createNode, type LongrunOptions as NodeOptions } from '../longrun.js';
import type { WebhookPolicy } from '../service/notification-url.js';
import type { OperationStore } from '../store/store.js';
import { checkActions, mountActions, type ActionFor } from './actions.js';
import { isLongrunAuth, isLoopback, type LongrunAuth } from './auth.js';
import {
  checkHandler,
  toEngineDefinition,
  type AnyHandler,
  type HandlerName,
  type InputOf,
} from './define-handler.js';
import { createHandle, handleFromLocation, type OperationHandle } from './handle.js';
import { Checker } from './options-check.js';
import { startOperation, type StartOptions } from './starter.js';

export interface CreateLongrunOptions<H extends readonly AnyHandler[]> {
  /** Your handlers, made with defineHandler (names must be unique). */
  handlers?: H;
  /** HTTP actions that start your handlers, mounted under /v1.0 and /beta. */
  actions?: ActionFor<H>[];
  /**
   * `jwtAuth({...})` to require bearer tokens, or `'none'` to serve without authentication (logs a
   * warning). Without it the node serves loopback clients only, and `listen` refuses other addresses.
   */
  auth?: LongrunAuth | 'none';
  /** SQLite file used when no store is given; default ./data/longrun.db. */
  dbFile?: string;
  /** A store (`new PostgresStore({...})` for many nodes); default the SQLite file `dbFile`. */
  store?: OperationStore;
  /** Base URL clients reach the node at, for absolute Location headers: `https://api.example.com`. */
  publicUrl?: string;
  /** Which proxies' X-Forwarded-* headers to believe (Fastify's trustProxy); default none. */
  trustProxy?: boolean | number | string;
  /** Connection and timeout limits of the HTTP server (docs/SECURITY.md); safe defaults. */
  limits?: ServerLimits;
  /**
   * 32 bytes that seal secrets kept at rest (resetPassword's generated password, for replays); nodes on
   * one database should share it. Default: a key of this process's own.
   */
  dataKey?: Uint8Array;
  /** Retry-After on 202s and reads of unfinished operations, seconds (0–3600); default 1. */
  retryAfterSeconds?: number;
  /** The longest `Prefer: wait=N` honoured, seconds (0–3600); default 60. */
  maxWaitSeconds?: number;
  /** Fastify's pino logger: false (default), true, or `{ level }`. */
  logger?: boolean | { level: string };
  /** Timing and outcome of the built-in Graph scenarios. */
  scenarios?: ScenarioConfig;
  /** Worker settings, or false for a node that serves HTTP only. */
  worker?: WorkerOptions | false;
  /** How long finished operations are kept, or false to keep them. */
  retention?: RetentionOptions | false;
  /** Webhook subscriptions' policy and delivery, or false to turn them off. */
  webhooks?: (Partial<WebhookPolicy> & DelivererOptions) | false;
}

export interface LongrunNode<H extends readonly AnyHandler[]> {
  /** The Fastify instance, to add your own routes (before `listen`). */
  readonly app: FastifyInstance;
  /** Starts the named handler; the input is checked against its schema before anything is stored. */
  start<N extends HandlerName<H>>(
    name: N,
    input: InputOf<H, N>,
    options?: StartOptions,
  ): Promise<OperationHandle>;
  /** A handle on an operation from its location (path or absolute URL), e.g. one an action returned. */
  operation(location: string, options?: { tenantId?: string }): OperationHandle;
  /** Starts serving HTTP; resolves with the base URL. Default port 0 (any free one), host 127.0.0.1. */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops workers (letting running handlers finish within `graceMs`), the HTTP server and the store. */
  close(graceMs?: number): Promise<void>;
}

const OPTIONS = [
  'handlers',
  'actions',
  'auth',
  'dbFile',
  'store',
  'publicUrl',
  'trustProxy',
  'limits',
  'dataKey',
  'retryAfterSeconds',
  'maxWaitSeconds',
  'logger',
  'scenarios',
  'worker',
  'retention',
  'webhooks',
] as const;
const WORKER_OPTIONS = [
  'concurrency',
  'prefetch',
  'leaseMs',
  'pollIntervalMs',
  'progressIntervalMs',
  'retryBaseMs',
  'retryCapMs',
  'workerId',
  'logger',
] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const AUTH_NONE_WARNING =
  "longrun: authentication is OFF (auth: 'none'): anyone who can reach this node can read, create, cancel and delete operations.";

export async function createLongrun<const H extends readonly AnyHandler[] = []>(
  options: CreateLongrunOptions<H> = {},
): Promise<LongrunNode<H>> {
  const c: Checker = new Checker('createLongrun');
  const raw: unknown = options;
  c.object('options', raw);
  c.knownKeys(raw, '', OPTIONS);
  const handlers = checkHandlers(options.handlers, c);
  const actions = checkActions(options.actions, handlers, c);
  checkNodeOptions(options, c);
  const auth = options.auth;
  if (auth !== undefined && auth !== 'none' && !isLongrunAuth(auth))
    c.fail('auth', "must be jwtAuth({ secret | publicKey | jwksUrl, issuer, audience }) or 'none'", auth);

  const security: Security = isLongrunAuth(auth) ? await auth.security() : OPEN_SECURITY;
  const loopbackOnly = auth === undefined;
  const node = await createNode({
    ...(options as Omit<NodeOptions, 'handlers' | 'security'>),
    handlers: [...handlers.values()].map(toEngineDefinition) as NodeOptions['handlers'],
    security,
  });
  const { app, service } = node;
  if (auth === 'none') {
    app.log.warn(AUTH_NONE_WARNING);
    process.emitWarning(AUTH_NONE_WARNING, { code: 'LONGRUN_AUTH_NONE' });
  }
  if (loopbackOnly) {
    // Also when the app is served some other way (node.app.listen, a proxy on the same host): without auth,
    // only this machine may call. The socket's address, not X-Forwarded-For, which any client can send.
    app.addHook('onRequest', async (request) => {
      if (!isLoopback(request.raw.socket.remoteAddress)) {
        throw new GraphError(
          403,
          'accessDenied',
          'This node has no authentication configured: it serves this machine only.',
        );
      }
    });
  }
  try {
    mountActions(app, actions, {
      service,
      security,
      handlers,
      publicUrl: options.publicUrl?.replace(/\/$/, ''),
      retryAfterSeconds: options.retryAfterSeconds ?? 1,
    });
  } catch (e) {
    // The workers and the store are running already: a node that is not returned must not leak them.
    await node.close(0);
    throw e;
  }

  return {
    app,
    async start(name, input, startOptions = {}) {
      const s: Checker = new Checker('start');
      const handler = handlers.get(name);
      if (!handler)
        s.fail('name', `must be a registered handler (${[...handlers.keys()].join(', ') || 'none'})`, name);
      const { record, ref, location } = await startOperation(
        service,
        { handler, input, options: startOptions, actor: 'library' },
        s,
      );
      return createHandle(service, ref, record.id, location);
    },
    operation(location, o = {}) {
      return handleFromLocation(service, location, o.tenantId);
    },
    async listen(port = 0, host = '127.0.0.1') {
      const l: Checker = new Checker('listen');
      l.integer('port', port, 0, 65535);
      l.nonEmptyString('host', host, 255);
      if (loopbackOnly && !isLoopback(host)) {
        throw new Error(
          `listen: refusing to listen on ${host}: this node has no 'auth', so anyone who can reach it could ` +
            `create, cancel and delete operations. Pass auth: jwtAuth({ secret | publicKey | jwksUrl, issuer, ` +
            `audience }) to createLongrun, or auth: 'none' to serve without authentication (logs a warning).`,
        );
      }
      return node.listen(port, host);
    },
    close: (graceMs) => node.close(graceMs),
  };
}

function checkHandlers(value: unknown, c: Checker): Map<string, AnyHandler> {
  const map = new Map<string, AnyHandler>();
  if (value === undefined) return map;
  if (!Array.isArray(value)) c.fail('handlers', 'must be an array of defineHandler(...) results', value);
  value.forEach((h, i) => {
    const handler = checkHandler(h, c, `handlers[${i}]`);
    if (map.has(handler.name))
      c.fail(`handlers[${i}].name`, 'must be unique among the handlers', handler.name);
    map.set(handler.name, handler);
  });
  return map;
}

function checkNodeOptions(
  o: Omit<CreateLongrunOptions<readonly AnyHandler[]>, 'handlers' | 'actions'>,
  c: Checker,
): void {
  c.nonEmptyString('dbFile', o.dbFile, 4096);
  if (
    o.store !== undefined &&
    (typeof o.store !== 'object' || o.store === null || typeof o.store.migrate !== 'function')
  )
    c.fail('store', 'must be an OperationStore (new SqliteStore(...) or new PostgresStore(...))', o.store);
  if (o.store !== undefined && o.dbFile !== undefined)
    c.fail('dbFile', 'must not be given with store', o.dbFile);
  c.absoluteUrl('publicUrl', o.publicUrl);
  c.integer('retryAfterSeconds', o.retryAfterSeconds, 0, 3600);
  c.integer('maxWaitSeconds', o.maxWaitSeconds, 0, 3600);
  if (o.logger !== undefined && typeof o.logger !== 'boolean') {
    c.object('logger', o.logger);
    c.oneOf('logger.level', o.logger.level, LOG_LEVELS);
  }
  if (o.scenarios !== undefined) c.object('scenarios', o.scenarios);
  if (o.trustProxy !== undefined && !['boolean', 'number', 'string'].includes(typeof o.trustProxy))
    c.fail('trustProxy', 'must be true, a hop count, or a list of addresses', o.trustProxy);
  if (o.dataKey !== undefined && (!(o.dataKey instanceof Uint8Array) || o.dataKey.length !== 32))
    c.fail('dataKey', 'must be 32 bytes (a Uint8Array or Buffer)', o.dataKey);
  if (o.limits !== undefined) {
    const l: unknown = o.limits;
    c.object('limits', l);
    const names = [
      'headersTimeoutMs',
      'requestTimeoutMs',
      'idleTimeoutMs',
      'keepAliveTimeoutMs',
      'maxConnections',
    ];
    c.knownKeys(l, 'limits', names);
    for (const k of names) c.integer(`limits.${k}`, l[k], 1);
  }
  if (o.worker !== undefined && o.worker !== false) {
    const w: unknown = o.worker;
    c.object('worker', w);
    c.knownKeys(w, 'worker', WORKER_OPTIONS);
    c.integer('worker.concurrency', w.concurrency, 1, 10_000);
    c.integer('worker.prefetch', w.prefetch, 0, 10_000);
    c.integer('worker.leaseMs', w.leaseMs, 300);
    c.integer('worker.pollIntervalMs', w.pollIntervalMs, 1);
    c.integer('worker.progressIntervalMs', w.progressIntervalMs, 0);
    c.integer('worker.retryBaseMs', w.retryBaseMs, 0);
    c.integer('worker.retryCapMs', w.retryCapMs, typeof w.retryBaseMs === 'number' ? w.retryBaseMs : 0);
    c.nonEmptyString('worker.workerId', w.workerId, 256);
  }
  if (o.retention !== undefined && o.retention !== false) {
    const r: unknown = o.retention;
    c.object('retention', r);
    c.knownKeys(r, 'retention', ['retentionMs', 'intervalMs', 'batchSize', 'allowShortRetention']);
    c.integer('retention.retentionMs', r.retentionMs, r.allowShortRetention ? 1 : 24 * 3_600_000);
    c.integer('retention.intervalMs', r.intervalMs, 1);
    c.integer('retention.batchSize', r.batchSize, 1);
    c.boolean('retention.allowShortRetention', r.allowShortRetention);
  }
  if (o.webhooks !== undefined && o.webhooks !== false) {
    const h: unknown = o.webhooks;
    c.object('webhooks', h);
    c.knownKeys(h, 'webhooks', [
      'allowPrivateNetworks',
      'allowHttp',
      'allowedHosts',
      'pollIntervalMs',
      'retryBaseMs',
      'retryCapMs',
      'timeoutMs',
      'maxResponseBytes',
      'batchSize',
      'onDelivery',
    ]);
    c.boolean('webhooks.allowPrivateNetworks', h.allowPrivateNetworks);
    c.boolean('webhooks.allowHttp', h.allowHttp);
    if (
      h.allowedHosts !== undefined &&
      (!Array.isArray(h.allowedHosts) || h.allowedHosts.some((x) => typeof x !== 'string'))
    )
      c.fail('webhooks.allowedHosts', 'must be an array of host names', h.allowedHosts);
    for (const k of [
      'pollIntervalMs',
      'retryBaseMs',
      'retryCapMs',
      'timeoutMs',
      'maxResponseBytes',
      'batchSize',
    ])
      c.integer(`webhooks.${k}`, h[k], 1);
  }
}
