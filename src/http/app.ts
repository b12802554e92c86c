/**
 * The Fastify application: Graph's headers and error envelope on every response, the operations routes
 * under /v1.0 and /beta, and health checks.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { GraphError } from '../model/errors.js';
import type { OperationService } from '../service/operation-service.js';
import { sendGraphError, toGraphError } from './errors.js';
import { operationsRoute } from './operations-route.js';
import { OPEN_SECURITY, type Security } from './security.js';

export interface AppOptions {
  service: OperationService;
  security?: Security;
  publicUrl?: string;
  /** Retry-After (seconds) on reads of unfinished operations; default 1. */
  retryAfterSeconds?: number;
  /** The longest `Prefer: wait=N` honoured, in seconds; default 60. */
  maxWaitSeconds?: number;
  logger?: FastifyServerOptions['logger'];
  /** Log a line per request (default off). */
  logRequests?: boolean;
}

export const BODY_LIMIT = 1024 * 1024;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    trustProxy: true,
    genReqId: () => randomUUID(),
    // Graph's name for it; per-request logs are off by default (they cost more than the request).
    logController: new LogController({
      requestIdLogLabel: 'request-id',
      disableRequestLogging: !options.logRequests,
    }),
    // OData URLs carry parentheses, quotes and colons; the operations route parses paths itself.
    routerOptions: { maxParamLength: 2048, ignoreDuplicateSlashes: false },
  });

  // Only JSON bodies are accepted; without this, Fastify would parse text/plain into a string.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    reply.header('request-id', request.id);
    const clientRequestId = request.headers['client-request-id'];
    if (typeof clientRequestId === 'string') reply.header('client-request-id', clientRequestId);
    reply.header('OData-Version', '4.0');
    reply.header('Cache-Control', 'no-store');
  });

  app.setErrorHandler((error, request, reply) => {
    const graphError = toGraphError(error);
    if (graphError.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendGraphError(request, reply, graphError);
  });

  app.setNotFoundHandler((request, reply) =>
    sendGraphError(
      request,
      reply,
      new GraphError(404, 'itemNotFound', `No resource at '${request.url.split('?')[0]}'.`),
    ),
  );

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

  for (const version of ['v1.0', 'beta'] as const) {
    operationsRoute(app, {
      version,
      service: options.service,
      security: options.security ?? OPEN_SECURITY,
      publicUrl: options.publicUrl?.replace(/\/$/, ''),
      retryAfterSeconds: options.retryAfterSeconds ?? 1,
      maxWaitSeconds: options.maxWaitSeconds ?? 60,
    });
  }
  return app;
}
