/**
 * The JSON shapes of longrun's API as TypeBox (JSON Schema 2020-12) schemas, generated from the operation
 * type table (src/model/types.ts) and the few EDM facts that table leaves out (the base properties' types
 * and Graph's error complex types, below). `$metadata` (metadata.ts) reads the same EDM facts; the OpenAPI
 * document (openapi.ts) is made of these schemas.
 *
 * Two forms of each shape:
 * - `inline`: self-contained schemas (complex types and enums written out), usable with TypeBox's `Value`
 *   or compiler to validate requests and responses;
 * - `components`: schemas that `$ref` each other under `#/components/schemas/`, for the OpenAPI document.
 */
import { FormatRegistry, Type, type TSchema } from '@sinclair/typebox';
import {
  BASE_PROPERTIES,
  LONG_RUNNING_OPERATION_STATUS,
  OPERATION_TYPES,
  subtypeProperties,
  type ApiVersion,
  type BasePropertyName,
  type EnumDef,
  type OperationTypeName,
  type PropertyDef,
} from '../model/types.js';

/** A property as the CSDL states it: name, EDM type (with the `graph.` alias) and nullability. */
export interface EdmPropertyDef {
  name: string;
  edmType: string;
  nullable: boolean;
}

export interface ComplexTypeDef {
  name: string;
  qualifiedName: string;
  /** OData open type: may carry properties it does not declare. */
  openType: boolean;
  properties: readonly EdmPropertyDef[];
}

const edm = (name: string, edmType: string, nullable = true): EdmPropertyDef => ({ name, edmType, nullable });

/**
 * The base properties every operation has (types.ts names them in BASE_PROPERTIES): `id` is declared on
 * `graph.entity`, the rest on `graph.longRunningOperation`, as in Graph's CSDL.
 */
export const BASE_PROPERTY_DEFS: Readonly<Record<BasePropertyName, EdmPropertyDef>> = {
  id: edm('id', 'Edm.String', false),
  createdDateTime: edm('createdDateTime', 'Edm.DateTimeOffset'),
  lastActionDateTime: edm('lastActionDateTime', 'Edm.DateTimeOffset'),
  resourceLocation: edm('resourceLocation', 'Edm.String'),
  status: edm('status', 'graph.longRunningOperationStatus'),
  statusDetail: edm('statusDetail', 'Edm.String'),
};

/** `graph.entity`'s properties, then `graph.longRunningOperation`'s own, in CSDL order. */
export const ENTITY_PROPERTIES: readonly EdmPropertyDef[] = [BASE_PROPERTY_DEFS.id];
export const LONG_RUNNING_OPERATION_PROPERTIES: readonly EdmPropertyDef[] = BASE_PROPERTIES.filter(
  (p) => p !== 'id',
).map((p) => BASE_PROPERTY_DEFS[p]);

/** Graph's error complex types (`richLongRunningOperation.error`, `validateOperation.errors`). */
export const COMPLEX_TYPES: readonly ComplexTypeDef[] = [
  {
    name: 'publicError',
    qualifiedName: 'microsoft.graph.publicError',
    openType: false,
    properties: [
      edm('code', 'Edm.String'),
      edm('details', 'Collection(graph.publicErrorDetail)'),
      edm('innerError', 'graph.publicInnerError'),
      edm('message', 'Edm.String'),
      edm('target', 'Edm.String'),
    ],
  },
  {
    name: 'publicErrorDetail',
    qualifiedName: 'microsoft.graph.publicErrorDetail',
    openType: false,
    properties: [edm('code', 'Edm.String'), edm('message', 'Edm.String'), edm('target', 'Edm.String')],
  },
  {
    name: 'publicErrorResponse',
    qualifiedName: 'microsoft.graph.publicErrorResponse',
    openType: false,
    properties: [edm('error', 'graph.publicError')],
  },
  {
    name: 'publicInnerError',
    qualifiedName: 'microsoft.graph.publicInnerError',
    openType: true,
    properties: [
      edm('code', 'Edm.String'),
      edm('details', 'Collection(graph.publicErrorDetail)'),
      edm('message', 'Edm.String'),
      edm('target', 'Edm.String'),
    ],
  },
];

