/**
 * Whether the request being handled is a step of a `$batch` (run through `app.inject`). Batch steps are
 * buffered whole into the batch's response, so anything that answers with a never-ending body (an event
 * stream) must refuse to run inside one; asking the request's own async context is true however the step's
 * url was spelled, where a check on the url would have to foresee every spelling the router accepts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface BatchContext {
  /** Aborted when the client of the outer `$batch` request goes away. */
  signal: AbortSignal;
}

const storage = new AsyncLocalStorage<BatchContext>();

export function runInBatch<T>(context: BatchContext, fn: () => Promise<T>): Promise<T> {
  return storage.run(context, fn);
}

/** The batch this request is a step of, or undefined for a request of its own. */
export function currentBatch(): BatchContext | undefined {
  return storage.getStore();
}
