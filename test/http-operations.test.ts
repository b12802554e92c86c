import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const json = async (res: Response) => (await res.json()) as Record<string, any>;

/** Every family's collections, with the type a created operation gets. */
const COLLECTIONS = [
  {
    version: 'v1.0',
    path: '/users/alice@contoso.com/authentication/operations',
    type: 'longRunningOperation',
  },
  {
    version: 'beta',
    path: '/users/alice@contoso.com/authentication/operations',
    type: 'longRunningOperation',
  },
  { version: 'v1.0', path: '/me/authentication/operations', type: 'longRunningOperation' },
  {
    version: 'beta',
    path: '/identityGovernance/roleManagementAlerts/operations',
    type: 'longRunningOperation',
  },
  { version: 'beta', path: '/external/industryData/operations', type: 'industryData.fileValidateOperation' },
  { version: 'v1.0', path: '/security/attackSimulation/operations', type: 'attackSimulationOperation' },
  {
    version: 'v1.0',
    path: '/employeeExperience/engagementAsyncOperations',
    type: 'engagementAsyncOperation',
  },
  { version: 'v1.0', path: '/sites/contoso.sharepoint.com,1,2/operations', type: 'richLongRunningOperation' },
  { version: 'beta', path: '/sites/site-1/lists/Documents/operations', type: 'richLongRunningOperation' },
  { version: 'v1.0', path: '/operations', type: 'longRunningOperation' },
] as const;