/** Every enum the types use: the status enum, then the subtype discriminators the table refers to. */
export const ENUM_TYPES: readonly EnumDef[] = (() => {
  const found: EnumDef[] = [LONG_RUNNING_OPERATION_STATUS];
  for (const def of Object.values(OPERATION_TYPES)) {
    for (const p of def.ownProperties) {
      if (p.kind === 'enum' && !found.includes(p.enum)) found.push(p.enum);
    }
  }
  return found;
})();

/** Operation types of an API version, base types before their subtypes (table order). */
export function operationTypesOf(version: ApiVersion): OperationTypeName[] {
  return (Object.keys(OPERATION_TYPES) as OperationTypeName[]).filter((t) =>
    OPERATION_TYPES[t].versions.includes(version),
  );
}

/** `graph.x` → `microsoft.graph.x`; other names are already qualified. */
export function qualify(edmName: string): string {
  return edmName.startsWith('graph.') ? `microsoft.${edmName}` : edmName;
}

// TypeBox checks `format` only against registered formats; these are the ones the schemas use.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v));

export type SchemaForm = 'inline' | 'components';

/** At most this many requests in one `$batch`, as in Graph. */
export const MAX_BATCH_REQUESTS = 20;

/** The OpenAPI component name of a type or enum, e.g. `#/components/schemas/microsoft.graph.entity`. */
export const componentRef = (qualifiedName: string) => `#/components/schemas/${qualifiedName}`;

const INT32 = { minimum: -2147483648, maximum: 2147483647 };

function enumSchema(def: EnumDef, form: SchemaForm): TSchema {
  if (form === 'components') return Type.Ref(componentRef(def.qualifiedName));
  return Type.Union(
    def.members.map((m) => Type.Literal(m)),
    { title: def.name },
  );
}

/** The schema of an EDM type reference (`Edm.String`, `graph.publicError`, `Collection(...)`). */
function edmTypeSchema(edmType: string, form: SchemaForm, p?: PropertyDef): TSchema {
  const collection = /^Collection\((.+)\)$/.exec(edmType);
  if (collection) return Type.Array(edmTypeSchema(collection[1], form));
  switch (edmType) {
    case 'Edm.String':
      return Type.String();
    case 'Edm.DateTimeOffset':
      return Type.String({ format: 'date-time' });
    case 'Edm.Int32': {
      const range =
        p?.kind === 'int32' ? { minimum: p.min ?? INT32.minimum, maximum: p.max ?? INT32.maximum } : INT32;
      return Type.Integer({ format: 'int32', ...range });
    }
  }
  const qualified = qualify(edmType);
  const e = ENUM_TYPES.find((x) => x.qualifiedName === qualified);
  if (e) return enumSchema(e, form);
  const c = COMPLEX_TYPES.find((x) => x.qualifiedName === qualified);
  if (c) return form === 'components' ? Type.Ref(componentRef(c.qualifiedName)) : complexTypeSchema(c, form);
  throw new Error(`no schema for EDM type ${edmType}`);
}

/** A property's schema; nullable ones also take `null`. */
export function propertySchema(p: EdmPropertyDef | PropertyDef, form: SchemaForm): TSchema {
  const s = edmTypeSchema(p.edmType, form, 'kind' in p ? p : undefined);
  return p.nullable ? Type.Union([s, Type.Null()]) : s;
}

function propertiesObject(
  props: readonly (EdmPropertyDef | PropertyDef)[],
  form: SchemaForm,
  optional: boolean,
): Record<string, TSchema> {
  const out: Record<string, TSchema> = {};
  for (const p of props) {
    const s = propertySchema(p, form);
    out[p.name] = optional ? Type.Optional(s) : s;
  }
  return out;
}

