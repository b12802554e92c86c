/**
 * What a list request asks of the store, after the OData query options were parsed and checked.
 * Plain data: the HTTP layer builds it, the stores translate it into SQL.
 */
import { OPERATION_TYPES, type OperationTypeName, type PropertyDef } from './types.js';

export type FilterValue = string | number | boolean | null;
export type ComparisonOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';

export type FilterNode =
  | { op: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { op: 'not'; operand: FilterNode }
  | { op: ComparisonOp; field: string; value: FilterValue }
  | { op: 'in'; field: string; values: FilterValue[] }
  | { op: 'startswith'; field: string; value: string }
  /** OData's isof: the operation's own type is one of these (the named type's concrete subtypes). */
  | { op: 'isof'; types: OperationTypeName[] }
  /** A constant; the evolvable-enum rules can make a comparison match nothing or everything. */
  | { op: 'const'; value: boolean };

export interface OrderKey {
  field: string;
  dir: 'asc' | 'desc';
}

/** Where the previous page ended: the last row's values of the order keys, then its seq. */
export interface Cursor {
  values: FilterValue[];
  seq: number;
}

export interface ListQuery {
  filter?: FilterNode;
  /** Without keys, rows come in creation order (seq). seq always breaks ties. */
  orderBy: OrderKey[];
  top: number;
  after?: Cursor;
}

/**
 * How a field is stored and compared. `status` is its numeric enum value; timestamps are canonical text
 * (see time.ts), so they compare as text; subtype properties live in a JSON document.
 */
export type FieldStorage = 'text' | 'int' | 'status' | 'timestamp' | 'bool';

export interface FieldInfo {
  name: string;
  storage: FieldStorage;
  /** Base fields have their own column; the others are read from the JSON `props` column. */
  column: string | null;
  /** The enum for enum-typed subtype properties (stored as member names). */
  property?: PropertyDef;
}

const BASE_FIELDS: readonly FieldInfo[] = [
  { name: 'id', storage: 'text', column: 'id' },
  { name: 'createdDateTime', storage: 'timestamp', column: 'created_at' },
  { name: 'lastActionDateTime', storage: 'timestamp', column: 'last_action_at' },
  { name: 'resourceLocation', storage: 'text', column: 'resource_location' },
  { name: 'status', storage: 'status', column: 'status' },
  { name: 'statusDetail', storage: 'text', column: 'status_detail' },
];

/**
 * Fields a client may filter and order on for the given types: the base fields plus the scalar subtype
 * properties (collections and complex values are not filterable).
 */
const fieldsCache = new Map<string, ReadonlyMap<string, FieldInfo>>();

export function filterableFields(types: readonly OperationTypeName[]): ReadonlyMap<string, FieldInfo> {
  // Every request asks this for one of a handful of type sets: build each map once.
  const key = types.join(',');
  let fields = fieldsCache.get(key);
  if (!fields) {
    fields = buildFields(types);
    fieldsCache.set(key, fields);
  }
  return fields;
}

function buildFields(types: readonly OperationTypeName[]): Map<string, FieldInfo> {
  const fields = new Map<string, FieldInfo>(BASE_FIELDS.map((f) => [f.name, f]));
  for (const t of types) {
    for (let def = OPERATION_TYPES[t]; def; def = def.baseType ? OPERATION_TYPES[def.baseType] : undefined!) {
      for (const p of def.ownProperties) {
        if (p.kind === 'string')
          fields.set(p.name, { name: p.name, storage: 'text', column: null, property: p });
        else if (p.kind === 'int32')
          fields.set(p.name, { name: p.name, storage: 'int', column: null, property: p });
        else if (p.kind === 'enum')
          fields.set(p.name, { name: p.name, storage: 'text', column: null, property: p });
      }
      if (!def.baseType) break;
    }
  }
  return fields;
}

export function baseField(name: string): FieldInfo | undefined {
  return BASE_FIELDS.find((f) => f.name === name);
}
