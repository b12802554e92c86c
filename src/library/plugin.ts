/**
 * longrun inside an existing Fastify app: `await app.register(longrunPlugin, options)` serves the Graph
 * routes (/v1.0/..., /beta/..., your actions) from the user's server, and decorates the app with the node
 * (`app.longrun.start(...)`). The node keeps its own Fastify instance, which never listens: requests under
 * the two prefixes are handed to it whole (raw request and response), so its body parsing, Graph errors,
 * authentication and loopback-only default apply unchanged, and the host app's parsers and error handler
 * stay the host's.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { createLongrun, type CreateLongrunOptions, type LongrunNode } from './create.js';
import type { AnyHandler } from './define-handler.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The longrun node longrunPlugin registered (typed loosely: keep your own typed reference for `start`). */
    longrun: LongrunNode<readonly AnyHandler[]>;
  }
}

async function plugin(
  app: FastifyInstance,
  options: CreateLongrunOptions<readonly AnyHandler[]>,
): Promise<void> {
  const node = await createLongrun(options);
  const inner = node.app;
  await inner.ready();
  app.decorate('longrun', node);
  app.addHook('onClose', async () => node.close());
  // A child context, so that leaving bodies unparsed applies to these routes only.
  await app.register(async (child) => {
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('*', (_request, _payload, done) => done(null));
    for (const prefix of ['/v1.0', '/beta']) {
      child.all(`${prefix}/*`, async (request, reply) => {
        reply.hijack();
        inner.routing(request.raw, reply.raw);
      });
    }
  });
}

// Registered at the host app's level (as fastify-plugin does), so `app.longrun` is visible to it.
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

/** `await app.register(longrunPlugin, { handlers, actions, auth, ... })`: the options of createLongrun. */
export const longrunPlugin: FastifyPluginAsync<CreateLongrunOptions<readonly AnyHandler[]>> = plugin;
