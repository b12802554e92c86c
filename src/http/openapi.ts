/**
 * `GET /openapi.json`: an OpenAPI 3.1 description of longrun's HTTP API, generated from the same tables as
 * everything else: the schemas (schemas.ts, from the operation type table), the route families (paths,
 * declared types, permissions) and the start actions (actions/definitions.ts). Public, like `$metadata`.
 *
 * The start actions' bodies are checked in code (each action's `prepare`), not described as data, so
 * their request bodies appear here as plain JSON objects.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { FAMILIES, type FamilyDef, type PermissionSet } from '../families/families.js';
import { API_VERSIONS, OPERATION_TYPES, type ApiVersion, type OperationTypeName } from '../model/types.js';
import { ACTIONS } from './actions/definitions.js';
import { adminPaths } from './admin/admin-openapi.js';
import { collectionResponseName, componentRef, componentSchemas } from './schemas.js';

type Json = Record<string, unknown>;

const ERROR_RESPONSES = {
  '4XX': { $ref: '#/components/responses/error' },
  '5XX': { $ref: '#/components/responses/error' },
};
const PUBLIC: Json = { security: [] };
const JSON_TYPE = 'application/json';

const schemaRef = (qualifiedName: string) => ({ $ref: componentRef(qualifiedName) });
const content = (schema: unknown, type = JSON_TYPE) => ({ [type]: { schema } });
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
const paramRef = (name: string) => ({ $ref: `#/components/parameters/${name}` });

function packageVersion(): string {
  try {
    // src/http and dist/http are both two levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** `['sites', ':siteId', 'operations']` → `/sites/{siteId}/operations`, and its path parameters. */
function templatePath(segments: readonly string[]): { path: string; params: string[] } {
  const params: string[] = [];
  const path = segments
    .map((s) => {
      if (!s.startsWith(':')) return s;
      params.push(s.slice(1));
      return `{${s.slice(1)}}`;
    })
    .join('/');
  return { path: `/${path}`, params };
}

const pathParam = (name: string, description?: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  ...(description ? { description } : {}),
});

const permissionsExtension = (p: PermissionSet) => ({
  'x-longrun-permissions': { delegated: [...p.delegated], application: [...p.application] },
});

