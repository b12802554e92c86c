/**
 * Compiles the list-query AST (src/model/query.ts) to SQL for both backends: filters, ORDER BY, and the
 * keyset predicate that continues a listing after a cursor.
 *
 * Semantics follow OData rather than SQL where they differ: a comparison is always true or false, never
 * unknown. `not` is pushed down to the comparisons (negation normal form) and each negated comparison says
 * explicitly whether NULL matches, so `not (x eq 'a')` matches rows where x is null, as OData requires,
 * and the positive forms stay plain `col = ?` that indexes serve. NULL sorts as the smallest value.
 */
import type { OperationView } from '../../model/operation.js';
import type {
  ComparisonOp,
  Cursor,
  FieldInfo,
  FilterNode,
  FilterValue,
  OrderKey,
} from '../../model/query.js';
import { filterableFields } from '../../model/query.js';
import { OPERATION_TYPES, type OperationTypeName } from '../../model/types.js';

export interface SqlDialect {
  name: 'sqlite' | 'postgres';
  /** placeholder for the n-th parameter (1-based): '?' for sqlite, '$n' for postgres */
  placeholder(n: number): string;
}

export const sqliteDialect: SqlDialect = { name: 'sqlite', placeholder: () => '?' };
export const postgresDialect: SqlDialect = { name: 'postgres', placeholder: (n) => `$${n}` };

/** Every field of every type: the store serves all collections, the HTTP layer already checked names. */
const FIELDS = filterableFields(Object.keys(OPERATION_TYPES) as OperationTypeName[]);

/** Base columns declared NOT NULL: their comparisons need no `IS NULL` arm and their ordering no NULLS clause. */
const NOT_NULL_COLUMNS = new Set(['id', 'created_at', 'last_action_at', 'status']);

const TRUE_SQL = '(1 = 1)';
const FALSE_SQL = '(1 = 0)';

function fieldInfo(name: string): FieldInfo {
  const field = FIELDS.get(name);
  if (!field) throw new Error(`query-sql: unknown field '${name}'`);
  return field;
}

/** The SQL expression that reads a field. Property names come from the type table, never from clients. */
function fieldSql(d: SqlDialect, field: FieldInfo): string {
  if (field.column) return field.column;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field.name))
    throw new Error(`query-sql: unsafe property '${field.name}'`);
  if (d.name === 'sqlite') return `json_extract(props, '$."${field.name}"')`;
  if (field.storage === 'int') return `((props->>'${field.name}')::int)`;
  if (field.storage === 'bool') return `((props->>'${field.name}')::boolean)`;
  return `(props->>'${field.name}')`;
}

function nullable(field: FieldInfo): boolean {
  return !(field.column && NOT_NULL_COLUMNS.has(field.column));
}

/** Pushes a parameter and returns its placeholder. SQLite cannot bind booleans. */
function bind(d: SqlDialect, params: unknown[], value: FilterValue): string {
  params.push(d.name === 'sqlite' && typeof value === 'boolean' ? Number(value) : value);
  return d.placeholder(params.length);
}

const SQL_OP: Record<ComparisonOp, string> = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' };
const NEGATED_OP: Record<ComparisonOp, ComparisonOp> = {
  eq: 'ne',
  ne: 'eq',
  gt: 'le',
  ge: 'lt',
  lt: 'ge',
  le: 'gt',
};

/** `expr` or, when the field can be null and null should match too, `(expr OR col IS NULL)`. */
function orNull(field: FieldInfo, col: string, expr: string, nullMatches: boolean): string {
  return nullMatches && nullable(field) ? `(${expr} OR ${col} IS NULL)` : expr;
}

