/**
 * Reads `RETURNING *` rows of `operations` in better-sqlite3's raw mode (arrays, not objects). Raw rows are
 * much cheaper to produce: building a 27-key object per row cost about as much as the UPDATE itself, and
 * the engine reads a whole row back on every claim and every write of an attempt.
 */
import type Database from 'better-sqlite3';
import type { OperationRecord } from '../../model/operation.js';
import { rowToRecord, type OperationRow } from '../row.js';

export type RecordReader = (values: unknown[]) => OperationRecord;

/** A reader for the rows of `statement` (put in raw mode here), by its column names. */
export function rawRecords(statement: Database.Statement): RecordReader {
  statement.raw(true);
  const names = statement.columns().map((c) => c.name);
  const at = (name: keyof OperationRow): number => names.indexOf(name);
  const [seq, tenant, scope, id, type, status, created, lastAction, location, detail, props, version] = (
    [
      'seq',
      'tenant_id',
      'scope',
      'id',
      'type',
      'status',
      'created_at',
      'last_action_at',
      'resource_location',
      'status_detail',
      'props',
      'version',
    ] as const
  ).map(at);
  const [handler, input, attempts, maxAttempts, runAt, leaseOwner, fencing, cancel, timeout] = (
    [
      'handler',
      'input',
      'attempts',
      'max_attempts',
      'run_at',
      'lease_owner',
      'fencing_token',
      'cancel_requested',
      'timeout_ms',
    ] as const
  ).map(at);
  const [idempotency, requestHash, createdBy, terminalAt, checkpoint] = (
    ['idempotency_key', 'request_hash', 'created_by', 'terminal_at', 'checkpoint'] as const
  ).map(at);
  return (v) =>
    rowToRecord({
      seq: v[seq] as number,
      tenant_id: v[tenant] as string,
      scope: v[scope] as string,
      id: v[id] as string,
      type: v[type] as string,
      status: v[status] as number,
      created_at: v[created] as string,
      last_action_at: v[lastAction] as string,
      resource_location: v[location] as string | null,
      status_detail: v[detail] as string | null,
      props: v[props] as string,
      version: v[version] as number,
      handler: v[handler] as string | null,
      input: v[input],
      attempts: v[attempts] as number,
      max_attempts: v[maxAttempts] as number,
      run_at: v[runAt] as number | null,
      lease_owner: v[leaseOwner] as string | null,
      fencing_token: v[fencing] as number,
      cancel_requested: v[cancel] as number,
      timeout_ms: v[timeout] as number | null,
      idempotency_key: v[idempotency] as string | null,
      request_hash: v[requestHash] as string | null,
      created_by: v[createdBy] as string | null,
      terminal_at: v[terminalAt] as number | null,
      // Before migration 5 there is no such column (index -1).
      checkpoint: checkpoint < 0 ? null : (v[checkpoint] as string | null),
    });
}
