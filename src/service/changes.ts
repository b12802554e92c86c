/**
 * In-process notifications of operation changes, for waiters and streams on this node. Stores that span
 * nodes (PostgreSQL LISTEN/NOTIFY) feed remote changes into the same feed, without a record: listeners
 * read the operation when they need it. Those notifications reach only a connected listener: when its
 * connection was lost and is back, `resync()` tells every listener that changes may have gone by unseen,
 * so waiters read again and streams replay from the history.
 */
import type { OperationRecord } from '../model/operation.js';

export interface OperationChange {
  tenantId: string;
  scope: string;
  id: string;
  /** The operation after the change; undefined when it was deleted or the change came from another node. */
  record?: OperationRecord;
  kind: string;
  /** The history event of the change, when known (remote changes carry it without a record). */
  eventSeq?: number;
}

type Listener = (change: OperationChange) => void;

/**
 * Listeners subscribe to everything, to one collection, or to one operation; a change is dispatched by map
 * lookups, so ten thousand waiting requests cost nothing to the writes they are not waiting for.
 */
export class ChangeFeed {
  private readonly all = new Set<Listener>();
  private readonly byScope = new Map<string, Set<Listener>>();
  private readonly byOperation = new Map<string, Set<Listener>>();
  private readonly resyncListeners = new Set<() => void>();
  private highestEventSeq = 0;
  private isClosing = false;

  /** The node is shutting down: waiters answer now and streams end (see close()). */
  get closing(): boolean {
    return this.isClosing;
  }

  /** The highest history event seen so far (from any node): where a stream that has sent nothing stands. */
  get lastEventSeq(): number {
    return this.highestEventSeq;
  }

  /** Records that the history has reached `eventSeq` (the store's newest event when the node starts). */
  noteEventSeq(eventSeq: number): void {
    if (eventSeq > this.highestEventSeq) this.highestEventSeq = eventSeq;
  }

  publish(change: OperationChange): void {
    this.noteEventSeq(change.record?.eventSeq ?? change.eventSeq ?? 0);
    for (const l of this.all) l(change);
    this.byScope.get(scopeKey(change.tenantId, change.scope))?.forEach((l) => l(change));
    this.byOperation.get(operationKey(change))?.forEach((l) => l(change));
  }

  subscribe(listener: Listener): () => void {
    this.all.add(listener);
    return () => this.all.delete(listener);
  }

  subscribeScope(tenantId: string, scope: string, listener: Listener): () => void {
    return add(this.byScope, scopeKey(tenantId, scope), listener);
  }

  subscribeOperation(key: { tenantId: string; scope: string; id: string }, listener: Listener): () => void {
    return add(this.byOperation, operationKey(key), listener);
  }

  /** Called on `resync()` (changes may have happened without a notification) and on `close()`. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  /** The cross-node notifications were interrupted (listener reconnected): everyone catches up. */
  resync(): void {
    for (const l of this.resyncListeners) l();
  }

  /**
   * The node is shutting down: held requests must not keep the HTTP server from closing. Waiters answer
   * with what they have, streams end (an EventSource reconnects, to another node, with Last-Event-ID).
   */
  close(): void {
    this.isClosing = true;
    this.resync();
  }
}

const scopeKey = (tenantId: string, scope: string) => `${tenantId}\u0000${scope}`;
const operationKey = (k: { tenantId: string; scope: string; id: string }) =>
  `${k.tenantId}\u0000${k.scope}\u0000${k.id}`;

function add(map: Map<string, Set<Listener>>, key: string, listener: Listener): () => void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0 && map.get(key) === set) map.delete(key);
  };
}