function compileComparison(
  d: SqlDialect,
  op: ComparisonOp,
  fieldName: string,
  value: FilterValue,
  negate: boolean,
  params: unknown[],
): string {
  const field = fieldInfo(fieldName);
  const col = fieldSql(d, field);
  if (value === null) {
    const isNull = op === 'eq' ? true : op === 'ne' ? false : undefined;
    // OData: ordering comparisons with null are false (so their negation is true).
    if (isNull === undefined) return negate ? TRUE_SQL : FALSE_SQL;
    return isNull !== negate ? `${col} IS NULL` : `${col} IS NOT NULL`;
  }
  // OData: `null ne 'x'` is true, every other comparison with a null operand is false; a negated
  // comparison therefore matches null exactly when the comparison itself does not.
  const nullMatches = (op === 'ne') !== negate;
  const sqlOp = SQL_OP[negate ? NEGATED_OP[op] : op];
  return orNull(field, col, `${col} ${sqlOp} ${bind(d, params, value)}`, nullMatches);
}

function compileIn(
  d: SqlDialect,
  fieldName: string,
  values: FilterValue[],
  negate: boolean,
  params: unknown[],
) {
  const field = fieldInfo(fieldName);
  const col = fieldSql(d, field);
  const hasNull = values.includes(null);
  const nonNull = [...new Set(values.filter((v) => v !== null))];
  if (nonNull.length === 0) {
    if (hasNull) return negate ? `${col} IS NOT NULL` : `${col} IS NULL`;
    return negate ? TRUE_SQL : FALSE_SQL;
  }
  const list = nonNull.map((v) => bind(d, params, v)).join(', ');
  if (!negate) return hasNull ? `(${col} IN (${list}) OR ${col} IS NULL)` : `${col} IN (${list})`;
  return hasNull
    ? `(${col} IS NOT NULL AND ${col} NOT IN (${list}))`
    : orNull(field, col, `${col} NOT IN (${list})`, true);
}

function compileStartsWith(
  d: SqlDialect,
  fieldName: string,
  value: string,
  negate: boolean,
  params: unknown[],
) {
  const field = fieldInfo(fieldName);
  const col = fieldSql(d, field);
  // Not LIKE: '%' and '_' in the value must stay literal characters.
  if (d.name === 'postgres') {
    const test = `starts_with(${col}, ${bind(d, params, value)}::text)`;
    return negate ? orNull(field, col, `NOT ${test}`, true) : test;
  }
  const prefix = `substr(${col}, 1, length(${bind(d, params, value)}))`;
  const p = bind(d, params, value);
  return negate ? orNull(field, col, `${prefix} <> ${p}`, true) : `${prefix} = ${p}`;
}

/** Appends the filter's parameters to `params` and returns a boolean SQL expression. */
export function compileFilter(d: SqlDialect, filter: FilterNode, params: unknown[]): string {
  return compileNode(d, filter, params, false);
}

function compileNode(d: SqlDialect, node: FilterNode, params: unknown[], negate: boolean): string {
  switch (node.op) {
    case 'and':
    case 'or': {
      // De Morgan: not (a and b) = (not a) or (not b).
      const joiner = (node.op === 'and') !== negate ? 'AND' : 'OR';
      const left = compileNode(d, node.left, params, negate);
      const right = compileNode(d, node.right, params, negate);
      return `(${left} ${joiner} ${right})`;
    }
    case 'not':
      return compileNode(d, node.operand, params, !negate);
    case 'const':
      return node.value !== negate ? TRUE_SQL : FALSE_SQL;
    case 'in':
      return compileIn(d, node.field, node.values, negate, params);
    case 'startswith':
      return compileStartsWith(d, node.field, node.value, negate, params);
    case 'isof': {
      // The type column is NOT NULL, so the negation needs no IS NULL arm.
      if (node.types.length === 0) return negate ? TRUE_SQL : FALSE_SQL;
      const list = node.types.map((t) => bind(d, params, t)).join(', ');
      return `type ${negate ? 'NOT IN' : 'IN'} (${list})`;
    }
    default:
      return compileComparison(d, node.op, node.field, node.value, negate, params);
  }
}

