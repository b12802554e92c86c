/**
 * `GET /{version}/$metadata` against a real server with auth on (it is public, as in Graph): the document
 * parses as XML and as CSDL (every type reference resolves, the container's sets and singletons name entity
 * types, every `@odata.context` the routes write walks through the model), and every LRO type, property
 * (name, type, nullability), enum member and containment navigation property of Graph's own CSDL
 * (test/fixtures/graph-csdl/graph-csdl-lro-*.xml, copied from Graph's published metadata) is the same in longrun's, with `canceled` appended to the status
 * enum.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { FAMILIES } from '../src/families/families.js';
import { API_VERSIONS, OPERATION_TYPES, type ApiVersion } from '../src/model/types.js';
import { startTestServer, type TestServer } from './support/server.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REFERENCE_DIR = resolve(repoRoot, 'test/fixtures/graph-csdl');
const REFERENCE_FILE: Record<ApiVersion, string> = {
  'v1.0': 'graph-csdl-lro-v1.xml',
  beta: 'graph-csdl-lro-beta.xml',
};

// ---------------------------------------------------------------------------------------------------------
// A small XML parser: elements, attributes, comments, processing instructions; strict about nesting,
// quoting, duplicate attributes and entities. Text content is kept but EDMX has none worth reading.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);|&/g, (whole, ref: string | undefined) => {
    if (!ref) throw new Error(`bare '&' in ${JSON.stringify(text)}`);
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    if (!(ref in ENTITIES)) throw new Error(`unknown entity ${whole}`);
    return ENTITIES[ref];
  });
}

function parseXml(text: string): XmlElement {
  const root: XmlElement = { name: '#document', attrs: {}, children: [] };
  const stack = [root];
  const startTag = /<([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/y;
  const attribute = /([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const between = text.slice(i, lt < 0 ? undefined : lt);
    if (between.trim() !== '') {
      if (stack.length === 1)
        throw new Error(`text outside the root element: ${between.trim().slice(0, 40)}`);
      decode(between);
    }
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
    } else if (text.startsWith('<?', lt)) {
      const end = text.indexOf('?>', lt + 2);
      if (end < 0) throw new Error('unterminated processing instruction');
      i = end + 2;
    } else if (text.startsWith('</', lt)) {
      const end = text.indexOf('>', lt);
      const name = text.slice(lt + 2, end).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
      i = end + 1;
    } else {
      startTag.lastIndex = lt;
      const m = startTag.exec(text);
      if (!m) throw new Error(`malformed tag at ${lt}: ${text.slice(lt, lt + 60)}`);
      const attrs: Record<string, string> = {};
      for (const a of m[2].matchAll(attribute)) {
        if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]} on <${m[1]}>`);
        attrs[a[1]] = decode(a[2] ?? a[3]);
      }
      const element: XmlElement = { name: m[1], attrs, children: [] };
      const parent = stack[stack.length - 1];
      if (parent === root && root.children.length > 0) throw new Error('more than one root element');
      parent.children.push(element);
      if (m[3] !== '/') stack.push(element);
      i = lt + m[0].length;
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is not closed`);
  if (root.children.length !== 1) throw new Error('no root element');
  return root.children[0];
}

// ---------------------------------------------------------------------------------------------------------
// CSDL model: schema elements by qualified name, type references normalized (aliases → namespaces).

interface Csdl {
  /** `microsoft.graph.longRunningOperation` → its element. */
  elements: Map<string, XmlElement>;
  /** Qualified name → namespace it was declared in. */
  namespaceOf: Map<string, string>;
  container: XmlElement | undefined;
  norm(type: string): string;
}

