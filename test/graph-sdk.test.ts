/**
 * Microsoft's own Graph SDK for TypeScript (Kiota-generated), with its base URL pointed at longrun: reads,
 * lists following @odata.nextLink, creates and updates operations, and deserializes each subtype by
 * @odata.type.
 */
import { HttpMethod, RequestInformation, type AuthenticationProvider } from '@microsoft/kiota-abstractions';
import {
  createGraphServiceClient,
  GraphRequestAdapter,
  type GraphServiceClient,
} from '@microsoft/msgraph-sdk';
import { PageIterator } from '@microsoft/msgraph-sdk-core';
import '@microsoft/msgraph-sdk-sites';
import '@microsoft/msgraph-sdk-users';
import {
  createLongRunningOperationCollectionResponseFromDiscriminatorValue,
  createRichLongRunningOperationCollectionResponseFromDiscriminatorValue,
  type LongRunningOperationCollectionResponse,
  type LongRunningOperation,
  type RichLongRunningOperation,
} from '@microsoft/msgraph-sdk/models/index.js';
import { createODataErrorFromDiscriminatorValue } from '@microsoft/msgraph-sdk/models/oDataErrors/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
let client: GraphServiceClient;
let adapter: GraphRequestAdapter;

/** Sends a bearer token the way an app's auth provider would (longrun's test server runs without auth). */
const bearer: AuthenticationProvider = {
  async authenticateRequest(request: RequestInformation) {
    request.headers.tryAdd('Authorization', 'Bearer test');
  },
};

beforeAll(async () => {
  server = await startTestServer();
  adapter = new GraphRequestAdapter(bearer);
  adapter.baseUrl = `${server.url}/v1.0`;
  client = createGraphServiceClient(adapter);
});
afterAll(() => server.close());

/** longrun's own `/operations` is not in Graph's SDK; read it with the SDK's adapter and base-type factory. */
async function listAppOperations(): Promise<LongRunningOperation[]> {
  const info = new RequestInformation(HttpMethod.GET, '{+baseurl}/operations');
  const page = (await adapter.send(info, createLongRunningOperationCollectionResponseFromDiscriminatorValue, {
    XXX: createODataErrorFromDiscriminatorValue,
  })) as LongRunningOperationCollectionResponse | undefined;
  return page?.value ?? [];
}

describe('Microsoft Graph SDK against longrun', () => {
  it('creates, updates and reads a SharePoint operation as richLongRunningOperation', async () => {
    const created = await client.sites.bySiteId('contoso.sharepoint.com,1,2').operations.post({
      odataType: '#microsoft.graph.richLongRunningOperation',
      type: 'contentTypeCopy',
      percentageComplete: 10,
    } as RichLongRunningOperation);
    expect(created?.id).toBeTruthy();
    expect(created?.odataType).toBe('#microsoft.graph.richLongRunningOperation');

    const item = client.sites
      .bySiteId('contoso.sharepoint.com,1,2')
      .operations.byRichLongRunningOperationId(created!.id!);
    const updated = await item.patch({
      odataType: '#microsoft.graph.richLongRunningOperation',
      status: 'running',
      percentageComplete: 55,
    } as RichLongRunningOperation);
    expect(updated?.status).toBe('running');
    expect(updated?.percentageComplete).toBe(55);

    const read = await item.get();
    expect(read).toMatchObject({
      id: created!.id,
      status: 'running',
      percentageComplete: 55,
      type: 'contentTypeCopy',
    });
    expect(read?.createdDateTime).toBeInstanceOf(Date);
  });

  it('lists with $top and follows @odata.nextLink with the PageIterator', async () => {
    const site = client.sites.bySiteId('paging-site').operations;
    for (let i = 0; i < 7; i++) await site.post({ percentageComplete: i } as RichLongRunningOperation);
    const first = await site.get({ queryParameters: { top: 3, orderby: ['createdDateTime'] } });
    expect(first?.value).toHaveLength(3);
    expect(first?.odataNextLink).toContain('$skiptoken=');
    const seen: number[] = [];
    const iterator = new PageIterator<RichLongRunningOperation>(
      adapter,
      first as never,
      (op) => {
        seen.push(op.percentageComplete!);
        return true;
      },
      createRichLongRunningOperationCollectionResponseFromDiscriminatorValue as never,
      { XXX: createODataErrorFromDiscriminatorValue },
    );
    await iterator.iterate();
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('deserializes each subtype by @odata.type from a base-typed collection', async () => {
    const user = client.users.byUserId('alice@contoso.com').authentication.operations;
    const created = await user.post({ statusDetail: 'base' } as LongRunningOperation);
    expect(created?.odataType).toBe('#microsoft.graph.longRunningOperation');
    // longrun's own collection holds any type; the SDK reads them through the users route's base type.
    for (const body of [
      { '@odata.type': '#microsoft.graph.richLongRunningOperation', percentageComplete: 5 },
      { '@odata.type': '#microsoft.graph.attackSimulationOperation', percentageCompleted: 6 },
      { '@odata.type': '#microsoft.graph.engagementAsyncOperation', operationType: 'createCommunity' },
    ]) {
      expect((await server.request('POST', '/v1.0/operations', { body })).status).toBe(201);
    }
    const list = await user.get();
    expect(list?.value?.[0]?.statusDetail).toBe('base');
    const sdkOps = await listAppOperations();
    expect(sdkOps.map((o) => o.odataType).sort()).toEqual([
      '#microsoft.graph.attackSimulationOperation',
      '#microsoft.graph.engagementAsyncOperation',
      '#microsoft.graph.richLongRunningOperation',
    ]);
    const rich = sdkOps.find(
      (o) => o.odataType === '#microsoft.graph.richLongRunningOperation',
    ) as RichLongRunningOperation;
    expect(rich.percentageComplete).toBe(5);
  });

  it('surfaces Graph errors as ODataError with the code', async () => {
    const missing = client.sites.bySiteId('x').operations.byRichLongRunningOperationId('missing');
    await expect(missing.get()).rejects.toMatchObject({
      responseStatusCode: 404,
      errorEscaped: { code: 'itemNotFound' },
    });
  });
});
