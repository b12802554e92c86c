/** `$orderby`: up to five `field [asc|desc]` keys over the filterable fields. */
import { badRequest } from '../../model/errors.js';
import type { FieldInfo, OrderKey } from '../../model/query.js';
import type { OperationTypeName } from '../../model/types.js';
import { queryField } from './properties.js';

/** Each key adds a column to the keyset predicate; five keeps the paging query cheap. */
export const MAX_ORDER_KEYS = 5;

export function parseOrderBy(
  text: string,
  fields: ReadonlyMap<string, FieldInfo>,
  types: readonly OperationTypeName[],
): OrderKey[] {
  const keys: OrderKey[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') throw badRequest("Query option '$orderby' has an empty item.");
    const [name, direction, ...rest] = item.split(/\s+/);
    if (rest.length > 0)
      throw badRequest(`Invalid '$orderby' item '${item}': expected 'property [asc|desc]'.`);
    const dir = direction === undefined ? 'asc' : direction.toLowerCase();
    if (dir !== 'asc' && dir !== 'desc') {
      throw badRequest(
        `Invalid '$orderby' direction '${direction}' for '${name}': expected 'asc' or 'desc'.`,
      );
    }
    const field = queryField(name, fields, types, '$orderby');
    if (keys.some((k) => k.field === field.name)) {
      throw badRequest(`Property '${name}' appears more than once in '$orderby'.`);
    }
    keys.push({ field: field.name, dir });
  }
  if (keys.length > MAX_ORDER_KEYS) {
    throw badRequest(
      `Query option '$orderby' has ${keys.length} keys; at most ${MAX_ORDER_KEYS} are supported.`,
    );
  }
  return keys;
}
