/**
 * Assembles a longrun node from its parts: a store, the service over it, the HTTP app, and the workers
 * that run handlers. This is what `longrun serve` runs and what an application embeds.
 */
import type { FastifyInstance } from 'fastify';
import { HandlerRegistry, type HandlerDefinition } from './engine/handler.js';
import { RetentionPurger, type RetentionOptions } from './engine/retention.js';
import { scenarioHandler } from './engine/scenarios/scenario-handler.js';
import type { ScenarioConfig } from './engine/scenarios/scenario.js';
import {
  checkDelivererOptions,
  WebhookDeliverer,
  type DelivererOptions,
} from './engine/webhook-deliverer.js';
import { Worker, type WorkerOptions } from './engine/worker.js';
import { userScope } from './families/families.js';
import { buildApp, type ServerLimits } from './http/app.js';
import { resolvePath } from './http/resolve.js';
import { OPEN_SECURITY, type Security } from './http/security.js';
import { badRequest } from './model/errors.js';
import type { OperationRecord } from './model/operation.js';
import { concreteTypesFor, type ApiVersion, type OperationTypeName } from './model/types.js';
import { ChangeFeed } from './service/changes.js';
import { DEFAULT_WEBHOOK_POLICY, type WebhookPolicy } from './service/notification-url.js';
import { OperationService } from './service/operation-service.js';
import { SubscriptionService } from './service/subscription-service.js';
import { createSecretBox } from './service/secret-box.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { OperationStore } from './store/store.js';

/** PEM certificate (chain) and private key: the node serves HTTPS, with HTTP/2 and HTTP/1.1 (ALPN). */
export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface LongrunOptions {
  /** A store; defaults to the SQLite file `dbFile`. */
  store?: OperationStore;
  /** SQLite file used when no store is given. Default ./data/longrun.db. */
  dbFile?: string;
  security?: Security;
  publicUrl?: string;
  /** Which proxies' X-Forwarded-* headers to believe; default none (see AppOptions.trustProxy). */
  trustProxy?: boolean | number | string;
  /** Connection and timeout limits; safe defaults (docs/SECURITY.md). */
  limits?: ServerLimits;
  /**
   * 32 bytes that seal secrets kept at rest (resetPassword's generated password, for replays). Nodes on one
   * database should share it; default: a key of this process's own, so replays after a restart answer
   * without the secret.
   */
  dataKey?: Uint8Array;
  retryAfterSeconds?: number;
  /** The longest `Prefer: wait=N` honoured (seconds); default 60. */
  maxWaitSeconds?: number;
  logger?: boolean | { level: string };
  /** Your handlers; the built-in scenario handler for Graph's actions is always registered. */
  handlers?: HandlerDefinition<never>[];
  /** Timing and outcome of the built-in scenarios. */
  scenarios?: ScenarioConfig;
  /** Worker settings, or false for a node that serves HTTP only. */
  worker?: WorkerOptions | false;
  retention?: RetentionOptions | false;
  /** Webhook subscriptions: which notification URLs may be called, and delivery settings; false turns them off. */
  webhooks?: (Partial<WebhookPolicy> & DelivererOptions) | false;
  /** Serve HTTPS (HTTP/2 and HTTP/1.1); generated URLs are then https://. */
  tls?: TlsOptions;
}

export interface StartOptions {
  /** The collection the operation is filed in; default `/operations` (also `/sites/{id}/operations`, ...). */
  collection?: string;
  /** The API version of `location`; default v1.0. */
  version?: ApiVersion;
  /** The tenant the operation belongs to; default '' (the tenant of a node without auth). */
  tenantId?: string;
  /** Overrides the handler's type (it must be one the collection holds). */
  type?: OperationTypeName;
  /** A chosen id; a new GUID otherwise. */
  id?: string;
  maxAttempts?: number;
  timeoutMs?: number;
  /** The same key again returns the operation the first start made (and starts nothing). */
  idempotencyKey?: string;
}

