/**
 * Report export: a longrun app from end to end.
 *
 * - a handler that renders a report page by page, reporting progress and stopping when canceled;
 * - an HTTP action, `POST /v1.0/reports/{reportId}/export`, that starts it and answers 202 + Location;
 * - a client that follows the Location until the report is ready (longrun/client);
 * - in-process handles: start, get, cancel, wait, and a handle from a location.
 *
 * Run it: `npx tsx examples/report-export/main.ts`. In your own app, import from 'longrun' and
 * 'longrun/client' instead of the source paths below.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { createLongrun, defineHandler, jwtAuth, PermanentError, Type } from '../../src/index.js';
import { createClient } from '../../src/client/index.js';

const PAGES = 10;
const PAGE_MS = Number(process.env.PAGE_MS ?? 300);
const secret = 'report-export-example-secret-0123456789abcdef'; // use a real secret from your vault
const issuer = 'https://login.example.com';
const audience = 'api://reports';

const exportReport = defineHandler({
  name: 'export-report',
  input: Type.Object({
    reportId: Type.String({ minLength: 1 }),
    format: Type.Union([Type.Literal('pdf'), Type.Literal('csv')]),
  }),
  maxAttempts: 3,
  async run(ctx) {
    if (ctx.input.reportId === 'missing')
      throw new PermanentError(`No report '${ctx.input.reportId}'.`, 'reportNotFound');
    for (let page = 1; page <= PAGES; page++) {
      // Rendering a page; the signal aborts on cancel, timeout or shutdown, and the sleep rejects then.
      await sleep(PAGE_MS, undefined, { signal: ctx.signal });
      ctx.progress((page / PAGES) * 100, `page ${page} of ${PAGES}`);
    }
    return {
      resourceLocation: `https://files.example.com/reports/${ctx.input.reportId}.${ctx.input.format}`,
    };
  },
});

const dir = mkdtempSync(join(tmpdir(), 'report-export-'));
const node = await createLongrun({
  dbFile: join(dir, 'reports.db'),
  handlers: [exportReport],
  // Heartbeats (a third of the lease) also carry cancellation to the handler's signal.
  worker: { leaseMs: 3000 },
  auth: jwtAuth({ secret, issuer, audience }),
  actions: [
    {
      method: 'POST',
      path: '/reports/{reportId}/export',
      handler: 'export-report',
      permission: 'Reports.Export',
      input: ({ params, body }) => ({
        reportId: params.reportId,
        format: (body as { format?: 'pdf' | 'csv' } | undefined)?.format ?? 'pdf',
      }),
    },
  ],
});

try {
  const baseUrl = await node.listen(0, '127.0.0.1');

  // A client of your API: an application token with the action's permission, and the permission to read
  // operations in /operations (LongRun.Read.All), where the action files them.
  const token = await new SignJWT({
    roles: ['Reports.Export', 'LongRun.Read.All'],
    tid: 'contoso',
    azp: 'reporting-app',
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
  const client = createClient({
    baseUrl: `${baseUrl}/v1.0`,
    getToken: () => token,
    includeUnknownEnumMembers: true,
  });
  const poller = await client.start('/reports/q3-sales/export', { format: 'csv' });
  console.log(`action: 202 Location ${poller.serialize() && JSON.parse(poller.serialize()).operationUrl}`);
  poller.onProgress((op) => {
    const pct = 'percentageComplete' in op ? op.percentageComplete : null;
    console.log(`client: ${op.status} ${pct ?? ''}% ${op.statusDetail ?? ''}`.trim());
  });
  // The poller follows the operation's event stream (the GET advertises it), so it sees every step.
  const done = await poller.pollUntilDone();
  console.log(`client: done ${done.status} ${done.resourceLocation}`);

  // In-process: start, get, cancel, wait.
  const op = await node.start('export-report', { reportId: 'r1', format: 'pdf' });
  console.log(`start: ${op.id} at ${op.location}`);
  console.log(`get: ${(await op.get()).status}`);
  await op.cancel();
  const canceled = await op.wait({ timeoutMs: 60_000 });
  console.log(`cancel: ${canceled.status}`);
  console.log(`operation(location): ${(await node.operation(op.location).get()).status}`);

  const missing = await (await node.start('export-report', { reportId: 'missing', format: 'pdf' })).wait();
  console.log(`permanent error: ${missing.status} ${'error' in missing ? missing.error?.code : ''}`);
} finally {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
}
