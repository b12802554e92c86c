/**
 * `$filter`: a recursive-descent parser for the OData subset longrun supports.
 *
 *   or      = and *( "or" and )
 *   and     = unary *( "and" unary )
 *   unary   = "not" unary / primary
 *   primary = "(" or ")" / startswith [ ("eq" / "ne") bool ] / isof / comparison / in / bool
 *   isof    = "isof" "(" [ "$it" "," ] string ")"
 *   comparison = field op literal / literal op field          op = eq ne gt ge lt le
 *   in      = field "in" "(" literal *( "," literal ) ")"
 *
 * Keywords are lowercase, as in OData. Comparisons bind tighter than `not`, so `not status eq 'failed'`
 * reads as `not (status eq 'failed')`, which is what people mean.
 */
import { badRequest } from '../../model/errors.js';
import type { ComparisonOp, FieldInfo, FilterNode } from '../../model/query.js';
import { isSubtypeOf, typeFromODataType, type OperationTypeName } from '../../model/types.js';
import { syntaxError, tokenize, type Token } from './filter-lexer.js';
import {
  comparisonNode,
  inNode,
  startsWithNode,
  type LiteralToken,
  type ValueContext,
} from './filter-values.js';
import { queryField } from './properties.js';

export interface FilterContext extends ValueContext {
  types: readonly OperationTypeName[];
  fields: ReadonlyMap<string, FieldInfo>;
}

/** Limits that keep a hostile filter from exhausting the stack or the database's expression depth. */
export const MAX_FILTER_TERMS = 100;
export const MAX_FILTER_DEPTH = 32;
export const MAX_IN_VALUES = 200;

const COMPARISON_OPS: ReadonlySet<string> = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const FLIPPED: Record<ComparisonOp, ComparisonOp> = {
  eq: 'eq',
  ne: 'ne',
  gt: 'lt',
  ge: 'le',
  lt: 'gt',
  le: 'ge',
};
const LITERAL_WORDS: ReadonlySet<string> = new Set(['true', 'false', 'null']);
const RESERVED: ReadonlySet<string> = new Set([...COMPARISON_OPS, 'and', 'or', 'not', 'in']);

export function parseFilter(text: string, ctx: FilterContext): FilterNode {
  if (text.trim() === '') throw badRequest("Query option '$filter' is empty.");
  return new FilterParser(tokenize(text), ctx).parse();
}

/** A token as an error message shows it: quoted, unless it is a quoted literal already or the end. */
function quote(t: Token): string {
  if (t.kind === 'eof') return t.text;
  return t.kind === 'string' || t.kind === 'enum' ? t.text : `'${t.text}'`;
}

