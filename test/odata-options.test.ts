import { describe, expect, it } from 'vitest';
import {
  decodeSkiptoken,
  encodeSkiptoken,
  nextLinkQuery,
  parseQueryOptions,
  queryFingerprint,
  type ParsedQueryOptions,
  type QueryContext,
} from '../src/http/odata/options.js';
import { MAX_FILTER_DEPTH, MAX_FILTER_TERMS, MAX_IN_VALUES } from '../src/http/odata/filter.js';
import { GraphError } from '../src/model/errors.js';
import type { FilterNode } from '../src/model/query.js';

const RICH: QueryContext = {
  kind: 'collection',
  types: ['richLongRunningOperation'],
  includeUnknownEnumMembers: false,
};
const ALL_V1: QueryContext = {
  kind: 'collection',
  types: [
    'longRunningOperation',
    'richLongRunningOperation',
    'attackSimulationOperation',
    'engagementAsyncOperation',
  ],
  includeUnknownEnumMembers: false,
};
const PREFER: Partial<QueryContext> = { includeUnknownEnumMembers: true };

const parse = (search: string, ctx: Partial<QueryContext> = {}): ParsedQueryOptions =>
  parseQueryOptions(search, { ...RICH, ...ctx });

/** The filter AST of a $filter text (encoded the way a client would). */
const filter = (text: string, ctx: Partial<QueryContext> = {}): FilterNode | undefined =>
  parse(`$filter=${encodeURIComponent(text)}`, ctx).filter;

/** Asserts a 400 invalidRequest whose message contains every `named` text; returns the message. */
function rejects(run: () => unknown, ...named: string[]): string {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(GraphError);
  const graphError = error as GraphError;
  expect(graphError.status).toBe(400);
  expect(graphError.code).toBe('invalidRequest');
  for (const n of named) expect(graphError.message).toContain(n);
  return graphError.message;
}

const rejectsFilter = (text: string, ctx: Partial<QueryContext>, ...named: string[]) =>
  rejects(() => filter(text, ctx), ...named);

const eq = (field: string, value: string | number | null): FilterNode => ({ op: 'eq', field, value });

describe('parseQueryOptions: the query string', () => {
  it('gives the defaults for an empty query', () => {
    const parsed = parse('');
    expect(parsed).toMatchObject({ orderBy: [], top: 100, count: false });
    expect(parsed.select).toBeUndefined();
    expect(parsed.filter).toBeUndefined();
    expect(parsed.skiptoken).toBeUndefined();
    expect(parsed.fingerprint).toMatch(/^[0-9a-f]{8}$/);
  });

  it('ignores parameters that are not system options, a leading ? and empty parts', () => {
    const parsed = parse('?aadgdc=DUB02P&aadgsu=ssprprod-a&&$top=5&');
    expect(parsed.top).toBe(5);
  });

  it("decodes percent-encoding in names and values, and '+' as a space", () => {
    expect(parse('%24top=7').top).toBe(7);
    expect(parse("$filter=status+eq+'running'").filter).toEqual(eq('status', 1));
    expect(parse('$filter=statusDetail%20eq%20%27a%2Bb%26c%27').filter).toEqual(eq('statusDetail', 'a+b&c'));
  });

  it('rejects a malformed percent-encoding', () => {
    rejects(() => parse('$filter=status%ZZ'), 'percent-encoding');
    rejects(() => parse('$top=%E0%A4%A'), 'percent-encoding');
  });

  it.each([
    '$expand',
    '$search',
    '$skip',
    '$format',
    '$apply',
    '$levels',
    '$compute',
    '$foo',
    '$FILTER',
    '$Top',
  ])('rejects the unsupported option %s by name', (name) => {
    rejects(() => parse(`${name}=x`), `Query option '${name}' is not supported.`);
  });

  it('rejects a repeated system option', () => {
    rejects(() => parse('$top=1&$top=2'), "'$top'", 'more than once');
    rejects(() => parse("$filter=id eq 'a'&%24filter=id eq 'b'"), "'$filter'");
  });

  it.each([
    ['$filter', "$filter=id eq 'a'"],
    ['$orderby', '$orderby=id'],
    ['$top', '$top=1'],
    ['$skiptoken', '$skiptoken=abc'],
    ['$count', '$count=true'],
  ])('rejects %s on a single entity', (name, query) => {
    rejects(() => parse(query, { kind: 'entity' }), `'${name}'`, 'single operation');
  });

  it('accepts $select on a single entity', () => {
    expect(parse('$select=id,status', { kind: 'entity' }).select).toEqual(['id', 'status']);
  });

  it('accepts only $filter on a $count request', () => {
    expect(parse("$filter=status eq 'failed'", { kind: 'count' }).filter).toEqual(eq('status', 3));
    for (const query of ['$select=id', '$top=1', '$orderby=id', '$count=true', '$skiptoken=abc']) {
      rejects(() => parse(query, { kind: 'count' }), query.split('=')[0], '$count request');
    }
  });
});

