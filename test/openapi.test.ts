/**
 * `GET /openapi.json` against a real server: the document is structurally valid OpenAPI 3.1 (required
 * fields, every `$ref` resolves, every operation has responses, path templates and path parameters agree,
 * operation ids are unique), each type schema lists exactly the type table's properties with their
 * nullability and enums, every family route and start action is described, and real responses validate
 * against the schemas the document gives for them (with a small JSON Schema checker written here).
 */
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILIES } from '../src/families/families.js';
import { ACTIONS } from '../src/http/actions/definitions.js';
import { operationSchema } from '../src/http/schemas.js';
import {
  API_VERSIONS,
  BASE_PROPERTIES,
  LONG_RUNNING_OPERATION_STATUS,
  OPERATION_TYPES,
  subtypeProperties,
  type OperationTypeName,
} from '../src/model/types.js';
import { startTestServer, type TestServer } from './support/server.js';

type Json = Record<string, any>;

let server: TestServer;
let doc: Json;

beforeAll(async () => {
  server = await startTestServer({ worker: false, retention: false });
  const res = await server.request('GET', '/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as Json;
});
afterAll(() => server?.close());

/** Follows a local JSON pointer (`#/components/schemas/x`). */
function deref(pointer: string): unknown {
  expect(pointer.startsWith('#/'), pointer).toBe(true);
  let node: any = doc;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

const resolveRef = (node: Json): Json =>
  node && typeof node.$ref === 'string' ? resolveRef(deref(node.$ref) as Json) : node;

/** A JSON Schema subset checker: $ref, type, properties, required, additionalProperties, items, anyOf, allOf, enum, const, min/max. */
function validate(schema: Json, value: unknown, path = '$'): string[] {
  if (schema.$ref) return validate(resolveRef(schema), value, path);
  const errors: string[] = [];
  if (schema.allOf) for (const s of schema.allOf) errors.push(...validate(s, value, path));
  if (schema.anyOf && !schema.anyOf.some((s: Json) => validate(s, value, path).length === 0)) {
    errors.push(`${path}: matches none of anyOf`);
  }
  if (schema.enum && !schema.enum.includes(value))
    errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if ('const' in schema && schema.const !== value)
    errors.push(`${path}: not ${JSON.stringify(schema.const)}`);
  const type = schema.type;
  if (type) {
    const actual =
      value === null
        ? 'null'
        : Array.isArray(value)
          ? 'array'
          : Number.isInteger(value)
            ? 'integer'
            : typeof value;
    const ok = [type].flat().some((t: string) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) return [...errors, `${path}: ${actual}, expected ${type}`];
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: above maximum`);
  }
  if (Array.isArray(value) && schema.items)
    value.forEach((v, i) => errors.push(...validate(schema.items, v, `${path}[${i}]`)));
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Json;
    for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${path}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.properties?.[k]) errors.push(...validate(schema.properties[k], v, `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected ${k}`);
    }
  }
  return errors;
}

/** Every property a (components) type schema declares, through its allOf chain. */
function chainProperties(schema: Json): Json {
  const s = resolveRef(schema);
  let out: Json = {};
  for (const part of s.allOf ?? []) out = { ...out, ...chainProperties(part) };
  return { ...out, ...(s.properties ?? {}) };
}

const isNullable = (schema: Json) => (schema.anyOf ?? []).some((s: Json) => s.type === 'null');
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('document structure (OpenAPI 3.1)', () => {
  it('has the required top-level fields', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    expect(typeof doc.paths).toBe('object');
    expect(typeof doc.components.schemas).toBe('object');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
  });

  it('every $ref resolves', () => {
    const refs: string[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref') refs.push(v as string);
          else walk(v);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(100);
    for (const r of new Set(refs)) expect(deref(r), r).toBeDefined();
    // Discriminator mappings are references too.
    for (const s of Object.values(doc.components.schemas) as Json[]) {
      for (const target of Object.values(s.discriminator?.mapping ?? {}))
        expect(deref(target as string)).toBeDefined();
    }
  });

  it('every path starts with /, every operation has responses with descriptions, ids are unique', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths) as [string, Json][]) {
      expect(path.startsWith('/')).toBe(true);
      const ops = HTTP_METHODS.filter((m) => item[m]);
      expect(ops.length, path).toBeGreaterThan(0);
      for (const m of ops) {
        const op = item[m];
        expect(Object.keys(op.responses ?? {}).length, `${m} ${path}`).toBeGreaterThan(0);
        for (const [code, r] of Object.entries(op.responses) as [string, Json][]) {
          expect(code).toMatch(/^(default|[1-5]XX|[1-5]\d\d)$/);
          expect(typeof resolveRef(r).description, `${m} ${path} ${code}`).toBe('string');
        }
        expect(typeof op.operationId).toBe('string');
        expect(ids.has(op.operationId), op.operationId).toBe(false);
        ids.add(op.operationId);
      }
    }
  });

  it('path templates and path parameters agree', () => {
    for (const [path, item] of Object.entries(doc.paths) as [string, Json][]) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const m of HTTP_METHODS.filter((x) => item[x])) {
        const params = [...(item.parameters ?? []), ...(item[m].parameters ?? [])].map(resolveRef);
        const inPath = params.filter((p) => p.in === 'path');
        expect(inPath.map((p) => p.name).sort(), `${m} ${path}`).toEqual(templated);
        for (const p of inPath) expect(p.required).toBe(true);
        for (const p of params) expect(['query', 'header', 'path', 'cookie']).toContain(p.in);
      }
    }
  });
});

describe('type schemas come from the type table', () => {
  const schemas = () => doc.components.schemas as Json;

  it.each(Object.keys(OPERATION_TYPES) as OperationTypeName[])('%s lists exactly its properties', (type) => {
    const def = OPERATION_TYPES[type];
    const schema = schemas()[def.qualifiedName];
    expect(schema, def.qualifiedName).toBeDefined();
    // Its own part: the table's own properties (the root type: the base properties but id, which is entity's).
    const own = resolveRef(schema.allOf[1]).properties;
    const expectedOwn =
      def.baseType === null
        ? BASE_PROPERTIES.filter((p) => p !== 'id')
        : def.ownProperties.map((p) => p.name);
    expect(Object.keys(own).filter((k) => !k.startsWith('@'))).toEqual([...expectedOwn]);
    // Through the chain: every property a read returns.
    const all = chainProperties(schema);
    expect(
      Object.keys(all)
        .filter((k) => !k.startsWith('@'))
        .sort(),
    ).toEqual([...BASE_PROPERTIES, ...subtypeProperties(type).map((p) => p.name)].sort());
    for (const p of subtypeProperties(type)) {
      expect(isNullable(all[p.name]), `${type}.${p.name} nullable`).toBe(p.nullable);
      if (p.kind === 'enum') {
        const inner = p.nullable ? all[p.name].anyOf[0] : all[p.name];
        expect(resolveRef(inner).enum).toEqual([...p.enum.members]);
      }
      if (p.kind === 'int32') {
        expect(all[p.name]).toMatchObject(
          p.nullable ? {} : { type: 'integer', minimum: p.min, maximum: p.max },
        );
      }
    }
    expect(isNullable(all.id)).toBe(false);
    expect(isNullable(all.status)).toBe(true);
    expect(resolveRef(all.status.anyOf[0]).enum).toEqual([...LONG_RUNNING_OPERATION_STATUS.members]);
  });

  it('the root type discriminates its subtypes by @odata.type', () => {
    const root = schemas()['microsoft.graph.longRunningOperation'];
    const subtypes = Object.values(OPERATION_TYPES).filter((t) => t.baseType !== null);
    expect(Object.keys(root.discriminator.mapping).sort()).toEqual(
      subtypes.map((t) => `#${t.qualifiedName}`).sort(),
    );
    expect(root.discriminator.propertyName).toBe('@odata.type');
  });

  it('publicInnerError is open, publicError closed', () => {
    expect(schemas()['microsoft.graph.publicInnerError'].additionalProperties).toBe(true);
    expect(schemas()['microsoft.graph.publicError'].additionalProperties).toBe(false);
  });
});

