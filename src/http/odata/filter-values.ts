/**
 * Turns `field op literal` into filter nodes: checks the literal against the field's type, converts it to
 * the stored form, and applies Graph's evolvable-enum rules (OData's UnknownFutureValue convention).
 */
import { badRequest } from '../../model/errors.js';
import type { ComparisonOp, FieldInfo, FilterNode, FilterValue } from '../../model/query.js';
import { normalizeTimestamp } from '../../model/time.js';
import { LONG_RUNNING_OPERATION_STATUS, type EnumDef } from '../../model/types.js';
import type { Token } from './filter-lexer.js';

export type LiteralToken = Exclude<Token, { kind: '(' | ')' | ',' | 'eof' }>;

export interface ValueContext {
  /** `Prefer: include-unknown-enum-members`: members after the sentinel may be named. */
  includeUnknownEnumMembers: boolean;
}

const SENTINEL_NAME = 'unknownFutureValue';
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const isNullLiteral = (t: LiteralToken) => t.kind === 'ident' && t.text === 'null';

function invalidValue(field: FieldInfo, t: LiteralToken, expected: string) {
  return badRequest(
    `Invalid value ${t.text} for property '${field.name}' in '$filter': expected ${expected}.`,
  );
}

/** The stored value of a non-null literal for a field that is not an enum. */
function scalarValue(field: FieldInfo, t: LiteralToken): FilterValue {
  switch (field.storage) {
    case 'text':
      if (t.kind === 'string') return t.value;
      throw invalidValue(field, t, "a string such as 'abc'");
    case 'int':
      if (t.kind === 'number' && Number.isInteger(t.value) && t.value >= INT32_MIN && t.value <= INT32_MAX) {
        return t.value;
      }
      throw invalidValue(field, t, 'an Edm.Int32 integer');
    case 'timestamp': {
      // Unquoted is the OData form; quoted is what many clients send, so accept both.
      const canonical =
        t.kind === 'datetime' ? t.value : t.kind === 'string' ? normalizeTimestamp(t.value) : undefined;
      if (canonical) return canonical;
      throw invalidValue(field, t, 'a DateTimeOffset such as 2024-05-01T10:00:00Z');
    }
    case 'bool':
      if (t.kind === 'ident' && (t.text === 'true' || t.text === 'false')) return t.text === 'true';
      throw invalidValue(field, t, 'true or false');
    case 'status':
      throw new Error('status is an enum');
  }
}

function enumOf(field: FieldInfo): EnumDef | undefined {
  if (field.storage === 'status') return LONG_RUNNING_OPERATION_STATUS;
  return field.property?.kind === 'enum' ? field.property.enum : undefined;
}

interface Member {
  name: string;
  index: number;
}

function resolveMember(field: FieldInfo, def: EnumDef, t: LiteralToken, ctx: ValueContext): Member {
  let name: string;
  if (t.kind === 'string') name = t.value;
  else if (t.kind === 'enum') {
    if (t.type !== def.qualifiedName) {
      throw badRequest(
        `Enum literal ${t.text} does not have the type '${def.qualifiedName}' of property '${field.name}'.`,
      );
    }
    name = t.value;
  } else throw invalidValue(field, t, `a member of '${def.qualifiedName}'`);
  name = def.aliases?.[name] ?? name;
  const index = def.members.indexOf(name);
  if (index < 0) {
    throw badRequest(
      `'${name}' is not a member of '${def.qualifiedName}' (property '${field.name}' in '$filter').`,
    );
  }
  const sentinel = def.members.indexOf(SENTINEL_NAME);
  if (sentinel >= 0 && index > sentinel && !ctx.includeUnknownEnumMembers) {
    throw badRequest(
      `The member '${name}' of '${def.qualifiedName}' (property '${field.name}' in '$filter') requires the ` +
        "'Prefer: include-unknown-enum-members' request header.",
    );
  }
  return { name, index };
}

/** Status is stored as its numeric value, the other enums as member names. */
const storedMember = (field: FieldInfo, m: Member): FilterValue =>
  field.storage === 'status' ? m.index : m.name;

