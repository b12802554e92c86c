/**
 * longrun/client against a real HTTP server on 127.0.0.1 that each test scripts (the longrun server is
 * tested against separately). Delays are kept tiny: Retry-After 0 or 1, intervalMs 1.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createClient,
  GraphRequestError,
  OperationFailedError,
  UnexpectedResponseError,
  type ClientOptions,
  type Operation,
  type RichLongRunningOperation,
} from '../src/client/index.js';

interface SeenRequest {
  method: string;
  /** The raw request target, exactly as the client sent it. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}
type Reply = { status: number; headers?: Record<string, string>; body?: unknown } | 'drop' | 'hang';
type Script = (request: SeenRequest, index: number) => Reply;

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Starts a server that answers each request with what `script` returns for it. */
async function serve(script: Script) {
  const requests: SeenRequest[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const seen = { method: req.method!, url: req.url!, headers: req.headers, body, at: Date.now() };
    requests.push(seen);
    const reply = script(seen, requests.length - 1);
    if (reply === 'drop') return req.socket.destroy();
    if (reply === 'hang') return;
    const text =
      reply.body === undefined
        ? ''
        : typeof reply.body === 'string'
          ? reply.body
          : JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(text);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, baseUrl: `${origin}/v1.0`, requests };
}

/** Replies in order, then repeats the last one. */
function inOrder(...replies: Reply[]): () => Reply {
  let i = 0;
  return () => replies[Math.min(i++, replies.length - 1)];
}

function richOperation(
  status: string,
  extra: Partial<RichLongRunningOperation> = {},
): RichLongRunningOperation {
  return {
    '@odata.type': '#microsoft.graph.richLongRunningOperation',
    id: 'contentTypeCopy,0x0101',
    createdDateTime: '2025-01-01T00:00:00Z',
    lastActionDateTime: '2025-01-01T00:00:01Z',
    resourceLocation: null,
    status: status as RichLongRunningOperation['status'],
    statusDetail: null,
    error: null,
    percentageComplete: null,
    resourceId: null,
    type: 'contentTypeCopy',
    ...extra,
  };
}

