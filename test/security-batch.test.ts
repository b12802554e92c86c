/**
 * `$batch` hardening (issue 13, items 3 and 4), against a real server on a real port with auth on: a step's
 * url can't leave the version root or name `$batch` again, however it is spelled; event streams and long
 * `Prefer: wait` are refused inside a batch; and when the batch's client goes away, the running steps are
 * aborted and no further step starts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig, type AuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
let keyDir: string;
let config: AuthConfig;
let token: string;

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), 'longrun-secbatch-'));
  config = await resolveAuthConfig(
    { authSecret: 'security-batch-secret-0123456789-abcdefghijkl' },
    {},
    keyDir,
  );
  server = await startTestServer({ security: securityFor(config), worker: false, retention: false });
  token = await mintToken(config, DEV_TOKEN_DEFAULTS);
});
afterAll(async () => {
  await server?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

interface Step {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: any;
}

async function batch(requests: unknown[], version = 'v1.0'): Promise<Step[]> {
  const res = await server.request('POST', `/${version}/$batch`, {
    body: { requests },
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { responses: Step[] }).responses;
}

const createOperation = async () => {
  const res = await server.request('POST', '/v1.0/operations', {
    body: {},
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
};

describe('batch step urls stay under the version root', () => {
  // Each of these reached /metrics, /dashboard, /healthz, /openapi.json or another version's routes.
  const escapes = [
    '/.\t./metrics',
    '.\t./metrics',
    '/.\n./healthz',
    '/..\r/dashboard/app.js',
    '/..\u007f/metrics',
    '../metrics',
    '/../../metrics',
    '/operations/../../metrics',
    '/%2e%2e/metrics',
    '/.%2E/openapi.json',
    '/%2e%2e/beta/operations',
    ' /../metrics',
    '/..\\metrics',
    '//evil.example/v1.0/operations',
    'http://x/metrics',
  ];
  for (const url of escapes) {
    it(`refuses ${JSON.stringify(url)} with a 400 on that step`, async () => {
      const [step] = await batch([{ id: '1', method: 'GET', url }]);
      expect(step.status).toBe(400);
      expect(step.body.error.code).toBe('invalidRequest');
      expect(step.body.error.message).toMatch(/url/i);
    });
  }

  it('never answers a step with the metrics, whatever the router makes of an encoded slash', async () => {
    const responses = await batch([
      { id: '1', method: 'GET', url: '/..%2fmetrics' },
      { id: '2', method: 'GET', url: '/%2e%2e%2fmetrics' },
      { id: '3', method: 'GET', url: '/..%5cmetrics' },
    ]);
    for (const step of responses) {
      expect(step.status).toBeGreaterThanOrEqual(400);
      expect(step.status).toBeLessThan(500);
      expect(JSON.stringify(step.body ?? '')).not.toMatch(/process_cpu|longrun_/);
    }
  });

  const nested = [
    '$batch',
    '/$batch',
    '%24batch',
    '/%24BATCH',
    '/$Batch/',
    '/$batch;x=1',
    '/$batch?x=1',
    './$batch',
    '/operations/../$batch',
    '/operations/%2e%2e/%24batch',
    '/../v1.0/$batch',
  ];
  for (const url of nested) {
    it(`refuses the nested batch ${JSON.stringify(url)}`, async () => {
      const [step] = await batch([
        {
          id: '1',
          method: 'POST',
          url,
          body: { requests: [{ id: 'a', method: 'GET', url: '/operations' }] },
        },
      ]);
      expect(step.status).toBe(400);
      expect(step.body.error.message).toBe('A batch cannot contain another $batch.');
    });
  }

  it('refuses a step that climbs from beta into v1.0', async () => {
    const [step] = await batch([{ id: '1', method: 'GET', url: '../v1.0/operations' }], 'beta');
    expect(step.status).toBe(400);
  });

  it('still runs the urls a Graph client sends: leading slash or not, keys, queries, dot-free ids', async () => {
    const id = await createOperation();
    const responses = await batch([
      { id: '1', method: 'GET', url: `/operations/${id}` },
      { id: '2', method: 'GET', url: `operations('${id}')?$select=id,status` },
      { id: '3', method: 'GET', url: `/operations?$filter=status eq 'notStarted'&$top=1` },
      { id: '4', method: 'GET', url: `/operations/x/../${id}` },
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(responses[0].body.id).toBe(id);
    expect(Object.keys(responses[1].body)).toEqual([
      '@odata.context',
      '@odata.type',
      '@odata.etag',
      'id',
      'status',
    ]);
    expect(responses[2].body.value).toHaveLength(1);
    expect(responses[3].body.id).toBe(id);
  });
});

describe('streams and long waits inside a batch', () => {
  it('refuses event streams on that step, in any spelling, and runs the other steps', async () => {
    const id = await createOperation();
    const responses = await batch([
      { id: '1', method: 'GET', url: '/operations/events' },
      { id: '2', method: 'GET', url: `/operations/${id}/events` },
      { id: '3', method: 'GET', url: `/operations('${id}')/ev%65nts/` },
      { id: '4', method: 'GET', url: `/operations/${id}` },
    ]);
    expect(responses.map((r) => r.status)).toEqual([400, 400, 400, 200]);
    expect(responses[0].body.error.message).toMatch(/event stream cannot be read inside a \$batch/);
  });

  it('refuses Prefer: wait above 5 seconds on that step and honours up to 5', async () => {
    const id = await createOperation();
    await server.request('PATCH', `/v1.0/operations/${id}`, {
      body: { status: 'succeeded' },
      headers: { authorization: `Bearer ${token}` },
    });
    const responses = await batch([
      { id: '1', method: 'GET', url: `/operations/${id}`, headers: { prefer: 'wait=6' } },
      { id: '2', method: 'GET', url: `/operations/${id}`, headers: { Prefer: 'return=minimal, wait=3600' } },
      { id: '3', method: 'GET', url: `/operations/${id}`, headers: { prefer: 'wait=5' } },
    ]);
    expect(responses.map((r) => r.status)).toEqual([400, 400, 200]);
    expect(responses[0].body.error.message).toMatch(/at most 5 seconds/);
    expect(responses[2].body.status).toBe('succeeded');
  });

  it('aborts the running steps when the client leaves, and starts no step after that', async () => {
    const id = await createOperation();
    // Watch the real app: which steps it is asked to run, and when the waiting step lets go of its
    // subscription to the operation's changes.
    const changes = server.node.service.changes;
    const subscribe = changes.subscribeOperation.bind(changes);
    let waiting = 0;
    let released = 0;
    changes.subscribeOperation = (key, listener) => {
      const unsubscribe = subscribe(key, listener);
      if (key.id !== id) return unsubscribe;
      waiting++;
      return () => {
        released++;
        unsubscribe();
      };
    };
    const app = server.node.app;
    const inject = app.inject.bind(app);
    const injected: string[] = [];
    let settled = 0;
    (app as any).inject = async (options: any) => {
      injected.push(`${options.method} ${options.url}`);
      try {
        return await inject(options);
      } finally {
        settled++;
      }
    };
    try {
      const controller = new AbortController();
      const pending = fetch(`${server.url}/v1.0/$batch`, {
        method: 'POST',
        signal: controller.signal,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          requests: [
            { id: 'wait', method: 'GET', url: `/operations/${id}`, headers: { prefer: 'wait=5' } },
            { id: 'after', method: 'POST', url: '/operations', body: {}, dependsOn: ['wait'] },
          ],
        }),
      }).catch(() => undefined);
      await until(() => waiting === 1);
      expect(released).toBe(0); // the step is holding the read
      controller.abort();
      await pending;
      await until(() => released === 1 && settled === 1);
      await new Promise((resolve) => setImmediate(resolve)); // what follows the step's end has run
      expect(injected).toEqual([`GET /v1.0/operations/${id}`]);
      const list = await server.request('GET', '/v1.0/operations', {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(((await list.json()) as { value: { id: string }[] }).value.map((o) => o.id)).not.toContain(
        undefined,
      );
    } finally {
      changes.subscribeOperation = subscribe;
      (app as any).inject = inject;
    }
  });
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}
