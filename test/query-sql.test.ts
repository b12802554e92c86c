/**
 * The SQL compiler against a real SQLite file: filter results must equal a plain JS evaluation of the same
 * AST (with OData's null rules), and keyset paging must visit every row once, in the unpaged order.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueryOptions } from '../src/http/odata/options.js';
import type { OperationRecord } from '../src/model/operation.js';
import type { ComparisonOp, FilterNode, FilterValue, OrderKey } from '../src/model/query.js';
import type { StatusValue } from '../src/model/status.js';
import { fromEpochMs } from '../src/model/time.js';
import {
  compileAfter,
  compileFilter,
  compileOrderBy,
  cursorFor,
  postgresDialect,
  sqliteDialect,
} from '../src/store/sql/query-sql.js';

interface Row {
  seq: number;
  id: string;
  created_at: string;
  last_action_at: string;
  resource_location: string | null;
  status: number;
  status_detail: string | null;
  props: string;
}

/** Deterministic data: mulberry32. */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20240501);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];

/** Text that trips naive SQL: LIKE wildcards, quotes, backslashes, prefixes of each other, non-ASCII. */
const TEXTS = [
  '50%',
  '50%_done',
  '50',
  'a_b',
  'axb',
  "it's",
  "it''s",
  '',
  ' ',
  'a',
  'ab',
  'abc',
  'B',
  'b',
  'null',
  '%',
  '_',
  'back\\slash',
  'Ünïcödé',
  '漢字',
  'emoji 🎉',
  'https://x/a%20b',
  'https://x/a',
];
const BASE_MS = Date.UTC(2024, 4, 1);

function makeRow(i: number): Row {
  const props: Record<string, unknown> = {};
  const pc = random();
  if (pc > 0.3) props.percentageComplete = int(11) * 10;
  else if (pc > 0.15) props.percentageComplete = null;
  if (random() > 0.3) props.resourceId = pick(TEXTS);
  if (random() > 0.5) props.type = pick(['createSimualation', 'updateSimulation', 'copy', 'copy%']);
  return {
    // Not in creation order, so that seq is only ever a tie-breaker.
    seq: 1000 + ((i * 7919) % 1009),
    id: `${pick(TEXTS)}#${i}`,
    created_at: fromEpochMs(BASE_MS + int(30) * 1000),
    last_action_at: fromEpochMs(BASE_MS + int(1000) * 1000 + int(3)),
    resource_location: random() < 0.3 ? null : pick(TEXTS),
    status: int(6),
    status_detail: random() < 0.3 ? null : pick(TEXTS),
    props: JSON.stringify(props),
  };
}

const ROWS: Row[] = Array.from({ length: 200 }, (_, i) => makeRow(i));

const COLUMN: Record<string, keyof Row> = {
  id: 'id',
  createdDateTime: 'created_at',
  lastActionDateTime: 'last_action_at',
  resourceLocation: 'resource_location',
  status: 'status',
  statusDetail: 'status_detail',
};

function valueOf(row: Row, field: string): FilterValue {
  const column = COLUMN[field];
  if (column) return row[column] as FilterValue;
  return ((JSON.parse(row.props) as Record<string, FilterValue>)[field] ?? null) as FilterValue;
}

/** Code-point order, as SQLite's BINARY collation compares UTF-8. */
function compare(a: string | number | boolean, b: string | number | boolean): number {
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return Number(a) - Number(b);
}

const JS_OP: Record<ComparisonOp, (c: number) => boolean> = {
  eq: (c) => c === 0,
  ne: (c) => c !== 0,
  gt: (c) => c > 0,
  ge: (c) => c >= 0,
  lt: (c) => c < 0,
  le: (c) => c <= 0,
};

/** OData semantics: `x eq null` is true for null x, `null ne 'a'` is true, other comparisons with null are false. */
function evaluate(node: FilterNode, row: Row): boolean {
  switch (node.op) {
    case 'and':
      return evaluate(node.left, row) && evaluate(node.right, row);
    case 'or':
      return evaluate(node.left, row) || evaluate(node.right, row);
    case 'not':
      return !evaluate(node.operand, row);
    case 'const':
      return node.value;
    case 'in':
      return node.values.some((v) => evaluate({ op: 'eq', field: node.field, value: v }, row));
    case 'isof':
      // Not generated here (these rows have no type column); test/odata-isof.test.ts covers it.
      throw new Error('isof is not part of this oracle');
    case 'startswith': {
      const x = valueOf(row, node.field);
      return typeof x === 'string' && x.startsWith(node.value);
    }
    default: {
      const x = valueOf(row, node.field);
      const v = node.value;
      if (x === null || v === null) {
        if (node.op === 'eq') return x === v;
        if (node.op === 'ne') return x !== v;
        return false;
      }
      return JS_OP[node.op](compare(x, v));
    }
  }
}