function csdl(text: string): Csdl {
  const edmx = parseXml(text);
  expect(edmx.name).toBe('edmx:Edmx');
  expect(edmx.attrs.Version).toBe('4.0');
  const services = edmx.children.filter((c) => c.name === 'edmx:DataServices');
  expect(services).toHaveLength(1);
  const schemas = services[0].children.filter((c) => c.name === 'Schema');
  const aliases = new Map<string, string>();
  for (const s of schemas) if (s.attrs.Alias) aliases.set(s.attrs.Alias, s.attrs.Namespace);
  const norm = (type: string): string => {
    const coll = /^Collection\((.+)\)$/.exec(type);
    if (coll) return `Collection(${norm(coll[1])})`;
    const dot = type.lastIndexOf('.');
    const prefix = type.slice(0, dot);
    return aliases.has(prefix) ? `${aliases.get(prefix)}${type.slice(dot)}` : type;
  };
  const elements = new Map<string, XmlElement>();
  const namespaceOf = new Map<string, string>();
  let container: XmlElement | undefined;
  for (const s of schemas) {
    for (const el of s.children) {
      if (el.name === 'EntityContainer') container = el;
      if (!['EntityType', 'ComplexType', 'EnumType'].includes(el.name)) continue;
      const q = `${s.attrs.Namespace}.${el.attrs.Name}`;
      expect(elements.has(q), `${q} declared twice`).toBe(false);
      elements.set(q, el);
      namespaceOf.set(q, s.attrs.Namespace);
    }
  }
  return { elements, namespaceOf, container, norm };
}

const props = (doc: Csdl, el: XmlElement) =>
  el.children
    .filter((c) => c.name === 'Property')
    .map((p) => ({
      name: p.attrs.Name,
      type: doc.norm(p.attrs.Type),
      nullable: p.attrs.Nullable !== 'false',
    }));

const members = (el: XmlElement) =>
  el.children.filter((c) => c.name === 'Member').map((m) => ({ name: m.attrs.Name, value: m.attrs.Value }));

const navigation = (doc: Csdl, el: XmlElement) =>
  new Map(
    el.children
      .filter((c) => c.name === 'NavigationProperty')
      .map((n) => [
        n.attrs.Name,
        { type: doc.norm(n.attrs.Type), containsTarget: n.attrs.ContainsTarget === 'true' },
      ]),
  );

const shape = (doc: Csdl, el: XmlElement) => ({
  kind: el.name,
  baseType: el.attrs.BaseType ? doc.norm(el.attrs.BaseType) : undefined,
  abstract: el.attrs.Abstract === 'true',
  openType: el.attrs.OpenType === 'true',
});

// ---------------------------------------------------------------------------------------------------------