export function complexTypeSchema(c: ComplexTypeDef, form: SchemaForm): TSchema {
  return Type.Object(propertiesObject(c.properties, form, true), {
    title: c.name,
    additionalProperties: c.openType,
  });
}

/** Every property of an operation type, base properties first, as the JSON a read returns. */
export function operationProperties(type: OperationTypeName): readonly (EdmPropertyDef | PropertyDef)[] {
  return [...BASE_PROPERTIES.map((p) => BASE_PROPERTY_DEFS[p]), ...subtypeProperties(type)];
}

/**
 * A self-contained schema of one operation type as longrun returns it: `@odata.type` and every property
 * (nullable ones may be null). For request bodies, wrap it in `Type.Partial`.
 */
export function operationSchema(type: OperationTypeName): TSchema {
  const def = OPERATION_TYPES[type];
  return Type.Object(
    {
      '@odata.context': Type.Optional(Type.String()),
      '@odata.type': Type.Optional(Type.Literal(`#${def.qualifiedName}`)),
      ...propertiesObject(operationProperties(type), 'inline', false),
    },
    { title: def.name },
  );
}

/**
 * The OpenAPI components for the types of `versions`: enums, complex types, `graph.entity`, every
 * operation type (`allOf` its base type and its own properties, the table's), and a collection response
 * per type. All properties are optional, as Graph's OpenAPI has them ($select may leave any out).
 */
export function componentSchemas(versions: readonly ApiVersion[]): Record<string, TSchema> {
  const out: Record<string, TSchema> = {};
  for (const e of ENUM_TYPES) {
    out[e.qualifiedName] = Type.Unsafe<string>({ title: e.name, type: 'string', enum: [...e.members] });
  }
  for (const c of COMPLEX_TYPES) out[c.qualifiedName] = complexTypeSchema(c, 'components');
  out['microsoft.graph.entity'] = Type.Object(
    {
      ...propertiesObject(ENTITY_PROPERTIES, 'components', true),
      '@odata.type': Type.String(),
    },
    { title: 'entity' },
  );
  const types = (Object.keys(OPERATION_TYPES) as OperationTypeName[]).filter((t) =>
    OPERATION_TYPES[t].versions.some((v) => versions.includes(v)),
  );
  for (const t of types) {
    const def = OPERATION_TYPES[t];
    const own = def.baseType === null ? LONG_RUNNING_OPERATION_PROPERTIES : def.ownProperties;
    const base =
      def.baseType === null ? 'microsoft.graph.entity' : OPERATION_TYPES[def.baseType].qualifiedName;
    const descendants = types.filter((d) => d !== t && isBelow(d, t));
    const options: Record<string, unknown> = { title: def.name };
    if (def.versions.length === 1) options.description = `Only in /${def.versions[0]}.`;
    if (descendants.length > 0) {
      options.discriminator = {
        propertyName: '@odata.type',
        mapping: Object.fromEntries(
          descendants.map((d) => [
            `#${OPERATION_TYPES[d].qualifiedName}`,
            componentRef(OPERATION_TYPES[d].qualifiedName),
          ]),
        ),
      };
    }
    out[def.qualifiedName] = Type.Intersect(
      [
        Type.Ref(componentRef(base)),
        Type.Object({
          ...propertiesObject(own, 'components', true),
          '@odata.type': Type.Optional(Type.String({ default: `#${def.qualifiedName}` })),
        }),
      ],
      options,
    );
    out[collectionResponseName(t)] = Type.Object(
      {
        '@odata.context': Type.Optional(Type.String()),
        '@odata.count': Type.Optional(Type.Integer()),
        '@odata.nextLink': Type.Optional(Type.Union([Type.String(), Type.Null()])),
        value: Type.Array(Type.Ref(componentRef(def.qualifiedName))),
      },
      { title: `Collection of ${def.name}` },
    );
  }
  Object.assign(out, errorSchemas(), batchComponents());
  return out;
}