describe('$top and $count', () => {
  it('takes $top from 1 to 1000', () => {
    expect(parse('$top=1').top).toBe(1);
    expect(parse('$top=1000').top).toBe(1000);
    expect(parse('$top=0042').top).toBe(42);
  });

  it.each(['0', '1001', '-1', '1.5', 'abc', '', ' 5', '1e2', '99999999999999999999'])(
    'rejects $top=%s',
    (value) => {
      rejects(() => parse(`$top=${encodeURIComponent(value)}`), "'$top'");
    },
  );

  it('takes $count=true and $count=false only', () => {
    expect(parse('$count=true').count).toBe(true);
    expect(parse('$count=false').count).toBe(false);
    for (const value of ['yes', 'TRUE', '1', '']) rejects(() => parse(`$count=${value}`), "'$count'");
  });
});

describe('$select', () => {
  it('keeps the order given and drops duplicates', () => {
    expect(parse('$select=status,id,percentageComplete,id').select).toEqual([
      'status',
      'id',
      'percentageComplete',
    ]);
  });

  it('tolerates spaces around names', () => {
    expect(parse('$select=id, status').select).toEqual(['id', 'status']);
  });

  it("treats '*' as every property", () => {
    expect(parse('$select=*').select).toBeUndefined();
    expect(parse('$select=id,*').select).toBeUndefined();
  });

  it('accepts complex, collection and inherited properties of the collection types', () => {
    expect(parse('$select=error,type', { types: ['richLongRunningOperation'] }).select).toEqual([
      'error',
      'type',
    ]);
    const fileTypes: QueryContext['types'] = ['industryData.fileValidateOperation'];
    expect(parse('$select=errors,warnings,validatedFiles', { types: fileTypes }).select).toHaveLength(3);
    expect(parse('$select=tenantId,operationType', ALL_V1).select).toEqual(['tenantId', 'operationType']);
  });

  it('rejects unknown names, naming the property and the type', () => {
    rejects(() => parse('$select=colour'), "'colour'", "'microsoft.graph.richLongRunningOperation'");
    rejects(() => parse('$select=tenantId'), "'tenantId'");
    rejects(() => parse('$select=ID'), "'ID'");
    rejects(() => parse('$select=colour', ALL_V1), "'microsoft.graph.longRunningOperation'");
    rejects(
      () => parse('$select=colour', { types: ['industryData.fileValidateOperation'] }),
      "'microsoft.graph.industryData.fileValidateOperation'",
    );
  });

  it('rejects empty items', () => {
    rejects(() => parse('$select='), "'$select'");
    rejects(() => parse('$select=id,,status'), "'$select'");
    rejects(() => parse('$select=id,'), "'$select'");
  });
});