const ok = (body: unknown, headers: Record<string, string> = { 'retry-after': '0' }): Reply => ({
  status: 200,
  headers,
  body,
});
const accepted = (headers: Record<string, string>, body?: unknown): Reply => ({ status: 202, headers, body });
const graphError = (status: number, code: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'request-id': 'req-1', ...headers },
  body: { error: { code, message: `${code} happened`, innerError: { 'request-id': 'req-1', date: 'x' } } },
});
const fast: Partial<ClientOptions> = { retry: { initialDelayMs: 1 } };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('start and pollUntilDone', () => {
  it('follows notStarted → running → succeeded and reports increasing progress', async () => {
    const opPath = '/v1.0/sites/s1/operations/contentTypeCopy,0x0101';
    const polls = inOrder(
      ok(richOperation('notStarted', { percentageComplete: 0 })),
      ok(richOperation('running', { percentageComplete: 50 })),
      ok(
        richOperation('succeeded', {
          percentageComplete: 100,
          resourceLocation: 'https://x/ct',
          resourceId: 'ct',
        }),
      ),
    );
    const { baseUrl, origin, requests } = await serve((req) =>
      req.method === 'POST' ? accepted({ location: origin + opPath, 'retry-after': '0' }) : polls(),
    );
    const client = createClient({ baseUrl });

    const poller = await client.start('/sites/s1/contentTypes/addCopyFromContentTypeHub', {
      contentTypeId: '0x0101',
    });
    expect(poller.operationUrl).toBe(origin + opPath);
    expect(poller.actionResponse).toBeUndefined();
    expect(poller.getOperation()).toBeUndefined();
    expect(poller.isDone()).toBe(false);

    const progress: (number | null)[] = [];
    poller.onProgress((op) => progress.push((op as RichLongRunningOperation).percentageComplete));
    const once = vi.fn();
    const unsubscribe = poller.onProgress((op) => {
      once(op);
      unsubscribe();
    });
    const done = await poller.pollUntilDone({ intervalMs: 1 });

    expect(done.status).toBe('succeeded');
    expect(done.resourceLocation).toBe('https://x/ct');
    expect(progress).toEqual([0, 50, 100]);
    expect(once).toHaveBeenCalledTimes(1);
    expect(poller.isDone()).toBe(true);
    expect(poller.getOperation()).toEqual(done);
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1.0/sites/s1/contentTypes/addCopyFromContentTypeHub',
      `GET ${opPath}`,
      `GET ${opPath}`,
      `GET ${opPath}`,
    ]);
    expect(JSON.parse(requests[0].body)).toEqual({ contentTypeId: '0x0101' });
    expect(requests[0].headers['content-type']).toBe('application/json');
  });

  it('keeps the 202 body as actionResponse (resetPassword)', async () => {
    const body = {
      '@odata.context': 'x/$metadata#microsoft.graph.passwordResetResponse',
      newPassword: 'Cuyo5459',
    };
    const { baseUrl } = await serve((req) =>
      req.method === 'POST'
        ? accepted({ location: '/v1.0/users/u1/authentication/operations/op1' }, body)
        : ok({ id: 'op1', status: 'succeeded' }),
    );
    const poller = await createClient({ baseUrl }).start('/users/u1/authentication/methods/m1/resetPassword');
    expect(poller.actionResponse).toEqual(body);
    await expect(poller.pollUntilDone({ intervalMs: 1 })).resolves.toMatchObject({ status: 'succeeded' });
  });

  // Each row: the headers of the 202, and the request target the poll must reach, byte for byte.
  const forms: [string, (origin: string) => Record<string, string>, string][] = [
    [
      'absolute Location with extra query parameters',
      (o) => ({
        location: `${o}/v1.0/users/u1/authentication/operations/op1?aadgdc=DUB02P&aadgsu=ssprprod-a`,
      }),
      '/v1.0/users/u1/authentication/operations/op1?aadgdc=DUB02P&aadgsu=ssprprod-a',
    ],
    [
      "relative '/v1.0/…' Location with an opaque id",
      () => ({
        location: '/v1.0/identityGovernance/roleManagementAlerts/operations/refresh:DirectoryRole_1_Stale',
      }),
      '/v1.0/identityGovernance/roleManagementAlerts/operations/refresh:DirectoryRole_1_Stale',
    ],
    [
      'relative version-less Location (Teams)',
      () => ({ location: "/teams('t1')/operations('o1')" }),
      "/v1.0/teams('t1')/operations('o1')",
    ],
    [
      "('id') form",
      (o) => ({ location: `${o}/v1.0/employeeExperience/engagementAsyncOperations('eyJfdHlwZSI6IkxSTyJ9')` }),
      "/v1.0/employeeExperience/engagementAsyncOperations('eyJfdHlwZSI6IkxSTyJ9')",
    ],
    [
      'getOperationStatus function call, other version',
      () => ({ location: "/beta/sites/getOperationStatus(operationId='JXMnaHR0cHMl=')" }),
      "/beta/sites/getOperationStatus(operationId='JXMnaHR0cHMl=')",
    ],
    [
      'Operation-Location only (Viva Engage)',
      (o) => ({ 'operation-location': `${o}/v1.0/employeeExperience/engagementAsyncOperations('a=b')` }),
      "/v1.0/employeeExperience/engagementAsyncOperations('a=b')",
    ],
    [
      'Location preferred over Operation-Location',
      (o) => ({
        location: `${o}/v1.0/operations/from-location`,
        'operation-location': `${o}/v1.0/operations/other`,
      }),
      '/v1.0/operations/from-location',
    ],
  ];
  it.each(forms)('polls the operation named by %s', async (_name, headers, expectedTarget) => {
    const { baseUrl, origin, requests } = await serve((req) =>
      req.method === 'POST' ? accepted(headers(origin)) : ok({ id: 'x', status: 'succeeded' }),
    );
    const poller = await createClient({ baseUrl }).start('/some/action');
    expect(poller.operationUrl).toBe(origin + expectedTarget);
    await poller.pollUntilDone({ intervalMs: 1 });
    expect(requests[1].url).toBe(expectedTarget);
  });

  it('rejects a start that answers 200 (a synchronous result) or a 202 without a Location', async () => {
    const { baseUrl } = await serve((req) =>
      req.url.endsWith('sync') ? ok({ id: '0x0101', name: 'Document' }, {}) : accepted({}),
    );
    const client = createClient({ baseUrl });
    const sync = await client.start('/sync').catch((e: unknown) => e);
    expect(sync).toBeInstanceOf(UnexpectedResponseError);
    expect(sync).toMatchObject({ status: 200, body: { id: '0x0101', name: 'Document' } });
    await expect(client.start('/nolocation')).rejects.toThrow(/no Location or Operation-Location/);
  });
});

