/**
 * Webhook subscriptions, shaped like Graph change-notification subscriptions. The operations' history
 * (operation_events) is the outbox: each subscription keeps a cursor, the event_seq it has delivered up
 * to, so notifications are durable (they are the history rows written in the same transaction as each
 * change), ordered, survive restarts, and are delivered at least once.
 */
import type { OperationEvent } from '../model/operation.js';

export interface NewSubscription {
  tenantId: string;
  id: string;
  /** The resource as the client wrote it (`/operations`, `/sites/x/operations/abc`). */
  resource: string;
  /** The collection it watches, and one operation in it when set. */
  scope: string;
  operationId: string | null;
  /** Comma-separated Graph change types: created, updated, deleted. */
  changeType: string;
  notificationUrl: string;
  clientState: string | null;
  expirationMs: number;
  createdBy: string;
  createdAt: string;
}

export interface SubscriptionRecord extends NewSubscription {
  /** Events up to this event_seq have been delivered. */
  cursor: number;
  /** Failed deliveries in a row (reset on success). */
  attempts: number;
  /** Epoch ms before which no delivery is tried (backoff after a failure). */
  nextAttemptAt: number;
}

export interface SubscriptionStore {
  /** Creates the subscription with its cursor at the newest event, so only later changes are sent. */
  create(sub: NewSubscription): Promise<SubscriptionRecord>;
  get(tenantId: string, id: string): Promise<SubscriptionRecord | undefined>;
  list(tenantId: string): Promise<SubscriptionRecord[]>;
  setExpiration(tenantId: string, id: string, expirationMs: number): Promise<SubscriptionRecord | undefined>;
  delete(tenantId: string, id: string): Promise<boolean>;
  /**
   * Leases up to `limit` subscriptions that are unexpired, due (nextAttemptAt passed), not leased by
   * another deliverer, and have events after their cursor.
   */
  claimDue(owner: string, leaseMs: number, limit: number): Promise<SubscriptionRecord[]>;
  /** The events a subscription has not delivered yet, oldest first. */
  pending(sub: SubscriptionRecord, limit: number): Promise<OperationEvent[]>;
  /** Records a delivery up to `cursor` and releases the lease. */
  delivered(sub: SubscriptionRecord, cursor: number): Promise<void>;
  /** Records a failed delivery: attempts + 1, next try at `nextAttemptAt`, lease released. */
  failed(sub: SubscriptionRecord, nextAttemptAt: number): Promise<void>;
  /** Removes subscriptions that expired before `nowMs`. */
  purgeExpired(nowMs: number): Promise<number>;
}