describe('$orderby', () => {
  it('reads keys with optional, case-insensitive directions', () => {
    expect(parse('$orderby=createdDateTime').orderBy).toEqual([{ field: 'createdDateTime', dir: 'asc' }]);
    expect(parse('$orderby=status desc, percentageComplete ASC,id  Desc').orderBy).toEqual([
      { field: 'status', dir: 'desc' },
      { field: 'percentageComplete', dir: 'asc' },
      { field: 'id', dir: 'desc' },
    ]);
  });

  it('rejects unknown, non-scalar and repeated fields', () => {
    rejects(() => parse('$orderby=colour'), "'colour'", 'microsoft.graph.richLongRunningOperation');
    rejects(() => parse('$orderby=error'), "'error'", "'$orderby'");
    rejects(() => parse('$orderby=errors', { types: ['industryData.fileValidateOperation'] }), "'errors'");
    rejects(() => parse('$orderby=id asc,id desc'), "'id'", 'more than once');
  });

  it('rejects bad directions, empty items and more than five keys', () => {
    rejects(() => parse('$orderby=id up'), "'up'");
    rejects(() => parse('$orderby=id asc extra'), "'$orderby'");
    rejects(() => parse('$orderby=id,'), "'$orderby'");
    rejects(() => parse('$orderby='), "'$orderby'");
    const six = 'id,status,createdDateTime,lastActionDateTime,statusDetail,resourceLocation';
    rejects(() => parse(`$orderby=${six}`), "'$orderby'", 'at most 5');
    expect(parse(`$orderby=${six.split(',').slice(0, 5).join(',')}`).orderBy).toHaveLength(5);
  });
});

describe('$filter: operators and precedence', () => {
  it.each(['eq', 'ne', 'gt', 'ge', 'lt', 'le'] as const)('reads %s', (op) => {
    expect(filter(`percentageComplete ${op} 50`)).toEqual({ op, field: 'percentageComplete', value: 50 });
    expect(filter(`statusDetail ${op} 'x'`)).toEqual({ op, field: 'statusDetail', value: 'x' });
  });

  it.each([
    ['eq', 'eq'],
    ['ne', 'ne'],
    ['gt', 'lt'],
    ['ge', 'le'],
    ['lt', 'gt'],
    ['le', 'ge'],
  ])('flips %s to %s when the literal comes first', (op, flipped) => {
    expect(filter(`5 ${op} percentageComplete`)).toEqual({
      op: flipped,
      field: 'percentageComplete',
      value: 5,
    });
  });

  it('reads in-lists', () => {
    expect(filter("resourceId in ('a', 'b','c')")).toEqual({
      op: 'in',
      field: 'resourceId',
      values: ['a', 'b', 'c'],
    });
    expect(filter('percentageComplete in (1, 1, null)')).toEqual({
      op: 'in',
      field: 'percentageComplete',
      values: [1, null],
    });
  });

  it('reads startswith, also compared with true or false', () => {
    const node: FilterNode = { op: 'startswith', field: 'statusDetail', value: '50%_' };
    expect(filter("startswith(statusDetail, '50%_')")).toEqual(node);
    expect(filter("startswith(statusDetail,'50%_') eq true")).toEqual(node);
    expect(filter("startswith(statusDetail,'50%_') ne false")).toEqual(node);
    expect(filter("startswith(statusDetail,'50%_') eq false")).toEqual({ op: 'not', operand: node });
    expect(filter("startswith(type, 'copy')")).toEqual({ op: 'startswith', field: 'type', value: 'copy' });
  });

  const a = eq('id', 'a');
  const b = eq('id', 'b');
  const c = eq('id', 'c');

  it('binds not tighter than and, and tighter than or', () => {
    expect(filter("id eq 'a' or id eq 'b' and id eq 'c'")).toEqual({
      op: 'or',
      left: a,
      right: { op: 'and', left: b, right: c },
    });
    expect(filter("id eq 'a' and id eq 'b' or id eq 'c'")).toEqual({
      op: 'or',
      left: { op: 'and', left: a, right: b },
      right: c,
    });
    expect(filter("not id eq 'a' and id eq 'b'")).toEqual({
      op: 'and',
      left: { op: 'not', operand: a },
      right: b,
    });
    expect(filter("not not id eq 'a'")).toEqual({ op: 'not', operand: { op: 'not', operand: a } });
  });

  it('groups with parentheses and associates to the left', () => {
    expect(filter("(id eq 'a' or id eq 'b') and id eq 'c'")).toEqual({
      op: 'and',
      left: { op: 'or', left: a, right: b },
      right: c,
    });
    expect(filter("not (id eq 'a' or (id eq 'b'))")).toEqual({
      op: 'not',
      operand: { op: 'or', left: a, right: b },
    });
    expect(filter("id eq 'a' and id eq 'b' and id eq 'c'")).toEqual({
      op: 'and',
      left: { op: 'and', left: a, right: b },
      right: c,
    });
  });

  it('accepts a lone boolean literal', () => {
    expect(filter('true')).toEqual({ op: 'const', value: true });
    expect(filter("false or id eq 'a'")).toEqual({ op: 'or', left: { op: 'const', value: false }, right: a });
  });
});

