/**
 * Reads the operator API's filter from a query string or a bulk request's `filter` object. Each bad value
 * is a 400 that names the parameter and the rule; nothing a client sends reaches SQL except as a bound value.
 */
import type { FamilyName } from '../../families/families.js';
import { FAMILY_NAMES, familyScopes } from '../../families/scopes.js';
import { badRequest } from '../../model/errors.js';
import { STATUS, statusValue, type StatusValue } from '../../model/status.js';
import { normalizeTimestamp } from '../../model/time.js';
import { OPERATION_TYPES, typeFromODataType, type OperationTypeName } from '../../model/types.js';
import type { AdminFilter, ScopeMatcher } from '../../store/admin.js';

/** The filter's parameters, as the query string and the OpenAPI document name them. */
export const FILTER_PARAMETERS = [
  'family',
  'collection',
  'status',
  'type',
  'handler',
  'id',
  'createdAfter',
  'createdBefore',
  'finishedAfter',
  'finishedBefore',
] as const;

const MAX_VALUES = 50;
const MAX_TEXT = 1024;

/** A parameter's values: comma-separated text, or (in a JSON body) an array of strings. */
function values(source: Record<string, unknown>, name: string): string[] | undefined {
  const raw = source[name];
  if (raw === undefined || raw === '') return undefined;
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [raw];
  if (list.length > MAX_VALUES) throw badRequest(`'${name}' takes at most ${MAX_VALUES} values.`, name);
  return list.map((v) => {
    // NUL can't be stored (PostgreSQL text refuses it), so no operation can match one: refuse it up front.
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT || v.includes('\u0000')) {
      throw badRequest(
        `'${name}' values must be non-empty strings of at most ${MAX_TEXT} characters, without NUL.`,
        name,
      );
    }
    return v.trim();
  });
}

function single(source: Record<string, unknown>, name: string): string | undefined {
  const list = values(source, name);
  if (list && list.length > 1) throw badRequest(`'${name}' takes one value.`, name);
  return list?.[0];
}

function timestamp(source: Record<string, unknown>, name: string): string | undefined {
  const text = single(source, name);
  if (text === undefined) return undefined;
  const canonical = normalizeTimestamp(text);
  if (!canonical) {
    throw badRequest(
      `'${name}' must be an ISO 8601 date-time with an offset, e.g. 2026-01-31T12:00:00Z.`,
      name,
    );
  }
  return canonical;
}

const STATUS_NAMES = Object.keys(STATUS).filter((s) => s !== 'unknownFutureValue');

export function parseAdminFilter(source: Record<string, unknown>): AdminFilter {
  for (const key of Object.keys(source)) {
    if (!(FILTER_PARAMETERS as readonly string[]).includes(key)) {
      throw badRequest(`Unknown filter parameter '${key}'; known: ${FILTER_PARAMETERS.join(', ')}.`, key);
    }
  }
  const filter: AdminFilter = {};
  const families = values(source, 'family');
  const collections = values(source, 'collection');
  if (families || collections) {
    const scopes: ScopeMatcher[] = [];
    for (const f of families ?? []) {
      if (!FAMILY_NAMES.includes(f as FamilyName)) {
        throw badRequest(`'family' must be one of ${FAMILY_NAMES.join(', ')} (got '${f}').`, 'family');
      }
      scopes.push(...familyScopes(f as FamilyName));
    }
    // A collection is a scope key as the list returns it (e.g. `sites/s1/lists/l1`).
    for (const c of collections ?? []) scopes.push({ exact: c });
    if (families && collections) {
      // Both given: the collections, restricted to the families (an intersection, like the other filters).
      filter.scopes = (collections ?? [])
        .filter((c) => families.some((f) => familyScopes(f as FamilyName).some((m) => matches(m, c))))
        .map((c) => ({ exact: c }));
    } else {
      filter.scopes = scopes;
    }
  }
  const statuses = values(source, 'status');
  if (statuses) {
    filter.statuses = statuses.map((s): StatusValue => {
      const v = STATUS_NAMES.includes(s) ? statusValue(s) : undefined;
      if (v === undefined)
        throw badRequest(`'status' must be one of ${STATUS_NAMES.join(', ')} (got '${s}').`, 'status');
      return v;
    });
  }
  const types = values(source, 'type');
  if (types) {
    filter.types = types.map((t): OperationTypeName => {
      const name = Object.prototype.hasOwnProperty.call(OPERATION_TYPES, t)
        ? (t as OperationTypeName)
        : typeFromODataType(t);
      if (!name) {
        throw badRequest(
          `'type' must name an operation type, e.g. richLongRunningOperation or microsoft.graph.richLongRunningOperation (got '${t}').`,
          'type',
        );
      }
      return name;
    });
  }
  filter.handlers = values(source, 'handler');
  filter.id = single(source, 'id');
  filter.createdFrom = timestamp(source, 'createdAfter');
  filter.createdTo = timestamp(source, 'createdBefore');
  const finishedAfter = timestamp(source, 'finishedAfter');
  const finishedBefore = timestamp(source, 'finishedBefore');
  if (finishedAfter) filter.finishedFrom = Date.parse(finishedAfter);
  if (finishedBefore) filter.finishedTo = Date.parse(finishedBefore);
  for (const k of Object.keys(filter) as (keyof AdminFilter)[]) if (filter[k] === undefined) delete filter[k];
  return filter;
}

function matches(m: ScopeMatcher, scope: string): boolean {
  if ('exact' in m) return scope === m.exact;
  return (
    scope.startsWith(m.prefix) &&
    (m.suffix === undefined || (scope.endsWith(m.suffix) && scope.length > m.prefix.length + m.suffix.length))
  );
}