describe('routes', () => {
  const op = (path: string, method: string): Json | undefined => doc.paths[path]?.[method];

  it('describes every family collection, item, $count, cancel and events route in its versions', () => {
    for (const version of API_VERSIONS) {
      for (const family of FAMILIES) {
        for (const template of family.collections) {
          const base = `/${version}/${template.segments.map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s)).join('/')}`;
          const present = template.versions.includes(version);
          expect(op(base, 'get') !== undefined, base).toBe(present);
          if (!present) continue;
          expect(op(base, 'post')?.responses['201']).toBeDefined();
          expect(op(`${base}/$count`, 'get')?.responses['200'].content['text/plain']).toBeDefined();
          expect(op(`${base}/events`, 'get')).toBeDefined();
          for (const m of ['get', 'patch', 'delete'])
            expect(op(`${base}/{operationId}`, m), `${m} ${base}/{operationId}`).toBeDefined();
          expect(op(`${base}/{operationId}/cancel`, 'post')?.responses['202']).toBeDefined();
          const list = op(base, 'get')!.responses['200'].content['application/json'].schema;
          const items = resolveRef(resolveRef(list).properties.value.items);
          expect(items.title).toBe(family.declaredType.replace(/^industryData\./, ''));
          expect(op(base, 'get')!['x-longrun-permissions'].delegated).toEqual([...family.read.delegated]);
        }
      }
    }
    expect(op(`/beta/sites/getOperationStatus(operationId='{operationId}')`, 'get')).toBeDefined();
  });

  it('describes every start action with 202, Location and Operation-Location', () => {
    for (const action of ACTIONS) {
      for (const version of action.versions) {
        const path = `/${version}/${action.segments.map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s)).join('/')}`;
        const described = op(path, action.method.toLowerCase());
        expect(described, `${action.method} ${path}`).toBeDefined();
        const accepted = described!.responses['202'];
        expect(Object.keys(accepted.headers)).toEqual(['Location', 'Operation-Location', 'Retry-After']);
        expect(described!['x-longrun-permissions'].delegated).toEqual([...action.permissions.delegated]);
      }
    }
  });

  it('documents ETags, conditional requests, Prefer: wait and the Link to the event stream', async () => {
    const params = (o: Json) => (o.parameters as Json[]).map((p) => resolveRef(p));
    const named = (o: Json, name: string) => params(o).find((p) => p.name === name && p.in === 'header');
    for (const version of API_VERSIONS) {
      for (const family of FAMILIES) {
        for (const template of family.collections) {
          if (!template.versions.includes(version)) continue;
          const base = `/${version}/${template.segments.map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s)).join('/')}`;
          const item = `${base}/{operationId}`;
          const get = op(item, 'get')!;
          expect(Object.keys(get.responses['200'].headers).sort(), item).toEqual(
            ['ETag', 'Link', 'Preference-Applied', 'Retry-After'].sort(),
          );
          expect(Object.keys(get.responses['304'].headers)).toContain('ETag');
          expect(get.responses['304'].content).toBeUndefined();
          expect(named(get, 'If-None-Match')?.description).toMatch(/304/);
          expect(named(get, 'Prefer')?.description).toMatch(/wait=N.*If-None-Match.*Preference-Applied/s);
          for (const [path, method] of [
            [item, 'patch'],
            [item, 'delete'],
            [`${item}/cancel`, 'post'],
          ] as const) {
            const o = op(path, method)!;
            expect(named(o, 'If-Match')?.description, `${method} ${path}`).toMatch(/412/);
            expect(resolveRef(o.responses['412']).description).toMatch(/preconditionFailed/);
          }
        }
      }
    }
    const headers = doc.components.headers as Json;
    expect(headers.Link.description).toMatch(/rel="alternate"; type="text\/event-stream"/);
    expect(headers.ETag.description).toMatch(/@odata\.etag/);

    // What the document lists is what a real read sends.
    const created = await server.request('POST', '/v1.0/operations', { body: {} });
    const { id } = (await created.json()) as { id: string };
    const res = await server.request('GET', `/v1.0/operations/${id}`, { headers: { prefer: 'wait=1' } });
    for (const name of Object.keys(op('/v1.0/operations/{operationId}', 'get')!.responses['200'].headers)) {
      expect(res.headers.get(name), name).not.toBeNull();
    }
    const etag = res.headers.get('etag')!;
    const notModified = await server.request('GET', `/v1.0/operations/${id}`, {
      headers: { 'if-none-match': etag },
    });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('etag')).toBe(etag);
    expect(notModified.headers.get('link')).toBe(res.headers.get('link'));
  });

  it('errors are Graph error envelopes; $metadata, /metrics and /openapi.json need no token', () => {
    expect(op('/v1.0/operations', 'get')!.responses['4XX']).toEqual({ $ref: '#/components/responses/error' });
    for (const path of ['/v1.0/$metadata', '/beta/$metadata', '/metrics', '/openapi.json', '/healthz']) {
      expect(op(path, 'get')!.security, path).toEqual([]);
    }
    expect(op('/v1.0/$batch', 'post')!.security).toBeUndefined();
  });
});

