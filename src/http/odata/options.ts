/**
 * The OData system query options of a request, parsed and checked: the entry point of src/http/odata.
 * Pure functions of the raw query string; every problem is a 400 that names the option at fault
 * (collections.md §8.2: an option the server cannot honor is an error, never silently ignored).
 */
import { badRequest } from '../../model/errors.js';
import {
  filterableFields,
  type Cursor,
  type FieldInfo,
  type FilterNode,
  type OrderKey,
} from '../../model/query.js';
import type { OperationTypeName } from '../../model/types.js';
import { parseFilter } from './filter.js';
import { parseOrderBy } from './orderby.js';
import { parseSelect } from './select.js';
import { decodeSkiptoken, queryFingerprint } from './skiptoken.js';

export { encodeSkiptoken, decodeSkiptoken, queryFingerprint } from './skiptoken.js';

export type RequestKind = 'entity' | 'collection' | 'count';

export interface QueryContext {
  kind: RequestKind;
  /** concrete operation types that may appear in this collection (drives which property names are valid) */
  types: readonly OperationTypeName[];
  /** true when the request had `Prefer: include-unknown-enum-members` */
  includeUnknownEnumMembers: boolean;
}

export interface ParsedQueryOptions {
  /** property names, validated, in the order given; undefined when absent or '*' */
  select?: string[];
  filter?: FilterNode;
  /** [] when absent */
  orderBy: OrderKey[];
  /** default 100, max 1000, min 1 */
  top: number;
  skiptoken?: Cursor;
  /** $count=true on a collection */
  count: boolean;
  /** Identifies this $filter and $orderby; pass it to encodeSkiptoken for the next page's token. */
  fingerprint: string;
}

export const DEFAULT_TOP = 100;
export const MAX_TOP = 1000;

/** The supported options and the requests they apply to. */
const APPLIES_TO: Readonly<Record<string, readonly RequestKind[]>> = {
  $select: ['entity', 'collection'],
  $filter: ['collection', 'count'],
  $orderby: ['collection'],
  $top: ['collection'],
  $skiptoken: ['collection'],
  $count: ['collection'],
};

const WHERE: Record<RequestKind, string> = {
  entity: 'on a single operation',
  collection: 'on a collection',
  count: 'on a $count request',
};

interface QueryParam {
  name: string;
  value: string;
  /** The parameter as the client wrote it. */
  raw: string;
}

/** Query-string decoding: '+' is a space, then percent-decoding. */
function decodeComponent(text: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw badRequest(`The query string has a malformed percent-encoding in '${text}'.`);
  }
  // PostgreSQL can't store or compare NUL characters; no property can hold one, so it is bad input.
  if (decoded.includes('\u0000')) throw badRequest('Query options must not contain NUL characters.');
  return decoded;
}

function splitQuery(search: string): QueryParam[] {
  const query = search.startsWith('?') ? search.slice(1) : search;
  return query
    .split('&')
    .filter((raw) => raw !== '')
    .map((raw) => {
      const eq = raw.indexOf('=');
      const name = decodeComponent(eq < 0 ? raw : raw.slice(0, eq));
      const value = eq < 0 ? '' : decodeComponent(raw.slice(eq + 1));
      return { name, value, raw };
    });
}

/** The system options of the request, by name; other parameters (like Graph's `aadgdc`) are ignored. */
function systemOptions(search: string, kind: RequestKind): Map<string, string> {
  const options = new Map<string, string>();
  for (const { name, value } of splitQuery(search)) {
    if (!name.startsWith('$')) continue;
    const kinds = Object.hasOwn(APPLIES_TO, name) ? APPLIES_TO[name] : undefined;
    if (!kinds) throw badRequest(`Query option '${name}' is not supported.`);
    if (!kinds.includes(kind)) throw badRequest(`Query option '${name}' is not supported ${WHERE[kind]}.`);
    if (options.has(name)) throw badRequest(`Query option '${name}' is specified more than once.`);
    options.set(name, value);
  }
  return options;
}

