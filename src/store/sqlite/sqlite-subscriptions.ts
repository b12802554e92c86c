/** Webhook subscriptions in the SQLite file (see src/store/subscriptions.ts). */
import type Database from 'better-sqlite3';
import type { OperationEvent } from '../../model/operation.js';
import { rowToEvent, type EventRow } from '../row.js';
import type { NewSubscription, SubscriptionRecord, SubscriptionStore } from '../subscriptions.js';

interface SubscriptionRow {
  tenant_id: string;
  id: string;
  resource: string;
  scope: string;
  operation_id: string | null;
  change_type: string;
  notification_url: string;
  client_state: string | null;
  expiration_ms: number;
  created_by: string;
  created_at: string;
  cursor: number;
  attempts: number;
  next_attempt_at: number;
}

export function rowToSubscription(row: SubscriptionRow): SubscriptionRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    resource: row.resource,
    scope: row.scope,
    operationId: row.operation_id,
    changeType: row.change_type,
    notificationUrl: row.notification_url,
    clientState: row.client_state,
    expirationMs: Number(row.expiration_ms),
    createdBy: row.created_by,
    createdAt: row.created_at,
    cursor: Number(row.cursor),
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
  };
}

/** Pending events of a subscription: its collection's (or one operation's) events after the cursor. */
const PENDING = `EXISTS (SELECT 1 FROM operation_events e WHERE e.tenant_id = s.tenant_id AND e.scope = s.scope
  AND e.event_seq > s.cursor AND (s.operation_id IS NULL OR e.id = s.operation_id))`;

export class SqliteSubscriptions implements SubscriptionStore {
  constructor(private readonly db: Database.Database) {}

  async create(sub: NewSubscription): Promise<SubscriptionRecord> {
    const row = this.db
      .prepare(
        `INSERT INTO subscriptions (tenant_id, id, resource, scope, operation_id, change_type, notification_url,
           client_state, expiration_ms, created_by, created_at, cursor)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(event_seq), 0) FROM operation_events))
         RETURNING *`,
      )
      .get(
        sub.tenantId,
        sub.id,
        sub.resource,
        sub.scope,
        sub.operationId,
        sub.changeType,
        sub.notificationUrl,
        sub.clientState,
        sub.expirationMs,
        sub.createdBy,
        sub.createdAt,
      ) as SubscriptionRow;
    return rowToSubscription(row);
  }

  async get(tenantId: string, id: string): Promise<SubscriptionRecord | undefined> {
    const row = this.db
      .prepare('SELECT * FROM subscriptions WHERE tenant_id = ? AND id = ?')
      .get(tenantId, id) as SubscriptionRow | undefined;
    return row && rowToSubscription(row);
  }

  async list(tenantId: string): Promise<SubscriptionRecord[]> {
    const rows = this.db
      .prepare('SELECT * FROM subscriptions WHERE tenant_id = ? ORDER BY created_at, id')
      .all(tenantId) as SubscriptionRow[];
    return rows.map(rowToSubscription);
  }

  async setExpiration(
    tenantId: string,
    id: string,
    expirationMs: number,
  ): Promise<SubscriptionRecord | undefined> {
    const row = this.db
      .prepare('UPDATE subscriptions SET expiration_ms = ? WHERE tenant_id = ? AND id = ? RETURNING *')
      .get(expirationMs, tenantId, id) as SubscriptionRow | undefined;
    return row && rowToSubscription(row);
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    return (
      this.db.prepare('DELETE FROM subscriptions WHERE tenant_id = ? AND id = ?').run(tenantId, id).changes >
      0
    );
  }

  async claimDue(owner: string, leaseMs: number, limit: number): Promise<SubscriptionRecord[]> {
    const now = Date.now();
    const rows = this.db
      .prepare(
        `UPDATE subscriptions SET lease_owner = ?, lease_until = ?
         WHERE rowid IN (SELECT rowid FROM subscriptions s WHERE s.expiration_ms > ? AND s.next_attempt_at <= ?
           AND s.lease_until <= ? AND ${PENDING} ORDER BY s.next_attempt_at LIMIT ?)
         RETURNING *`,
      )
      .all(owner, now + leaseMs, now, now, now, limit) as SubscriptionRow[];
    return rows.map(rowToSubscription);
  }

  async pending(sub: SubscriptionRecord, limit: number): Promise<OperationEvent[]> {
    const rows = (
      sub.operationId === null
        ? this.db
            .prepare(
              'SELECT * FROM operation_events WHERE tenant_id = ? AND scope = ? AND event_seq > ? ORDER BY event_seq LIMIT ?',
            )
            .all(sub.tenantId, sub.scope, sub.cursor, limit)
        : this.db
            .prepare(
              'SELECT * FROM operation_events WHERE tenant_id = ? AND scope = ? AND id = ? AND event_seq > ? ORDER BY event_seq LIMIT ?',
            )
            .all(sub.tenantId, sub.scope, sub.operationId, sub.cursor, limit)
    ) as EventRow[];
    return rows.map(rowToEvent);
  }

  async delivered(sub: SubscriptionRecord, cursor: number): Promise<void> {
    this.db
      .prepare(
        `UPDATE subscriptions SET cursor = max(cursor, ?), attempts = 0, next_attempt_at = 0, lease_owner = NULL,
           lease_until = 0 WHERE tenant_id = ? AND id = ?`,
      )
      .run(cursor, sub.tenantId, sub.id);
  }

  async failed(sub: SubscriptionRecord, nextAttemptAt: number): Promise<void> {
    this.db
      .prepare(
        `UPDATE subscriptions SET attempts = attempts + 1, next_attempt_at = ?, lease_owner = NULL, lease_until = 0
         WHERE tenant_id = ? AND id = ?`,
      )
      .run(nextAttemptAt, sub.tenantId, sub.id);
  }

  async purgeExpired(nowMs: number): Promise<number> {
    return this.db.prepare('DELETE FROM subscriptions WHERE expiration_ms <= ?').run(nowMs).changes;
  }
}
