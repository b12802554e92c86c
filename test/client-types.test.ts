/**
 * The client's hand-written types against the Graph CSDL. The compiler keeps the interfaces and
 * OPERATION_PROPERTY_NAMES / NON_NULLABLE_PROPERTY_NAMES in step (src/client/types.ts); this test keeps
 * those tables in step with Graph's CSDL, test/fixtures/graph-csdl/graph-csdl-lro-{v1,beta}.xml.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENUM_MEMBERS, NON_NULLABLE_PROPERTY_NAMES, OPERATION_PROPERTY_NAMES } from '../src/client/types.js';

const REFERENCE = new URL('./fixtures/graph-csdl/', import.meta.url);

interface CsdlProperty {
  name: string;
  type: string;
  nullable: boolean;
}
interface CsdlStructuredType {
  name: string;
  baseType: string | undefined;
  properties: CsdlProperty[];
}
interface Csdl {
  types: Map<string, CsdlStructuredType>;
  enums: Map<string, string[]>;
}

const attributes = (text: string): Record<string, string> =>
  Object.fromEntries([...text.matchAll(/([\w:]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));

/**
 * A deliberately small reader for these files: Schema, EntityType/ComplexType with Property, EnumType with
 * Member. Comments are dropped first (the beta file quotes beta-USNat actions in one). Names come back
 * qualified, with aliases (`graph.`) replaced by their namespace.
 */
function parseCsdl(xml: string): Csdl {
  const source = xml.replace(/<!--[\s\S]*?-->/g, '');
  const schemas = [...source.matchAll(/<Schema\b([^>]*)>([\s\S]*?)<\/Schema>/g)].map((m) => {
    const attrs = attributes(m[1]);
    return { namespace: attrs.Namespace, alias: attrs.Alias as string | undefined, body: m[2] };
  });
  const aliases = new Map(schemas.filter((s) => s.alias).map((s) => [s.alias, s.namespace]));
  const qualify = (ref: string) => {
    const dot = ref.lastIndexOf('.');
    const prefix = ref.slice(0, dot);
    return aliases.has(prefix) ? `${aliases.get(prefix)}${ref.slice(dot)}` : ref;
  };
  const csdl: Csdl = { types: new Map(), enums: new Map() };
  for (const schema of schemas) {
    const typePattern = /<(EntityType|ComplexType)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/g;
    for (const [, , attrText, body = ''] of schema.body.matchAll(typePattern)) {
      const attrs = attributes(attrText);
      const properties = [...body.matchAll(/<Property\b([^>]*?)\/>/g)].map((p) => {
        const a = attributes(p[1]);
        return {
          name: a.Name,
          type: a.Type.replace(/[\w.]+\.\w+/, qualify),
          nullable: a.Nullable !== 'false',
        };
      });
      const name = `${schema.namespace}.${attrs.Name}`;
      csdl.types.set(name, {
        name,
        baseType: attrs.BaseType ? qualify(attrs.BaseType) : undefined,
        properties,
      });
    }
    for (const [, attrText, body] of schema.body.matchAll(/<EnumType\b([^>]*)>([\s\S]*?)<\/EnumType>/g)) {
      const members = [...body.matchAll(/<Member\b([^>]*?)\/>/g)].map((m) => attributes(m[1]).Name);
      csdl.enums.set(`${schema.namespace}.${attributes(attrText).Name}`, members);
    }
  }
  return csdl;
}

const v1 = parseCsdl(readFileSync(new URL('graph-csdl-lro-v1.xml', REFERENCE), 'utf8'));
const beta = parseCsdl(readFileSync(new URL('graph-csdl-lro-beta.xml', REFERENCE), 'utf8'));

const LRO = 'microsoft.graph.longRunningOperation';
const ERROR_TYPES = [
  'microsoft.graph.publicError',
  'microsoft.graph.publicErrorDetail',
  'microsoft.graph.publicInnerError',
];