function nullsClause(field: FieldInfo, dir: 'asc' | 'desc'): string {
  // NULL is the smallest value in both backends (PostgreSQL's default is the opposite). NOT NULL columns
  // skip the clause so that PostgreSQL can still walk a default-ordered index.
  if (!nullable(field)) return '';
  return dir === 'asc' ? ' NULLS FIRST' : ' NULLS LAST';
}

/** ORDER BY clause body (without the words ORDER BY), always ending with the seq tiebreak in the direction of the last key (or `seq ASC` when there are no keys). */
export function compileOrderBy(d: SqlDialect, orderBy: OrderKey[]): string {
  const parts = orderBy.map((k) => {
    const field = fieldInfo(k.field);
    return `${fieldSql(d, field)} ${k.dir.toUpperCase()}${nullsClause(field, k.dir)}`;
  });
  const lastDir = orderBy.length ? orderBy[orderBy.length - 1].dir : 'asc';
  parts.push(`seq ${lastDir.toUpperCase()}`);
  return parts.join(', ');
}

/** "The row's value sorts strictly after the cursor's value" for one key, with NULL as the smallest value. */
function keyAfter(
  d: SqlDialect,
  field: FieldInfo,
  dir: 'asc' | 'desc',
  value: FilterValue,
  params: unknown[],
) {
  const col = fieldSql(d, field);
  if (value === null) return dir === 'asc' ? `${col} IS NOT NULL` : FALSE_SQL;
  if (dir === 'asc') return `${col} > ${bind(d, params, value)}`;
  return orNull(field, col, `${col} < ${bind(d, params, value)}`, true);
}

function keyEquals(d: SqlDialect, field: FieldInfo, value: FilterValue, params: unknown[]) {
  const col = fieldSql(d, field);
  return value === null ? `${col} IS NULL` : `${col} = ${bind(d, params, value)}`;
}

/** The keyset predicate "row comes strictly after the cursor" for that ordering; appends params. */
export function compileAfter(d: SqlDialect, orderBy: OrderKey[], cursor: Cursor, params: unknown[]): string {
  if (cursor.values.length !== orderBy.length) throw new Error('query-sql: cursor does not fit the ordering');
  const lastDir = orderBy.length ? orderBy[orderBy.length - 1].dir : 'asc';
  // Parameters are pushed in text order (SQLite's '?' placeholders are positional).
  // A redundant range on the leading key lets the database seek an index instead of scanning.
  let bound = '';
  const first = orderBy[0];
  if (first && cursor.values[0] !== null) {
    const field = fieldInfo(first.field);
    if (first.dir === 'asc' || !nullable(field)) {
      bound = `${fieldSql(d, field)} ${first.dir === 'asc' ? '>=' : '<='} ${bind(d, params, cursor.values[0])} AND `;
    }
  }
  // after(k1) OR (k1 = c1 AND (after(k2) OR (k2 = c2 AND ... seq after))): rendered outside in.
  const pieces = orderBy.map((k, i) => {
    const field = fieldInfo(k.field);
    const value = cursor.values[i];
    return { after: keyAfter(d, field, k.dir, value, params), equals: keyEquals(d, field, value, params) };
  });
  let sql = `seq ${lastDir === 'asc' ? '>' : '<'} ${bind(d, params, cursor.seq)}`;
  for (let i = pieces.length - 1; i >= 0; i--) {
    const { after, equals } = pieces[i];
    sql = after === FALSE_SQL ? `(${equals} AND ${sql})` : `(${after} OR (${equals} AND ${sql}))`;
  }
  return bound ? `(${bound}${sql})` : sql;
}

/** The value of an order field in a row, to build the next cursor */
export function cursorFor(orderBy: OrderKey[], record: OperationView): Cursor {
  return { values: orderBy.map((k) => recordValue(fieldInfo(k.field), record)), seq: record.seq };
}

function recordValue(field: FieldInfo, record: OperationView): FilterValue {
  const raw: unknown = field.column ? record[field.name as keyof OperationView] : record.props[field.name];
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return raw;
  // Writes validate props, so a filterable property is always a scalar; anything else sorts as null.
  return null;
}
