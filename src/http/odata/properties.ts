/** Property lookups shared by the query option parsers, with the error messages Graph clients expect. */
import { badRequest } from '../../model/errors.js';
import type { FieldInfo } from '../../model/query.js';
import {
  BASE_PROPERTIES,
  OPERATION_TYPES,
  isSubtypeOf,
  subtypeProperties,
  type OperationTypeName,
} from '../../model/types.js';

/** The most derived type every type of the collection shares: the type named in "no such property" errors. */
export function commonType(types: readonly OperationTypeName[]): OperationTypeName {
  if (types.length === 0) return 'longRunningOperation';
  for (let t: OperationTypeName | null = types[0]; t; t = OPERATION_TYPES[t].baseType) {
    const candidate: OperationTypeName = t;
    if (types.every((other) => isSubtypeOf(other, candidate))) return candidate;
  }
  return 'longRunningOperation';
}

/** Every property name of the types (base properties first), for $select. */
export function propertyNames(types: readonly OperationTypeName[]): Set<string> {
  const names = new Set<string>(BASE_PROPERTIES);
  for (const t of types) for (const p of subtypeProperties(t)) names.add(p.name);
  return names;
}

export function unknownProperty(name: string, types: readonly OperationTypeName[]) {
  const typeName = OPERATION_TYPES[commonType(types)].qualifiedName;
  return badRequest(`Could not find a property named '${name}' on type '${typeName}'.`);
}

/** The field a $filter or $orderby names, or a 400 that says why it cannot be used there. */
export function queryField(
  name: string,
  fields: ReadonlyMap<string, FieldInfo>,
  types: readonly OperationTypeName[],
  option: '$filter' | '$orderby',
): FieldInfo {
  const field = fields.get(name);
  if (field) return field;
  if (propertyNames(types).has(name)) {
    // Collections and complex values (errors, error, validatedFiles) have no order and no scalar value.
    throw badRequest(
      `Property '${name}' cannot be used in '${option}': only properties with a primitive or enum value can.`,
    );
  }
  throw unknownProperty(name, types);
}
