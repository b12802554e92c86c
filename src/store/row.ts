/** Maps between `operations` rows and OperationRecord; shared by both SQL backends. */
import type { OperationEvent, OperationRecord, OperationView } from '../model/operation.js';
import { STATUS, type StatusValue } from '../model/status.js';
import type { OperationTypeName } from '../model/types.js';
import type { NewOperation, RecordChanges } from './store.js';

export interface OperationRow {
  seq: number | string;
  tenant_id: string;
  scope: string;
  id: string;
  type: string;
  status: number;
  created_at: string;
  last_action_at: string;
  resource_location: string | null;
  status_detail: string | null;
  /** JSON text (SQLite) or an already-parsed object (PostgreSQL jsonb). */
  props: string | Record<string, unknown>;
  version: number;
  handler: string | null;
  input: string | unknown;
  attempts: number;
  max_attempts: number;
  run_at: number | string | null;
  lease_owner: string | null;
  fencing_token: number | string;
  cancel_requested: number | boolean;
  timeout_ms: number | null;
  idempotency_key: string | null;
  request_hash: string | null;
  created_by: string | null;
  terminal_at: number | string | null;
  /** JSON text; undefined before migration 5. */
  checkpoint?: string | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

/** Most operations have no subtype properties: skip the parse for the common empty document. */
const parseProps = (props: string | Record<string, unknown>): Record<string, unknown> =>
  typeof props !== 'string' ? props : props === '{}' ? {} : (JSON.parse(props) as Record<string, unknown>);

/** The columns reads select (OperationView); the tenant and scope come from the query itself. */
export const VIEW_COLUMNS =
  'seq, id, type, status, created_at, last_action_at, resource_location, status_detail, props, version';

export type ViewRow = Pick<
  OperationRow,
  | 'seq'
  | 'id'
  | 'type'
  | 'status'
  | 'created_at'
  | 'last_action_at'
  | 'resource_location'
  | 'status_detail'
  | 'props'
  | 'version'
>;

export function rowToView(row: ViewRow, tenantId: string, scope: string): OperationView {
  return {
    seq: Number(row.seq),
    tenantId,
    scope,
    id: row.id,
    type: row.type as OperationTypeName,
    status: row.status as StatusValue,
    createdDateTime: row.created_at,
    lastActionDateTime: row.last_action_at,
    resourceLocation: row.resource_location,
    statusDetail: row.status_detail,
    props: parseProps(row.props),
    version: Number(row.version),
  };
}

/**
 * Written out field by field, not `{ ...rowToView(row), ... }`: on Node 20 an object spread followed by
 * more properties costs tens of microseconds (V8 leaves the fast clone path), and the engine builds a
 * record on every claim and every write.
 */
export function rowToRecord(row: OperationRow): OperationRecord {
  return {
    seq: Number(row.seq),
    tenantId: row.tenant_id,
    scope: row.scope,
    id: row.id,
    type: row.type as OperationTypeName,
    status: row.status as StatusValue,
    createdDateTime: row.created_at,
    lastActionDateTime: row.last_action_at,
    resourceLocation: row.resource_location,
    statusDetail: row.status_detail,
    props: parseProps(row.props),
    version: Number(row.version),
    handler: row.handler,
    input: typeof row.input === 'string' ? JSON.parse(row.input) : (row.input ?? null),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    runAt: num(row.run_at),
    leaseOwner: row.lease_owner,
    fencingToken: Number(row.fencing_token),
    cancelRequested: Boolean(row.cancel_requested),
    timeoutMs: row.timeout_ms === null ? null : Number(row.timeout_ms),
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    createdBy: row.created_by,
    terminalAt: num(row.terminal_at),
    checkpoint: row.checkpoint === null || row.checkpoint === undefined ? null : JSON.parse(row.checkpoint),
  };
}

export interface EventRow {
  event_seq: number | string;
  tenant_id: string;
  scope: string;
  id: string;
  at: string;
  from_status: number | null;
  to_status: number;
  actor: string;
  kind: string;
}

export function rowToEvent(row: EventRow): OperationEvent {
  return {
    eventSeq: Number(row.event_seq),
    tenantId: row.tenant_id,
    scope: row.scope,
    id: row.id,
    at: row.at,
    fromStatus: row.from_status as StatusValue | null,
    toStatus: row.to_status as StatusValue,
    actor: row.actor,
    kind: row.kind,
  };
}

/** Column names and values for the SET clause of an update; JSON columns are serialized by `json`. */
export function changeColumns(
  changes: RecordChanges,
  json: (value: unknown) => unknown,
  bool: (value: boolean) => unknown,
): [string, unknown][] {
  const cols: [string, unknown][] = [];
  if (changes.status !== undefined) cols.push(['status', changes.status]);
  if (changes.createdDateTime !== undefined) cols.push(['created_at', changes.createdDateTime]);
  if (changes.lastActionDateTime !== undefined) cols.push(['last_action_at', changes.lastActionDateTime]);
  if (changes.resourceLocation !== undefined) cols.push(['resource_location', changes.resourceLocation]);
  if (changes.statusDetail !== undefined) cols.push(['status_detail', changes.statusDetail]);
  if (changes.props !== undefined) cols.push(['props', json(changes.props)]);
  if (changes.runAt !== undefined) cols.push(['run_at', changes.runAt]);
  if (changes.leaseOwner !== undefined) cols.push(['lease_owner', changes.leaseOwner]);
  if (changes.attempts !== undefined) cols.push(['attempts', changes.attempts]);
  if (changes.cancelRequested !== undefined) cols.push(['cancel_requested', bool(changes.cancelRequested)]);
  if (changes.terminalAt !== undefined) cols.push(['terminal_at', changes.terminalAt]);
  if (changes.checkpoint !== undefined)
    cols.push(['checkpoint', changes.checkpoint === null ? null : json(changes.checkpoint)]);
  return cols;
}

export const TERMINAL: readonly number[] = [2, 3, 5]; // succeeded, failed, canceled

/**
 * The columns a restart (OperationStore.insertOrJoin on an ended operation) sets from the new operation,
 * in insertValues order after the key (`insertValues(op).slice(3)`); the engine state a run leaves
 * behind (attempts, lease, cancel flag) is cleared and the version and fencing token move on, so writes
 * of the ended run's attempts stay refused.
 */
export const RESTART_COLUMNS = [
  'type',
  'status',
  'created_at',
  'last_action_at',
  'resource_location',
  'status_detail',
  'props',
  'handler',
  'input',
  'max_attempts',
  'run_at',
  'timeout_ms',
  'idempotency_key',
  'request_hash',
  'created_by',
  'terminal_at',
] as const;

/** The SET clause of a restart; `param(i)` writes the i-th (0-based) placeholder of RESTART_COLUMNS. */
export function restartSet(param: (i: number) => string, falseValue: string): string {
  return [
    ...RESTART_COLUMNS.map((c, i) => `${c} = ${param(i)}`),
    'attempts = 0',
    'lease_owner = NULL',
    `cancel_requested = ${falseValue}`,
    'fencing_token = fencing_token + 1',
    'version = version + 1',
  ].join(', ');
}

/** The columns of a new `operations` row, in insertValues' order: both stores' INSERTs name them so. */
export const INSERT_COLUMNS = `tenant_id, scope, id, type, status, created_at, last_action_at, resource_location,
  status_detail, props, handler, input, max_attempts, run_at, timeout_ms, idempotency_key, request_hash,
  created_by, terminal_at`;

/**
 * The values of a new `operations` row, in the order of INSERT_COLUMNS. An operation
 * claimed at creation (`op.claim`) is written `running`, due again when its lease ends (as a claim leaves it).
 */
export function insertValues(op: NewOperation): unknown[] {
  return [
    op.tenantId,
    op.scope,
    op.id,
    op.type,
    op.claim ? STATUS.running : op.status,
    op.createdDateTime,
    op.lastActionDateTime,
    op.resourceLocation,
    op.statusDetail,
    JSON.stringify(op.props),
    op.handler ?? null,
    op.input === undefined || op.input === null ? null : JSON.stringify(op.input),
    op.maxAttempts ?? 1,
    op.claim ? op.claim.leaseUntil : (op.runAt ?? null),
    op.timeoutMs ?? null,
    op.idempotencyKey ?? null,
    op.requestHash ?? null,
    op.createdBy ?? null,
    TERMINAL.includes(op.status) ? Date.now() : null,
  ];
}