describe('$filter: literals and types', () => {
  it("reads strings with '' as a quote, and unicode", () => {
    expect(filter("statusDetail eq 'it''s'")).toEqual(eq('statusDetail', "it's"));
    expect(filter("statusDetail eq ''''")).toEqual(eq('statusDetail', "'"));
    expect(filter("statusDetail eq ''")).toEqual(eq('statusDetail', ''));
    expect(filter("statusDetail eq 'a and b or not c'")).toEqual(eq('statusDetail', 'a and b or not c'));
    expect(filter("id eq 'Ünï 🎉,:='")).toEqual(eq('id', 'Ünï 🎉,:='));
  });

  it('reads integers, negative ones too', () => {
    expect(filter('percentageComplete gt -5')).toEqual({ op: 'gt', field: 'percentageComplete', value: -5 });
    expect(filter('percentageComplete eq 2147483647')).toEqual(eq('percentageComplete', 2147483647));
  });

  it('compares any field with null using eq and ne', () => {
    expect(filter('statusDetail eq null')).toEqual(eq('statusDetail', null));
    expect(filter('null ne percentageComplete')).toEqual({
      op: 'ne',
      field: 'percentageComplete',
      value: null,
    });
    expect(filter('createdDateTime eq null')).toEqual(eq('createdDateTime', null));
    expect(filter('status ne null')).toEqual({ op: 'ne', field: 'status', value: null });
    rejectsFilter('statusDetail gt null', {}, "'statusDetail'", "'eq' or 'ne'");
    rejectsFilter('null le percentageComplete', {}, "'percentageComplete'");
  });

  it('reads DateTimeOffset literals into the canonical stored form', () => {
    const ge = (value: string): FilterNode => ({ op: 'ge', field: 'createdDateTime', value });
    expect(filter('createdDateTime ge 2024-05-01T10:00:00Z')).toEqual(ge('2024-05-01T10:00:00.0000000Z'));
    expect(filter('createdDateTime ge 2024-05-01T10:00Z')).toEqual(ge('2024-05-01T10:00:00.0000000Z'));
    expect(filter('createdDateTime ge 2024-05-01T12:00:00.5+02:00')).toEqual(
      ge('2024-05-01T10:00:00.5000000Z'),
    );
    expect(filter('createdDateTime ge 2022-01-12T05:27:18.7957961Z')).toEqual(
      ge('2022-01-12T05:27:18.7957961Z'),
    );
    expect(filter('createdDateTime ge 2024-05-01T08:00:00-02:00')).toEqual(
      ge('2024-05-01T10:00:00.0000000Z'),
    );
    expect(filter("lastActionDateTime lt '2024-05-01T10:00:00Z'")).toEqual({
      op: 'lt',
      field: 'lastActionDateTime',
      value: '2024-05-01T10:00:00.0000000Z',
    });
  });

  it("needs '%2B' for a '+' offset ('+' is a space in a query string)", () => {
    expect(parse('$filter=createdDateTime ge 2024-05-01T12:00:00%2B02:00').filter).toEqual({
      op: 'ge',
      field: 'createdDateTime',
      value: '2024-05-01T10:00:00.0000000Z',
    });
    rejects(() => parse('$filter=createdDateTime ge 2024-05-01T12:00:00+02:00'), "'$filter'");
  });

  it('rejects values of the wrong type, naming the property', () => {
    rejectsFilter("percentageComplete eq 'x'", {}, "'percentageComplete'", 'Edm.Int32');
    rejectsFilter('percentageComplete eq 1.5', {}, "'percentageComplete'");
    rejectsFilter('percentageComplete eq 3000000000', {}, "'percentageComplete'");
    rejectsFilter('percentageComplete eq true', {}, "'percentageComplete'");
    rejectsFilter('statusDetail eq 5', {}, "'statusDetail'");
    rejectsFilter('statusDetail eq 2024-05-01T10:00:00Z', {}, "'statusDetail'");
    rejectsFilter("createdDateTime eq 'yesterday'", {}, "'createdDateTime'", 'DateTimeOffset');
    rejectsFilter('createdDateTime eq 5', {}, "'createdDateTime'");
    rejectsFilter('createdDateTime eq 2024-02-31T00:00:00Z', {}, "'$filter'", 'DateTimeOffset');
    rejectsFilter('createdDateTime eq 2024-05-01', {}, "'$filter'", '2024-05-01');
    rejectsFilter("resourceId in ('a', 5)", {}, "'resourceId'");
  });

  it('takes startswith on free-text properties only', () => {
    rejectsFilter("startswith(percentageComplete, '1')", {}, "'percentageComplete'", 'startswith');
    rejectsFilter("startswith(status, 'run')", {}, "'status'");
    rejectsFilter("startswith(createdDateTime, '2024')", {}, "'createdDateTime'");
    rejectsFilter("startswith(type, 'create')", { types: ['attackSimulationOperation'] }, "'type'");
    rejectsFilter('startswith(statusDetail, 5)', {}, "'statusDetail'");
    rejectsFilter("startswith('abc', statusDetail)", {}, "'$filter'");
  });

  it('rejects unknown and non-scalar properties', () => {
    rejectsFilter("colour eq 'red'", {}, "'colour'", "'microsoft.graph.richLongRunningOperation'");
    rejectsFilter("tenantId eq 'x'", {}, "'tenantId'");
    rejectsFilter("Status eq 'running'", {}, "'Status'");
    rejectsFilter('error eq null', {}, "'error'", "'$filter'");
    rejectsFilter('errors eq null', { types: ['industryData.fileValidateOperation'] }, "'errors'");
  });
});

