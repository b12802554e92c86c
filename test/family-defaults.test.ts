/**
 * Issue 16, item 2: each family shows the defaults its Graph docs show for resourceLocation and
 * statusDetail before the work sets them. Seed 002 shows role-management alert refreshes with `""` for
 * both while running and statusDetail `""` once succeeded; the other families' seeds show `null`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

const ALERT_OPS = '/beta/identityGovernance/roleManagementAlerts/operations';
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    scenarios: { default: { durationMs: 400 } },
    worker: { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 50, leaseMs: 5000, progressIntervalMs: 20 },
    retention: false,
  });
});
afterAll(() => server.close());

const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe('role-management alert refreshes (seed 002)', () => {
  it('read "" for resourceLocation and statusDetail until done, then the alert URL and ""', async () => {
    const start = await server.request(
      'POST',
      '/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_x_StaleSignInAlert/refresh',
    );
    expect(start.status).toBe(202);
    const location = start.headers.get('location')!;
    const first = await json(await fetch(location));
    expect(['notStarted', 'running']).toContain(first.status);
    expect(first.resourceLocation).toBe('');
    expect(first.statusDetail).toBe('');
    let op = first;
    while (op.status !== 'succeeded') {
      await sleep(20);
      op = await json(await fetch(location));
      expect(['notStarted', 'running', 'succeeded']).toContain(op.status);
      if (op.status !== 'succeeded') expect([op.resourceLocation, op.statusDetail]).toEqual(['', '']);
    }
    expect(op.resourceLocation).toBe(
      `${server.url}/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_x_StaleSignInAlert`,
    );
    expect(op.statusDetail).toBe('');
  });

  it('gives an operation created in the family without those properties the same defaults', async () => {
    const created = await server.request('POST', ALERT_OPS, { body: { id: 'made-here' } });
    expect(created.status).toBe(201);
    const op = await json(created);
    expect([op.resourceLocation, op.statusDetail]).toEqual(['', '']);
    // An explicit value, null included, is kept.
    const explicit = await json(
      await server.request('POST', ALERT_OPS, { body: { id: 'made-null', statusDetail: null } }),
    );
    expect([explicit.resourceLocation, explicit.statusDetail]).toEqual(['', null]);
  });
});

describe('the other families', () => {
  it('keep null where their docs show null (industry data, seed 002 example 4)', async () => {
    const start = await server.request('POST', '/beta/external/industryData/dataConnectors/c1/validate');
    const op = await json(await fetch(start.headers.get('location')!));
    expect([op.resourceLocation, op.statusDetail]).toEqual([null, null]);
    const own = await json(await server.request('POST', '/v1.0/operations', { body: {} }));
    expect([own.resourceLocation, own.statusDetail]).toEqual([null, null]);
  });
});