export interface Longrun {
  app: FastifyInstance;
  service: OperationService;
  store: OperationStore;
  registry: HandlerRegistry;
  worker?: Worker;
  retention?: RetentionPurger;
  deliverer?: WebhookDeliverer;
  /** Creates an operation run by the named handler. */
  start(handler: string, input: unknown, options?: StartOptions): Promise<OperationRecord>;
  /** Starts listening; resolves with the base URL. */
  listen(port: number, host: string): Promise<string>;
  /** Stops workers (finishing running handlers within `graceMs`), the HTTP server and the store. */
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_DB_FILE = './data/longrun.db';

export async function createLongrun(options: LongrunOptions = {}): Promise<Longrun> {
  const store: OperationStore = options.store ?? new SqliteStore({ file: options.dbFile ?? DEFAULT_DB_FILE });
  await store.migrate();
  const service = new OperationService(store, new ChangeFeed());
  const registry = new HandlerRegistry().register(scenarioHandler(options.scenarios));
  for (const h of options.handlers ?? []) registry.register(h as HandlerDefinition);
  const webhooks =
    options.webhooks === false ? undefined : { ...DEFAULT_WEBHOOK_POLICY, ...options.webhooks };
  if (webhooks) checkDelivererOptions(webhooks); // before anything starts: a bad option stops here
  const subscriptions =
    webhooks && store.subscriptions ? new SubscriptionService(store.subscriptions, webhooks) : undefined;
  const security = options.security ?? OPEN_SECURITY;
  const directory = security.directory;
  if (directory) {
    // Pairs are shared by every node on the store and kept across restarts.
    if (store.users) directory.useStore(store.users);
    if (store.moveScope) {
      // Operations filed under a UPN before its object id was known move to the object id.
      directory.onBound = async ({ tenantId, upn, objectId }) => {
        await store.moveScope!(tenantId, userScope(upn), userScope(objectId));
      };
    }
  }
  const app = await buildApp({
    service,
    subscriptions,
    security,
    publicUrl: options.publicUrl,
    trustProxy: options.trustProxy,
    secrets: options.dataKey ? createSecretBox(options.dataKey) : undefined,
    limits: options.limits,
    tls: options.tls,
    retryAfterSeconds: options.retryAfterSeconds,
    maxWaitSeconds: options.maxWaitSeconds,
    logger: options.logger ?? false,
  });
  const worker =
    options.worker === false
      ? undefined
      : new Worker(service, registry, { logger: app.log.child({ component: 'worker' }), ...options.worker });
  worker?.start();
  const retention = options.retention === false ? undefined : new RetentionPurger(service, options.retention);
  retention?.start();
  // Webhooks are delivered by nodes that run workers; HTTP-only nodes just accept subscriptions.
  const deliverer =
    subscriptions && webhooks && worker
      ? new WebhookDeliverer(subscriptions, service, webhooks, webhooks)
      : undefined;
  deliverer?.start();
  // Many nodes on one database: changes made on other nodes reach this node's waiters, streams and workers.
  // Notifications sent while the listener was reconnecting are lost: the worker looks for due work, and
  // waiters and streams catch up from the store (ChangeFeed.resync).
  const stopListening = store.listen
    ? await store.listen((change) => service.changes.publish(change), {
        onReconnect: () => {
          worker?.poke();
          service.changes.resync();
        },
      })
    : undefined;
  // Where the history stands, so that a stream which has sent nothing yet knows where to catch up from.
  const horizon = (store as { settledHorizon?: (maxAgeMs?: number) => Promise<number> }).settledHorizon;
  if (stopListening && horizon) service.changes.noteEventSeq(await horizon.call(store, 0));

  let closed = false;
  return {
    app,
    service,
    store,
    registry,
    worker,
    retention,
    deliverer,
    async start(handler, input, o = {}) {
      const definition = registry.get(handler);
      if (!definition) throw new Error(`No handler named '${handler}' is registered.`);
      const version = o.version ?? 'v1.0';
      const resolved = resolvePath((o.collection ?? '/operations').replace(/^\//, ''), version, undefined);
      if (!resolved || resolved.target.kind !== 'collection')
        throw badRequest(`'${o.collection}' is not an operations collection.`);
      const types = concreteTypesFor(resolved.family.declaredType, version);
      const { record } = await service.start(
        { tenantId: o.tenantId ?? '', scope: resolved.scope, family: resolved.family, types },
        {
          type: o.type ?? resolved.family.defaultType,
          handler,
          input,
          id: o.id,
          idempotencyKey: o.idempotencyKey,
          maxAttempts: o.maxAttempts ?? definition.maxAttempts,
          timeoutMs: o.timeoutMs ?? definition.timeoutMs,
        },
        { actor: 'library', includeUnknownEnumMembers: true },
      );
      return record;
    },
    async listen(port, host) {
      const address = await app.listen({ port, host });
      return address.replace('[::1]', 'localhost');
    },
    async close(graceMs = 10_000) {
      if (closed) return;
      closed = true;
      await worker?.stop(graceMs);
      await stopListening?.();
      await deliverer?.stop();
      await retention?.stop();
      // Waiting reads and event streams would hold the HTTP server open: they answer or end now. Their
      // connections become idle only after the server began closing, which closes idle connections just
      // once: close those as they come, or a client's keep-alive holds the close for its whole timeout.
      service.changes.close();
      // An HTTP/2 server (TLS) has no closeIdleConnections: its sessions close with the server.
      const server = app.server as { closeIdleConnections?: () => void };
      const idle = setInterval(() => server.closeIdleConnections?.(), 50);
      try {
        await app.close();
      } finally {
        clearInterval(idle);
      }
      await store.close();
    },
  };
}