/** The beta extract lacks `graph.entity` (it says to see the v1 file), so base types fall back to v1. */
function lookup(csdl: Csdl, name: string): CsdlStructuredType {
  const type = csdl.types.get(name) ?? v1.types.get(name);
  if (!type) throw new Error(`${name} is in neither CSDL file`);
  return type;
}

/** Properties including inherited ones, base type's first. */
function allProperties(csdl: Csdl, name: string): CsdlProperty[] {
  const type = lookup(csdl, name);
  return [...(type.baseType ? allProperties(csdl, type.baseType) : []), ...type.properties];
}

/** Whether a type is longRunningOperation or derives from it (other base types may be outside the extract). */
function derivesFromLro(csdl: Csdl, name: string): boolean {
  for (let t: string | undefined = name; t; t = (csdl.types.get(t) ?? v1.types.get(t))?.baseType) {
    if (t === LRO) return true;
  }
  return false;
}

const versions = [
  ['v1.0', v1, [LRO, 'richLongRunningOperation', 'attackSimulationOperation', 'engagementAsyncOperation']],
  [
    'beta',
    beta,
    [
      LRO,
      'richLongRunningOperation',
      'attackSimulationOperation',
      'engagementAsyncOperation',
      'industryData.validateOperation',
      'industryData.fileValidateOperation',
    ],
  ],
] as const;

describe.each(versions)('CSDL %s', (_version, csdl, expectedFamily) => {
  const family = [...csdl.types.keys()].filter((name) => derivesFromLro(csdl, name));
  const checked = [...family, ...ERROR_TYPES];
  const table = (names: Record<string, readonly string[]>, name: string) => {
    expect(names, `${name} is missing from the client's table`).toHaveProperty([name]);
    return [...names[name]].sort();
  };

  it('has the longRunningOperation family this test expects (so a parse failure cannot pass silently)', () => {
    expect(family.sort()).toEqual(expectedFamily.map((t) => (t === LRO ? t : `microsoft.graph.${t}`)).sort());
  });

  it.each(checked)('%s: every property is in the client types', (name) => {
    const csdlNames = allProperties(csdl, name).map((p) => p.name);
    expect(table(OPERATION_PROPERTY_NAMES, name)).toEqual([...csdlNames].sort());
  });

  it.each(checked)('%s: nullability matches', (name) => {
    const nonNullable = allProperties(csdl, name).filter((p) => !p.nullable);
    expect(table(NON_NULLABLE_PROPERTY_NAMES, name)).toEqual(nonNullable.map((p) => p.name).sort());
  });

  it.each(Object.keys(ENUM_MEMBERS))('%s: every member is in the client types', (name) => {
    const members = csdl.enums.get(name);
    expect(members, `${name} not in the CSDL`).toBeDefined();
    expect(ENUM_MEMBERS[name as keyof typeof ENUM_MEMBERS]).toEqual(expect.arrayContaining(members!));
  });
});

it('describes no type that neither CSDL has', () => {
  const known = new Set([...v1.types.keys(), ...beta.types.keys()]);
  expect(Object.keys(OPERATION_PROPERTY_NAMES).filter((name) => !known.has(name))).toEqual([]);
});

it('reads the CSDL the way the client types assume', () => {
  // Spot checks of the parser itself, on facts graph-contract.md §1 states.
  expect(
    allProperties(v1, 'microsoft.graph.attackSimulationOperation').find(
      (p) => p.name === 'percentageCompleted',
    ),
  ).toEqual({ name: 'percentageCompleted', type: 'Edm.Int32', nullable: false });
  expect(lookup(beta, 'microsoft.graph.industryData.fileValidateOperation').baseType).toBe(
    'microsoft.graph.industryData.validateOperation',
  );
  expect(lookup(v1, 'microsoft.graph.richLongRunningOperation').properties[0]).toEqual({
    name: 'error',
    type: 'microsoft.graph.publicError',
    nullable: true,
  });
});
