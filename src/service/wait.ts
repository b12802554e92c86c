/**
 * Holding a read until something happens (`Prefer: wait=N`): resolves with the operation once its status
 * differs from what the caller saw, or it is terminal, or the time is up. Changes from other nodes arrive
 * through the same feed (as notifications without a record), so the operation is read again on each wake.
 */
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

export async function waitForStatusChange(
  changes: ChangeFeed,
  read: (key: OperationKey) => Promise<OperationView | undefined>,
  key: OperationKey,
  timeoutMs: number,
  signal?: AbortSignal,
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
          return { record: last, changed: last.status !== initial.status };
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
      if (latest.status !== initial.status || isTerminal(latest.status))
        return { record: latest, changed: true };
      current = latest;
    }
  } finally {
    unsubscribe();
    unsubscribeResync();
  }
}
