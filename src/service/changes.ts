/**
 * In-process notifications of operation changes, for waiters and streams on this node. Stores that span
 * nodes (PostgreSQL LISTEN/NOTIFY) feed remote changes into the same feed.
 */
import { EventEmitter } from 'node:events';
import type { OperationRecord } from '../model/operation.js';

export interface OperationChange {
  tenantId: string;
  scope: string;
  id: string;
  /** The operation after the change; undefined when it was deleted. */
  record?: OperationRecord;
  kind: string;
}

export class ChangeFeed {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every waiting request subscribes; the default limit of 10 is meant for leaks, not for this.
    this.emitter.setMaxListeners(0);
  }

  publish(change: OperationChange): void {
    this.emitter.emit('change', change);
  }

  subscribe(listener: (change: OperationChange) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }
}