/** Builds the document; the route serves it from a cache. */
export function openApiDocument(): Json {
  const paths: Record<string, Json> = {};
  const operationIds = new Set<string>();
  const add = (path: string, method: string, op: Json, params: string[]) => {
    const item = (paths[path] ??= {});
    if (params.length > 0 && !item.parameters) item.parameters = params.map((p) => pathParam(p));
    let id = `${method}${path.replace(/[^A-Za-z0-9]+/g, '_')}`.replace(/_+$/, '');
    for (let n = 2; operationIds.has(id); n++) id = `${id}_${n}`;
    operationIds.add(id);
    item[method] = { operationId: id, ...op };
  };

  for (const version of API_VERSIONS) {
    for (const family of FAMILIES) {
      for (const template of family.collections) {
        if (!template.versions.includes(version)) continue;
        const { path, params } = templatePath(template.segments);
        collectionPaths(add, `/${version}${path}`, params, family, version);
      }
    }
    if (version === 'beta') {
      // GET /beta/sites/getOperationStatus(operationId='…') (see http/resolve.ts)
      const sites = FAMILIES.find((f) => f.name === 'sites')!;
      add(
        `/${version}/sites/getOperationStatus(operationId='{operationId}')`,
        'get',
        {
          tags: [`${version}: ${sites.name}`],
          summary: 'Read a site-creation operation (beta function getOperationStatus).',
          ...permissionsExtension(sites.read),
          parameters: [paramRef('select'), paramRef('prefer')],
          responses: {
            '200': {
              description: 'The operation.',
              headers: { 'Retry-After': headerRef('Retry-After') },
              content: content(schemaRef(OPERATION_TYPES.richLongRunningOperation.qualifiedName)),
            },
            ...ERROR_RESPONSES,
          },
        },
        ['operationId'],
      );
    }
    for (const action of ACTIONS) {
      if (!action.versions.includes(version)) continue;
      const { path, params } = templatePath(action.segments);
      add(
        `/${version}${path}`,
        action.method.toLowerCase(),
        {
          tags: [`${version}: ${action.family}`],
          summary: `Start ${action.name}: 202 Accepted with the operation's URL in Location and Operation-Location.`,
          ...permissionsExtension(action.permissions),
          parameters: [{ $ref: '#/components/parameters/idempotencyKey' }],
          requestBody: {
            required: false,
            description: "The action's parameters, as in Graph; checked by longrun (400 on anything wrong).",
            content: content({ type: 'object' }),
          },
          responses: {
            '202': {
              description: 'The work was accepted; poll the operation at Location until it is terminal.',
              headers: {
                Location: headerRef('Location'),
                'Operation-Location': headerRef('Location'),
                'Retry-After': headerRef('Retry-After'),
              },
              content: content({ type: 'object', description: 'Only some actions answer with a body.' }),
            },
            ...ERROR_RESPONSES,
          },
        },
        params,
      );
    }
    publicAndServicePaths(add, version);
  }
  for (const [path, desc, type] of [
    ['/healthz', 'The process is up.', JSON_TYPE],
    ['/readyz', 'The store answers (503 when not).', JSON_TYPE],
    ['/metrics', 'Prometheus metrics (text exposition format).', 'text/plain'],
  ] as const) {
    add(
      path,
      'get',
      { ...PUBLIC, summary: desc, responses: { '200': { description: desc, content: content({}, type) } } },
      [],
    );
  }
  adminPaths(add);
  add(
    '/openapi.json',
    'get',
    {
      ...PUBLIC,
      summary: 'This document.',
      responses: { '200': { description: 'OpenAPI 3.1', content: content({ type: 'object' }) } },
    },
    [],
  );

  return {
    openapi: '3.1.0',
    info: {
      title: 'longrun',
      version: packageVersion(),
      description:
        "Long-running operations with Microsoft Graph's longRunningOperation contract. Paths under /v1.0 and /beta follow Graph's.",
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: componentSchemas(API_VERSIONS),
      responses: {
        error: {
          description: "Graph's error envelope.",
          content: content(schemaRef('microsoft.graph.ODataErrors.ODataError')),
        },
        preconditionFailed: {
          description:
            "If-Match named none of the operation's current ETag (another writer changed it): Graph's error envelope with code preconditionFailed. Read the operation again and retry with its ETag.",
          headers: { ETag: headerRef('ETag') },
          content: content(schemaRef('microsoft.graph.ODataErrors.ODataError')),
        },
      },
      parameters: {
        top: {
          name: '$top',
          in: 'query',
          description: 'Page size (1-999).',
          schema: { type: 'integer', minimum: 1 },
        },
        skiptoken: {
          name: '$skiptoken',
          in: 'query',
          description: 'From @odata.nextLink.',
          schema: { type: 'string' },
        },
        filter: {
          name: '$filter',
          in: 'query',
          description: 'OData filter expression.',
          schema: { type: 'string' },
        },
        orderby: {
          name: '$orderby',
          in: 'query',
          description: 'OData order expression.',
          schema: { type: 'string' },
        },
        select: {
          name: '$select',
          in: 'query',
          description: 'Comma-separated property names.',
          style: 'form',
          explode: false,
          schema: { type: 'array', items: { type: 'string' }, uniqueItems: true },
        },
        count: {
          name: '$count',
          in: 'query',
          description: 'Include @odata.count.',
          schema: { type: 'boolean' },
        },
        prefer: {
          name: 'Prefer',
          in: 'header',
          description: 'include-unknown-enum-members, return=minimal, wait=N (RFC 7240).',
          schema: { type: 'string' },
        },
        idempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          description: 'The same key and request return the operation the first request started.',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
        },
        preferRead: {
          name: 'Prefer',
          in: 'header',
          description:
            'wait=N (RFC 7240): hold the read up to N seconds (capped by the server) until the operation differs from what the client last saw: the ETag in If-None-Match when sent (nothing between two reads is missed), otherwise any change after the request arrived. The response then says Preference-Applied: wait=N, and the client may read again at once. Also include-unknown-enum-members.',
          schema: { type: 'string' },
          example: 'wait=30',
        },
        ifNoneMatch: {
          name: 'If-None-Match',
          in: 'header',
          description:
            'ETags (or *) of what the client holds: 304 Not Modified, without a body, when the operation still has one of them (RFC 9110 §13.1.2).',
          schema: { type: 'string' },
          example: '"3-1a2b3c4d"',
        },
        ifMatch: {
          name: 'If-Match',
          in: 'header',
          description:
            'ETags (or *) the operation must still have for the request to apply; else 412 preconditionFailed and nothing changes (RFC 9110 §13.1.1). Without it, the request applies whatever the ETag.',
          schema: { type: 'string' },
          example: '"3-1a2b3c4d"',
        },
        lastEventId: {
          name: 'Last-Event-ID',
          in: 'header',
          description: 'Resume an event stream after this event.',
          schema: { type: 'string' },
        },
      },
      headers: {
        Location: { description: "The operation's absolute URL.", schema: { type: 'string', format: 'uri' } },
        'Retry-After': { description: 'Seconds to wait before polling again.', schema: { type: 'integer' } },
        ETag: {
          description:
            "The operation's strong entity tag (changes with every change of the operation); also in the body as @odata.etag. Send it in If-None-Match or If-Match.",
          schema: { type: 'string' },
          example: '"3-1a2b3c4d"',
        },
        Link: {
          description:
            'RFC 8288: the operation\'s event stream, <{operation URL}/events>; rel="alternate"; type="text/event-stream". A client may follow it instead of polling.',
          schema: { type: 'string' },
          example:
            '<https://lro.example.com/v1.0/operations/op-1/events>; rel="alternate"; type="text/event-stream"',
        },
        'Preference-Applied': {
          description: 'The preferences the server honoured, e.g. wait=30 when it held the read (RFC 7240).',
          schema: { type: 'string' },
        },
      },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An Entra ID-style access token (scp or roles claims carry the Graph permissions).',
        },
      },
    },
  };
}

