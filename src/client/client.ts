/** `createClient`: typed calls on operations and their collections, and pollers for start actions. */
import { GraphRequestError, UnexpectedResponseError } from './errors.js';
import { Transport, type RetryOptions } from './http.js';
import { asOperation, HttpOperationPoller, parsePollerState, type OperationPoller } from './poller.js';
import { parseRetryAfter } from './timing.js';
import type { Operation } from './types.js';
import { resolveUrl, withQuery } from './url.js';

export interface ClientOptions {
  /** Service root with its version, e.g. `http://127.0.0.1:8080/v1.0` or `https://graph.microsoft.com/beta`. */
  baseUrl: string;
  /** Bearer token, asked for on every request (so the callback can refresh it); sent to baseUrl's origin only. */
  getToken?: () => string | Promise<string>;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Extra headers on every request. `client-request-id` is added per request (a fresh UUID). */
  headers?: Record<string, string>;
  /** Send `Prefer: include-unknown-enum-members`, so `canceled` shows instead of `unknownFutureValue`. */
  includeUnknownEnumMembers?: boolean;
  /** Retries for 429/503/504 and network errors; see `mayRetry` in http.ts for which requests qualify. */
  retry?: RetryOptions;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface WriteOptions extends RequestOptions {
  /** Sent as `Idempotency-Key`; lets the client resend the request after a timeout or lost connection. */
  idempotencyKey?: string;
}

export interface GetOperationOptions extends RequestOptions {
  /** `$select`. Properties not selected are absent from the result. */
  select?: string[];
}

export interface ListOperationsQuery extends RequestOptions {
  filter?: string;
  orderby?: string;
  top?: number;
  select?: string[];
}

/** Writable properties of an operation of type T (all optional). */
export type OperationChanges<T extends Operation = Operation> = T extends unknown
  ? Partial<Omit<T, 'id' | '@odata.context' | '@odata.type'>>
  : never;

/**
 * A new operation: any properties of one of the types (`@odata.type` picks the subtype), plus whatever
 * extension members the server accepts.
 */
export type NewOperation = (Operation extends infer T
  ? T extends unknown
    ? Partial<Omit<T, '@odata.context'>>
    : never
  : never) & {
  [extension: string]: unknown;
};

export interface LongrunClient {
  getOperation(urlOrPath: string, options?: GetOperationOptions): Promise<Operation>;
  /** Every operation of a collection, page by page, following `@odata.nextLink` until there is none. */
  listOperations(collectionPath: string, query?: ListOperationsQuery): AsyncIterable<Operation>;
  /** PATCH; resolves with the updated operation (read back with a GET when the server answers 204). */
  updateOperation(urlOrPath: string, changes: OperationChanges, options?: WriteOptions): Promise<Operation>;
  createOperation(collectionPath: string, body: NewOperation, options?: WriteOptions): Promise<Operation>;
  /** POST `{operation}/cancel`; the server answers 202 and the operation ends as `canceled` later. */
  cancelOperation(urlOrPath: string, options?: RequestOptions): Promise<void>;
  /** DELETE; the server answers 204. */
  deleteOperation(urlOrPath: string, options?: RequestOptions): Promise<void>;
  /** POSTs a start action and returns a poller for the operation its 202 names in Location / Operation-Location. */
  start(actionUrlOrPath: string, body?: unknown, options?: WriteOptions): Promise<OperationPoller>;
  /** A poller from `poller.serialize()`, in this or another client (process, browser tab, ...). */
  resumePoller(serialized: string): OperationPoller;
}

export function createClient(options: ClientOptions): LongrunClient {
  const transport = new Transport(options);
  const url = (urlOrPath: string) => resolveUrl(transport.baseUrl, urlOrPath);
  const select = (names?: string[]) => (names && names.length > 0 ? names.join(',') : undefined);

  const getOperation = async (urlOrPath: string, opts: GetOperationOptions = {}): Promise<Operation> => {
    const target = withQuery(url(urlOrPath), { $select: select(opts.select) });
    const { response, body, clientRequestId } = await transport.send({
      method: 'GET',
      url: target,
      signal: opts.signal,
    });
    return asOperation(body, response, clientRequestId);
  };

  return {
    getOperation,

    async *listOperations(collectionPath, query = {}) {
      let next: string | undefined = withQuery(url(collectionPath), {
        $filter: query.filter,
        $orderby: query.orderby,
        $top: query.top,
        $select: select(query.select),
      });
      while (next !== undefined) {
        const { response, body, clientRequestId } = await transport.send({
          method: 'GET',
          url: next,
          signal: query.signal,
        });
        const page = body as { value?: unknown; '@odata.nextLink'?: unknown } | undefined;
        if (!page || !Array.isArray(page.value)) {
          throw new UnexpectedResponseError(
            `Expected a collection from ${response.url}`,
            response.status,
            body,
            clientRequestId,
          );
        }
        yield* page.value as Operation[];
        // The nextLink is opaque and carries the original query options; it is used as given.
        next = typeof page['@odata.nextLink'] === 'string' ? url(page['@odata.nextLink']) : undefined;
      }
    },

    async updateOperation(urlOrPath, changes, opts = {}) {
      const target = url(urlOrPath);
      const { response, body, clientRequestId } = await transport.send({
        method: 'PATCH',
        url: target,
        body: changes,
        signal: opts.signal,
        idempotencyKey: opts.idempotencyKey,
      });
      // Graph answers PATCH with 204 No Content or with the entity; make both give the entity.
      if (body === undefined) return getOperation(target, { signal: opts.signal });
      return asOperation(body, response, clientRequestId);
    },

    async createOperation(collectionPath, body, opts = {}) {
      const result = await transport.send({
        method: 'POST',
        url: url(collectionPath),
        body,
        signal: opts.signal,
        idempotencyKey: opts.idempotencyKey,
      });
      return asOperation(result.body, result.response, result.clientRequestId);
    },

    async cancelOperation(urlOrPath, opts = {}) {
      await transport.send({
        method: 'POST',
        url: appendSegment(url(urlOrPath), 'cancel'),
        signal: opts.signal,
      });
    },

    async deleteOperation(urlOrPath, opts = {}) {
      try {
        await transport.send({ method: 'DELETE', url: url(urlOrPath), signal: opts.signal });
      } catch (err) {
        // A DELETE resent after a lost response finds nothing: the first attempt did the work.
        if (err instanceof GraphRequestError && err.status === 404 && err.attempts > 1) return;
        throw err;
      }
    },

    async start(actionUrlOrPath, body, opts = {}) {
      const {
        response,
        body: actionResponse,
        clientRequestId,
      } = await transport.send({
        method: 'POST',
        url: url(actionUrlOrPath),
        body,
        signal: opts.signal,
        idempotencyKey: opts.idempotencyKey,
      });
      // Graph's contract is Location; Viva Engage (and Azure-style services) send Operation-Location.
      const location = response.headers.get('location') ?? response.headers.get('operation-location');
      if (response.status !== 202 || !location) {
        throw new UnexpectedResponseError(
          response.status !== 202
            ? `Expected 202 Accepted from ${response.url}, got ${response.status} (a synchronous result is in .body)`
            : `202 Accepted from ${response.url} names no operation (no Location or Operation-Location header)`,
          response.status,
          actionResponse,
          clientRequestId,
        );
      }
      return new HttpOperationPoller(transport, url(location), actionResponse, {
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), response.headers.get('date')),
      });
    },

    resumePoller(serialized) {
      const state = parsePollerState(serialized);
      return new HttpOperationPoller(transport, url(state.operationUrl), state.actionResponse, {
        operation: state.operation,
      });
    },
  };
}

/** `…/operations/x?aadgdc=y` + `cancel` → `…/operations/x/cancel?aadgdc=y`. */
function appendSegment(url: string, segment: string): string {
  const queryStart = url.search(/[?#]/);
  const [path, rest] = queryStart < 0 ? [url, ''] : [url.slice(0, queryStart), url.slice(queryStart)];
  return `${path.replace(/\/+$/, '')}/${segment}${rest}`;
}
