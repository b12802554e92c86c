/**
 * The dashboard at `/`: its page, stylesheet and compiled script (dist/dashboard/app.js), all from this
 * server, never a CDN. The files need no token; the data calls the page makes do.
 */
import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DASHBOARD_CSS, DASHBOARD_HTML } from '../dashboard/page.js';
import { GraphError } from '../model/errors.js';

const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";

/** The compiled script: beside this module once built, or in dist/ when running from the sources (tests). */
function loadScript(): string | undefined {
  for (const candidate of ['../dashboard/app.js', '../../dist/dashboard/app.js']) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  return undefined;
}

export function dashboardRoute(app: FastifyInstance): void {
  let script: string | undefined;
  app.get('/', async (_request, reply) =>
    reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(DASHBOARD_HTML),
  );
  app.get('/dashboard/app.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').send(DASHBOARD_CSS),
  );
  app.get('/dashboard/app.js', async (_request, reply) => {
    script ??= loadScript();
    if (!script)
      throw new GraphError(404, 'itemNotFound', 'The dashboard script is not built; run npm run build.');
    return reply.type('text/javascript; charset=utf-8').send(script);
  });
}
