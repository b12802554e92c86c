/**
 * longrun/client: a typed client and poller for Microsoft Graph's longRunningOperation contract, for
 * browsers and Node 20+ (global fetch, no Node-only imports).
 *
 * ```ts
 * const client = createClient({ baseUrl: 'http://127.0.0.1:8080/v1.0', getToken: () => token });
 * const poller = await client.start(`/users/${user}/authentication/methods/${method}/resetPassword`, {});
 * poller.onProgress((op) => console.log(op.status));
 * localStorage.setItem('reset', poller.serialize()); // resumable later with client.resumePoller(...)
 * const done = await poller.pollUntilDone({ signal }); // throws OperationFailedError unless `succeeded`
 * ```
 */
export {
  createClient,
  type ClientOptions,
  type GetOperationOptions,
  type ListOperationsQuery,
  type LongrunClient,
  type NewOperation,
  type OperationChanges,
  type RequestOptions,
  type WriteOptions,
} from './client.js';
export {
  GraphRequestError,
  OperationFailedError,
  UnexpectedResponseError,
  type GraphErrorEnvelope,
} from './errors.js';
export { mayRetry, type RetryOptions } from './http.js';
export {
  isTerminalStatus,
  MAX_POLL_INTERVAL_MS,
  type OperationPoller,
  type PollerState,
  type PollOptions,
  type PollUntilDoneOptions,
} from './poller.js';
export { backoffDelay, parseRetryAfter } from './timing.js';
export * from './types.js';
export { resolveUrl } from './url.js';