type Add = (path: string, method: string, op: Json, params: string[]) => void;

/** A family collection's routes: list, create, $count, events, and an item's read, update, delete, cancel, events. */
function collectionPaths(
  add: Add,
  base: string,
  params: string[],
  family: FamilyDef,
  version: ApiVersion,
): void {
  const declared = family.declaredType;
  const entity = schemaRef(OPERATION_TYPES[declared].qualifiedName);
  const tags = [`${version}: ${family.name}`];
  const read = permissionsExtension(family.read);
  const write = permissionsExtension(family.write);
  const types = concreteNames(declared, version);
  const entityResponse = (description: string, extraHeaders: Json = {}) => ({
    description,
    headers: extraHeaders,
    content: content(entity),
  });
  const readHeaders = {
    ETag: headerRef('ETag'),
    Link: headerRef('Link'),
    'Retry-After': headerRef('Retry-After'),
    'Preference-Applied': headerRef('Preference-Applied'),
  };
  const sse = {
    description: 'Server-sent events: one per change, carrying the operation.',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  };

  add(
    base,
    'get',
    {
      tags,
      summary: `List the operations (${types}).`,
      ...read,
      parameters: ['top', 'skiptoken', 'filter', 'orderby', 'select', 'count', 'prefer'].map(paramRef),
      responses: {
        '200': {
          description: 'A page of operations.',
          content: content(schemaRef(collectionResponseName(declared))),
        },
        ...ERROR_RESPONSES,
      },
    },
    params,
  );
  add(
    base,
    'post',
    {
      tags,
      summary: `Create an operation (${types}; @odata.type picks one, else ${family.defaultType}).`,
      ...write,
      parameters: [paramRef('prefer')],
      requestBody: { required: true, content: content(entity) },
      responses: {
        '201': entityResponse('Created.', { Location: headerRef('Location'), ETag: headerRef('ETag') }),
        '200': entityResponse('An identical create repeated: the existing operation.', {
          ETag: headerRef('ETag'),
        }),
        '204': { description: 'Created, with Prefer: return=minimal.' },
        ...ERROR_RESPONSES,
      },
    },
    params,
  );
  add(
    `${base}/$count`,
    'get',
    {
      tags,
      summary: 'Count the operations.',
      ...read,
      parameters: [paramRef('filter')],
      responses: {
        '200': { description: 'The count.', content: content({ type: 'integer' }, 'text/plain') },
        ...ERROR_RESPONSES,
      },
    },
    params,
  );
  add(
    `${base}/events`,
    'get',
    {
      tags,
      summary: "Stream the collection's changes.",
      ...read,
      parameters: [paramRef('lastEventId')],
      responses: { '200': sse, ...ERROR_RESPONSES },
    },
    params,
  );
  const itemParams = [...params, 'operationId'];
  const item = `${base}/{operationId}`;
  add(
    item,
    'get',
    {
      tags,
      summary: 'Read an operation; Retry-After while it is not terminal.',
      description:
        "Conditional and waiting reads: If-None-Match with the ETag held gives 304 while the operation is unchanged; Prefer: wait=N holds the read until it changes. The Link header names the operation's event stream ({operationId}/events), which pushes every change instead.",
      ...read,
      parameters: [paramRef('select'), paramRef('preferRead'), paramRef('ifNoneMatch')],
      responses: {
        '200': entityResponse('The operation.', readHeaders),
        '304': {
          description:
            'Not Modified: the operation still has an ETag named in If-None-Match. No body; the headers a 200 would carry.',
          headers: readHeaders,
        },
        ...ERROR_RESPONSES,
      },
    },
    itemParams,
  );
  add(
    item,
    'patch',
    {
      tags,
      summary: 'Update an operation (progress, status, result); terminal states never change.',
      ...write,
      parameters: [paramRef('prefer'), paramRef('ifMatch')],
      requestBody: { required: true, content: content(entity) },
      responses: {
        '200': entityResponse('The updated operation.', { ETag: headerRef('ETag') }),
        '204': { description: 'Updated, with Prefer: return=minimal.', headers: { ETag: headerRef('ETag') } },
        '412': { $ref: '#/components/responses/preconditionFailed' },
        ...ERROR_RESPONSES,
      },
    },
    itemParams,
  );
  add(
    item,
    'delete',
    {
      tags,
      summary: 'Delete a terminal operation.',
      ...write,
      parameters: [paramRef('ifMatch')],
      responses: {
        '204': { description: 'Deleted.' },
        '412': { $ref: '#/components/responses/preconditionFailed' },
        ...ERROR_RESPONSES,
      },
    },
    itemParams,
  );
  add(
    `${item}/cancel`,
    'post',
    {
      tags,
      summary: 'Cancel an operation (bound action); it ends canceled.',
      ...write,
      parameters: [paramRef('ifMatch')],
      responses: {
        '202': entityResponse('Cancellation accepted.', {
          Location: headerRef('Location'),
          'Retry-After': headerRef('Retry-After'),
          ETag: headerRef('ETag'),
        }),
        '412': { $ref: '#/components/responses/preconditionFailed' },
        ...ERROR_RESPONSES,
      },
    },
    itemParams,
  );
  add(
    `${item}/events`,
    'get',
    {
      tags,
      summary: "Stream the operation's changes.",
      ...read,
      parameters: [paramRef('lastEventId')],
      responses: { '200': sse, ...ERROR_RESPONSES },
    },
    itemParams,
  );
}