export const collectionResponseName = (type: OperationTypeName) =>
  `${OPERATION_TYPES[type].qualifiedName}CollectionResponse`;

function isBelow(type: OperationTypeName, ancestor: OperationTypeName): boolean {
  for (let t = OPERATION_TYPES[type].baseType; t; t = OPERATION_TYPES[t].baseType)
    if (t === ancestor) return true;
  return false;
}

/** Graph's error envelope (src/http/errors.ts writes it), under the names Graph's OpenAPI uses. */
function errorSchemas(): Record<string, TSchema> {
  const ns = 'microsoft.graph.ODataErrors';
  return {
    [`${ns}.ODataError`]: Type.Object(
      { error: Type.Ref(componentRef(`${ns}.MainError`)) },
      { title: 'ODataError' },
    ),
    [`${ns}.MainError`]: Type.Object(
      {
        code: Type.String(),
        message: Type.String(),
        target: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        details: Type.Optional(Type.Array(Type.Ref(componentRef(`${ns}.ErrorDetails`)))),
        innerError: Type.Optional(Type.Ref(componentRef(`${ns}.InnerError`))),
      },
      { title: 'MainError' },
    ),
    [`${ns}.ErrorDetails`]: Type.Object(
      {
        code: Type.String(),
        message: Type.String(),
        target: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      },
      { title: 'ErrorDetails' },
    ),
    [`${ns}.InnerError`]: Type.Object(
      {
        'request-id': Type.Optional(Type.String()),
        'client-request-id': Type.Optional(Type.String()),
        date: Type.Optional(Type.String()),
      },
      { title: 'InnerError', additionalProperties: true },
    ),
  };
}

/**
 * JSON batching (`POST /{version}/$batch`): one request step and one response step. The batch route
 * validates bodies with the inline form.
 */
const batchRequestStep = () =>
  Type.Object(
    {
      id: Type.String({ minLength: 1, maxLength: 256 }),
      method: Type.String({ minLength: 1, maxLength: 16 }),
      url: Type.String({ minLength: 1, maxLength: 8192 }),
      headers: Type.Optional(Type.Record(Type.String(), Type.String())),
      body: Type.Optional(Type.Unknown()),
      dependsOn: Type.Optional(Type.Array(Type.String(), { maxItems: MAX_BATCH_REQUESTS })),
    },
    { title: 'BatchRequestStep' },
  );

const batchResponseStep = () =>
  Type.Object(
    {
      id: Type.String(),
      status: Type.Integer(),
      headers: Type.Optional(Type.Record(Type.String(), Type.String())),
      body: Type.Optional(Type.Unknown()),
    },
    { title: 'BatchResponseStep' },
  );

/**
 * The `$batch` body, self-contained. Its `requests` may hold more than MAX_BATCH_REQUESTS steps here: the
 * route answers that case with its own message.
 */
export const BATCH_REQUEST = Type.Object(
  { requests: Type.Array(batchRequestStep()) },
  { title: 'BatchRequest' },
);

function batchComponents(): Record<string, TSchema> {
  return {
    'longrun.BatchRequest': Type.Object(
      {
        requests: Type.Array(Type.Ref(componentRef('longrun.BatchRequestStep')), {
          minItems: 1,
          maxItems: MAX_BATCH_REQUESTS,
        }),
      },
      { title: 'BatchRequest' },
    ),
    'longrun.BatchRequestStep': batchRequestStep(),
    'longrun.BatchResponse': Type.Object(
      { responses: Type.Array(Type.Ref(componentRef('longrun.BatchResponseStep'))) },
      { title: 'BatchResponse' },
    ),
    'longrun.BatchResponseStep': batchResponseStep(),
  };
}
