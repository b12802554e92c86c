/**
 * The Graph actions that start operations (src/http/actions/definitions.ts), against a real server: 202,
 * absolute Location / Operation-Location in Graph's forms, Retry-After, the documented body, and the
 * operation the built-in scenario walks to its end. Bad bodies make nothing; Idempotency-Key replays;
 * configured failures; cancel.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SITE_CREATION_SCOPE } from '../src/families/families.js';
import { startTestServer, type TestServer } from './support/server.js';

const WORKER = { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 50, leaseMs: 5000, progressIntervalMs: 20 };

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    scenarios: { default: { durationMs: 60 } },
    worker: WORKER,
    retention: false,
  });
});
afterAll(() => server.close());

const PREFER = { Prefer: 'include-unknown-enum-members' };

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Reads the operation at `location` until it is terminal; returns every status seen and the last body. */
async function pollUntilTerminal(location: string): Promise<{ seen: string[]; op: any; last: Response }> {
  const seen: string[] = [];
  let last!: Response;
  const op = await until(`${location} to end`, async () => {
    last = await fetch(location, { headers: PREFER });
    expect(last.status).toBe(200);
    const body: any = await last.json();
    if (seen.at(-1) !== body.status) seen.push(body.status);
    if (['succeeded', 'failed', 'canceled'].includes(body.status)) return body;
    expect(last.headers.get('retry-after')).toBe('1');
    return undefined;
  });
  return { seen, op, last };
}

async function count(s: TestServer, collection: string): Promise<number> {
  const res = await s.request('GET', `${collection}/$count`);
  expect(res.status).toBe(200);
  return Number(await res.text());
}