describe('$filter: syntax errors', () => {
  it('reports the position in the decoded text', () => {
    const message = rejectsFilter("status eq 'running' xor", {}, "Syntax error at position 20 in '$filter'");
    expect(message).toContain("'xor'");
    rejectsFilter('status eq', {}, 'Syntax error at position 9');
    rejectsFilter("status eq 'running' and", {}, 'Syntax error at position 23');
  });

  it.each([
    ["(status eq 'running'", "')'"],
    ["status eq 'running')", "')'"],
    ["statusDetail eq 'open", 'unterminated'],
    ["statusDetail/x eq 'a'", "'/'"],
    ["status EQ 'running'", "'EQ'"],
    ["status eq 'running' AND id eq 'a'", "'AND'"],
    ['status eq running', "'running'"],
    ['statusDetail eq resourceLocation', "'resourceLocation'"],
    ["'a' eq 'b'", "'b'"],
    ['status in ()', "')'"],
    ["status in ('running'", "')'"],
    ["status in 'running'", "'('"],
    ['status', "'status'"],
    ["eq 'a'", "'eq'"],
    ['not', 'position 3'],
    ['()', "')'"],
    ["statusDetail eq 'a' 'b'", "'b'"],
    ['percentageComplete eq -', "'-'"],
    ["startswith(statusDetail 'a')", "','"],
  ])('rejects %s', (text, named) => {
    rejectsFilter(text, {}, 'Syntax error', "'$filter'", named);
  });

  it('rejects an empty filter and unsupported functions', () => {
    rejects(() => parse('$filter='), "'$filter'", 'empty');
    rejects(() => parse('$filter=%20%20'), "'$filter'", 'empty');
    rejectsFilter("contains(statusDetail, 'a')", {}, "'contains'");
    rejectsFilter("tolower(statusDetail) eq 'a'", {}, "'tolower'");
  });

  it('limits the number of conditions, the nesting depth and in-list length', () => {
    const terms = (n: number) =>
      Array.from({ length: n }, (_, i) => `percentageComplete eq ${i}`).join(' or ');
    expect(filter(terms(MAX_FILTER_TERMS))).toBeDefined();
    rejectsFilter(terms(MAX_FILTER_TERMS + 1), {}, "'$filter'", 'too many');
    const nested = (n: number) => `${'('.repeat(n)}id eq 'a'${')'.repeat(n)}`;
    expect(filter(nested(MAX_FILTER_DEPTH))).toEqual(eq('id', 'a'));
    rejectsFilter(nested(MAX_FILTER_DEPTH + 1), {}, "'$filter'", 'nested');
    rejectsFilter(`${'not '.repeat(5000)}id eq 'a'`, {}, "'$filter'", 'nested');
    rejects(() => parse(`$filter=${'('.repeat(100000)}`), "'$filter'");
    const list = (n: number) => `percentageComplete in (${Array.from({ length: n }, (_, i) => i).join(',')})`;
    expect(filter(list(MAX_IN_VALUES))).toMatchObject({ op: 'in' });
    rejectsFilter(list(MAX_IN_VALUES + 1), {}, "'percentageComplete'", "'in'");
  });
});

