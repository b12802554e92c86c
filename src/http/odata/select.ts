/** `$select`: which properties a response carries. */
import { badRequest } from '../../model/errors.js';
import type { OperationTypeName } from '../../model/types.js';
import { propertyNames, unknownProperty } from './properties.js';

/**
 * Comma-separated property names, checked against the collection's types. Returns them deduplicated in
 * the order given, or undefined for `*` (every property, the same as no $select).
 */
export function parseSelect(text: string, types: readonly OperationTypeName[]): string[] | undefined {
  const known = propertyNames(types);
  const selected = new Set<string>();
  let all = false;
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (name === '') throw badRequest("Query option '$select' has an empty item.");
    if (name === '*') all = true;
    else if (known.has(name)) selected.add(name);
    else throw unknownProperty(name, types);
  }
  return all ? undefined : [...selected];
}