function concreteNames(declared: OperationTypeName, version: ApiVersion): string {
  return (Object.keys(OPERATION_TYPES) as OperationTypeName[])
    .filter((t) => {
      const def = OPERATION_TYPES[t];
      if (def.abstract || !def.versions.includes(version)) return false;
      for (let x: OperationTypeName | null = t; x; x = OPERATION_TYPES[x].baseType)
        if (x === declared) return true;
      return false;
    })
    .join(', ');
}

function publicAndServicePaths(add: Add, version: ApiVersion): void {
  add(
    `/${version}/$metadata`,
    'get',
    {
      ...PUBLIC,
      tags: [`${version}: service`],
      summary: 'The CSDL (OData 4.0) of the types and collections.',
      responses: {
        '200': { description: 'CSDL XML', content: content({ type: 'string' }, 'application/xml') },
      },
    },
    [],
  );
  add(
    `/${version}/$batch`,
    'post',
    {
      tags: [`${version}: service`],
      summary: 'JSON batching: up to 20 requests, with dependsOn; the outer Authorization applies to each.',
      requestBody: { required: true, content: content(schemaRef('longrun.BatchRequest')) },
      responses: {
        '200': {
          description: 'One response per request, in request order.',
          content: content(schemaRef('longrun.BatchResponse')),
        },
        ...ERROR_RESPONSES,
      },
    },
    [],
  );
}

/** Registers `GET /openapi.json`. */
export function openApiRoute(app: FastifyInstance): void {
  let document: string | undefined;
  app.get('/openapi.json', async (_request, reply) => {
    document ??= JSON.stringify(openApiDocument());
    return reply.type('application/json; charset=utf-8').send(document);
  });
}
