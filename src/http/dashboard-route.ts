/**
 * The dashboard at `/`: its page, stylesheet and compiled script (dist/dashboard/app.js), all from this
 * server, never a CDN. The files need no token; the data calls the page makes do.
 */
import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
import { DASHBOARD_CSS, DASHBOARD_HTML } from '../dashboard/page.js';
import { GraphError } from '../model/errors.js';

const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";

/** A compiled script: beside this module once built, or in dist/ when running from the sources (tests). */
function loadScript(name: string): string | undefined {
  for (const candidate of [`../dashboard/${name}`, `../../dist/dashboard/${name}`]) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  return undefined;
}

export function dashboardRoute(app: FastifyInstance): void {
  app.get('/', async (_request, reply) =>
    reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(DASHBOARD_HTML),
  );
  app.get('/dashboard/app.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').send(DASHBOARD_CSS),
  );
  const scripts = new Map<string, string>();
  for (const name of ['app.js', 'console.js']) {
    app.get(`/dashboard/${name}`, async (_request, reply) => {
      const script = scripts.get(name) ?? loadScript(name);
      if (!script)
        throw new GraphError(404, 'itemNotFound', 'The dashboard script is not built; run npm run build.');
      scripts.set(name, script);
      return reply.type('text/javascript; charset=utf-8').send(script);
    });
  }
  // The charting library, from the installed npm package: served by longrun, never a CDN.
  const vendor = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8');
  let uplotJs: string | undefined;
  let uplotCss: string | undefined;
  app.get('/dashboard/uplot.js', async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send((uplotJs ??= vendor('uPlot.iife.min.js'))),
  );
  app.get('/dashboard/uplot.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').send((uplotCss ??= vendor('uPlot.min.css'))),
  );
}
