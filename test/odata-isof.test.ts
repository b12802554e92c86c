/**
 * `$filter=isof('microsoft.graph.x')` (and `isof($it, '...')`) on the operations collections, over real HTTP
 * against a real SQLite file: the operation is of that type or one derived from it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
const ids: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer({ worker: false });
  for (const type of ['longRunningOperation', 'richLongRunningOperation', 'attackSimulationOperation']) {
    const res = await server.request('POST', '/v1.0/operations', {
      body: {
        '@odata.type': `#microsoft.graph.${type}`,
        status: type === 'attackSimulationOperation' ? 'failed' : 'running',
      },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    ids[type] = ((await res.json()) as { id: string }).id;
  }
  const site = await server.request('POST', '/v1.0/sites/s1/operations', { body: {} });
  expect(site.status).toBe(201);
});

afterAll(() => server?.close());

async function filtered(filter: string, collection = '/v1.0/operations') {
  const res = await server.request('GET', `${collection}?$filter=${encodeURIComponent(filter)}`);
  const body = (await res.json()) as {
    value?: { id: string; '@odata.type': string }[];
    error?: { code: string; message: string };
  };
  return { status: res.status, body, types: (body.value ?? []).map((o) => o['@odata.type']).sort() };
}

describe("$filter with OData's isof", () => {
  it('selects the operations of a type and its subtypes', async () => {
    expect((await filtered("isof('microsoft.graph.richLongRunningOperation')")).types).toEqual([
      '#microsoft.graph.richLongRunningOperation',
    ]);
    expect((await filtered("isof($it, 'microsoft.graph.attackSimulationOperation')")).types).toEqual([
      '#microsoft.graph.attackSimulationOperation',
    ]);
    // Every operation is a longRunningOperation.
    expect((await filtered("isof('microsoft.graph.longRunningOperation')")).types).toHaveLength(3);
  });

  it('combines with not, and, or', async () => {
    expect((await filtered("not isof('microsoft.graph.richLongRunningOperation')")).types).toEqual([
      '#microsoft.graph.attackSimulationOperation',
      '#microsoft.graph.longRunningOperation',
    ]);
    expect(
      (await filtered("status eq 'running' and not isof('microsoft.graph.richLongRunningOperation')")).types,
    ).toEqual(['#microsoft.graph.longRunningOperation']);
    expect(
      (
        await filtered(
          "isof('microsoft.graph.attackSimulationOperation') or isof($it,'microsoft.graph.richLongRunningOperation')",
        )
      ).types,
    ).toEqual(['#microsoft.graph.attackSimulationOperation', '#microsoft.graph.richLongRunningOperation']);
  });

  it('works on every collection, by its own types', async () => {
    const sites = '/v1.0/sites/s1/operations';
    expect((await filtered("isof('microsoft.graph.richLongRunningOperation')", sites)).types).toHaveLength(1);
    expect((await filtered("isof('microsoft.graph.attackSimulationOperation')", sites)).types).toEqual([]);
  });

  it('refuses what is not a type name with a 400', async () => {
    for (const filter of [
      "isof('microsoft.graph.user')",
      'isof(42)',
      'isof($it)',
      "isof(status, 'microsoft.graph.richLongRunningOperation')",
      "isof('microsoft.graph.richLongRunningOperation'",
    ]) {
      const res = await filtered(filter);
      expect(res.status, filter).toBe(400);
      expect(res.body.error?.code).toBeTruthy();
    }
  });
});
