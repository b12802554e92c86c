/**
 * Delivers change notifications to subscribers, in Graph's shape
 * (`{"value":[{subscriptionId, clientState, changeType, resource, resourceData, subscriptionExpirationDateTime, tenantId}]}`).
 * Each subscription's undelivered events come from the operations' history after its cursor; a batch is
 * POSTed in event order and the cursor moves only on a 2xx, so delivery is at least once, in order, and
 * survives restarts. A failing receiver is retried with exponential backoff until the subscription expires.
 */
import { randomUUID } from 'node:crypto';
import type { OperationEvent, OperationRecord } from '../model/operation.js';
import { visibleStatusName } from '../model/status.js';
import { fromEpochMs } from '../model/time.js';
import { OPERATION_TYPES } from '../model/types.js';
import { checkNotificationUrl, type WebhookPolicy } from '../service/notification-url.js';
import { postWebhook } from '../service/webhook-request.js';
import type { OperationService } from '../service/operation-service.js';
import type { SubscriptionService } from '../service/subscription-service.js';
import type { SubscriptionRecord } from '../store/subscriptions.js';
import { backoffDelay } from './backoff.js';

export interface DelivererOptions {
  /** Look for pending notifications this often when nothing wakes the deliverer; default 1 s. */
  pollIntervalMs?: number;
  /** Backoff after a failed delivery: base and cap; defaults 1 s and 10 min. */
  retryBaseMs?: number;
  retryCapMs?: number;
  /** Per-request time limit (connect, headers and body together); default 10 s. */
  timeoutMs?: number;
  /** Most bytes of a receiver's response body read before the connection is dropped; default 4096. */
  maxResponseBytes?: number;
  batchSize?: number;
  /** Called after each attempt (metrics). */
  onDelivery?: (outcome: 'delivered' | 'failed', count: number) => void;
}

export class WebhookDeliverer {
  private readonly owner = `deliverer-${process.pid}-${randomUUID().slice(0, 8)}`;
  private stopping = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private unsubscribe?: () => void;

  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly operations: OperationService,
    private readonly policy: WebhookPolicy,
    private readonly options: DelivererOptions = {},
  ) {
    checkDelivererOptions(options);
  }

  start(): void {
    this.unsubscribe = this.operations.changes.subscribe(() => this.wake?.());
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
  }

  /** One pass over due subscriptions; returns how many had events to deliver. */
  async deliverOnce(): Promise<number> {
    const due = await this.subscriptions.claimDue(this.owner, (this.options.timeoutMs ?? 10_000) * 3, 20);
    const outcomes = await Promise.all(due.map((sub) => this.deliver(sub)));
    return outcomes.filter(Boolean).length;
  }

  private async run(): Promise<void> {
    let lastPurge = 0;
    while (!this.stopping) {
      let handled = 0;
      try {
        handled = await this.deliverOnce();
        if (Date.now() - lastPurge > 60_000) {
          lastPurge = Date.now();
          await this.subscriptions.purgeExpired(Date.now());
        }
      } catch {
        // store unreachable: the next pass tries again
      }
      if (handled === 0) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.pollIntervalMs ?? 1000);
      this.wake = done;
    });
  }

  /** Delivers the subscription's next batch; false when it had nothing settled to send yet. */
  private async deliver(sub: SubscriptionRecord): Promise<boolean> {
    const events = await this.subscriptions.pending(sub, this.options.batchSize ?? 50);
    if (events.length === 0) {
      await this.subscriptions.delivered(sub, sub.cursor); // releases the lease
      return false;
    }
    const last = events[events.length - 1].eventSeq;
    const wanted = new Set(sub.changeType.split(','));
    const notifications = [];
    const records = new Map<string, OperationRecord | undefined>();
    for (const e of events) {
      const changeType = changeTypeOf(e);
      if (!wanted.has(changeType)) continue;
      if (!records.has(e.id)) records.set(e.id, await this.operations.store.get(e));
      notifications.push(this.notification(sub, e, changeType, records.get(e.id)));
    }
    if (notifications.length === 0) {
      await this.subscriptions.delivered(sub, last);
      return true;
    }
    let ok = false;
    try {
      // Checked again (DNS may have changed since creation), and sent to the addresses this check saw.
      const url = await checkNotificationUrl(sub.notificationUrl, this.policy);
      // The status decides; the body is read only up to the limit, then the connection is dropped.
      const res = await postWebhook(url, {
        body: JSON.stringify({ value: notifications }),
        contentType: 'application/json',
        timeoutMs: this.options.timeoutMs,
        maxResponseBytes: this.options.maxResponseBytes,
      });
      ok = res.status >= 200 && res.status < 300;
    } catch {
      ok = false;
    }
    this.options.onDelivery?.(ok ? 'delivered' : 'failed', notifications.length);
    if (ok) {
      await this.subscriptions.delivered(sub, last);
      return true;
    }
    const delay = backoffDelay(
      sub.attempts + 1,
      this.options.retryBaseMs ?? 1000,
      this.options.retryCapMs ?? 600_000,
    );
    await this.subscriptions.failed(sub, Date.now() + delay);
    return false;
  }

  private notification(
    sub: SubscriptionRecord,
    e: OperationEvent,
    changeType: string,
    record?: OperationRecord,
  ) {
    const collection = sub.operationId === null ? sub.resource.replace(/^\/+|\/+$/g, '') : undefined;
    const resource = collection
      ? `${collection}/${encodeURIComponent(e.id)}`
      : sub.resource.replace(/^\/+/, '');
    return {
      subscriptionId: sub.id,
      subscriptionExpirationDateTime: fromEpochMs(sub.expirationMs),
      changeType,
      resource,
      resourceData: {
        '@odata.type': '#' + OPERATION_TYPES[record?.type ?? 'longRunningOperation'].qualifiedName,
        '@odata.id': resource,
        id: e.id,
        status: visibleStatusName(e.toStatus, false),
      },
      clientState: sub.clientState,
      tenantId: sub.tenantId,
    };
  }
}

/**
 * The limits that bound what a receiver can cost: a wrong value is a configuration error that names the
 * option and the rule (a negative timeout would fail every delivery at once, a huge read would buffer it).
 */
export function checkDelivererOptions(options: DelivererOptions): void {
  const limits: [keyof DelivererOptions, number, number][] = [
    ['timeoutMs', 1, 600_000],
    ['maxResponseBytes', 1, 1024 * 1024],
  ];
  for (const [name, min, max] of limits) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`The option webhooks.${name} must be an integer from ${min} to ${max}.`);
    }
  }
}

function changeTypeOf(e: OperationEvent): string {
  return e.kind === 'created' ? 'created' : e.kind === 'deleted' ? 'deleted' : 'updated';
}
