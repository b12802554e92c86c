/**
 * Issue 16, item 6: PATCH accepts `null` where the CSDL allows it (createdDateTime and lastActionDateTime
 * are nullable on microsoft.graph.longRunningOperation); where longrun's state rules forbid a value
 * (`status: null`), a 400 that names the rule, and nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ worker: false, retention: false });
});
afterAll(() => server.close());

const json = async (res: Response) => (await res.json()) as Record<string, any>;
const patch = (id: string, body: unknown) => server.request('PATCH', `/v1.0/operations/${id}`, { body });

describe('PATCH with null', () => {
  it('accepts createdDateTime: null and keeps the recorded creation time', async () => {
    const op = await json(
      await server.request('POST', '/v1.0/operations', {
        body: { id: 'n1', createdDateTime: '2024-01-01T00:00:00Z' },
      }),
    );
    const res = await patch('n1', { createdDateTime: null, statusDetail: 'touched' });
    expect(res.status).toBe(200);
    const after = await json(res);
    expect(after.createdDateTime).toBe(op.createdDateTime);
    expect(after.statusDetail).toBe('touched');
  });

  it('accepts lastActionDateTime: null and stamps the time of the write', async () => {
    await server.request('POST', '/v1.0/operations', {
      body: { id: 'n2', lastActionDateTime: '2024-01-01T00:00:00Z', createdDateTime: '2024-01-01T00:00:00Z' },
    });
    const res = await patch('n2', { lastActionDateTime: null, status: 'running' });
    expect(res.status).toBe(200);
    const after = await json(res);
    expect(after.status).toBe('running');
    expect(Date.parse(after.lastActionDateTime)).toBeGreaterThan(Date.parse('2024-01-01T00:00:00Z'));
  });

  it('accepts null on create for both times', async () => {
    const res = await server.request('POST', '/v1.0/operations', {
      body: { id: 'n3', createdDateTime: null, lastActionDateTime: null },
    });
    expect(res.status).toBe(201);
    const op = await json(res);
    expect(op.createdDateTime).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(op.lastActionDateTime).toBe(op.createdDateTime);
  });

  it('refuses status: null with a 400 naming the rule, and changes nothing', async () => {
    await server.request('POST', '/v1.0/operations', { body: { id: 'n4', status: 'running' } });
    const res = await patch('n4', { status: null, statusDetail: 'should not stick' });
    expect(res.status).toBe(400);
    const err = await json(res);
    expect(err.error.code).toBe('invalidRequest');
    expect(err.error.target).toBe('status');
    expect(err.error.message).toMatch(/'status' can't be null: an operation is always in one of/);
    const now = await json(await server.request('GET', '/v1.0/operations/n4'));
    expect([now.status, now.statusDetail]).toEqual(['running', null]);
  });

  it('still refuses a non-null value of the wrong type', async () => {
    const res = await patch('n4', { lastActionDateTime: 12 });
    expect(res.status).toBe(400);
    expect((await json(res)).error.target).toBe('lastActionDateTime');
  });
});