const FALSE_NODE: FilterNode = { op: 'const', value: false };

function anyOf(field: FieldInfo, values: FilterValue[]): FilterNode {
  return values.length ? { op: 'in', field: field.name, values } : FALSE_NODE;
}

/**
 * `eq unknownFutureValue`: a client without the preference sees every member after the sentinel as the
 * sentinel, so it matches those; with the preference it sees real names and the sentinel matches nothing.
 */
function sentinelMatch(field: FieldInfo, def: EnumDef, ctx: ValueContext): FilterNode {
  if (ctx.includeUnknownEnumMembers) return FALSE_NODE;
  const sentinel = def.members.indexOf(SENTINEL_NAME);
  if (field.storage === 'status') return { op: 'gt', field: field.name, value: sentinel };
  return anyOf(field, def.members.slice(sentinel + 1));
}

function negate(node: FilterNode): FilterNode {
  if (node.op === 'const') return { op: 'const', value: !node.value };
  // status is never null, so "not greater" is exactly "less or equal".
  if (node.op === 'gt' && node.field === 'status') return { ...node, op: 'le' };
  return { op: 'not', operand: node };
}

const COMPARE: Record<ComparisonOp, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
};

function enumComparison(field: FieldInfo, def: EnumDef, op: ComparisonOp, m: Member, ctx: ValueContext) {
  const sentinel = def.members.indexOf(SENTINEL_NAME);
  if (m.index === sentinel && (op === 'eq' || op === 'ne')) {
    const matches = sentinelMatch(field, def, ctx);
    return op === 'eq' ? matches : negate(matches);
  }
  if (field.storage === 'status' || op === 'eq' || op === 'ne') {
    return { op, field: field.name, value: storedMember(field, m) } satisfies FilterNode;
  }
  // Names stored as text would order alphabetically; OData orders enum members by value.
  return anyOf(
    field,
    def.members.filter((_, i) => i !== sentinel && COMPARE[op](i, m.index)),
  );
}

export function comparisonNode(
  field: FieldInfo,
  op: ComparisonOp,
  t: LiteralToken,
  ctx: ValueContext,
): FilterNode {
  if (isNullLiteral(t)) {
    if (op !== 'eq' && op !== 'ne') {
      throw badRequest(
        `Property '${field.name}' can only be compared with null using 'eq' or 'ne' in '$filter'.`,
      );
    }
    return { op, field: field.name, value: null };
  }
  const def = enumOf(field);
  if (def) return enumComparison(field, def, op, resolveMember(field, def, t, ctx), ctx);
  return { op, field: field.name, value: scalarValue(field, t) };
}

/** `field in (a, b, ...)`: the same rules as `eq`, member by member. */
export function inNode(field: FieldInfo, list: LiteralToken[], ctx: ValueContext): FilterNode {
  const values: FilterValue[] = [];
  const extra: FilterNode[] = [];
  const def = enumOf(field);
  for (const t of list) {
    if (isNullLiteral(t)) values.push(null);
    else if (!def) values.push(scalarValue(field, t));
    else {
      const m = resolveMember(field, def, t, ctx);
      if (m.name !== SENTINEL_NAME) values.push(storedMember(field, m));
      else {
        const matches = sentinelMatch(field, def, ctx);
        if (matches.op !== 'const') extra.push(matches);
      }
    }
  }
  const unique = [...new Set(values)];
  const nodes = unique.length ? [anyOf(field, unique), ...extra] : extra;
  if (nodes.length === 0) return FALSE_NODE;
  return nodes.reduce((left, right) => ({ op: 'or', left, right }));
}

/** startswith works on free text only: not on timestamps, numbers or enums. */
export function startsWithNode(field: FieldInfo, t: LiteralToken): FilterNode {
  if (field.storage !== 'text' || enumOf(field)) {
    throw badRequest(
      `Function 'startswith' in '$filter' needs a string property; '${field.name}' is not one.`,
    );
  }
  if (t.kind !== 'string') throw invalidValue(field, t, "a string such as 'abc'");
  return { op: 'startswith', field: field.name, value: t.value };
}