describe('Retry-After on polls', () => {
  it('waits the delta-seconds the 202 asks for before the first poll', async () => {
    const { baseUrl, requests } = await serve((req) =>
      req.method === 'POST'
        ? accepted({ location: '/v1.0/operations/a', 'retry-after': '1' })
        : ok({ id: 'a', status: 'succeeded' }),
    );
    await (await createClient({ baseUrl }).start('/go')).pollUntilDone({ intervalMs: 1 });
    expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(950);
  });

  it("measures an HTTP-date against the response's Date header, not the local clock", async () => {
    // The server's clock is an hour behind; the wait it asks for is still one second.
    const serverNow = Date.now() - 3_600_000;
    const polls = inOrder(
      ok(
        { id: 'a', status: 'running' },
        {
          date: new Date(serverNow).toUTCString(),
          'retry-after': new Date(serverNow + 1000).toUTCString(),
        },
      ),
      ok({ id: 'a', status: 'succeeded' }),
    );
    const { baseUrl, requests } = await serve(polls);
    const poller = createClient({ baseUrl }).resumePoller(
      JSON.stringify({ version: 1, operationUrl: '/operations/a' }),
    );
    await poller.pollUntilDone({ intervalMs: 1 });
    const gap = requests[1].at - requests[0].at;
    expect(gap).toBeGreaterThanOrEqual(950);
    expect(gap).toBeLessThan(10_000);
  });

  it('bounds Retry-After by maxDelayMs', { timeout: 5000 }, async () => {
    const polls = inOrder(
      ok({ id: 'a', status: 'running' }, { 'retry-after': '3600' }),
      ok({ id: 'a', status: 'succeeded' }),
    );
    const { baseUrl } = await serve(polls);
    const client = createClient({ baseUrl, retry: { maxDelayMs: 10 } });
    const poller = client.resumePoller(JSON.stringify({ version: 1, operationUrl: '/operations/a' }));
    await expect(poller.pollUntilDone()).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('backs off from intervalMs when the server sends no Retry-After', async () => {
    const polls = inOrder(
      ok({ id: 'a', status: 'running' }, {}),
      ok({ id: 'a', status: 'running' }, {}),
      ok({ id: 'a', status: 'succeeded' }, {}),
    );
    const { baseUrl, requests } = await serve(polls);
    const poller = createClient({ baseUrl }).resumePoller(
      JSON.stringify({ version: 1, operationUrl: '/operations/a' }),
    );
    await poller.pollUntilDone({ intervalMs: 1 });
    expect(requests).toHaveLength(3);
  });

  it('polls again at once when the server applied Prefer: wait', { timeout: 5000 }, async () => {
    const polls = inOrder(
      ok({ id: 'a', status: 'running' }, { 'preference-applied': 'wait=5', 'retry-after': '30' }),
      ok({ id: 'a', status: 'succeeded' }),
    );
    const { baseUrl, requests } = await serve(polls);
    const poller = createClient({ baseUrl }).resumePoller(
      JSON.stringify({ version: 1, operationUrl: '/operations/a' }),
    );
    await poller.pollUntilDone({ preferWaitSeconds: 5 });
    expect(requests.map((r) => r.headers.prefer)).toEqual(['wait=5', 'wait=5']);
  });
});

describe('retries', () => {
  it('retries a GET after 429 with Retry-After, under the same client-request-id', async () => {
    const replies = inOrder(
      graphError(429, 'activityLimitReached', { 'retry-after': '0' }),
      ok({ id: 'a', status: 'running' }),
    );
    const { baseUrl, requests } = await serve(replies);
    const op = await createClient({ baseUrl }).getOperation('/operations/a');
    expect(op.status).toBe('running');
    expect(requests).toHaveLength(2);
    expect(requests[1].headers['client-request-id']).toBe(requests[0].headers['client-request-id']);
    expect(requests[0].headers['retry-attempt']).toBeUndefined();
    expect(requests[1].headers['retry-attempt']).toBe('1');
  });

  it('retries a GET after 504 and after a dropped connection, with backoff', async () => {
    const replies = inOrder(graphError(504, 'gatewayTimeout'), 'drop', ok({ id: 'a', status: 'running' }));
    const { baseUrl, requests } = await serve(replies);
    await expect(createClient({ baseUrl, ...fast }).getOperation('/operations/a')).resolves.toMatchObject({
      id: 'a',
    });
    expect(requests).toHaveLength(3);
  });

  it('gives up after maxRetries', async () => {
    const { baseUrl, requests } = await serve(() =>
      graphError(503, 'serviceNotAvailable', { 'retry-after': '0' }),
    );
    const error = await createClient({ baseUrl, retry: { maxRetries: 2 } })
      .getOperation('/operations/a')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error).toMatchObject({ status: 503, code: 'serviceNotAvailable', attempts: 3 });
    expect(requests).toHaveLength(3);
  });

  it('retries a start POST after 503 with Retry-After (the server did not process it)', async () => {
    const replies = inOrder(
      graphError(503, 'serviceNotAvailable', { 'retry-after': '0' }),
      accepted({ location: '/v1.0/operations/a' }),
    );
    const { baseUrl, requests } = await serve(replies);
    const poller = await createClient({ baseUrl }).start('/go', { x: 1 });
    expect(poller.operationUrl).toMatch(/\/v1\.0\/operations\/a$/);
    expect(requests.map((r) => r.body)).toEqual(['{"x":1}', '{"x":1}']);
  });

  it.each([
    ['503 without Retry-After', graphError(503, 'serviceNotAvailable')],
    ['504 with Retry-After', graphError(504, 'gatewayTimeout', { 'retry-after': '0' })],
  ] as const)('does not resend a POST after %s (its outcome is unknown)', async (_name, reply) => {
    const { baseUrl, requests } = await serve(() => reply);
    await expect(createClient({ baseUrl, ...fast }).start('/go')).rejects.toBeInstanceOf(GraphRequestError);
    expect(requests).toHaveLength(1);
  });

  it('does not resend a POST after a dropped connection', async () => {
    const { baseUrl, requests } = await serve(() => 'drop');
    await expect(createClient({ baseUrl, ...fast }).start('/go')).rejects.toThrow(TypeError);
    expect(requests).toHaveLength(1);
  });

  it('resends a POST that carries an idempotency key', async () => {
    const replies = inOrder(
      'drop',
      graphError(504, 'gatewayTimeout'),
      accepted({ location: '/v1.0/operations/a' }),
    );
    const { baseUrl, requests } = await serve(replies);
    await createClient({ baseUrl, ...fast }).start('/go', undefined, { idempotencyKey: 'k-1' });
    expect(requests.map((r) => r.headers['idempotency-key'])).toEqual(['k-1', 'k-1', 'k-1']);
  });
});

describe('unsuccessful ends', () => {
  it('rejects with OperationFailedError carrying the operation, its statusDetail and its error', async () => {
    const failure = {
      code: 'generalException',
      message: 'The content type could not be copied.',
      target: 'contentTypeId',
      details: [],
      innerError: null,
    };
    const polls = inOrder(
      ok(richOperation('running', { percentageComplete: 10 })),
      ok(richOperation('failed', { statusDetail: 'copyFailed', error: failure })),
    );
    const { baseUrl } = await serve(polls);
    const poller = createClient({ baseUrl }).resumePoller(
      JSON.stringify({ version: 1, operationUrl: '/sites/s1/operations/x' }),
    );
    const error = await poller.pollUntilDone({ intervalMs: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    const failed = error as OperationFailedError;
    expect(failed.message).toContain('The content type could not be copied.');
    expect(failed.status).toBe('failed');
    expect(failed.statusDetail).toBe('copyFailed');
    expect(failed.error).toEqual(failure);
    expect(failed.operation.status).toBe('failed');
    expect(poller.isDone()).toBe(true);
  });

  it('asks once more with include-unknown-enum-members when it sees unknownFutureValue', async () => {
    const { baseUrl, requests } = await serve((req) =>
      req.headers.prefer === 'include-unknown-enum-members'
        ? ok(
            { id: 'a', status: 'canceled', statusDetail: 'by admin' },
            { 'preference-applied': 'include-unknown-enum-members' },
          )
        : ok({ id: 'a', status: 'unknownFutureValue', statusDetail: 'by admin' }),
    );
    const poller = createClient({ baseUrl }).resumePoller(
      JSON.stringify({ version: 1, operationUrl: '/operations/a' }),
    );
    const error = await poller.pollUntilDone({ intervalMs: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    expect(error).toMatchObject({ status: 'canceled', message: expect.stringContaining('was canceled') });
    expect(requests.map((r) => r.headers.prefer)).toEqual(['wait=30', 'include-unknown-enum-members']);
  });

  it('stops on an unknownFutureValue the server will not reveal rather than poll forever', async () => {
    const { baseUrl, requests } = await serve(() => ok({ id: 'a', status: 'unknownFutureValue' }));
    const poller = createClient({ baseUrl }).resumePoller(
      JSON.stringify({ version: 1, operationUrl: '/operations/a' }),
    );
    await expect(poller.pollUntilDone({ intervalMs: 1 })).rejects.toMatchObject({
      status: 'unknownFutureValue',
    });
    expect(requests).toHaveLength(2);
  });

  it('sees canceled directly with includeUnknownEnumMembers', async () => {
    const { baseUrl, requests } = await serve(() => ok({ id: 'a', status: 'canceled' }));
    const client = createClient({ baseUrl, includeUnknownEnumMembers: true });
    const poller = client.resumePoller(JSON.stringify({ version: 1, operationUrl: '/operations/a' }));
    await expect(poller.pollUntilDone()).rejects.toMatchObject({ status: 'canceled' });
    expect(requests).toHaveLength(1);
    expect(requests[0].headers.prefer).toBe('include-unknown-enum-members, wait=30');
    // Opted in already, an unknownFutureValue is what the server has to say: no second request.
    const hidden = await serve(() => ok({ id: 'b', status: 'unknownFutureValue' }));
    const other = createClient({ baseUrl: hidden.baseUrl, includeUnknownEnumMembers: true });
    await expect(
      other.resumePoller(JSON.stringify({ version: 1, operationUrl: '/operations/b' })).poll(),
    ).resolves.toMatchObject({ status: 'unknownFutureValue' });
    expect(hidden.requests).toHaveLength(1);
  });
});

describe('abort', () => {
  it('rejects with the AbortError while waiting between polls', async () => {
    const { baseUrl, requests } = await serve((req) =>
      req.method === 'POST'
        ? accepted({ location: '/v1.0/operations/a', 'retry-after': '30' })
        : ok({ id: 'a', status: 'running' }),
    );
    const poller = await createClient({ baseUrl }).start('/go');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const error = await poller.pollUntilDone({ signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBe(controller.signal.reason);
    expect((error as Error).name).toBe('AbortError');
    expect(requests).toHaveLength(1); // aborted in the Retry-After wait, before any poll
  });

  it('aborts an in-flight request with the signal’s reason', async () => {
    const { baseUrl, requests } = await serve(() => 'hang');
    const controller = new AbortController();
    const reason = new Error('user navigated away');
    const pending = createClient({ baseUrl }).getOperation('/operations/a', { signal: controller.signal });
    await vi.waitFor(() => expect(requests).toHaveLength(1));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('aborts a retry wait', async () => {
    const { baseUrl } = await serve(() => graphError(429, 'activityLimitReached', { 'retry-after': '30' }));
    const signal = AbortSignal.timeout(30);
    const error = await createClient({ baseUrl })
      .getOperation('/operations/a', { signal })
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
  });
});

describe('serialize and resume', () => {
  it('resumes in a new client and finishes', async () => {
    const polls = inOrder(ok({ id: 'a', status: 'running' }), ok({ id: 'a', status: 'succeeded' }));
    const { baseUrl, origin, requests } = await serve((req) =>
      req.method === 'POST'
        ? accepted({ location: '/v1.0/operations/a?aadgdc=X' }, { newPassword: 'p' })
        : polls(),
    );
    const first = await createClient({ baseUrl, getToken: () => 'first' }).start('/go');
    await first.poll();
    const saved = first.serialize();
    expect(JSON.parse(saved)).toMatchObject({
      operationUrl: `${origin}/v1.0/operations/a?aadgdc=X`,
      operation: { status: 'running' },
      actionResponse: { newPassword: 'p' },
    });

    const resumed = createClient({ baseUrl, getToken: () => 'second' }).resumePoller(saved);
    expect(resumed.operationUrl).toBe(first.operationUrl);
    expect(resumed.actionResponse).toEqual({ newPassword: 'p' });
    expect(resumed.getOperation()).toMatchObject({ status: 'running' });
    expect(resumed.isDone()).toBe(false);
    await expect(resumed.pollUntilDone({ intervalMs: 1 })).resolves.toMatchObject({ status: 'succeeded' });
    expect(requests.at(-1)!.headers.authorization).toBe('Bearer second');
  });

  it('resumes an already finished poller without a request', async () => {
    const { baseUrl, requests } = await serve(() => ok({}));
    const saved = JSON.stringify({
      version: 1,
      operationUrl: '/operations/a',
      operation: { id: 'a', status: 'succeeded' },
    });
    const poller = createClient({ baseUrl }).resumePoller(saved);
    expect(poller.isDone()).toBe(true);
    await expect(poller.pollUntilDone()).resolves.toMatchObject({ id: 'a' });
    expect(requests).toHaveLength(0);
  });

  it('refuses what serialize() did not write', () => {
    const client = createClient({ baseUrl: 'http://127.0.0.1:1/v1.0' });
    expect(() => client.resumePoller('{"state":{}}')).toThrow(TypeError);
    expect(() => client.resumePoller('not json')).toThrow(SyntaxError);
  });
});

describe('operations and collections', () => {
  it('lists a collection across two nextLinks with the query options', async () => {
    const ops = (...ids: string[]) => ids.map((id) => ({ id, status: 'running' }));
    const { baseUrl, origin, requests } = await serve((req) => {
      if (req.url.includes('$skiptoken=2'))
        return ok({ value: ops('c', 'd'), '@odata.nextLink': '/v1.0/operations?$skiptoken=3' });
      if (req.url.includes('$skiptoken=3')) return ok({ value: ops('e') });
      return ok({ value: ops('a', 'b'), '@odata.nextLink': `${origin}/v1.0/operations?$top=2&$skiptoken=2` });
    });
    const seen: Operation[] = [];
    const query = {
      filter: "status eq 'running'",
      orderby: 'createdDateTime desc',
      top: 2,
      select: ['id', 'status'],
    };
    for await (const op of createClient({ baseUrl }).listOperations('/operations', query)) seen.push(op);

    expect(seen.map((o) => o.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(requests).toHaveLength(3);
    const first = new URL(requests[0].url, origin);
    expect(first.pathname).toBe('/v1.0/operations');
    expect(Object.fromEntries(first.searchParams)).toEqual({
      $filter: "status eq 'running'",
      $orderby: 'createdDateTime desc',
      $top: '2',
      $select: 'id,status',
    });
    expect(requests[1].url).toBe('/v1.0/operations?$top=2&$skiptoken=2');
    expect(requests[2].url).toBe('/v1.0/operations?$skiptoken=3');
  });

  it('gets with $select, creates, updates (200 or 204), cancels and deletes', async () => {
    const op = { '@odata.type': '#microsoft.graph.longRunningOperation', id: 'op1', status: 'running' };
    const { baseUrl, requests } = await serve((req) => {
      if (req.method === 'POST' && req.url === '/v1.0/operations')
        return { status: 201, body: { ...op, ...JSON.parse(req.body) } };
      if (req.method === 'PATCH' && req.url.endsWith('op1')) return { status: 204 };
      if (req.method === 'PATCH') return ok({ ...op, id: 'op2', ...JSON.parse(req.body) });
      if (req.method === 'POST') return accepted({});
      if (req.method === 'DELETE') return { status: 204 };
      return ok(op);
    });
    const client = createClient({ baseUrl });

    await expect(client.getOperation('operations/op1', { select: ['id', 'status'] })).resolves.toEqual(op);
    const created = await client.createOperation('/operations', { statusDetail: 'queued' });
    expect(created).toMatchObject({ id: 'op1', statusDetail: 'queued' });
    await expect(client.updateOperation('/operations/op1', { statusDetail: 'half' })).resolves.toEqual(op);
    const updated = await client.updateOperation('/operations/op2', {
      status: 'running',
      percentageComplete: 5,
    });
    expect(updated).toMatchObject({ id: 'op2', percentageComplete: 5 });
    await client.cancelOperation('/operations/op1?aadgdc=X');
    await client.deleteOperation('/operations/op1');

    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1.0/operations/op1?$select=id%2Cstatus',
      'POST /v1.0/operations',
      'PATCH /v1.0/operations/op1',
      'GET /v1.0/operations/op1',
      'PATCH /v1.0/operations/op2',
      'POST /v1.0/operations/op1/cancel?aadgdc=X',
      'DELETE /v1.0/operations/op1',
    ]);
    expect(JSON.parse(requests[2].body)).toEqual({ statusDetail: 'half' });
  });

  it('treats 404 on a resent DELETE as done', async () => {
    const replies = inOrder('drop', graphError(404, 'itemNotFound'));
    const { baseUrl } = await serve(replies);
    await expect(
      createClient({ baseUrl, ...fast }).deleteOperation('/operations/a'),
    ).resolves.toBeUndefined();
  });
});

describe('requests and errors', () => {
  it('sends a fresh token, a client-request-id and the extra headers on every request', async () => {
    const { baseUrl, requests } = await serve((req) =>
      req.method === 'POST'
        ? accepted({ location: '/v1.0/operations/a' })
        : ok({ id: 'a', status: 'succeeded' }),
    );
    let calls = 0;
    const getToken = vi.fn(async () => `token-${++calls}`);
    const client = createClient({ baseUrl: `${baseUrl}/`, getToken, headers: { 'x-tenant': 'contoso' } });
    await (await client.start('/go')).pollUntilDone();

    expect(getToken).toHaveBeenCalledTimes(2);
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(requests.every((r) => UUID.test(String(r.headers['client-request-id'])))).toBe(true);
    expect(requests[0].headers['client-request-id']).not.toBe(requests[1].headers['client-request-id']);
    expect(
      requests.every((r) => r.headers['x-tenant'] === 'contoso' && r.headers.accept === 'application/json'),
    ).toBe(true);
    expect(requests[0].url).toBe('/v1.0/go');
  });

  it('does not send the token to an operation on another origin', async () => {
    const monitor = await serve(() => ok({ id: 'a', status: 'succeeded' }));
    const api = await serve(() => accepted({ location: `${monitor.origin}/monitor/a` }));
    const client = createClient({ baseUrl: api.baseUrl, getToken: () => 'secret' });
    await (await client.start('/go')).pollUntilDone();
    expect(api.requests[0].headers.authorization).toBe('Bearer secret');
    expect(monitor.requests[0].headers.authorization).toBeUndefined();
    expect(monitor.requests[0].headers['client-request-id']).toMatch(UUID);
  });

  it("parses Graph's error envelope into GraphRequestError", async () => {
    const { baseUrl, requests } = await serve(() => graphError(404, 'itemNotFound'));
    const error = await createClient({ baseUrl })
      .getOperation('/operations/missing')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error).toMatchObject({
      name: 'GraphRequestError',
      status: 404,
      code: 'itemNotFound',
      message: 'itemNotFound happened',
      requestId: 'req-1',
      clientRequestId: requests[0].headers['client-request-id'],
      body: { error: { code: 'itemNotFound' } },
    });
  });

  it('keeps a non-JSON error body as text', async () => {
    const { baseUrl } = await serve(() => ({
      status: 502,
      headers: { 'content-type': 'text/html' },
      body: '<h1>Bad gateway</h1>',
    }));
    const error = await createClient({ baseUrl })
      .getOperation('/operations/a')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      status: 502,
      code: 'unknownError',
      body: '<h1>Bad gateway</h1>',
      requestId: undefined,
    });
  });
});
