import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
const base = '/v1.0/sites/query-site/operations';
const STATUSES = ['notStarted', 'running', 'succeeded', 'failed', 'running'];

beforeAll(async () => {
  server = await startTestServer();
  for (let i = 0; i < 25; i++) {
    const res = await server.request('POST', base, {
      body: {
        id: `op-${String(i).padStart(2, '0')}`,
        status: STATUSES[i % STATUSES.length],
        percentageComplete: i * 4,
        statusDetail: i % 3 === 0 ? `batch ${i}` : null,
        createdDateTime: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString(),
      },
    });
    expect(res.status).toBe(201);
  }
});
afterAll(() => server.close());

const json = async (res: Response) => (await res.json()) as Record<string, any>;
const ids = (body: Record<string, any>) => body.value.map((o: any) => o.id as string);
const get = (query: string) => server.request('GET', `${base}?${query}`);

async function followAll(firstUrl: string) {
  const pages: Record<string, any>[] = [];
  let url: string | undefined = firstUrl;
  while (url) {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const body = await json(res);
    pages.push(body);
    url = body['@odata.nextLink'];
  }
  return pages;
}

describe('list query options', () => {
  it('pages with $filter, $orderby desc and $top through @odata.nextLink to the end', async () => {
    const pages = await followAll(
      `${server.url}${base}?$filter=status eq 'running'&$orderby=createdDateTime desc&$top=2`,
    );
    const all = pages.flatMap(ids);
    const expected = Array.from({ length: 25 }, (_, i) => i)
      .filter((i) => STATUSES[i % 5] === 'running')
      .reverse()
      .map((i) => `op-${String(i).padStart(2, '0')}`);
    expect(all).toEqual(expected);
    expect(pages.length).toBe(Math.ceil(expected.length / 2));
    const link = new URL(pages[0]['@odata.nextLink']);
    expect(link.searchParams.get('$filter')).toBe("status eq 'running'");
    expect(link.searchParams.get('$orderby')).toBe('createdDateTime desc');
    expect(link.searchParams.get('$top')).toBe('2');
    expect(link.searchParams.get('$skiptoken')).toBeTruthy();
  });

  it('pages the default order without repeats or gaps', async () => {
    const pages = await followAll(`${server.url}${base}?$top=7`);
    expect(pages.flatMap(ids)).toEqual(
      Array.from({ length: 25 }, (_, i) => `op-${String(i).padStart(2, '0')}`),
    );
  });

  it('orders by several keys', async () => {
    const body = await json(
      await get('$orderby=status desc,percentageComplete asc&$top=5&$select=id,status'),
    );
    expect(body.value.map((o: any) => o.status)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
    expect(ids(body)).toEqual(['op-03', 'op-08', 'op-13', 'op-18', 'op-23']);
    expect(body['@odata.context']).toMatch(/operations\(id,status\)$/);
  });

  it('counts with $count=true and /$count', async () => {
    const body = await json(await get("$count=true&$filter=status eq 'failed'&$top=1"));
    expect(body['@odata.count']).toBe(5);
    expect(body.value).toHaveLength(1);
    expect(await (await server.request('GET', `${base}/$count`)).text()).toBe('25');
  });

  it.each([
    ["status in ('failed', 'notStarted')", 10],
    ["startswith(statusDetail, 'batch 1')", 3],
    ["not (status eq 'running') and percentageComplete ge 40", 9],
    ["(status eq 'failed' or status eq 'succeeded') and percentageComplete lt 20", 2],
    ['createdDateTime ge 2024-01-01T00:00:20Z', 5],
    ['statusDetail eq null', 16],
    ['statusDetail ne null', 9],
    ["resourceLocation eq null and id ne 'op-00'", 24],
  ])('$filter=%s', async (filter, expected) => {
    const res = await get(`$filter=${encodeURIComponent(filter)}&$count=true`);
    expect(res.status).toBe(200);
    expect((await json(res))['@odata.count']).toBe(expected);
  });

  it.each([
    ['$expand=foo', '$expand'],
    ['$search=foo', '$search'],
    ['$skip=2', '$skip'],
    ['$top=0', '$top'],
    ['$top=5000', '$top'],
    ['$top=abc', '$top'],
    ['$count=yes', '$count'],
    ["$filter=status eq 'running' and", '$filter'],
    ["$filter=colour eq 'red'", 'colour'],
    ['$orderby=colour', 'colour'],
    ['$select=colour', 'colour'],
    ['$skiptoken=garbage', '$skiptoken'],
  ])('rejects %s naming %s', async (query, named) => {
    const res = await get(query);
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error.code).toBe('invalidRequest');
    expect(body.error.message).toContain(named);
  });

  it('rejects list options on a single operation', async () => {
    const res = await server.request('GET', `${base}/op-01?$top=1`);
    expect(res.status).toBe(400);
  });
});

describe('errors and headers', () => {
  it('answers 404 for unknown routes, with request-id, Date and the echoed client-request-id', async () => {
    const res = await fetch(`${server.url}/v1.0/nothing/here`, {
      headers: { 'client-request-id': 'abc-123' },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('client-request-id')).toBe('abc-123');
    expect(res.headers.get('date')).toBeTruthy();
    const body = await json(res);
    expect(body.error.code).toBe('itemNotFound');
    expect(body.error.innerError['request-id']).toBe(res.headers.get('request-id'));
    expect(body.error.innerError['client-request-id']).toBe('abc-123');
    expect((await fetch(`${server.url}/elsewhere`)).status).toBe(404);
  });

  it('answers 405 with Allow for a wrong method', async () => {
    const put = await server.request('PUT', `${base}/op-01`, { body: {} });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, PATCH, DELETE');
    expect((await json(put)).error.code).toBe('methodNotAllowed');
    expect((await server.request('DELETE', base)).status).toBe(405);
  });

  it('answers 415 for a non-JSON body, 400 for malformed JSON, 413 for a body over 1 MiB', async () => {
    const text = await server.request('PATCH', `${base}/op-01`, {
      body: 'status=running',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    expect((await json(text)).error.code).toBe('unsupportedMediaType');
    const malformed = await server.request('PATCH', `${base}/op-01`, { body: '{"status": ' });
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).error.code).toBe('invalidRequest');
    const array = await server.request('PATCH', `${base}/op-01`, { body: '[1,2]' });
    expect(array.status).toBe(400);
    const big = await server.request('POST', base, { body: { statusDetail: 'x'.repeat(1024 * 1024 + 10) } });
    expect(big.status).toBe(413);
    expect((await json(big)).error.code).toBe('requestEntityTooLarge');
  });

  it('rejects malformed percent-encoding in the path', async () => {
    const res = await server.request('GET', `${base}/%E0%A4%A`);
    expect(res.status).toBe(400);
  });

  it('reports health and readiness', async () => {
    expect((await server.request('GET', '/healthz')).status).toBe(200);
    expect(await json(await server.request('GET', '/readyz'))).toEqual({ status: 'ok' });
  });
});