function parseTop(text: string): number {
  const top = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  if (!(top >= 1 && top <= MAX_TOP)) {
    throw badRequest(
      `Invalid value '${text}' for query option '$top': expected an integer from 1 to ${MAX_TOP}.`,
    );
  }
  return top;
}

function parseCount(text: string): boolean {
  if (text === 'true' || text === 'false') return text === 'true';
  throw badRequest(`Invalid value '${text}' for query option '$count': expected true or false.`);
}

/** A token with the right fingerprint can still be hand-made: check its values fit the order keys. */
function checkCursor(cursor: Cursor, orderBy: OrderKey[], fields: ReadonlyMap<string, FieldInfo>): Cursor {
  const fits = (value: unknown, field: FieldInfo | undefined): boolean => {
    if (value === null) return true;
    switch (field?.storage) {
      case 'int':
      case 'status':
        return Number.isSafeInteger(value);
      case 'text':
      case 'timestamp':
        return typeof value === 'string';
      case 'bool':
        return typeof value === 'boolean';
      default:
        return false;
    }
  };
  const ok =
    cursor.values.length === orderBy.length &&
    orderBy.every((k, i) => fits(cursor.values[i], fields.get(k.field)));
  if (!ok) throw badRequest("The value of query option '$skiptoken' is not valid.");
  return cursor;
}

/** The fingerprint of a query without $filter and $orderby: the common case, computed once. */
const NO_OPTIONS_FINGERPRINT = queryFingerprint(undefined, undefined);

export function parseQueryOptions(search: string, ctx: QueryContext): ParsedQueryOptions {
  // Most requests carry no query string at all: skip the parsing (hot path of GET).
  if (search === '')
    return { orderBy: [], top: DEFAULT_TOP, count: false, fingerprint: NO_OPTIONS_FINGERPRINT };
  const options = systemOptions(search, ctx.kind);
  const fields = filterableFields(ctx.types);
  const get = (name: string) => options.get(name);

  const selectText = get('$select');
  const filterText = get('$filter');
  const orderbyText = get('$orderby');
  const topText = get('$top');
  const countText = get('$count');
  const skiptokenText = get('$skiptoken');

  const select = selectText === undefined ? undefined : parseSelect(selectText, ctx.types);
  const filter =
    filterText === undefined
      ? undefined
      : parseFilter(filterText, {
          types: ctx.types,
          fields,
          includeUnknownEnumMembers: ctx.includeUnknownEnumMembers,
        });
  const orderBy = orderbyText === undefined ? [] : parseOrderBy(orderbyText, fields, ctx.types);
  // The decoded option text is the canonical form: a nextLink repeats it byte for byte.
  const fingerprint = queryFingerprint(filterText, orderbyText);
  const skiptoken =
    skiptokenText === undefined
      ? undefined
      : checkCursor(decodeSkiptoken(skiptokenText, fingerprint), orderBy, fields);

  const parsed: ParsedQueryOptions = {
    orderBy,
    top: topText === undefined ? DEFAULT_TOP : parseTop(topText),
    count: countText === undefined ? false : parseCount(countText),
    fingerprint,
  };
  if (select) parsed.select = select;
  if (filter) parsed.filter = filter;
  if (skiptoken) parsed.skiptoken = skiptoken;
  return parsed;
}

/**
 * The query string of the next page's link: the client's own query with `$skiptoken` replaced or added.
 * Every other parameter stays byte for byte as sent (paging.md: the nextLink carries all of them).
 */
export function nextLinkQuery(search: string, token: string): string {
  const query = search.startsWith('?') ? search.slice(1) : search;
  const tokenParam = `$skiptoken=${encodeURIComponent(token)}`;
  let placed = false;
  const parts: string[] = [];
  for (const raw of query.split('&')) {
    if (raw === '') continue;
    if (!isSkiptoken(raw)) parts.push(raw);
    else if (!placed) {
      parts.push(tokenParam);
      placed = true;
    }
  }
  if (!placed) parts.push(tokenParam);
  return parts.join('&');
}

function isSkiptoken(raw: string): boolean {
  const eq = raw.indexOf('=');
  const name = eq < 0 ? raw : raw.slice(0, eq);
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')) === '$skiptoken';
  } catch {
    return false;
  }
}