/** The expected order: NULL is the smallest value; seq breaks ties in the last key's direction. */
function jsOrder(rows: Row[], orderBy: OrderKey[]): number[] {
  const sign = (dir: 'asc' | 'desc') => (dir === 'asc' ? 1 : -1);
  const lastDir = orderBy.length ? orderBy[orderBy.length - 1].dir : 'asc';
  return [...rows]
    .sort((r1, r2) => {
      for (const k of orderBy) {
        const a = valueOf(r1, k.field);
        const b = valueOf(r2, k.field);
        const c = a === null ? (b === null ? 0 : -1) : b === null ? 1 : compare(a, b);
        if (c !== 0) return c * sign(k.dir);
      }
      return (r1.seq - r2.seq) * sign(lastDir);
    })
    .map((r) => r.seq);
}

function toRecord(row: Row): OperationRecord {
  return {
    seq: row.seq,
    tenantId: 't',
    scope: 's',
    id: row.id,
    type: 'richLongRunningOperation',
    status: row.status as StatusValue,
    createdDateTime: row.created_at,
    lastActionDateTime: row.last_action_at,
    resourceLocation: row.resource_location,
    statusDetail: row.status_detail,
    props: JSON.parse(row.props) as Record<string, unknown>,
    version: 1,
    handler: null,
    input: null,
    attempts: 0,
    maxAttempts: 1,
    runAt: null,
    leaseOwner: null,
    fencingToken: 0,
    cancelRequested: false,
    timeoutMs: null,
    idempotencyKey: null,
    requestHash: null,
    createdBy: null,
    terminalAt: null,
  };
}

let dir: string;
let db: Database.Database;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'longrun-query-sql-'));
  db = new Database(join(dir, 'ops.db'));
  db.exec(`CREATE TABLE operations (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, created_at TEXT NOT NULL, last_action_at TEXT NOT NULL,
    resource_location TEXT, status INTEGER NOT NULL, status_detail TEXT, props TEXT NOT NULL DEFAULT '{}')`);
  db.exec('CREATE INDEX operations_created ON operations (created_at, seq)');
  const insert = db.prepare(
    `INSERT INTO operations VALUES (@seq, @id, @created_at, @last_action_at, @resource_location, @status,
       @status_detail, @props)`,
  );
  db.transaction(() => ROWS.forEach((r) => insert.run(r)))();
});