interface ActionCase {
  name: string;
  method: 'POST' | 'PATCH';
  path: string;
  body?: unknown;
  /** Collection to $count (relative to the server root), or the scope for site creation. */
  collection: string;
  /** The expected Location, with `{id}` for the operation id in the form Graph writes it. */
  location: (base: string) => RegExp;
  type: string;
  check: (op: any, base: string) => void;
  badBodies: unknown[];
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const CASES: ActionCase[] = [
  ...(['v1.0', 'beta'] as const).map((v): ActionCase => ({
    name: `${v} resetPassword`,
    method: 'POST',
    path: `/${v}/users/Alice@contoso.com/authentication/${v === 'v1.0' ? 'methods' : 'passwordMethods'}/28c10230-6103-485e-b985-444c60001490/resetPassword`,
    body: { newPassword: 'Cuyo5459!' },
    collection: `/${v}/users/alice@contoso.com/authentication/operations`,
    location: (base) =>
      new RegExp(`^${esc(base)}/${v}/users/alice%40contoso\\.com/authentication/operations/${GUID}$`),
    type: 'longRunningOperation',
    check: (op, base) =>
      expect(op.resourceLocation).toBe(
        `${base}/${v}/users/alice%40contoso.com/authentication/${v === 'v1.0' ? 'methods' : 'passwordMethods'}/28c10230-6103-485e-b985-444c60001490`,
      ),
    badBodies: [{ newPassword: 42 }, { newPassword: '' }, { password: 'x' }, ['newPassword']],
  })),
  {
    name: 'beta role-management alerts refresh (collection)',
    method: 'POST',
    path: '/beta/identityGovernance/roleManagementAlerts/alerts/refresh',
    body: { scopeId: '/', scopeType: 'DirectoryRole' },
    collection: '/beta/identityGovernance/roleManagementAlerts/operations',
    location: (base) =>
      new RegExp(
        `^${esc(base)}/beta/identityGovernance/roleManagementAlerts/operations/refresh(:|%3A)DirectoryRole_tenant$`,
      ),
    type: 'longRunningOperation',
    check: (op, base) => {
      expect(op.id).toMatch(/^refresh:DirectoryRole_tenant/);
      expect(decodeURIComponent(op.resourceLocation)).toBe(
        `${base}/beta/identityGovernance/roleManagementAlerts/alerts?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'`,
      );
    },
    badBodies: [
      undefined,
      {},
      { scopeId: '/' },
      { scopeId: '/', scopeType: 'Tenant' },
      { scopeId: 1, scopeType: 'DirectoryRole' },
    ],
  },
  {
    name: 'beta role-management alert refresh (one alert)',
    method: 'POST',
    path: '/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_67b47f38-0f0b-4e62-a3be-859140c2061f_StaleSignInAlert/refresh',
    collection: '/beta/identityGovernance/roleManagementAlerts/operations',
    location: (base) =>
      new RegExp(
        `^${esc(base)}/beta/identityGovernance/roleManagementAlerts/operations/refresh(:|%3A)DirectoryRole_67b47f38-0f0b-4e62-a3be-859140c2061f_StaleSignInAlert$`,
      ),
    type: 'longRunningOperation',
    check: (op, base) =>
      expect(op.resourceLocation).toBe(
        `${base}/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_67b47f38-0f0b-4e62-a3be-859140c2061f_StaleSignInAlert`,
      ),
    badBodies: [{ scopeId: '/' }, [1]],
  },
  ...[
    ['dataConnectors/conn-1', '/beta/external/industryData/dataConnectors/conn-1/validate'],
    [
      'inboundFlows/flow-1/dataConnector',
      '/beta/external/industryData/inboundFlows/flow-1/dataConnector/validate',
    ],
  ].map(([connector, path]): ActionCase => ({
    name: `beta industry-data validate (${connector})`,
    method: 'POST',
    path,
    collection: '/beta/external/industryData/operations',
    location: (base) => new RegExp(`^${esc(base)}/beta/external/industryData/operations/${GUID}$`),
    type: 'industryData.fileValidateOperation',
    check: (op, base) => {
      expect(op.resourceLocation).toBe(`${base}/beta/external/industryData/${connector}`);
      expect(op.errors).toEqual([
        expect.objectContaining({ code: 'RequiredFileNotFound', target: 'orgs.csv' }),
      ]);
      expect(op.warnings).toEqual([expect.objectContaining({ code: 'OptionalFileNotFound' })]);
      expect(op.validatedFiles).toEqual(['users.csv', 'roles.csv', 'classes.csv']);
    },
    badBodies: [{ files: ['a.csv'] }],
  })),
  ...(['v1.0', 'beta'] as const).map((v): ActionCase => ({
    name: `${v} attack simulation create`,
    method: 'POST',
    path: `/${v}/security/attackSimulation/simulations`,
    body: {
      displayName: 'Graph Simulation',
      payloadDeliveryPlatform: 'email',
      durationInDays: 7,
      status: 'scheduled',
    },
    collection: `/${v}/security/attackSimulation/operations`,
    location: (base) => new RegExp(`^${esc(base)}/${v}/security/attackSimulation/operations/${GUID}$`),
    type: 'attackSimulationOperation',
    check: (op, base) => {
      expect(op.type).toBe('createSimualation');
      expect(op.percentageCompleted).toBe(100);
      expect(op.resourceLocation).toMatch(
        new RegExp(`^${esc(base)}/${v}/security/attackSimulation/simulations/${GUID}$`),
      );
    },
    badBodies: [{}, { displayName: '' }, { displayName: 5 }, 'text'],
  })),
  {
    name: 'v1.0 attack simulation update',
    method: 'PATCH',
    path: '/v1.0/security/attackSimulation/simulations/f1b13829-3829-f1b1-2938-b1f12938b1ab',
    body: { status: 'cancelled' },
    collection: '/v1.0/security/attackSimulation/operations',
    location: (base) => new RegExp(`^${esc(base)}/v1.0/security/attackSimulation/operations/${GUID}$`),
    type: 'attackSimulationOperation',
    check: (op, base) => {
      expect(op.type).toBe('updateSimulation');
      expect(op.percentageCompleted).toBe(100);
      expect(op.resourceLocation).toBe(
        `${base}/v1.0/security/attackSimulation/simulations/f1b13829-3829-f1b1-2938-b1f12938b1ab`,
      );
    },
    badBodies: [{}, [], undefined],
  },
  ...(['v1.0', 'beta'] as const).map((v): ActionCase => ({
    name: `${v} community create`,
    method: 'POST',
    path: `/${v}/employeeExperience/communities`,
    body: {
      displayName: 'Financial Analysis',
      description: 'A community for financial analysts',
      privacy: 'public',
      'owners@odata.bind': ["https://graph.microsoft.com/v1.0/users('e4a8b6b4-1c5f-4d5c-9f3e-7b9f8e6a1c2d')"],
    },
    collection: `/${v}/employeeExperience/engagementAsyncOperations`,
    location: (base) =>
      new RegExp(`^${esc(base)}/${v}/employeeExperience/engagementAsyncOperations\\('${GUID}'\\)$`),
    type: 'engagementAsyncOperation',
    check: (op, base) => {
      expect(op.operationType).toBe('createCommunity');
      expect(op.resourceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(op.resourceLocation).toBe(`${base}/${v}/employeeExperience/communities('${op.resourceId}')`);
    },
    badBodies: [
      { displayName: 'x', description: 'y' },
      { displayName: 'x', description: 'y', privacy: 'secret' },
      { displayName: 'x', description: 'y', privacy: 'public', 'owners@odata.bind': 'not-an-array' },
      { displayName: 'x', description: 'y', privacy: 'public', extra: true },
    ],
  })),
  {
    name: 'v1.0 content type copy (site)',
    method: 'POST',
    path: '/v1.0/sites/s1/contentTypes/addCopyFromContentTypeHub',
    body: { contentTypeId: '0x0101' },
    collection: '/v1.0/sites/s1/operations',
    location: (base) => new RegExp(`^${esc(base)}/v1.0/sites/s1/operations/contentTypeCopy(,|%2C)0x0101$`),
    type: 'richLongRunningOperation',
    check: (op, base) => {
      expect(op.id).toBe('contentTypeCopy,0x0101');
      expect(op.type).toBe('contentTypeCopy');
      expect(op.resourceId).toBe('0x0101');
      expect(op.percentageComplete).toBe(100);
      expect(op.error).toBeNull();
      expect(op.resourceLocation).toBe(`${base}/v1.0/sites/s1/contentTypes/0x0101`);
    },
    badBodies: [
      {},
      { contentTypeId: 'Document' },
      { contentTypeId: '0x' },
      { contentTypeId: '0x0101', other: 1 },
    ],
  },
  {
    name: 'beta content type copy (list)',
    method: 'POST',
    path: '/beta/sites/s1/lists/Documents/contentTypes/addCopyFromContentTypeHub',
    body: { contentTypeId: '0x0101009D1CB255DA76424F860D91F20E6C4118' },
    collection: '/beta/sites/s1/lists/Documents/operations',
    location: (base) =>
      new RegExp(
        `^${esc(base)}/beta/sites/s1/lists/Documents/operations/contentTypeCopy(,|%2C)0x0101009D1CB255DA76424F860D91F20E6C4118$`,
      ),
    type: 'richLongRunningOperation',
    check: (op, base) => {
      expect(op.resourceId).toBe('0x0101009D1CB255DA76424F860D91F20E6C4118');
      expect(op.percentageComplete).toBe(100);
      expect(op.resourceLocation).toBe(
        `${base}/beta/sites/s1/lists/Documents/contentTypes/0x0101009D1CB255DA76424F860D91F20E6C4118`,
      );
    },
    badBodies: [{ contentTypeId: 101 }],
  },
  {
    name: 'beta site create',
    method: 'POST',
    path: '/beta/sites',
    body: {
      name: 'Communication Site Test',
      webUrl: 'https://contoso.sharepoint.com/sites/commsite1',
      locale: 'en-US',
      shareByEmailEnabled: false,
      description: 'Test Site Description',
      template: 'sitepagepublishing',
      ownerIdentityToResolve: { email: 'admin@contoso.com' },
    },
    collection: SITE_CREATION_SCOPE,
    location: (base) =>
      new RegExp(`^${esc(base)}/beta/sites/getOperationStatus\\(operationId='[A-Za-z0-9%]+'\\)$`),
    type: 'richLongRunningOperation',
    check: (op) => {
      expect(op.type).toBe('siteCreation');
      expect(op.resourceLocation).toBe('https://contoso.sharepoint.com/sites/commsite1');
      expect(op.resourceId).toMatch(new RegExp(`^${GUID}$`));
      expect(Buffer.from(op.id, 'base64').toString()).toBe(`site:${op.resourceId}`);
      expect(op.percentageComplete).toBe(100);
    },
    badBodies: [
      {},
      { name: 'x', webUrl: 'http://contoso.sharepoint.com/sites/x', template: 'sts' },
      { name: 'x', webUrl: 'not a url', template: 'sts' },
      { name: 'x', webUrl: 'https://contoso.sharepoint.com/sites/x', template: 'wiki' },
      {
        name: 'x',
        webUrl: 'https://contoso.sharepoint.com/sites/x',
        template: 'sts',
        shareByEmailEnabled: 'no',
      },
    ],
  },
];

/** How many operations the action's collection holds (site creation has no collection to list). */
function countOf(s: TestServer, c: ActionCase): Promise<number> {
  if (c.collection === SITE_CREATION_SCOPE) return s.node.store.count('', SITE_CREATION_SCOPE);
  return count(s, c.collection);
}

describe('every start action', () => {
  it('covers every action definition', async () => {
    const { ACTIONS } = await import('../src/http/actions/definitions.js');
    const covered = new Set(
      CASES.map((c) => {
        const v = c.path.split('/')[1] as 'v1.0' | 'beta';
        const rest = c.path.split('/').slice(2);
        return ACTIONS.findIndex(
          (a) =>
            a.method === c.method &&
            a.versions.includes(v) &&
            a.segments.length === rest.length &&
            a.segments.every((seg, i) => seg.startsWith(':') || seg === rest[i]),
        );
      }),
    );
    expect(covered.has(-1)).toBe(false);
    expect([...covered].sort((a, b) => a - b)).toEqual(ACTIONS.map((_, i) => i));
  });

  describe.each(CASES)('$name', (c) => {
    it('answers 202 with Location, Operation-Location and Retry-After; the operation ends succeeded', async () => {
      const before = await countOf(server, c);
      const res = await server.request(c.method, c.path, c.body === undefined ? {} : { body: c.body });
      expect(res.status).toBe(202);
      const location = res.headers.get('location')!;
      expect(location).toMatch(c.location(server.url));
      expect(res.headers.get('operation-location')).toBe(location);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.headers.get('request-id')).toBeTruthy();
      expect(await res.text()).toBe('');
      expect(await countOf(server, c)).toBe(before + 1);

      const { seen, op, last } = await pollUntilTerminal(location);
      expect(seen.at(-1)).toBe('succeeded');
      expect(seen.every((st) => ['notStarted', 'running', 'succeeded'].includes(st))).toBe(true);
      expect(last.headers.get('retry-after')).toBeNull();
      expect(op['@odata.type']).toBe(`#microsoft.graph.${c.type}`);
      // The families' documented defaults (seed 002): role-alert refreshes keep statusDetail "".
      expect(op.statusDetail).toBe(c.collection.includes('roleManagementAlerts') ? '' : null);
      c.check(op, server.url);
    });

    it('rejects bad bodies with 400 and makes no operation', async () => {
      const before = await countOf(server, c);
      for (const body of c.badBodies) {
        const res = await server.request(c.method, c.path, body === undefined ? {} : { body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        const err: any = await res.json();
        expect(err.error.code).toBe('invalidRequest');
        expect(err.error.innerError['request-id']).toBe(res.headers.get('request-id'));
      }
      const broken = await server.request(c.method, c.path, {
        body: '{"not json',
        headers: { 'content-type': 'application/json' },
      });
      expect(broken.status).toBe(400);
      expect(await countOf(server, c)).toBe(before);
    });
  });
});

describe('resetPassword response body', () => {
  it('returns a passwordResetResponse with the generated password when none is given', async () => {
    for (const [v, methods] of [
      ['v1.0', 'methods'],
      ['beta', 'passwordMethods'],
    ]) {
      const res = await server.request(
        'POST',
        `/${v}/users/bob@contoso.com/authentication/${methods}/m1/resetPassword`,
        { body: {} },
      );
      expect(res.status).toBe(202);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body: any = await res.json();
      expect(Object.keys(body)).toEqual(['@odata.context', 'newPassword']);
      expect(body['@odata.context']).toBe(
        `${server.url}/${v}/$metadata#microsoft.graph.passwordResetResponse`,
      );
      expect(body.newPassword).toMatch(/^.{12,}$/);
      const { op } = await pollUntilTerminal(res.headers.get('location')!);
      expect(op.status).toBe('succeeded');
    }
  });

  it('also generates one when the request has no body at all', async () => {
    const res = await server.request(
      'POST',
      '/v1.0/users/bob@contoso.com/authentication/methods/m1/resetPassword',
    );
    expect(res.status).toBe(202);
    expect(((await res.json()) as any).newPassword).toEqual(expect.any(String));
  });
});

describe('Location', () => {
  it('ignores X-Forwarded-Proto and X-Forwarded-Host from an untrusted client, also in what it stores', async () => {
    const res = await server.request('POST', '/v1.0/sites/fwd0/contentTypes/addCopyFromContentTypeHub', {
      body: { contentTypeId: '0x0120' },
      headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' },
    });
    expect(res.status).toBe(202);
    const location = res.headers.get('location')!;
    expect(location.startsWith(`${server.url}/v1.0/sites/fwd0/operations/`)).toBe(true);
    const { op } = await pollUntilTerminal(location);
    expect(op.resourceLocation).toBe(`${server.url}/v1.0/sites/fwd0/contentTypes/0x0120`);
  });

  it('honours X-Forwarded-Proto and X-Forwarded-Host from a trusted proxy', async () => {
    const s = await startTestServer({ trustProxy: '127.0.0.1', retention: false });
    try {
      const res = await s.request('POST', '/v1.0/sites/fwd/contentTypes/addCopyFromContentTypeHub', {
        body: { contentTypeId: '0x0120' },
        headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'graph.contoso.example' },
      });
      expect(res.status).toBe(202);
      const location = res.headers.get('location')!;
      expect(location).toMatch(
        /^https:\/\/graph\.contoso\.example\/v1\.0\/sites\/fwd\/operations\/contentTypeCopy(,|%2C)0x0120$/,
      );
      expect(res.headers.get('operation-location')).toBe(location);
      const { op } = await pollUntilTerminal(location.replace('https://graph.contoso.example', s.url));
      expect(op.resourceLocation).toBe('https://graph.contoso.example/v1.0/sites/fwd/contentTypes/0x0120');
    } finally {
      await s.close();
    }
  });

  it('uses the configured public URL', async () => {
    const s = await startTestServer({
      publicUrl: 'https://lro.contoso.example/',
      worker: false,
      retention: false,
    });
    try {
      const res = await s.request('POST', '/beta/external/industryData/dataConnectors/c9/validate', {
        headers: { 'X-Forwarded-Host': 'ignored.example' },
      });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toMatch(
        new RegExp(`^https://lro\\.contoso\\.example/beta/external/industryData/operations/${GUID}$`),
      );
    } finally {
      await s.close();
    }
  });

  it('answers a second refresh of the same alert, while the first runs, with the same operation', async () => {
    const s = await startTestServer({ worker: false, retention: false });
    try {
      const path = '/beta/identityGovernance/roleManagementAlerts/alerts/alert-dup/refresh';
      const first = await s.request('POST', path);
      const second = await s.request('POST', path);
      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      expect(second.headers.get('location')).toBe(first.headers.get('location'));
      expect(await count(s, '/beta/identityGovernance/roleManagementAlerts/operations')).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('Idempotency-Key', () => {
  const body = { displayName: 'Idem', description: 'Idempotent community', privacy: 'private' };

  it('replays the same request to the same operation, and refuses another request with the key (409)', async () => {
    const collection = '/v1.0/employeeExperience/engagementAsyncOperations';
    const before = await count(server, collection);
    const headers = { 'Idempotency-Key': 'idem-community-1' };
    const first = await server.request('POST', '/v1.0/employeeExperience/communities', { body, headers });
    const second = await server.request('POST', '/v1.0/employeeExperience/communities', {
      // Same request, properties in another order.
      body: { privacy: 'private', description: body.description, displayName: body.displayName },
      headers,
    });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get('location')).toBe(first.headers.get('location'));
    expect(await count(server, collection)).toBe(before + 1);

    const other = await server.request('POST', '/v1.0/employeeExperience/communities', {
      body: { ...body, displayName: 'Another' },
      headers,
    });
    expect(other.status).toBe(409);
    expect(((await other.json()) as any).error.code).toBe('idempotencyKeyReused');
    expect(await count(server, collection)).toBe(before + 1);

    // Without the key, the same request makes a new operation.
    const fresh = await server.request('POST', '/v1.0/employeeExperience/communities', { body });
    expect(fresh.headers.get('location')).not.toBe(first.headers.get('location'));
  });

  it('replays resetPassword with the password the first request generated', async () => {
    const path = '/v1.0/users/carol@contoso.com/authentication/methods/m1/resetPassword';
    const headers = { 'Idempotency-Key': 'idem-reset-1' };
    const first = await server.request('POST', path, { body: {}, headers });
    const second = await server.request('POST', path, { body: {}, headers });
    expect(second.headers.get('location')).toBe(first.headers.get('location'));
    expect(((await second.json()) as any).newPassword).toBe(((await first.json()) as any).newPassword);
  });
});

describe('configured outcomes and cancel', () => {
  it('a scenario configured to fail ends failed; the others still succeed', async () => {
    const s = await startTestServer({
      scenarios: {
        default: { durationMs: 40 },
        roleManagementAlertRefresh: { outcome: 'fail', failureMessage: 'Refresh failed (test).' },
      },
      worker: WORKER,
      retention: false,
    });
    try {
      const refresh = await s.request(
        'POST',
        '/beta/identityGovernance/roleManagementAlerts/alerts/a1/refresh',
      );
      expect(refresh.status).toBe(202);
      const { op } = await pollUntilTerminal(refresh.headers.get('location')!);
      expect(op.status).toBe('failed');
      expect(op.statusDetail).toBe('Refresh failed (test).');
      // Seed 002: the alert's URL only once succeeded; otherwise resourceLocation is empty.
      expect(op.resourceLocation).toBe('');
      const history = await s.node.store.history({
        tenantId: '',
        scope: 'identityGovernance/roleManagementAlerts',
        id: op.id,
      });
      // A configured failure is permanent: one attempt.
      expect(history.filter((e) => e.kind === 'claimed')).toHaveLength(1);

      const copy = await s.request('POST', '/v1.0/sites/s1/contentTypes/addCopyFromContentTypeHub', {
        body: { contentTypeId: '0x0101' },
      });
      expect((await pollUntilTerminal(copy.headers.get('location')!)).op.status).toBe('succeeded');
    } finally {
      await s.close();
    }
  });

  it('a failed richLongRunningOperation carries the error', async () => {
    const s = await startTestServer({
      scenarios: { default: { durationMs: 20, outcome: 'fail' } },
      worker: WORKER,
      retention: false,
    });
    try {
      const res = await s.request('POST', '/v1.0/sites/s1/contentTypes/addCopyFromContentTypeHub', {
        body: { contentTypeId: '0x0101' },
      });
      const { op } = await pollUntilTerminal(res.headers.get('location')!);
      expect(op.status).toBe('failed');
      expect(op.error).toMatchObject({
        code: 'scenarioFailed',
        message: 'The operation failed (configured outcome).',
      });
    } finally {
      await s.close();
    }
  });

  it('cancel on a running action operation: 202, then canceled', async () => {
    const s = await startTestServer({
      scenarios: { default: { durationMs: 60_000 } },
      worker: WORKER,
      retention: false,
    });
    try {
      const res = await s.request('POST', '/v1.0/employeeExperience/communities', {
        body: { displayName: 'C', description: 'To cancel', privacy: 'public' },
      });
      const location = res.headers.get('location')!;
      expect(location).toMatch(/engagementAsyncOperations\('[^']+'\)$/);
      await until(
        'running',
        async () => ((await (await fetch(location)).json()) as any).status === 'running',
      );
      const cancel = await fetch(`${location}/cancel`, { method: 'POST', headers: PREFER });
      expect(cancel.status).toBe(202);
      expect(cancel.headers.get('location')).toBe(location);
      const { op } = await pollUntilTerminal(location);
      expect(op.status).toBe('canceled');
      const plain: any = await (await fetch(location)).json();
      expect(plain.status).toBe('unknownFutureValue');
      const again = await fetch(`${location}/cancel`, { method: 'POST' });
      expect(again.status).toBe(202);
    } finally {
      await s.close();
    }
  });
});

describe('seed flow (issue 4 acceptance)', () => {
  it('start a refresh, poll the Location, see running then succeeded with the alert as resourceLocation', async () => {
    const s = await startTestServer({
      scenarios: { default: { durationMs: 1500 } },
      worker: WORKER,
      retention: false,
    });
    try {
      const alertId = 'DirectoryRole_67b47f38-0f0b-4e62-a3be-859140c2061f_StaleSignInAlert';
      // As `curl -X POST <url>`: no body. (The docs' example also sends `Content-Type: application/json`
      // with no body, which Fastify refuses with a 400 before the action runs: see the todo below.)
      const res = await fetch(
        `${s.url}/beta/identityGovernance/roleManagementAlerts/alerts/${alertId}/refresh`,
        {
          method: 'POST',
        },
      );
      expect(res.status).toBe(202);
      const location = res.headers.get('location')!;
      expect(location).toMatch(
        new RegExp(
          `^${esc(s.url)}/beta/identityGovernance/roleManagementAlerts/operations/refresh(:|%3A)${alertId}$`,
        ),
      );
      const { seen, op } = await pollUntilTerminal(location);
      expect(seen).toContain('running');
      expect(seen.indexOf('running')).toBeLessThan(seen.indexOf('succeeded'));
      expect(op['@odata.context']).toBe(
        `${s.url}/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity`,
      );
      expect(op).toMatchObject({
        '@odata.type': '#microsoft.graph.longRunningOperation',
        id: `refresh:${alertId}`,
        status: 'succeeded',
        resourceLocation: `${s.url}/beta/identityGovernance/roleManagementAlerts/alerts/${alertId}`,
      });
    } finally {
      await s.close();
    }
  });

  it("accepts the docs' exact request: Content-Type: application/json and no body", async () => {
    const s = await startTestServer({ scenarios: { default: { durationMs: 60 } } });
    try {
      const res = await fetch(
        `${s.url}/beta/identityGovernance/roleManagementAlerts/alerts/EmptyBodyAlert/refresh`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        },
      );
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toContain('/operations/refresh:EmptyBodyAlert');
    } finally {
      await s.close();
    }
  });
});
