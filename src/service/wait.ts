/**
 * Holding a read until something happens (`Prefer: wait=N`), as Kubernetes watches and Consul blocking
 * queries do: resolves with the operation once it differs from what the caller last saw, or it is
 * terminal, or the time is up. "What the caller saw" is its ETag when it sent one (If-None-Match: the
 * precise form, nothing between two polls is missed), else the operation as it was when the request
 * arrived. Changes from other nodes arrive through the same feed (as notifications without a record), so
 * the operation is read again on each wake.
 */
import { etagOf, ifNoneMatchMatches, type EtagCondition } from '../model/etag.js';
import { notFound } from '../model/errors.js';
import type { OperationView } from '../model/operation.js';
import { isTerminal } from '../model/status.js';
import type { OperationKey } from '../store/store.js';
import type { ChangeFeed } from './changes.js';

export interface WaitResult {
  record: OperationView;
  /** Whether it returned because of a change (false: terminal already, or the time ran out). */
  changed: boolean;
}

/** Whether `latest` differs from what the caller saw; `initial` is the operation when the wait began. */
export type ChangeTest = (latest: OperationView, initial: OperationView) => boolean;

/**
 * No ETag: a change of what a client reads since the request arrived (status, progress and the other
 * subtype properties, status detail, resource location, the timestamps). Bookkeeping writes (lease
 * renewals, checkpoints) bump the version but change none of these, so they don't end the wait.
 */
export const visibleChange: ChangeTest = (latest, initial) =>
  latest.status !== initial.status ||
  latest.statusDetail !== initial.statusDetail ||
  latest.resourceLocation !== initial.resourceLocation ||
  latest.lastActionDateTime !== initial.lastActionDateTime ||
  latest.createdDateTime !== initial.createdDateTime ||
  JSON.stringify(latest.props) !== JSON.stringify(initial.props);

/**
 * The caller sent If-None-Match: a version it doesn't hold is news, at once. When it holds the current
 * one, the wait ends on the next visible change, not on a lease renewal that only bumped the version (the
 * answer then carries the newest tag; a renewal alone is answered at the deadline, with a 200 since the
 * tag moved).
 */
export const differsFromEtags =
  (seen: EtagCondition): ChangeTest =>
  (latest, initial) =>
    !ifNoneMatchMatches(seen, etagOf(initial)) || visibleChange(latest, initial);

/**
 * What a wait needs of an AbortSignal, which satisfies it. The HTTP route passes a lighter object of its
 * own: an AbortController per held read (10,000 held at a time) was an EventTarget, a listener record and
 * a Map each, kept for the whole wait, and a measurable share of the CPU per read.
 */
export interface WaitSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export async function waitForChange(
  changes: ChangeFeed,
  read: (key: OperationKey) => Promise<OperationView | undefined>,
  key: OperationKey,
  timeoutMs: number,
  changed: ChangeTest,
  signal?: WaitSignal,
): Promise<WaitResult> {
  let wake: () => void = () => {};
  let woken = false;
  const onChange = () => {
    woken = true;
    wake();
  };
  // Subscribe before the first read, so a change between the two is not missed. A resync (the cross-node
  // notifications were interrupted) may hide a change: read again then too.
  const unsubscribe = changes.subscribeOperation(key, onChange);
  const unsubscribeResync = changes.onResync(onChange);
  try {
    const initial = await read(key);
    if (!initial) throw notFound(`The operation '${key.id}' does not exist in this collection.`);
    // Already news to the caller (its ETag is stale): answer at once.
    if (changed(initial, initial)) return { record: initial, changed: true };
    if (isTerminal(initial.status) || timeoutMs <= 0) return { record: initial, changed: false };
    const deadline = Date.now() + timeoutMs;
    let current = initial;
    for (;;) {
      if (!woken) {
        const remaining = deadline - Date.now();
        if (signal?.aborted || changes.closing) return { record: current, changed: false };
        if (remaining <= 0) {
          // One last read: a change whose notification never came (its writer died right after the
          // commit) is still answered at the deadline.
          const last = (await read(key)) ?? current;
          return { record: last, changed: changed(last, initial) };
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, remaining);
          const onAbort = () => done();
          signal?.addEventListener('abort', onAbort, { once: true });
          function done() {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }
          wake = done;
        });
        wake = () => {};
        if (!woken) continue;
      }
      woken = false;
      const latest = await read(key);
      if (!latest) throw notFound(`The operation '${key.id}' was deleted.`);
      if (changed(latest, initial) || isTerminal(latest.status)) return { record: latest, changed: true };
      current = latest;
    }
  } finally {
    unsubscribe();
    unsubscribeResync();
  }
}

/** Only a status change (or the end) counts: for callers that wait for an outcome, not for progress. */
export const statusChange: ChangeTest = (latest, initial) => latest.status !== initial.status;

/** waitForChange on the status alone (the library handle's `wait`, which only wants the end). */
export function waitForStatusChange(
  changes: ChangeFeed,
  read: (key: OperationKey) => Promise<OperationView | undefined>,
  key: OperationKey,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<WaitResult> {
  return waitForChange(changes, read, key, timeoutMs, statusChange, signal);
}
