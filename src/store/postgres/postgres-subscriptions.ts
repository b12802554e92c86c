/** Webhook subscriptions in PostgreSQL (see src/store/subscriptions.ts and the SQLite twin). */
import type pg from 'pg';
import type { OperationEvent } from '../../model/operation.js';
import { rowToEvent, type EventRow } from '../row.js';
import { rowToSubscription } from '../sqlite/sqlite-subscriptions.js';
import type { NewSubscription, SubscriptionRecord, SubscriptionStore } from '../subscriptions.js';

type Query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

const PENDING = `EXISTS (SELECT 1 FROM operation_events e WHERE e.tenant_id = s.tenant_id AND e.scope = s.scope
  AND e.event_seq > s.cursor AND e.event_seq <= $5 AND (s.operation_id IS NULL OR e.id = s.operation_id))`;

export class PostgresSubscriptions implements SubscriptionStore {
  constructor(
    private readonly query: Query,
    /** The settled event horizon (see event-horizon.ts). */
    private readonly horizon: () => Promise<number>,
  ) {}

  async create(sub: NewSubscription): Promise<SubscriptionRecord> {
    const { rows } = await this.query<never>(
      `INSERT INTO subscriptions (tenant_id, id, resource, scope, operation_id, change_type, notification_url,
         client_state, expiration_ms, created_by, created_at, cursor)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, (SELECT coalesce(max(event_seq), 0) FROM operation_events))
       RETURNING *`,
      [
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
      ],
    );
    return rowToSubscription(rows[0]);
  }

  async get(tenantId: string, id: string): Promise<SubscriptionRecord | undefined> {
    const { rows } = await this.query<never>('SELECT * FROM subscriptions WHERE tenant_id = $1 AND id = $2', [
      tenantId,
      id,
    ]);
    return rows[0] && rowToSubscription(rows[0]);
  }

  async list(tenantId: string): Promise<SubscriptionRecord[]> {
    const { rows } = await this.query<never>(
      'SELECT * FROM subscriptions WHERE tenant_id = $1 ORDER BY created_at, id',
      [tenantId],
    );
    return rows.map(rowToSubscription);
  }

  async setExpiration(
    tenantId: string,
    id: string,
    expirationMs: number,
  ): Promise<SubscriptionRecord | undefined> {
    const { rows } = await this.query<never>(
      'UPDATE subscriptions SET expiration_ms = $1 WHERE tenant_id = $2 AND id = $3 RETURNING *',
      [expirationMs, tenantId, id],
    );
    return rows[0] && rowToSubscription(rows[0]);
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.query('DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2', [
      tenantId,
      id,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async claimDue(owner: string, leaseMs: number, limit: number): Promise<SubscriptionRecord[]> {
    const now = Date.now();
    const { rows } = await this.query<never>(
      `UPDATE subscriptions SET lease_owner = $1, lease_until = $2
       WHERE (tenant_id, id) IN (
         SELECT tenant_id, id FROM subscriptions s WHERE s.expiration_ms > $3 AND s.next_attempt_at <= $3
           AND s.lease_until <= $3 AND ${PENDING} ORDER BY s.next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [owner, now + leaseMs, now, limit, await this.horizon()],
    );
    return rows.map(rowToSubscription);
  }

  async pending(sub: SubscriptionRecord, limit: number): Promise<OperationEvent[]> {
    const horizon = await this.horizon();
    const { rows } =
      sub.operationId === null
        ? await this.query<EventRow>(
            `SELECT * FROM operation_events WHERE tenant_id = $1 AND scope = $2 AND event_seq > $3 AND event_seq <= $4
             ORDER BY event_seq LIMIT $5`,
            [sub.tenantId, sub.scope, sub.cursor, horizon, limit],
          )
        : await this.query<EventRow>(
            `SELECT * FROM operation_events WHERE tenant_id = $1 AND scope = $2 AND id = $3 AND event_seq > $4
               AND event_seq <= $5 ORDER BY event_seq LIMIT $6`,
            [sub.tenantId, sub.scope, sub.operationId, sub.cursor, horizon, limit],
          );
    return rows.map(rowToEvent);
  }

  async delivered(sub: SubscriptionRecord, cursor: number): Promise<void> {
    await this.query(
      `UPDATE subscriptions SET cursor = GREATEST(cursor, $1), attempts = 0, next_attempt_at = 0, lease_owner = NULL,
         lease_until = 0 WHERE tenant_id = $2 AND id = $3`,
      [cursor, sub.tenantId, sub.id],
    );
  }

  async failed(sub: SubscriptionRecord, nextAttemptAt: number): Promise<void> {
    await this.query(
      `UPDATE subscriptions SET attempts = attempts + 1, next_attempt_at = $1, lease_owner = NULL, lease_until = 0
       WHERE tenant_id = $2 AND id = $3`,
      [nextAttemptAt, sub.tenantId, sub.id],
    );
  }

  async purgeExpired(nowMs: number): Promise<number> {
    const { rowCount } = await this.query('DELETE FROM subscriptions WHERE expiration_ms <= $1', [nowMs]);
    return rowCount ?? 0;
  }
}
