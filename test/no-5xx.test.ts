/**
 * No input may produce a 5xx: a few hundred malformed and hostile requests (paths, query options, bodies,
 * headers) against every route family, each of which must get a Graph-style 4xx (or a success).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  await server.request('POST', '/v1.0/operations', { body: { id: 'known' } });
});
afterAll(() => server.close());

/** A small deterministic PRNG so failures reproduce. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const PATHS = [
  '/v1.0/operations',
  '/v1.0/operations/known',
  "/v1.0/operations('known')",
  '/beta/identityGovernance/roleManagementAlerts/operations',
  '/beta/external/industryData/operations/x',
  '/v1.0/users/a/authentication/operations',
  '/v1.0/me/authentication/operations/$count',
  '/v1.0/sites/s/lists/l/operations/x/cancel',
  "/beta/sites/getOperationStatus(operationId='x')",
  '/v1.0/security/attackSimulation/simulations',
  '/beta/sites',
  '/v1.0/employeeExperience/communities',
  '/v1.0/operations/known/events',
];
const QUERIES = [
  "$filter=status eq 'running' and (",
  '$filter=' + '('.repeat(500) + "status eq 'running'" + ')'.repeat(500),
  '$filter=' + Array.from({ length: 300 }, () => "status eq 'running'").join(' or '),
  '$filter=status in (' + Array.from({ length: 1000 }, (_, i) => `'s${i}'`).join(',') + ')',
  '$filter=createdDateTime gt 9999-99-99T99:99:99Z',
  '$filter=percentageComplete gt 99999999999999999999',
  "$filter=startswith(status, 'x')",
  '$orderby=id,id',
  '$orderby=' + Array.from({ length: 50 }, () => 'id').join(','),
  '$top=-1',
  '$top=1e3',
  '$skiptoken=' + Buffer.from('{"v":[{"a":1}],"s":"x"}').toString('base64url'),
  '$skiptoken=%ZZ',
  '$select=' + 'a,'.repeat(2000),
  '$count=true&$count=false',
  '%',
  '$filter=%00',
  "$filter=id eq '" + 'x'.repeat(100_000) + "'",
];
const BODIES = [
  '{',
  '[]',
  'null',
  '"text"',
  '123',
  '{"status":null}',
  '{"status":5}',
  '{"id":""}',
  '{"id":"' + 'x'.repeat(10_000) + '"}',
  '{"percentageComplete":1.5}',
  '{"error":{"details":[null]}}',
  '{"errors":[{"code":1}]}',
  '{"@odata.type":"#microsoft.graph.nope"}',
  '{"lastActionDateTime":"2024-02-31T00:00:00Z"}',
  '{"__proto__":{"x":1}}',
  '{"contentTypeId":"0x' + 'F'.repeat(600) + '"}',
  '{"newPassword":123}',
  '{"displayName":"d","description":"d","privacy":"secret"}',
  '{"name":"n","webUrl":"javascript:alert(1)","template":"sts"}',
];
const METHODS = ['GET', 'POST', 'PATCH', 'DELETE', 'PUT'];

describe('no 5xx', () => {
  it('answers every hostile request with a Graph-style 4xx or a success', async () => {
    const random = rng(42);
    const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
    const failures: string[] = [];
    for (let i = 0; i < 400; i++) {
      const method = pick(METHODS);
      const path = pick(PATHS) + (random() < 0.6 ? '?' + pick(QUERIES) : '');
      const body = method === 'GET' || method === 'DELETE' ? undefined : pick(BODIES);
      const headers: Record<string, string> = {};
      if (body !== undefined)
        headers['content-type'] = random() < 0.9 ? 'application/json' : 'application/x-www-form-urlencoded';
      if (random() < 0.2)
        headers.prefer = pick(['wait=abc', 'wait=0', 'include-unknown-enum-members', 'return=minimal,,;']);
      if (random() < 0.1) headers['last-event-id'] = pick(['-1', '99999999999999999999', 'x']);
      const res = await fetch(server.url + path, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(10_000),
      }).catch((e: Error) => ({ status: 599, text: async () => e.message }) as unknown as Response);
      if (res.status >= 500)
        failures.push(
          `${method} ${path.slice(0, 120)} ${body?.slice(0, 80)} → ${res.status} ${await res.text()}`,
        );
      else if (res.status >= 400) {
        const payload = (await res.json()) as { error?: { code?: string } };
        if (!payload.error?.code)
          failures.push(`${method} ${path.slice(0, 120)} → ${res.status} without a Graph error`);
      } else if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
        await res.body?.cancel();
      } else {
        await res.arrayBuffer();
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('malformed URLs', () => {
  it('answers a URL Fastify cannot decode with a Graph error', async () => {
    const res = await fetch(`${server.url}/v1.0/%zz`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalidRequest');
    expect(res.headers.get('request-id')).toBeTruthy();
  });
});
