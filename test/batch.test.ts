/**
 * JSON batching (`POST /{version}/$batch`) against a real server with auth on: GET/POST/PATCH/DELETE in one
 * batch, responses in request order with status, headers and JSON bodies, `dependsOn` ordering, 424 when a
 * dependency failed, the batch's Authorization carried to every request, the 20-request limit and the
 * other 400s, the exact shape a Graph SDK batch helper sends (url with and without a leading slash), and
 * Microsoft's Graph SDK (Kiota) BatchRequestContent end to end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthenticationProvider, RequestInformation } from '@microsoft/kiota-abstractions';
import { createGraphServiceClient, GraphRequestAdapter } from '@microsoft/msgraph-sdk';
import { BatchRequestContent } from '@microsoft/msgraph-sdk-core';
import '@microsoft/msgraph-sdk-sites';
import type { RichLongRunningOperation } from '@microsoft/msgraph-sdk/models/index.js';
import { createODataErrorFromDiscriminatorValue } from '@microsoft/msgraph-sdk/models/oDataErrors/index.js';
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
  keyDir = mkdtempSync(join(tmpdir(), 'longrun-batch-'));
  config = await resolveAuthConfig(
    { authSecret: 'batch-test-secret-0123456789-abcdefghijklmnopq' },
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

async function batch(
  body: unknown,
  options: { version?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; responses: Step[]; headers: Headers }> {
  const res = await server.request('POST', `/${options.version ?? 'v1.0'}/$batch`, {
    body,
    headers: { authorization: `Bearer ${token}`, ...options.headers },
  });
  const json = (await res.json()) as any;
  return { status: res.status, body: json, responses: json.responses ?? [], headers: res.headers };
}

const create = async (path: string, body: Record<string, unknown> = {}) => {
  const res = await server.request('POST', path, { body, headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; [k: string]: unknown };
};

describe('POST /v1.0/$batch', () => {
  it('answers the shape a Graph SDK batch helper sends, url with and without a leading slash', async () => {
    const op = await create('/v1.0/operations');
    const res = await batch({
      requests: [
        { id: '1', method: 'GET', url: `/operations/${op.id}` },
        { id: '2', method: 'GET', url: `operations/${op.id}` },
        { id: '3', method: 'GET', url: `/operations('${op.id}')?$select=id,status` },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(res.body)).toEqual(['responses']);
    expect(res.responses.map((r) => [r.id, r.status])).toEqual([
      ['1', 200],
      ['2', 200],
      ['3', 200],
    ]);
    for (const r of res.responses) {
      expect(Object.keys(r)).toEqual(['id', 'status', 'headers', 'body']);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.headers['retry-after']).toBe('1');
      expect(r.body.id).toBe(op.id); // a JSON object, not a string
      expect(r.body['@odata.context']).toContain(`${server.url}/v1.0/$metadata#operations`);
    }
    expect(Object.keys(res.responses[2].body)).toEqual([
      '@odata.context',
      '@odata.type',
      '@odata.etag',
      'id',
      'status',
    ]);
  });

  it('runs GET, POST, PATCH and DELETE; dependsOn orders them; responses keep request order', async () => {
    const site = '/sites/site-b1/operations';
    const res = await batch({
      requests: [
        {
          id: 'create',
          method: 'POST',
          url: site,
          headers: { 'Content-Type': 'application/json' },
          body: { id: 'op-b1', type: 'copy', percentageComplete: 0 },
        },
        {
          id: 'progress',
          method: 'PATCH',
          url: `${site}/op-b1`,
          headers: { 'content-type': 'application/json', Prefer: 'return=minimal' },
          body: { status: 'running', percentageComplete: 50 },
          dependsOn: ['create'],
        },
        {
          id: 'finish',
          method: 'PATCH',
          url: `${site}/op-b1`,
          headers: { 'Content-Type': 'application/json' },
          body: { status: 'succeeded', percentageComplete: 100, resourceLocation: 'https://example.test/r' },
          dependsOn: ['progress'],
        },
        { id: 'read', method: 'GET', url: `${site}/op-b1`, dependsOn: ['finish'] },
        { id: 'count', method: 'GET', url: `${site}/$count`, dependsOn: ['finish'] },
        { id: 'delete', method: 'DELETE', url: `${site}/op-b1`, dependsOn: ['read', 'count'] },
        { id: 'gone', method: 'GET', url: `${site}/op-b1`, dependsOn: ['delete'] },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.responses.map((r) => [r.id, r.status])).toEqual([
      ['create', 201],
      ['progress', 204],
      ['finish', 200],
      ['read', 200],
      ['count', 200],
      ['delete', 204],
      ['gone', 404],
    ]);
    const [created, progress, finished, read, count, deleted, gone] = res.responses;
    expect(created.headers.location).toBe(`${server.url}/v1.0${site}/op-b1`);
    expect(created.body).toMatchObject({ id: 'op-b1', status: 'notStarted', percentageComplete: 0 });
    expect(progress.body).toBeUndefined();
    expect(progress.headers['preference-applied']).toBe('return=minimal');
    expect(finished.body).toMatchObject({ status: 'succeeded', percentageComplete: 100 });
    expect(read.body).toMatchObject({ status: 'succeeded', resourceLocation: 'https://example.test/r' });
    expect(count.body).toBe('1'); // text/plain stays a string
    expect(deleted.body).toBeUndefined();
    expect(gone.body.error.code).toBe('itemNotFound');
  });

  it('answers 424 Failed Dependency for requests whose dependency failed, transitively', async () => {
    const res = await batch({
      requests: [
        { id: 'a', method: 'GET', url: '/operations/does-not-exist' },
        { id: 'b', method: 'POST', url: '/operations', body: { id: 'never-created' }, dependsOn: ['a'] },
        { id: 'c', method: 'GET', url: '/operations', dependsOn: ['b'] },
        { id: 'd', method: 'GET', url: '/operations' },
      ],
    });
    expect(res.responses.map((r) => [r.id, r.status])).toEqual([
      ['a', 404],
      ['b', 424],
      ['c', 424],
      ['d', 200],
    ]);
    expect(res.responses[1].body.error).toMatchObject({ code: 'failedDependency' });
    expect(res.responses[1].body.error.message).toContain("'a'");
    expect(res.responses[2].body.error.message).toContain("'b'");
    // The skipped POST created nothing.
    const skipped = await server.request('GET', '/v1.0/operations/never-created', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(skipped.status).toBe(404);
  });

  it("carries the batch's Authorization and client-request-id to every request", async () => {
    // No token: the batch itself is refused.
    const anonymous = await server.request('POST', '/v1.0/$batch', {
      body: { requests: [{ id: '1', method: 'GET', url: '/operations' }] },
    });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as any).error.code).toBeTruthy();

    // A token allowed to read sites but not longrun's own operations; a request's own Authorization is ignored.
    const sitesOnly = await mintToken(config, {
      ...DEV_TOKEN_DEFAULTS,
      scopes: ['Sites.Read.All'],
      wids: [],
    });
    const res = await batch(
      {
        requests: [
          { id: '1', method: 'GET', url: '/sites/s9/operations' },
          { id: '2', method: 'GET', url: '/operations', headers: { Authorization: `Bearer ${token}` } },
          { id: '3', method: 'GET', url: '/sites/s9/operations', headers: { 'client-request-id': 'own-id' } },
        ],
      },
      { headers: { authorization: `Bearer ${sitesOnly}`, 'client-request-id': 'outer-id' } },
    );
    expect(res.status).toBe(200);
    expect(res.responses.map((r) => r.status)).toEqual([200, 403, 200]);
    expect(res.responses[0].headers['client-request-id']).toBe('outer-id');
    expect(res.responses[1].body.error.innerError['client-request-id']).toBe('outer-id');
    expect(res.responses[2].headers['client-request-id']).toBe('own-id');
    expect(res.headers.get('client-request-id')).toBe('outer-id');
  });

  it('works under /beta, with beta-only routes', async () => {
    const res = await batch(
      { requests: [{ id: '1', method: 'GET', url: 'external/industryData/operations' }] },
      { version: 'beta' },
    );
    expect(res.responses[0].status).toBe(200);
    expect(res.responses[0].body['@odata.context']).toContain(
      '/beta/$metadata#external/industryData/operations',
    );
    const v1 = await batch({
      requests: [{ id: '1', method: 'GET', url: 'external/industryData/operations' }],
    });
    expect(v1.responses[0].status).toBe(404);
  });

  it('answers errors of one request in its response, not as a failed batch', async () => {
    const res = await batch({
      requests: [
        { id: '1', method: 'POST', url: '/operations', body: { status: 'bogus' } },
        { id: '2', method: 'GET', url: 'https://graph.microsoft.com/v1.0/operations' },
        { id: '3', method: 'POST', url: '/$batch', body: { requests: [] } },
        { id: '4', method: 'PUT', url: '/operations' },
        {
          id: '5',
          method: 'POST',
          url: '/operations',
          headers: { 'content-type': 'text/plain' },
          body: 'hi',
        },
        // Nothing outside the version root is reachable, however the path is spelled.
        { id: '6', method: 'GET', url: '/../metrics' },
        { id: '7', method: 'GET', url: '%2e%2e/healthz' },
        { id: '8', method: 'GET', url: '/..\\healthz' },
        { id: '9', method: 'GET', url: '/operations/%zz' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.responses.map((r) => r.status)).toEqual([400, 400, 400, 405, 415, 400, 400, 400, 400]);
    for (const r of res.responses) expect(r.body.error.code).toBeTruthy();
  });

  it('refuses malformed batches with 400', async () => {
    const many = Array.from({ length: 21 }, (_, i) => ({
      id: String(i + 1),
      method: 'GET',
      url: '/operations',
    }));
    const cases: [unknown, RegExp][] = [
      [{ requests: many }, /at most 20/],
      [{ requests: [] }, /no requests/],
      [{}, /requests/],
      [[], /requests/],
      [{ requests: [{ id: '1', method: 'GET' }] }, /url/],
      [{ requests: [{ id: 1, method: 'GET', url: '/operations' }] }, /id/],
      [
        {
          requests: [
            { id: '1', method: 'GET', url: '/operations' },
            { id: '1', method: 'GET', url: '/operations' },
          ],
        },
        /used twice/,
      ],
      [
        {
          requests: [
            { id: '1', method: 'GET', url: '/operations', dependsOn: ['2'] },
            { id: '2', method: 'GET', url: '/operations' },
          ],
        },
        /not an earlier request/,
      ],
      [
        { requests: [{ id: '1', method: 'GET', url: '/operations', dependsOn: ['1'] }] },
        /not an earlier request/,
      ],
      [{ requests: [{ id: '1', method: 'CONNECT', url: '/operations' }] }, /can't be batched/],
      [{ requests: [{ id: '1', method: 'GET', url: '/operations', headers: { a: 1 } }] }, /headers/],
    ];
    for (const [body, message] of cases) {
      const res = await batch(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error.code).toBe('invalidRequest');
      expect(res.body.error.message).toMatch(message);
    }
    // Exactly 20 is fine.
    const twenty = await batch({ requests: many.slice(0, 20) });
    expect(twenty.status).toBe(200);
    expect(twenty.responses).toHaveLength(20);
  });
});

describe("Microsoft Graph SDK's batch helper", () => {
  it('sends a BatchRequestContent (GET, POST with a base64 body, a 404) and reads statuses by id', async () => {
    const bearer: AuthenticationProvider = {
      async authenticateRequest(request: RequestInformation) {
        request.headers.tryAdd('Authorization', `Bearer ${token}`);
      },
    };
    const adapter = new GraphRequestAdapter(bearer);
    adapter.baseUrl = `${server.url}/v1.0`;
    const client = createGraphServiceClient(adapter);
    const operations = client.sites.bySiteId('sdk-site').operations;
    const created = await operations.post({
      odataType: '#microsoft.graph.richLongRunningOperation',
      percentageComplete: 5,
    } as RichLongRunningOperation);

    const content = new BatchRequestContent(adapter, { XXX: createODataErrorFromDiscriminatorValue });
    content.addBatchRequest(
      operations.byRichLongRunningOperationId(created!.id!).toGetRequestInformation(),
      'read',
    );
    content.addBatchRequest(
      operations.toPostRequestInformation({
        odataType: '#microsoft.graph.richLongRunningOperation',
        id: 'from-sdk-batch',
        percentageComplete: 7,
      } as RichLongRunningOperation),
      'create',
    );
    content.addBatchRequest(
      operations.byRichLongRunningOperationId('missing').toGetRequestInformation(),
      'missing',
    );
    const response = await content.postAsync();
    expect(await response!.getResponsesStatusCodes()).toEqual(
      new Map([
        ['read', 200],
        ['create', 201],
        ['missing', 404],
      ]),
    );
    // The POST's body (base64, as the SDK sends it) reached the service.
    const read = await operations.byRichLongRunningOperationId('from-sdk-batch').get();
    expect(read).toMatchObject({ id: 'from-sdk-batch', percentageComplete: 7 });
  });
});
