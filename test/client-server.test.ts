/** longrun/client against the real server: every method, each Location form, progress, resume, abort, failure. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { createClient, OperationFailedError, type LongrunClient } from '../src/client/index.js';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
let dir: string;
let token: string;
let tokenCalls = 0;
let v1: LongrunClient;
let beta: LongrunClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'longrun-client-'));
  const config = await resolveAuthConfig({}, {}, dir);
  token = await mintToken(config, DEV_TOKEN_DEFAULTS);
  server = await startTestServer({
    security: securityFor(config),
    scenarios: {
      default: { durationMs: 400 },
      createSite: { outcome: 'fail', failureMessage: 'site quota reached' },
    },
    worker: { pollIntervalMs: 20, progressIntervalMs: 20 },
  });
  const getToken = () => {
    tokenCalls++;
    return token;
  };
  v1 = createClient({ baseUrl: `${server.url}/v1.0`, getToken, includeUnknownEnumMembers: true });
  beta = createClient({ baseUrl: `${server.url}/beta`, getToken, includeUnknownEnumMembers: true });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('client against the server', () => {
  it('creates, reads, updates, lists (following nextLink), cancels and deletes', async () => {
    const created = await v1.createOperation('/sites/client/operations', {
      id: 'c-1',
      statusDetail: 'queued',
    } as never);
    expect(created).toMatchObject({
      id: 'c-1',
      status: 'notStarted',
      '@odata.type': '#microsoft.graph.richLongRunningOperation',
    });
    expect(tokenCalls).toBeGreaterThan(0);
    const updated = await v1.updateOperation('/sites/client/operations/c-1', {
      status: 'running',
      percentageComplete: 20,
    } as never);
    expect(updated).toMatchObject({ status: 'running', percentageComplete: 20 });
    expect(await v1.getOperation("/sites/client/operations('c-1')", { select: ['status'] })).toMatchObject({
      status: 'running',
    });
    for (let i = 2; i <= 7; i++)
      await v1.createOperation('/sites/client/operations', { id: `c-${i}` } as never);
    const ids: string[] = [];
    for await (const op of v1.listOperations('/sites/client/operations', { top: 2, orderby: 'id' }))
      ids.push(op.id);
    expect(ids).toEqual(['c-1', 'c-2', 'c-3', 'c-4', 'c-5', 'c-6', 'c-7']);
    await v1.cancelOperation('/sites/client/operations/c-1');
    expect((await v1.getOperation('/sites/client/operations/c-1')).status).toBe('canceled');
    await v1.deleteOperation('/sites/client/operations/c-1');
    await expect(v1.getOperation('/sites/client/operations/c-1')).rejects.toMatchObject({
      status: 404,
      code: 'itemNotFound',
    });
  });

  it('follows a segment Location (role-alert refresh) to its resourceLocation', async () => {
    const poller = await beta.start('/identityGovernance/roleManagementAlerts/alerts/ClientAlert/refresh');
    expect(poller.operationUrl).toBe(
      `${server.url}/beta/identityGovernance/roleManagementAlerts/operations/refresh:ClientAlert`,
    );
    const done = await poller.pollUntilDone({ intervalMs: 20 });
    expect(done.resourceLocation).toBe(
      `${server.url}/beta/identityGovernance/roleManagementAlerts/alerts/ClientAlert`,
    );
  });

  it("follows an ('id') Operation-Location (Viva Engage community)", async () => {
    const poller = await v1.start('/employeeExperience/communities', {
      displayName: 'Client',
      description: 'made by the client test',
      privacy: 'public',
    });
    expect(poller.operationUrl).toMatch(/engagementAsyncOperations\('[^']+'\)$/);
    const done = await poller.pollUntilDone({ intervalMs: 20 });
    expect(done).toMatchObject({ status: 'succeeded', operationType: 'createCommunity' });
  });

  it("follows a getOperationStatus(operationId='…') Location and surfaces a failure as OperationFailedError", async () => {
    const poller = await beta.start('/sites', {
      name: 'c',
      webUrl: 'https://contoso.sharepoint.com/sites/c',
      template: 'sts',
    });
    expect(poller.operationUrl).toMatch(/\/beta\/sites\/getOperationStatus\(operationId='[^']+'\)$/);
    const error = await poller.pollUntilDone({ intervalMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    expect(error).toMatchObject({
      status: 'failed',
      statusDetail: 'site quota reached',
      error: { code: 'scenarioFailed' },
    });
  });

  it('reports progress, and resumes from serialize() in a new client', async () => {
    const poller = await v1.start('/sites/client/contentTypes/addCopyFromContentTypeHub', {
      contentTypeId: '0x0105',
    });
    const seen: number[] = [];
    poller.onProgress((op) => {
      const p = (op as { percentageComplete?: number }).percentageComplete;
      if (typeof p === 'number') seen.push(p);
    });
    await poller.poll();
    const saved = poller.serialize();
    const other = createClient({ baseUrl: `${server.url}/v1.0`, getToken: () => token });
    const resumed = other.resumePoller(saved);
    resumed.onProgress((op) => {
      const p = (op as { percentageComplete?: number }).percentageComplete;
      if (typeof p === 'number') seen.push(p);
    });
    const done = await resumed.pollUntilDone({ intervalMs: 20 });
    expect(done).toMatchObject({ status: 'succeeded', percentageComplete: 100, resourceId: '0x0105' });
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe(100);
  });

  it('stops polling when aborted', async () => {
    const poller = await beta.start('/identityGovernance/roleManagementAlerts/alerts/AbortAlert/refresh');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(poller.pollUntilDone({ signal: controller.signal, intervalMs: 20 })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});