describe('$filter: evolvable enums', () => {
  it('converts status members to their numeric values, plain or qualified', () => {
    expect(filter("status eq 'notStarted'")).toEqual(eq('status', 0));
    expect(filter("status ne 'succeeded'")).toEqual({ op: 'ne', field: 'status', value: 2 });
    expect(filter("status eq microsoft.graph.longRunningOperationStatus'failed'")).toEqual(eq('status', 3));
    expect(filter("'running' eq status")).toEqual(eq('status', 1));
  });

  it('rejects non-members, other enum types and numbers', () => {
    rejectsFilter("status eq 'bogus'", {}, "'bogus'", 'microsoft.graph.longRunningOperationStatus');
    rejectsFilter("status eq 'Running'", {}, "'Running'");
    rejectsFilter(
      "status eq microsoft.graph.attackSimulationOperationType'running'",
      {},
      'longRunningOperationStatus',
    );
    rejectsFilter('status eq 1', {}, "'status'");
    rejectsFilter("status in ('running', 'nope')", {}, "'nope'");
  });

  it('names members after the sentinel only with the preference', () => {
    rejectsFilter("status eq 'canceled'", {}, "'canceled'", 'include-unknown-enum-members');
    rejectsFilter("status in ('running', 'canceled')", {}, "'canceled'");
    rejectsFilter("status gt microsoft.graph.longRunningOperationStatus'canceled'", {}, "'canceled'");
    expect(filter("status eq 'canceled'", PREFER)).toEqual(eq('status', 5));
  });

  it("matches every member after the sentinel with eq 'unknownFutureValue' without the preference", () => {
    expect(filter("status eq 'unknownFutureValue'")).toEqual({ op: 'gt', field: 'status', value: 4 });
    expect(filter("status ne 'unknownFutureValue'")).toEqual({ op: 'le', field: 'status', value: 4 });
    expect(filter("'unknownFutureValue' eq status")).toEqual({ op: 'gt', field: 'status', value: 4 });
  });

  it("matches nothing with eq 'unknownFutureValue' with the preference", () => {
    expect(filter("status eq 'unknownFutureValue'", PREFER)).toEqual({ op: 'const', value: false });
    expect(filter("status ne 'unknownFutureValue'", PREFER)).toEqual({ op: 'const', value: true });
  });

  it('applies the same rule member by member in in-lists', () => {
    expect(filter("status in ('running', 'unknownFutureValue', 'failed')")).toEqual({
      op: 'or',
      left: { op: 'in', field: 'status', values: [1, 3] },
      right: { op: 'gt', field: 'status', value: 4 },
    });
    expect(filter("status in ('unknownFutureValue')")).toEqual({ op: 'gt', field: 'status', value: 4 });
    expect(filter("status in ('running', 'unknownFutureValue', 'canceled')", PREFER)).toEqual({
      op: 'in',
      field: 'status',
      values: [1, 5],
    });
    expect(filter("status in ('unknownFutureValue')", PREFER)).toEqual({ op: 'const', value: false });
  });

  it('compares status numerically with gt, ge, lt and le', () => {
    expect(filter("status gt 'running'")).toEqual({ op: 'gt', field: 'status', value: 1 });
    expect(filter("status lt 'unknownFutureValue'")).toEqual({ op: 'lt', field: 'status', value: 4 });
    expect(filter("'failed' ge status")).toEqual({ op: 'le', field: 'status', value: 3 });
  });

  const attack: Partial<QueryContext> = { types: ['attackSimulationOperation'] };
  const engagement: Partial<QueryContext> = { types: ['engagementAsyncOperation'] };

  it('stores subtype enums as member names and resolves aliases', () => {
    expect(filter("type eq 'createSimulation'", attack)).toEqual(eq('type', 'createSimualation'));
    expect(filter("type eq microsoft.graph.attackSimulationOperationType'updateSimulation'", attack)).toEqual(
      eq('type', 'updateSimulation'),
    );
    expect(filter("operationType in ('createCommunity', null)", engagement)).toEqual({
      op: 'in',
      field: 'operationType',
      values: ['createCommunity', null],
    });
    rejectsFilter(
      "type eq 'deleteSimulation'",
      attack,
      "'deleteSimulation'",
      'attackSimulationOperationType',
    );
    rejectsFilter(
      "operationType eq microsoft.graph.longRunningOperationStatus'running'",
      engagement,
      'engagement',
    );
  });

  it('applies the sentinel rules to subtype enums too', () => {
    expect(filter("type eq 'unknownFutureValue'", attack)).toEqual({ op: 'const', value: false });
    expect(filter("type ne 'unknownFutureValue'", attack)).toEqual({ op: 'const', value: true });
    expect(filter("type in ('updateSimulation', 'unknownFutureValue')", attack)).toEqual({
      op: 'in',
      field: 'type',
      values: ['updateSimulation'],
    });
  });

  it('orders subtype enum members by value, not by spelling', () => {
    expect(filter("type gt 'createSimualation'", attack)).toEqual({
      op: 'in',
      field: 'type',
      values: ['updateSimulation'],
    });
    expect(filter("type le 'updateSimulation'", attack)).toEqual({
      op: 'in',
      field: 'type',
      values: ['createSimualation', 'updateSimulation'],
    });
    expect(filter("operationType gt 'createCommunity'", engagement)).toEqual({ op: 'const', value: false });
  });

  it("keeps richLongRunningOperation's free-text type a string", () => {
    expect(filter("type eq 'anything'")).toEqual(eq('type', 'anything'));
  });
});