let server: TestServer;
let keyDir: string;
let token: string;
const documents = new Map<ApiVersion, { ours: Csdl; reference: Csdl; v1Reference: Csdl }>();

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), 'longrun-metadata-'));
  const config = await resolveAuthConfig(
    { authSecret: 'metadata-test-secret-0123456789-abcdefghijklmnop' },
    {},
    keyDir,
  );
  server = await startTestServer({ security: securityFor(config), worker: false, retention: false });
  token = await mintToken(config, DEV_TOKEN_DEFAULTS);
  const v1Reference = csdl(readFileSync(join(REFERENCE_DIR, REFERENCE_FILE['v1.0']), 'utf8'));
  for (const version of API_VERSIONS) {
    const res = await server.request('GET', `/${version}/$metadata`); // no token: public
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    const ours = csdl(await res.text());
    const reference = csdl(readFileSync(join(REFERENCE_DIR, REFERENCE_FILE[version]), 'utf8'));
    documents.set(version, { ours, reference, v1Reference });
  }
});
afterAll(async () => {
  await server?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

describe.each(API_VERSIONS)('/%s/$metadata', (version) => {
  const doc = () => documents.get(version)!;
  const operationTypes = Object.values(OPERATION_TYPES).filter((t) => t.versions.includes(version));
  const otherTypes = [
    'microsoft.graph.longRunningOperationStatus',
    'microsoft.graph.attackSimulationOperationType',
    'microsoft.graph.engagementAsyncOperationType',
    'microsoft.graph.publicError',
    'microsoft.graph.publicErrorDetail',
    'microsoft.graph.publicErrorResponse',
    'microsoft.graph.publicInnerError',
  ];

  it('is served without a token, as XML, from an explicit route (not the operations wildcard)', async () => {
    const res = await fetch(`${server.url}/${version}/$metadata`);
    expect(res.status).toBe(200);
    expect(res.headers.get('odata-version')).toBe('4.0');
    expect(res.headers.get('request-id')).toBeTruthy();
    // With a token too, and HEAD.
    const authed = await server.request('GET', `/${version}/$metadata`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(authed.status).toBe(200);
    expect((await server.request('HEAD', `/${version}/$metadata`)).status).toBe(200);
  });

  it('declares exactly the operation types of this version', () => {
    const { ours } = doc();
    for (const t of Object.values(OPERATION_TYPES)) {
      expect(ours.elements.has(t.qualifiedName), t.qualifiedName).toBe(t.versions.includes(version));
    }
  });

  it.each([...operationTypes.map((t) => t.qualifiedName), ...otherTypes])(
    '%s matches Graph: kind, base type, abstract/open, properties (name, type, nullability), members',
    (qualifiedName) => {
      const { ours, reference } = doc();
      const theirs = reference.elements.get(qualifiedName);
      const mine = ours.elements.get(qualifiedName);
      expect(theirs, `reference has ${qualifiedName}`).toBeDefined();
      expect(mine, `longrun has ${qualifiedName}`).toBeDefined();
      expect(shape(ours, mine!)).toEqual(shape(reference, theirs!));
      expect(props(ours, mine!)).toEqual(props(reference, theirs!));
      const expected = members(theirs!);
      if (qualifiedName === 'microsoft.graph.longRunningOperationStatus') {
        expected.push({ name: 'canceled', value: String(expected.length) });
        expect(expected.map((m) => m.name).slice(-2)).toEqual(['unknownFutureValue', 'canceled']);
      }
      expect(members(mine!)).toEqual(expected);
    },
  );

  it('graph.entity matches Graph (key id, non-nullable)', () => {
    const { ours, v1Reference } = doc();
    const mine = ours.elements.get('microsoft.graph.entity')!;
    const theirs = v1Reference.elements.get('microsoft.graph.entity')!;
    expect(shape(ours, mine)).toEqual(shape(v1Reference, theirs));
    expect(props(ours, mine)).toEqual(props(v1Reference, theirs));
    const key = (el: XmlElement) =>
      el.children.find((c) => c.name === 'Key')?.children.map((r) => r.attrs.Name);
    expect(key(mine)).toEqual(key(theirs));
  });

  it("has every containment navigation property of Graph's CSDL that leads to operations", () => {
    const { ours, reference } = doc();
    const lro = new Set(operationTypes.map((t) => t.qualifiedName));
    let checked = 0;
    for (const [name, el] of reference.elements) {
      if (el.name !== 'EntityType') continue;
      for (const [navName, nav] of navigation(reference, el)) {
        const target = nav.type.replace(/^Collection\((.+)\)$/, '$1');
        if (!lro.has(target)) continue;
        const mine = ours.elements.get(name);
        expect(mine, `longrun declares ${name}`).toBeDefined();
        expect(navigation(ours, mine!).get(navName), `${name}/${navName}`).toEqual(nav);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(version === 'beta' ? 7 : 5);
  });

  it('is consistent CSDL: every type reference resolves; sets and singletons name entity types', () => {
    const { ours } = doc();
    const resolves = (type: string) => {
      const t = type.replace(/^Collection\((.+)\)$/, '$1');
      return /^Edm\.\w+$/.test(t) || ours.elements.has(t);
    };
    for (const [name, el] of ours.elements) {
      if (el.attrs.BaseType) expect(resolves(ours.norm(el.attrs.BaseType)), `${name} base`).toBe(true);
      for (const c of el.children) {
        if (c.attrs.Type) expect(resolves(ours.norm(c.attrs.Type)), `${name}/${c.attrs.Name}`).toBe(true);
      }
      if (el.name === 'EnumType') {
        const values = members(el).map((m) => Number(m.value));
        expect(values).toEqual(values.map((_, i) => i));
      }
    }
    const container = ours.container!;
    expect(container).toBeDefined();
    const entries = container.children.filter((c) => c.name === 'EntitySet' || c.name === 'Singleton');
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      const type = ours.norm(e.attrs.EntityType ?? e.attrs.Type);
      expect(ours.elements.get(type)?.name, `${e.attrs.Name}: ${type}`).toBe('EntityType');
    }
  });

  it("walks every collection's @odata.context through the container to the collection's declared type", async () => {
    const { ours } = doc();
    const container = ours.container!;
    const roots = new Map(
      container.children
        .filter((c) => c.name === 'EntitySet' || c.name === 'Singleton')
        .map((c) => [
          c.attrs.Name,
          { type: ours.norm(c.attrs.EntityType ?? c.attrs.Type), set: c.name === 'EntitySet' },
        ]),
    );
    const navOf = (type: string, name: string): string | undefined => {
      for (let t: string | undefined = type; t;) {
        const el = ours.elements.get(t);
        const nav = el && navigation(ours, el).get(name);
        if (nav) return nav.type;
        t = el?.attrs.BaseType ? ours.norm(el.attrs.BaseType) : undefined;
      }
      return undefined;
    };
    for (const family of FAMILIES) {
      for (const template of family.collections) {
        if (!template.versions.includes(version)) continue;
        const path = template.segments.map((s) => (s.startsWith(':') ? `${s.slice(1)}-1` : s)).join('/');
        const res = await server.request('GET', `/${version}/${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(res.status, path).toBe(200);
        const context = ((await res.json()) as { '@odata.context': string })['@odata.context'];
        const [base, fragment] = context.split('#');
        expect(base).toBe(`${server.url}/${version}/$metadata`);
        const segments = fragment.split('/').map((s) => s.replace(/\(.*\)$/, ''));
        const root = roots.get(segments[0]);
        expect(root, `${fragment}: root ${segments[0]}`).toBeDefined();
        let type = root!.type;
        let collection = root!.set;
        for (const seg of segments.slice(1)) {
          const next = navOf(type.replace(/^Collection\((.+)\)$/, '$1'), seg);
          expect(next, `${fragment}: ${type}/${seg}`).toBeDefined();
          collection = next!.startsWith('Collection(');
          type = next!;
        }
        const declared = OPERATION_TYPES[family.declaredType].qualifiedName;
        expect(type.replace(/^Collection\((.+)\)$/, '$1')).toBe(declared);
        expect(collection).toBe(true);
      }
    }
  });
});

describe('$metadata routing', () => {
  it('binds cancel to longRunningOperation and, in beta only, getOperationStatus to sites', async () => {
    for (const version of API_VERSIONS) {
      const root = parseXml(await (await server.request('GET', `/${version}/$metadata`)).text());
      const schema = root.children[0].children.find((s) => s.attrs.Namespace === 'microsoft.graph')!;
      const cancel = schema.children.find((c) => c.name === 'Action' && c.attrs.Name === 'cancel')!;
      expect(cancel.attrs.IsBound).toBe('true');
      expect(cancel.children[0].attrs).toMatchObject({
        Name: 'bindingParameter',
        Type: 'graph.longRunningOperation',
      });
      const fn = schema.children.find((c) => c.name === 'Function' && c.attrs.Name === 'getOperationStatus');
      expect(fn !== undefined).toBe(version === 'beta');
    }
  });

  it('other $-segments still reach the operations routes (404 in the Graph envelope)', async () => {
    const res = await server.request('GET', '/v1.0/$metadata/extra', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe('itemNotFound');
  });

  it('the test XML parser is strict', () => {
    expect(() => parseXml('<a><b></a>')).toThrow();
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow();
    expect(() => parseXml('<a x="&bogus;"/>')).toThrow();
    expect(() => parseXml('<a/><b/>')).toThrow();
    expect(() => parseXml('<a>')).toThrow();
    expect(parseXml('<?xml version="1.0"?><!-- c --><a x="&amp;&#xA;"><b/></a>')).toEqual({
      name: 'a',
      attrs: { x: '&\n' },
      children: [{ name: 'b', attrs: {}, children: [] }],
    });
  });
});