describe.each(COLLECTIONS)('$version$path', ({ version, path, type }) => {
  const base = `/${version}${path}`;

  it('creates, reads, updates through notStarted → running → succeeded, lists, counts and deletes', async () => {
    const created = await server.request('POST', base, { body: {} });
    expect(created.status).toBe(201);
    const op = await json(created);
    expect(op['@odata.type']).toBe(`#microsoft.graph.${type}`);
    expect(op.status).toBe('notStarted');
    expect(Object.keys(op).slice(0, 9)).toEqual([
      '@odata.context',
      '@odata.type',
      '@odata.etag',
      'id',
      'createdDateTime',
      'lastActionDateTime',
      'resourceLocation',
      'status',
      'statusDetail',
    ]);
    expect(op.createdDateTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/);
    const location = created.headers.get('location')!;
    expect(location).toBe(`${server.url}${base}/${encodeURIComponent(op.id)}`);

    const read = await fetch(location);
    expect(read.status).toBe(200);
    expect(read.headers.get('retry-after')).toBe('1');
    const readBody = await json(read);
    expect(readBody['@odata.context']).toMatch(
      new RegExp(`/${version.replace('.', '\\.')}/\\$metadata#.+/\\$entity$`),
    );
    expect(readBody).toEqual(op);

    const running = await server.request('PATCH', `${base}/${encodeURIComponent(op.id)}`, {
      body: { status: 'running' },
    });
    expect(running.status).toBe(200);
    const runningBody = await json(running);
    expect(runningBody.status).toBe('running');
    expect(runningBody.lastActionDateTime > op.lastActionDateTime).toBe(true);

    const done = await server.request('PATCH', `${base}/${encodeURIComponent(op.id)}`, {
      body: { status: 'succeeded', resourceLocation: 'https://example.com/result/1' },
    });
    expect((await json(done)).status).toBe('succeeded');

    const selected = await server.request(
      'GET',
      `${base}/${encodeURIComponent(op.id)}?$select=status,resourceLocation`,
    );
    const selectedBody = await json(selected);
    expect(selected.headers.get('retry-after')).toBeNull();
    expect(selectedBody['@odata.context']).toMatch(/\(status,resourceLocation\)\/\$entity$/);
    expect(selectedBody).toMatchObject({
      status: 'succeeded',
      resourceLocation: 'https://example.com/result/1',
    });
    expect(selectedBody.id).toBeUndefined();

    const list = await json(await server.request('GET', `${base}?$filter=id eq '${op.id}'`));
    expect(list.value).toHaveLength(1);
    expect(list.value[0]['@odata.type']).toBe(`#microsoft.graph.${type}`);

    const count = await server.request('GET', `${base}/$count?$filter=status eq 'succeeded'`);
    expect(count.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(Number(await count.text())).toBeGreaterThanOrEqual(1);

    expect((await server.request('DELETE', `${base}/${encodeURIComponent(op.id)}`)).status).toBe(204);
    expect((await server.request('GET', `${base}/${encodeURIComponent(op.id)}`)).status).toBe(404);
  });
});

describe('routes', () => {
  it('answers 404 for beta-only families under /v1.0', async () => {
    for (const path of [
      '/identityGovernance/roleManagementAlerts/operations',
      '/external/industryData/operations',
    ]) {
      const res = await server.request('GET', `/v1.0${path}`);
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toBe('itemNotFound');
    }
  });

  it('addresses opaque ids by segment and by key-in-parentheses', async () => {
    const id = "refresh:DirectoryRole_19356be4,x=1'quoted'";
    const base = '/beta/identityGovernance/roleManagementAlerts/operations';
    expect((await server.request('POST', base, { body: { id } })).status).toBe(201);
    const bySegment = await server.request('GET', `${base}/${encodeURIComponent(id)}`);
    expect(bySegment.status).toBe(200);
    expect((await json(bySegment)).id).toBe(id);
    const byKey = await server.request(
      'GET',
      `/beta/identityGovernance/roleManagementAlerts/operations('${encodeURIComponent(id.replace(/'/g, "''"))}')`,
    );
    expect(byKey.status).toBe(200);
    expect((await json(byKey)).id).toBe(id);
  });

  it('keeps operations in their collection', async () => {
    const created = await json(
      await server.request('POST', '/v1.0/users/alice/authentication/operations', { body: {} }),
    );
    expect(
      (await server.request('GET', `/v1.0/users/alice/authentication/operations/${created.id}`)).status,
    ).toBe(200);
    expect(
      (await server.request('GET', `/v1.0/users('alice')/authentication/operations/${created.id}`)).status,
    ).toBe(200);
    expect(
      (await server.request('GET', `/v1.0/users/ALICE/authentication/operations/${created.id}`)).status,
    ).toBe(200);
    expect(
      (await server.request('GET', `/v1.0/users/bob/authentication/operations/${created.id}`)).status,
    ).toBe(404);
    expect((await server.request('GET', `/v1.0/operations/${created.id}`)).status).toBe(404);
    expect((await server.request('GET', `/v1.0/sites/s/operations/${created.id}`)).status).toBe(404);
  });

  it('serves beta getOperationStatus for site-creation operations only', async () => {
    const res = await server.request('GET', `/beta/sites/getOperationStatus(operationId='nope')`);
    expect(res.status).toBe(404);
    expect((await server.request('GET', `/v1.0/sites/getOperationStatus(operationId='nope')`)).status).toBe(
      404,
    );
    expect(
      (await server.request('PATCH', `/beta/sites/getOperationStatus(operationId='nope')`, { body: {} }))
        .status,
    ).toBe(405);
  });
});

describe('PATCH', () => {
  const base = '/v1.0/operations';
  const create = async (body: unknown = {}) => json(await server.request('POST', base, { body }));

  it('rejects id and unknown properties, ignores unknownFutureValue', async () => {
    const op = await create();
    const withId = await server.request('PATCH', `${base}/${op.id}`, { body: { id: 'x' } });
    expect(withId.status).toBe(400);
    expect((await json(withId)).error).toMatchObject({ code: 'invalidRequest', target: 'id' });
    const unknown = await server.request('PATCH', `${base}/${op.id}`, { body: { colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect((await json(unknown)).error.message).toContain("'colour'");
    const ufv = await server.request('PATCH', `${base}/${op.id}`, {
      body: { status: 'unknownFutureValue', statusDetail: 'x' },
    });
    expect(ufv.status).toBe(200);
    expect(await json(ufv)).toMatchObject({ status: 'notStarted', statusDetail: 'x' });
    const badStatus = await server.request('PATCH', `${base}/${op.id}`, { body: { status: 'done' } });
    expect(badStatus.status).toBe(400);
    const badType = await server.request('PATCH', `${base}/${op.id}`, {
      body: { '@odata.type': '#microsoft.graph.richLongRunningOperation', status: 'running' },
    });
    expect(badType.status).toBe(400);
    const badTime = await server.request('PATCH', `${base}/${op.id}`, {
      body: { lastActionDateTime: 'yesterday' },
    });
    expect(badTime.status).toBe(400);
  });

  it('refuses to change a terminal status (409) and keeps lastActionDateTime the body sets', async () => {
    const op = await create();
    const set = await json(
      await server.request('PATCH', `${base}/${op.id}`, {
        body: { status: 'failed', lastActionDateTime: '2024-01-02T03:04:05.123456+01:00' },
      }),
    );
    expect(set.lastActionDateTime).toBe('2024-01-02T02:04:05.1234560Z');
    const again = await server.request('PATCH', `${base}/${op.id}`, { body: { status: 'running' } });
    expect(again.status).toBe(409);
    expect((await server.request('PATCH', `${base}/${op.id}`, { body: { status: 'failed' } })).status).toBe(
      200,
    );
  });

  it('honours Prefer: return=minimal', async () => {
    const op = await create();
    const res = await server.request('PATCH', `${base}/${op.id}`, {
      body: { status: 'running' },
      headers: { prefer: 'return=minimal' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('preference-applied')).toBe('return=minimal');
  });

  it('updates subtype properties and validates them', async () => {
    const site = '/v1.0/sites/s1/operations';
    const op = await json(await server.request('POST', site, { body: { type: 'contentTypeCopy' } }));
    const res = await server.request('PATCH', `${site}/${op.id}`, {
      body: { percentageComplete: 40, resourceId: 'r1', error: { code: 'x', message: 'y' } },
    });
    expect(await json(res)).toMatchObject({
      percentageComplete: 40,
      resourceId: 'r1',
      type: 'contentTypeCopy',
      error: { code: 'x', message: 'y', target: null, details: [], innerError: null },
    });
    expect(
      (await server.request('PATCH', `${site}/${op.id}`, { body: { percentageComplete: 101 } })).status,
    ).toBe(400);
    expect(
      (await server.request('PATCH', `${site}/${op.id}`, { body: { percentageComplete: '4' } })).status,
    ).toBe(400);

    const sim = '/v1.0/security/attackSimulation/operations';
    const simOp = await json(await server.request('POST', sim, { body: { type: 'createSimulation' } }));
    expect(simOp).toMatchObject({ percentageCompleted: 0, type: 'createSimualation', tenantId: null });
    expect(
      (await server.request('PATCH', `${sim}/${simOp.id}`, { body: { percentageCompleted: null } })).status,
    ).toBe(400);
    const ignored = await json(
      await server.request('PATCH', `${sim}/${simOp.id}`, {
        body: { type: 'unknownFutureValue', percentageCompleted: 7 },
      }),
    );
    expect(ignored).toMatchObject({ type: 'createSimualation', percentageCompleted: 7 });

    const ind = '/beta/external/industryData/operations';
    const indOp = await json(await server.request('POST', ind, { body: {} }));
    expect(indOp).toMatchObject({ errors: [], warnings: [], validatedFiles: [] });
    const withErrors = await json(
      await server.request('PATCH', `${ind}/${indOp.id}`, {
        body: {
          status: 'succeeded',
          errors: [{ code: 'RequiredFileNotFound', message: 'missing', target: 'orgs.csv' }],
        },
      }),
    );
    expect(withErrors.errors[0]).toMatchObject({ code: 'RequiredFileNotFound', target: 'orgs.csv' });
  });
});

describe('POST', () => {
  const base = '/v1.0/operations';

  it('accepts a client id, replays identical creates and refuses different ones', async () => {
    const body = { id: 'client-chosen-1', statusDetail: 'queued' };
    const first = await server.request('POST', base, { body });
    expect(first.status).toBe(201);
    const again = await server.request('POST', base, {
      body: { statusDetail: 'queued', id: 'client-chosen-1' },
    });
    expect(again.status).toBe(200);
    expect((await json(again)).id).toBe('client-chosen-1');
    const different = await server.request('POST', base, {
      body: { id: 'client-chosen-1', statusDetail: 'other' },
    });
    expect(different.status).toBe(409);
  });

  it('refuses unknownFutureValue and members after the sentinel without the preference', async () => {
    expect((await server.request('POST', base, { body: { status: 'unknownFutureValue' } })).status).toBe(400);
    expect((await server.request('POST', base, { body: { status: 'canceled' } })).status).toBe(400);
  });

  it('creates the subtype named by @odata.type where the collection allows it', async () => {
    const rich = await server.request('POST', base, {
      body: { '@odata.type': '#microsoft.graph.richLongRunningOperation', percentageComplete: 5 },
    });
    expect(rich.status).toBe(201);
    expect(await json(rich)).toMatchObject({
      '@odata.type': '#microsoft.graph.richLongRunningOperation',
      percentageComplete: 5,
    });
    const wrong = await server.request('POST', '/v1.0/security/attackSimulation/operations', {
      body: { '@odata.type': '#microsoft.graph.richLongRunningOperation' },
    });
    expect(wrong.status).toBe(400);
    const betaOnly = await server.request('POST', base, {
      body: { '@odata.type': '#microsoft.graph.industryData.fileValidateOperation' },
    });
    expect(betaOnly.status).toBe(400);
  });
});

describe('DELETE', () => {
  it('refuses to forget an operation that has not finished', async () => {
    const op = await json(await server.request('POST', '/v1.0/operations', { body: {} }));
    const res = await server.request('DELETE', `/v1.0/operations/${op.id}`);
    expect(res.status).toBe(409);
    expect((await json(res)).error.message).toMatch(/cancel/i);
  });
});

describe('evolvable enum', () => {
  it('shows canceled only to clients that ask for unknown members', async () => {
    const prefer = { prefer: 'include-unknown-enum-members' };
    const op = await json(
      await server.request('POST', '/v1.0/operations', { body: { statusDetail: 'enum-test' } }),
    );
    const res = await server.request('PATCH', `/v1.0/operations/${op.id}`, {
      body: { status: 'canceled' },
      headers: prefer,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('include-unknown-enum-members');
    expect((await json(res)).status).toBe('canceled');
    expect((await json(await server.request('GET', `/v1.0/operations/${op.id}`))).status).toBe(
      'unknownFutureValue',
    );
    expect(
      (await json(await server.request('GET', `/v1.0/operations/${op.id}`, { headers: prefer }))).status,
    ).toBe('canceled');

    const ufv = await json(
      await server.request(
        'GET',
        `/v1.0/operations?$filter=status eq 'unknownFutureValue' and statusDetail eq 'enum-test'`,
      ),
    );
    expect(ufv.value.map((o: any) => o.id)).toEqual([op.id]);
    const ufvWithPref = await json(
      await server.request('GET', `/v1.0/operations?$filter=status eq 'unknownFutureValue'`, {
        headers: prefer,
      }),
    );
    expect(ufvWithPref.value).toEqual([]);
    expect((await server.request('GET', `/v1.0/operations?$filter=status eq 'canceled'`)).status).toBe(400);
    const canceled = await json(
      await server.request('GET', `/v1.0/operations?$filter=status eq 'canceled'`, { headers: prefer }),
    );
    expect(canceled.value.map((o: any) => o.id)).toContain(op.id);
  });
});

describe('history', () => {
  it('lists an operation’s transitions with time, statuses, actor and kind', async () => {
    const op = await json(await server.request('POST', '/v1.0/operations', { body: {} }));
    await server.request('PATCH', `/v1.0/operations/${op.id}`, { body: { status: 'running' } });
    await server.request('PATCH', `/v1.0/operations/${op.id}`, { body: { status: 'succeeded' } });
    const res = await server.request('GET', `/v1.0/operations/${op.id}/history`);
    expect(res.status).toBe(200);
    const events = (await json(res)).value;
    expect(events.map((e: any) => [e.kind, e.from, e.to])).toEqual([
      ['created', null, 'notStarted'],
      ['updated', 'notStarted', 'running'],
      ['updated', 'running', 'succeeded'],
    ]);
    expect(events[0]).toMatchObject({ actor: 'anonymous', at: expect.stringMatching(/Z$/) });
    expect((await server.request('GET', '/v1.0/operations/missing/history')).status).toBe(404);
  });
});