describe('real responses validate against the documented schemas', () => {
  const schemaFor = (path: string, method: string, status: string) => {
    const response = resolveRef(
      doc.paths[path][method].responses[status] ?? doc.paths[path][method].responses['4XX'],
    );
    return response.content['application/json'].schema as Json;
  };

  it.each([
    [
      'v1.0',
      '/sites/{siteId}/operations',
      '/sites/site-1/operations',
      { percentageComplete: 40, type: 'copy' },
    ],
    [
      'v1.0',
      '/security/attackSimulation/operations',
      '/security/attackSimulation/operations',
      { type: 'createSimulation' },
    ],
    [
      'v1.0',
      '/employeeExperience/engagementAsyncOperations',
      '/employeeExperience/engagementAsyncOperations',
      {},
    ],
    ['beta', '/external/industryData/operations', '/external/industryData/operations', {}],
    ['v1.0', '/operations', '/operations', { '@odata.type': '#microsoft.graph.richLongRunningOperation' }],
  ] as const)('%s %s', async (version, template, path, body) => {
    const created = await server.request('POST', `/${version}${path}`, { body });
    expect(created.status).toBe(201);
    const record = (await created.json()) as Json;
    expect(validate(schemaFor(`/${version}${template}`, 'post', '201'), record)).toEqual([]);
    // The inline TypeBox schema of its type (for request/response validation) agrees too.
    const type = Object.values(OPERATION_TYPES).find((t) => `#${t.qualifiedName}` === record['@odata.type'])!;
    expect(
      [...Value.Errors(operationSchema(type.name), record)].map((e) => `${e.path} ${e.message}`),
    ).toEqual([]);

    const list = (await (await server.request('GET', `/${version}${path}?$count=true`)).json()) as Json;
    expect(validate(schemaFor(`/${version}${template}`, 'get', '200'), list)).toEqual([]);
    const missing = await server.request('GET', `/${version}${path}/no-such-operation`);
    expect(missing.status).toBe(404);
    expect(
      validate(schemaFor(`/${version}${template}/{operationId}`, 'get', '404'), await missing.json()),
    ).toEqual([]);
    // And a wrong value is caught by the same checker.
    expect(
      validate(schemaFor(`/${version}${template}/{operationId}`, 'get', '200'), {
        ...record,
        status: 'bogus',
      }),
    ).not.toEqual([]);
  });

  it('a $batch response validates against BatchResponse', async () => {
    const res = await server.request('POST', '/v1.0/$batch', {
      body: { requests: [{ id: '1', method: 'GET', url: '/operations' }] },
    });
    expect(validate(schemaFor('/v1.0/$batch', 'post', '200'), await res.json())).toEqual([]);
  });
});