class FilterParser {
  private i = 0;
  private depth = 0;
  private terms = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly ctx: FilterContext,
  ) {}

  parse(): FilterNode {
    const node = this.or();
    const t = this.peek();
    if (t.kind !== 'eof')
      throw syntaxError(t.pos, `unexpected ${quote(t)}; expected 'and', 'or' or the end.`);
    return node;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)];
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isWord(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'ident' && t.text === word;
  }

  private expect(kind: '(' | ')' | ',', what: string): void {
    const t = this.next();
    if (t.kind !== kind) throw syntaxError(t.pos, `expected ${what}, found ${quote(t)}.`);
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw badRequest(`Query option '$filter' is nested too deeply (at most ${MAX_FILTER_DEPTH} levels).`);
    }
    const result = parse();
    this.depth--;
    return result;
  }

  private countTerm(): void {
    if (++this.terms > MAX_FILTER_TERMS) {
      throw badRequest(`Query option '$filter' has too many conditions (at most ${MAX_FILTER_TERMS}).`);
    }
  }

  private or(): FilterNode {
    let left = this.and();
    while (this.isWord('or')) {
      this.next();
      left = { op: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): FilterNode {
    let left = this.unary();
    while (this.isWord('and')) {
      this.next();
      left = { op: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): FilterNode {
    if (!this.isWord('not')) return this.primary();
    this.next();
    return this.nested(() => ({ op: 'not', operand: this.unary() }));
  }

  private primary(): FilterNode {
    const t = this.peek();
    if (t.kind === '(') {
      this.next();
      const inner = this.nested(() => this.or());
      this.expect(')', "')'");
      return inner;
    }
    if (t.kind === 'ident' && this.peek(1).kind === '(') return this.call();
    return this.comparison();
  }

  private call(): FilterNode {
    const name = this.next();
    if (name.text === 'isof') return this.isof();
    if (name.text !== 'startswith') {
      throw badRequest(
        `Function '${name.text}' is not supported in '$filter'; only 'startswith' and 'isof' are.`,
      );
    }
    this.countTerm();
    this.expect('(', "'('");
    const field = this.field(this.next());
    this.expect(',', "','");
    const prefix = this.literal(this.next());
    this.expect(')', "')'");
    const node = startsWithNode(field, prefix);
    // `startswith(x,'a') eq true` is a common spelling of the same thing.
    if ((this.isWord('eq') || this.isWord('ne')) && (this.isWord('true', 1) || this.isWord('false', 1))) {
      const op = this.next().text;
      const wanted = this.next().text === 'true';
      return wanted === (op === 'eq') ? node : { op: 'not', operand: node };
    }
    return node;
  }

  /**
   * `isof('microsoft.graph.x')` or `isof($it, 'microsoft.graph.x')`: the operation is of that type or a
   * subtype. Decided against the collection's types first, so a test every member passes (or none does)
   * costs the database nothing.
   */
  private isof(): FilterNode {
    this.countTerm();
    this.expect('(', "'('");
    if (this.isWord('$it')) {
      this.next();
      this.expect(',', "','");
    }
    const t = this.next();
    if (t.kind !== 'string') throw syntaxError(t.pos, `isof needs a quoted type name, found ${quote(t)}.`);
    this.expect(')', "')'");
    const named = typeFromODataType(t.value);
    if (!named) {
      throw badRequest(
        `isof: '${t.value}' is not an operation type (e.g. 'microsoft.graph.richLongRunningOperation').`,
      );
    }
    const types = this.ctx.types.filter((x) => isSubtypeOf(x, named));
    if (types.length === this.ctx.types.length) return { op: 'const', value: true };
    if (types.length === 0) return { op: 'const', value: false };
    return { op: 'isof', types };
  }

  private comparison(): FilterNode {
    const left = this.next();
    if (left.kind === 'eof' || left.kind === ')' || left.kind === ',') {
      throw syntaxError(left.pos, `expected a condition, found ${quote(left)}.`);
    }
    const op = this.peek();
    const isOp = op.kind === 'ident' && COMPARISON_OPS.has(op.text);
    if (left.kind === 'ident' && !LITERAL_WORDS.has(left.text)) {
      const field = this.field(left);
      if (op.kind === 'ident' && op.text === 'in') return this.inList(field);
      if (!isOp)
        throw syntaxError(op.pos, `expected a comparison operator after ${quote(left)}, found ${quote(op)}.`);
      this.next();
      this.countTerm();
      const right = this.next();
      if (right.kind === 'ident' && !LITERAL_WORDS.has(right.text)) {
        throw syntaxError(
          right.pos,
          `expected a literal value, found ${quote(right)} (strings need single quotes; comparing two properties is not supported).`,
        );
      }
      return comparisonNode(field, op.text as ComparisonOp, this.literal(right), this.ctx);
    }
    const literal = this.literal(left);
    if (!isOp) {
      // A lone boolean literal is a valid (if dull) condition.
      if (literal.kind === 'ident' && literal.text !== 'null')
        return { op: 'const', value: literal.text === 'true' };
      throw syntaxError(op.pos, `expected a comparison operator after ${quote(left)}, found ${quote(op)}.`);
    }
    this.next();
    this.countTerm();
    const right = this.next();
    if (right.kind !== 'ident' || LITERAL_WORDS.has(right.text)) {
      throw syntaxError(right.pos, `a comparison needs a property on one side, found ${quote(right)}.`);
    }
    return comparisonNode(this.field(right), FLIPPED[op.text as ComparisonOp], literal, this.ctx);
  }

  private inList(field: FieldInfo): FilterNode {
    this.next(); // 'in'
    this.countTerm();
    this.expect('(', "'(' after 'in'");
    const items: LiteralToken[] = [this.literal(this.next())];
    while (this.peek().kind === ',') {
      this.next();
      items.push(this.literal(this.next()));
      if (items.length > MAX_IN_VALUES) {
        throw badRequest(
          `The 'in' list for '${field.name}' in '$filter' has more than ${MAX_IN_VALUES} values.`,
        );
      }
    }
    this.expect(')', "',' or ')'");
    return inNode(field, items, this.ctx);
  }

  private field(t: Token): FieldInfo {
    if (t.kind !== 'ident' || LITERAL_WORDS.has(t.text) || RESERVED.has(t.text)) {
      throw syntaxError(t.pos, `expected a property name, found ${quote(t)}.`);
    }
    return queryField(t.text, this.ctx.fields, this.ctx.types, '$filter');
  }

  private literal(t: Token): LiteralToken {
    if (t.kind === 'string' || t.kind === 'number' || t.kind === 'datetime' || t.kind === 'enum') return t;
    if (t.kind === 'ident' && LITERAL_WORDS.has(t.text)) return t;
    throw syntaxError(t.pos, `expected a literal value, found ${quote(t)}.`);
  }
}
