/**
 * Assembles a longrun node from its parts: a store, the service over it, and the HTTP app. This is
 * what `longrun serve` runs and what an application embeds.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from './http/app.js';
import { OPEN_SECURITY, type Security } from './http/security.js';
import { ChangeFeed } from './service/changes.js';
import { OperationService } from './service/operation-service.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { OperationStore } from './store/store.js';

export interface LongrunOptions {
  /** A store; defaults to the SQLite file `dbFile`. */
  store?: OperationStore;
  /** SQLite file used when no store is given. Default ./data/longrun.db. */
  dbFile?: string;
  security?: Security;
  publicUrl?: string;
  retryAfterSeconds?: number;
  logger?: boolean | { level: string };
}

export interface Longrun {
  app: FastifyInstance;
  service: OperationService;
  store: OperationStore;
  /** Starts listening; resolves with the base URL. */
  listen(port: number, host: string): Promise<string>;
  close(): Promise<void>;
}

export const DEFAULT_DB_FILE = './data/longrun.db';

export async function createLongrun(options: LongrunOptions = {}): Promise<Longrun> {
  const store = options.store ?? new SqliteStore({ file: options.dbFile ?? DEFAULT_DB_FILE });
  await store.migrate();
  const service = new OperationService(store, new ChangeFeed());
  const app = await buildApp({
    service,
    security: options.security ?? OPEN_SECURITY,
    publicUrl: options.publicUrl,
    retryAfterSeconds: options.retryAfterSeconds,
    logger: options.logger ?? false,
  });
  let closed = false;
  return {
    app,
    service,
    store,
    async listen(port, host) {
      const address = await app.listen({ port, host });
      return address.replace('[::1]', 'localhost');
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await store.close();
    },
  };
}