describe('$skiptoken', () => {
  it('round-trips a cursor', () => {
    const cursor = { values: ['2024-05-01T10:00:00.0000000Z', null, 3, 'it\'s "q" 🎉'], seq: 123 };
    const token = encodeSkiptoken(cursor, 'abcd1234');
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeSkiptoken(token, 'abcd1234')).toEqual(cursor);
  });

  it('rejects a token made for another query', () => {
    const token = encodeSkiptoken({ values: [], seq: 1 }, 'abcd1234');
    rejects(() => decodeSkiptoken(token, 'ffff0000'), 'The $skiptoken does not match this query.');
  });

  it.each([
    'garbage!',
    '',
    'x'.repeat(10000),
    Buffer.from('not json').toString('base64url'),
    Buffer.from('[1,2]').toString('base64url'),
    Buffer.from('null').toString('base64url'),
    Buffer.from('{"f":"abcd1234","v":[],"s":1.5}').toString('base64url'),
    Buffer.from('{"f":"abcd1234","v":[{}],"s":1}').toString('base64url'),
    Buffer.from('{"f":"abcd1234","v":"a","s":1}').toString('base64url'),
    Buffer.from('{"f":5,"v":[],"s":1}').toString('base64url'),
  ])('rejects the garbage token %#', (token) => {
    rejects(() => decodeSkiptoken(token, 'abcd1234'), '$skiptoken');
  });

  it('fingerprints the $filter and $orderby text', () => {
    const fp = queryFingerprint("status eq 'running'", 'createdDateTime desc');
    expect(fp).toMatch(/^[0-9a-f]{8}$/);
    expect(queryFingerprint("status eq 'running'", 'createdDateTime desc')).toBe(fp);
    expect(queryFingerprint("status eq 'failed'", 'createdDateTime desc')).not.toBe(fp);
    expect(queryFingerprint("status eq 'running'", 'createdDateTime asc')).not.toBe(fp);
    expect(queryFingerprint('a', undefined)).not.toBe(queryFingerprint(undefined, 'a'));
  });

  const listQuery = "$filter=status eq 'running'&$orderby=createdDateTime desc,percentageComplete&$top=2";

  it('is read back by parseQueryOptions with the same $filter and $orderby', () => {
    const first = parse(listQuery);
    expect(first.fingerprint).toBe(
      queryFingerprint("status eq 'running'", 'createdDateTime desc,percentageComplete'),
    );
    const cursor = { values: ['2024-05-01T10:00:00.0000000Z', null], seq: 9 };
    const token = encodeSkiptoken(cursor, first.fingerprint);
    const next = parse(nextLinkQuery(listQuery, token));
    expect(next.skiptoken).toEqual(cursor);
    expect(next.top).toBe(2);
    expect(next.fingerprint).toBe(first.fingerprint);
  });

  it('is rejected with a different $filter or $orderby', () => {
    const token = encodeSkiptoken(
      { values: ['2024-05-01T10:00:00.0000000Z', 5], seq: 9 },
      parse(listQuery).fingerprint,
    );
    rejects(
      () =>
        parse(
          `$filter=status eq 'failed'&$orderby=createdDateTime desc,percentageComplete&$skiptoken=${token}`,
        ),
      'does not match',
    );
    rejects(() => parse(`$filter=status eq 'running'&$skiptoken=${token}`), 'does not match');
    rejects(() => parse(`$skiptoken=${token}`), 'does not match');
  });

  it('rejects a token whose values do not fit the ordering', () => {
    const { fingerprint } = parse('$orderby=percentageComplete');
    const withToken = (values: unknown[]) =>
      parse(
        `$orderby=percentageComplete&$skiptoken=${encodeSkiptoken({ values: values as never, seq: 1 }, fingerprint)}`,
      );
    expect(withToken([5]).skiptoken).toEqual({ values: [5], seq: 1 });
    expect(withToken([null]).skiptoken).toEqual({ values: [null], seq: 1 });
    rejects(() => withToken(['5']), '$skiptoken');
    rejects(() => withToken([5, 6]), '$skiptoken');
    rejects(() => withToken([]), '$skiptoken');
    rejects(() => parse('$skiptoken=garbage'), '$skiptoken');
  });
});

describe('nextLinkQuery', () => {
  it('adds $skiptoken and keeps every other parameter as sent', () => {
    const search = "aadgdc=DUB02P&%24filter=status%20eq%20'running'&$top=2&$orderby=id+desc";
    expect(nextLinkQuery(search, 'TOKEN')).toBe(`${search}&$skiptoken=TOKEN`);
    expect(nextLinkQuery(`?${search}`, 'TOKEN')).toBe(`${search}&$skiptoken=TOKEN`);
  });

  it('replaces an existing $skiptoken in place, however it was spelled', () => {
    expect(nextLinkQuery('$top=2&$skiptoken=OLD&x=1', 'NEW')).toBe('$top=2&$skiptoken=NEW&x=1');
    expect(nextLinkQuery('%24skiptoken=OLD&$top=2&$skiptoken=OLDER', 'NEW')).toBe('$skiptoken=NEW&$top=2');
  });

  it('works on an empty query', () => {
    expect(nextLinkQuery('', 'T')).toBe('$skiptoken=T');
  });

  it('keeps parameters it cannot decode', () => {
    expect(nextLinkQuery('weird=%ZZ&%ZZ=1', 'T')).toBe('weird=%ZZ&%ZZ=1&$skiptoken=T');
  });
});