afterAll(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

function select(where: string, params: unknown[], orderBy: OrderKey[], limit?: number): Row[] {
  const sql =
    `SELECT * FROM operations WHERE ${where} ORDER BY ${compileOrderBy(sqliteDialect, orderBy)}` +
    (limit === undefined ? '' : ` LIMIT ${limit}`);
  return db.prepare(sql).all(...params) as Row[];
}

function sqlMatches(filter: FilterNode): number[] {
  const params: unknown[] = [];
  const where = compileFilter(sqliteDialect, filter, params);
  return select(where, params, []).map((r) => r.seq);
}

function jsMatches(filter: FilterNode): number[] {
  return ROWS.filter((r) => evaluate(filter, r))
    .map((r) => r.seq)
    .sort((a, b) => a - b);
}

const TEXT_FIELDS = ['id', 'resourceLocation', 'statusDetail', 'resourceId', 'type'];
const INT_FIELDS = ['status', 'percentageComplete'];
const TIME_FIELDS = ['createdDateTime', 'lastActionDateTime'];
const ALL_FIELDS = [...TEXT_FIELDS, ...INT_FIELDS, ...TIME_FIELDS];
const OPS: ComparisonOp[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];

/** Mostly values that occur in the data (so comparisons hit), sometimes null or a fresh value. */
function sampleValue(field: string): FilterValue {
  const r = random();
  if (r < 0.1) return null;
  if (r < 0.75) return valueOf(pick(ROWS), field);
  if (INT_FIELDS.includes(field)) return int(120) - 10;
  if (TIME_FIELDS.includes(field)) return fromEpochMs(BASE_MS + int(1000) * 1000);
  return pick(TEXTS);
}

function randomLeaf(): FilterNode {
  const field = pick(ALL_FIELDS);
  const r = random();
  if (r < 0.12)
    return { op: 'in', field, values: Array.from({ length: 1 + int(4) }, () => sampleValue(field)) };
  if (r < 0.22 && TEXT_FIELDS.includes(field)) {
    const seed = valueOf(pick(ROWS), field);
    const prefix = typeof seed === 'string' ? seed.slice(0, int(seed.length + 1)) : pick(TEXTS);
    return { op: 'startswith', field, value: prefix };
  }
  if (r < 0.24) return { op: 'const', value: random() < 0.5 };
  return { op: pick(OPS), field, value: sampleValue(field) };
}

function randomFilter(depth = 0): FilterNode {
  const r = random();
  if (depth >= 3 || r < 0.35) return randomLeaf();
  if (r < 0.55) return { op: 'not', operand: randomFilter(depth + 1) };
  return { op: r < 0.8 ? 'and' : 'or', left: randomFilter(depth + 1), right: randomFilter(depth + 1) };
}

describe('compileFilter on SQLite', () => {
  const cases: [string, FilterNode][] = [
    ['eq text', { op: 'eq', field: 'statusDetail', value: '50%' }],
    ['eq empty string', { op: 'eq', field: 'statusDetail', value: '' }],
    ['ne matches null rows', { op: 'ne', field: 'statusDetail', value: 'a' }],
    ['not eq matches null rows', { op: 'not', operand: { op: 'eq', field: 'statusDetail', value: 'a' } }],
    [
      'not gt matches null rows',
      { op: 'not', operand: { op: 'gt', field: 'percentageComplete', value: 50 } },
    ],
    ['not ne', { op: 'not', operand: { op: 'ne', field: 'resourceId', value: 'ab' } }],
    ['eq null', { op: 'eq', field: 'resourceLocation', value: null }],
    ['ne null', { op: 'ne', field: 'resourceLocation', value: null }],
    ['eq null on a JSON field (missing or null)', { op: 'eq', field: 'percentageComplete', value: null }],
    ['gt on a JSON int', { op: 'gt', field: 'percentageComplete', value: 40 }],
    ['le on a JSON int', { op: 'le', field: 'percentageComplete', value: 0 }],
    ['ge on a timestamp', { op: 'ge', field: 'createdDateTime', value: fromEpochMs(BASE_MS + 15000) }],
    ['status gt sentinel', { op: 'gt', field: 'status', value: 4 }],
    ['status le sentinel', { op: 'le', field: 'status', value: 4 }],
    ['in with null', { op: 'in', field: 'statusDetail', values: ['a', null, "it's"] }],
    ['not in with null', { op: 'not', operand: { op: 'in', field: 'statusDetail', values: ['a', null] } }],
    ['not in without null', { op: 'not', operand: { op: 'in', field: 'statusDetail', values: ['a', 'b'] } }],
    ['in only null', { op: 'in', field: 'resourceId', values: [null] }],
    ['not in only null', { op: 'not', operand: { op: 'in', field: 'resourceId', values: [null] } }],
    ['in on a JSON int', { op: 'in', field: 'percentageComplete', values: [10, 20, 30] }],
    ['startswith %', { op: 'startswith', field: 'statusDetail', value: '50%' }],
    ['startswith _', { op: 'startswith', field: 'statusDetail', value: 'a_' }],
    ['startswith quote', { op: 'startswith', field: 'statusDetail', value: "it'" }],
    ['startswith backslash', { op: 'startswith', field: 'statusDetail', value: 'back\\' }],
    ['startswith empty', { op: 'startswith', field: 'statusDetail', value: '' }],
    ['startswith non-ASCII', { op: 'startswith', field: 'id', value: 'Ünï' }],
    ['startswith on JSON', { op: 'startswith', field: 'type', value: 'copy%' }],
    ['not startswith', { op: 'not', operand: { op: 'startswith', field: 'resourceLocation', value: '50' } }],
    ['const true', { op: 'const', value: true }],
    ['not const', { op: 'not', operand: { op: 'const', value: true } }],
    [
      'De Morgan',
      {
        op: 'not',
        operand: {
          op: 'and',
          left: { op: 'eq', field: 'resourceId', value: 'a' },
          right: {
            op: 'or',
            left: { op: 'lt', field: 'status', value: 2 },
            right: { op: 'const', value: false },
          },
        },
      },
    ],
  ];

  it.each(cases)('%s', (_, filter) => {
    const expected = jsMatches(filter);
    expect(sqlMatches(filter)).toEqual(expected);
  });

  it('the hand-written cases match something and not everything', () => {
    const informative = cases.filter(([, f]) => {
      const n = jsMatches(f).length;
      return n > 0 && n < ROWS.length;
    });
    expect(informative.length).toBeGreaterThan(cases.length - 6);
  });

  it('agrees with the JS evaluation on 400 random filters', () => {
    for (let i = 0; i < 400; i++) {
      const filter = randomFilter();
      expect({ filter, seqs: sqlMatches(filter) }).toEqual({ filter, seqs: jsMatches(filter) });
    }
  });

  it('runs filters the parser produced', () => {
    const ctx = {
      kind: 'collection' as const,
      types: ['richLongRunningOperation' as const],
      includeUnknownEnumMembers: false,
    };
    for (const text of [
      "status eq 'unknownFutureValue' or startswith(statusDetail, '50%')",
      "not (statusDetail in ('a', null) and percentageComplete ge 20)",
      "status in ('running', 'unknownFutureValue') and createdDateTime lt 2024-05-01T00:00:15Z",
      "resourceId ne 'ab' and not startswith(id, 'a_')",
    ]) {
      const { filter } = parseQueryOptions(`$filter=${encodeURIComponent(text)}`, ctx);
      expect(sqlMatches(filter!)).toEqual(jsMatches(filter!));
    }
  });
});

describe('compileOrderBy and compileAfter on SQLite', () => {
  const orderings: [string, OrderKey[]][] = [
    ['none (seq)', []],
    ['createdDateTime asc', [{ field: 'createdDateTime', dir: 'asc' }]],
    ['createdDateTime desc', [{ field: 'createdDateTime', dir: 'desc' }]],
    [
      'status desc, createdDateTime asc',
      [
        { field: 'status', dir: 'desc' },
        { field: 'createdDateTime', dir: 'asc' },
      ],
    ],
    ['statusDetail asc (nullable)', [{ field: 'statusDetail', dir: 'asc' }]],
    ['statusDetail desc (nullable)', [{ field: 'statusDetail', dir: 'desc' }]],
    [
      'statusDetail desc, percentageComplete asc',
      [
        { field: 'statusDetail', dir: 'desc' },
        { field: 'percentageComplete', dir: 'asc' },
      ],
    ],
    [
      'percentageComplete desc, resourceLocation asc, status desc',
      [
        { field: 'percentageComplete', dir: 'desc' },
        { field: 'resourceLocation', dir: 'asc' },
        { field: 'status', dir: 'desc' },
      ],
    ],
    [
      'resourceId asc, type desc, createdDateTime asc',
      [
        { field: 'resourceId', dir: 'asc' },
        { field: 'type', dir: 'desc' },
        { field: 'createdDateTime', dir: 'asc' },
      ],
    ],
    [
      'type asc, percentageComplete desc, resourceId desc, status asc, id desc',
      [
        { field: 'type', dir: 'asc' },
        { field: 'percentageComplete', dir: 'desc' },
        { field: 'resourceId', dir: 'desc' },
        { field: 'status', dir: 'asc' },
        { field: 'id', dir: 'desc' },
      ],
    ],
  ];

  /** Pages through with the keyset predicate and returns the seqs in the order visited. */
  function pageThrough(orderBy: OrderKey[], pageSize: number, filter?: FilterNode): number[] {
    const seen: number[] = [];
    let cursor: ReturnType<typeof cursorFor> | undefined;
    for (let pages = 0; pages <= ROWS.length + 1; pages++) {
      const params: unknown[] = [];
      const conditions = ['1 = 1'];
      if (filter) conditions.push(`(${compileFilter(sqliteDialect, filter, params)})`);
      if (cursor) conditions.push(`(${compileAfter(sqliteDialect, orderBy, cursor, params)})`);
      const page = select(conditions.join(' AND '), params, orderBy, pageSize);
      seen.push(...page.map((r) => r.seq));
      if (page.length < pageSize) return seen;
      cursor = cursorFor(orderBy, toRecord(page[page.length - 1]));
    }
    throw new Error('paging did not end');
  }

  it.each(orderings)('orders by %s with NULL smallest and the seq tie-break', (_, orderBy) => {
    expect(select('1 = 1', [], orderBy).map((r) => r.seq)).toEqual(jsOrder(ROWS, orderBy));
  });

  it.each(orderings)('pages through %s visiting every row once, in order', (_, orderBy) => {
    const unpaged = select('1 = 1', [], orderBy).map((r) => r.seq);
    expect(unpaged).toHaveLength(ROWS.length);
    for (const pageSize of [1, 7, 50, 199, 200]) {
      expect(pageThrough(orderBy, pageSize)).toEqual(unpaged);
    }
  });

  it('pages through a filtered listing', () => {
    const filter: FilterNode = {
      op: 'or',
      left: { op: 'ne', field: 'statusDetail', value: 'a' },
      right: { op: 'gt', field: 'percentageComplete', value: 30 },
    };
    for (const [, orderBy] of orderings) {
      const params: unknown[] = [];
      const unpaged = select(compileFilter(sqliteDialect, filter, params), params, orderBy).map((r) => r.seq);
      expect(unpaged).toEqual(
        jsOrder(
          ROWS.filter((r) => evaluate(filter, r)),
          orderBy,
        ),
      );
      expect(pageThrough(orderBy, 9, filter)).toEqual(unpaged);
    }
  });

  it('continues correctly from every row as a cursor', () => {
    // Stronger than paging: for each position, "after" must select exactly the rows that follow it.
    for (const [, orderBy] of orderings) {
      const ordered = select('1 = 1', [], orderBy);
      const seqs = ordered.map((r) => r.seq);
      for (let i = 0; i < ordered.length; i += 3) {
        const params: unknown[] = [];
        const where = compileAfter(sqliteDialect, orderBy, cursorFor(orderBy, toRecord(ordered[i])), params);
        expect(select(where, params, orderBy).map((r) => r.seq)).toEqual(seqs.slice(i + 1));
      }
    }
  });

  it('ends the clause with the seq tie-break in the direction of the last key', () => {
    expect(compileOrderBy(sqliteDialect, [])).toBe('seq ASC');
    expect(compileOrderBy(sqliteDialect, [{ field: 'statusDetail', dir: 'asc' }])).toBe(
      'status_detail ASC NULLS FIRST, seq ASC',
    );
    expect(
      compileOrderBy(sqliteDialect, [
        { field: 'resourceLocation', dir: 'asc' },
        { field: 'percentageComplete', dir: 'desc' },
      ]),
    ).toBe(
      `resource_location ASC NULLS FIRST, json_extract(props, '$."percentageComplete"') DESC NULLS LAST, seq DESC`,
    );
  });

  it('takes the cursor from base fields and props, with null for missing values', () => {
    const record = toRecord({ ...ROWS[0], status_detail: null, props: '{"percentageComplete":40}' });
    const orderBy: OrderKey[] = [
      { field: 'statusDetail', dir: 'asc' },
      { field: 'percentageComplete', dir: 'desc' },
      { field: 'resourceId', dir: 'asc' },
      { field: 'createdDateTime', dir: 'asc' },
      { field: 'status', dir: 'asc' },
    ];
    expect(cursorFor(orderBy, record)).toEqual({
      values: [null, 40, null, record.createdDateTime, record.status],
      seq: record.seq,
    });
  });
});

describe('postgres dialect', () => {
  /** Every `$n` in text order. */
  const placeholders = (sql: string) => [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));

  it('numbers parameters after the ones already pushed, in text order', () => {
    const params: unknown[] = ['tenant', 'scope'];
    const filter: FilterNode = {
      op: 'and',
      left: { op: 'in', field: 'percentageComplete', values: [10, 20] },
      right: { op: 'not', operand: { op: 'startswith', field: 'statusDetail', value: '50%' } },
    };
    const sql = compileFilter(postgresDialect, filter, params);
    expect(placeholders(sql)).toEqual([3, 4, 5]);
    expect(params).toEqual(['tenant', 'scope', 10, 20, '50%']);
    expect(sql).toContain(`((props->>'percentageComplete')::int) IN ($3, $4)`);
    expect(sql).toContain('starts_with(status_detail, $5::text)');
    expect(sql).not.toContain('?');
  });

  it('renders the keyset predicate with consecutive placeholders', () => {
    const orderBy: OrderKey[] = [
      { field: 'createdDateTime', dir: 'asc' },
      { field: 'resourceId', dir: 'desc' },
    ];
    const params: unknown[] = ['x'];
    const sql = compileAfter(
      postgresDialect,
      orderBy,
      { values: ['2024-05-01T00:00:00.0000000Z', 'r'], seq: 7 },
      params,
    );
    const numbers = placeholders(sql);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i + 2));
    expect(params.length).toBe(numbers.length + 1);
    expect(params.at(-1)).toBe(7);
    expect(sql).toContain(`(props->>'resourceId')`);
    expect(compileOrderBy(postgresDialect, orderBy)).toBe(
      `created_at ASC, (props->>'resourceId') DESC NULLS LAST, seq DESC`,
    );
  });
});
