/**
 * One HTTP exchange with Graph's conventions: a bearer token per request, a fresh `client-request-id`,
 * `Prefer` preferences, retries for throttling and transient failures, and Graph's error envelope.
 * Uses only `fetch`, `crypto.randomUUID` and timers, so it runs in browsers and in Node 20+.
 */
import { graphRequestError, UnexpectedResponseError } from './errors.js';
import { backoffDelay, clamp, parseRetryAfter, sleep } from './timing.js';
import { sameOrigin } from './url.js';

export interface TransportOptions {
  baseUrl: string;
  getToken?: () => string | Promise<string>;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  includeUnknownEnumMembers?: boolean;
  retry?: RetryOptions;
}

export interface RetryOptions {
  /** Retries after the first attempt. Default 5. */
  maxRetries?: number;
  /** Upper bound for any wait, Retry-After included. Default 60 000 ms. */
  maxDelayMs?: number;
  /** First backoff step when the server gives no Retry-After; it doubles per retry. Default 1000 ms. */
  initialDelayMs?: number;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Absolute. */
  url: string;
  body?: unknown;
  signal?: AbortSignal;
  /** Extra `Prefer` preferences, e.g. `wait=10`. */
  prefer?: string[];
  /** Ask for members after `unknownFutureValue` on this request even if the client does not by default. */
  includeUnknownEnumMembers?: boolean;
  /** Sent as `Idempotency-Key`; makes a POST or PATCH safe to resend. */
  idempotencyKey?: string;
  /** Sent as `If-None-Match`; a `304 Not Modified` then resolves (with no body) instead of throwing. */
  ifNoneMatch?: string;
}

export interface StreamRequest {
  /** Absolute URL of a `text/event-stream` resource. */
  url: string;
  signal?: AbortSignal;
  /** Sent as `Last-Event-ID`, so the server replays what came after it. */
  lastEventId?: string;
}

export interface StreamResult {
  response: Response;
  /** The open body; the caller reads it and cancels it (or aborts the signal) when done. */
  body: ReadableStream<Uint8Array>;
  clientRequestId: string;
}

export interface HttpResult {
  response: Response;
  /** Parsed JSON, or undefined for an empty body. Non-2xx never get here (they throw). */
  body: unknown;
  clientRequestId: string;
  /** Whether an earlier attempt was sent and its outcome is unknown or was refused. */
  retried: boolean;
}

export const DEFAULT_MAX_DELAY_MS = 60_000;
const RETRYABLE_STATUSES = new Set([429, 503, 504]);
const IDEMPOTENT_METHODS = new Set(['GET', 'PUT', 'DELETE']);

/**
 * When may a failed attempt be sent again?
 *
 * Idempotent requests (GET, PUT, DELETE, and any request with an Idempotency-Key) are retried on 429,
 * 503, 504 and network errors: sending them twice has the effect of sending them once.
 *
 * Other POST and PATCH requests are retried only on 429 or 503 that carry Retry-After. Those responses
 * mean the server throttled or shed the request *before* processing it, so resending cannot, say, start
 * a second operation. After a 504 or a dropped connection the outcome is unknown (the server may have
 * done the work), so the error goes to the caller, who can check or resend with an idempotency key.
 */
export function mayRetry(idempotent: boolean, failure: number | 'network', hasRetryAfter: boolean): boolean {
  if (idempotent) return failure === 'network' || RETRYABLE_STATUSES.has(failure);
  return (failure === 429 || failure === 503) && hasRetryAfter;
}

export class Transport {
  readonly baseUrl: string;
  readonly maxDelayMs: number;
  /** Whether every request already sends `Prefer: include-unknown-enum-members`. */
  readonly includesUnknownEnumMembers: boolean;
  private readonly maxRetries: number;
  private readonly initialDelayMs: number;

  constructor(private readonly options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.maxRetries = options.retry?.maxRetries ?? 5;
    this.maxDelayMs = options.retry?.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.initialDelayMs = options.retry?.initialDelayMs ?? 1000;
    this.includesUnknownEnumMembers = options.includeUnknownEnumMembers ?? false;
  }

  /** Sends the request (retrying as `mayRetry` allows) and throws GraphRequestError for a non-2xx. */
  async send(request: HttpRequest): Promise<HttpResult> {
    // One id for all attempts of a request, so the server's logs tie the retries together.
    const clientRequestId = crypto.randomUUID();
    const idempotent = IDEMPOTENT_METHODS.has(request.method) || request.idempotencyKey !== undefined;
    for (let attempt = 0; ; attempt++) {
      request.signal?.throwIfAborted();
      const init: RequestInit = {
        method: request.method,
        headers: await this.headers(request, clientRequestId, attempt),
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: request.signal,
      };
      const retriesLeft = attempt < this.maxRetries;
      let response: Response;
      try {
        response = await this.fetch(request.url, init);
      } catch (err) {
        // fetch rejects on abort too; the caller wants the signal's own reason then.
        if (request.signal?.aborted) throw request.signal.reason;
        if (!retriesLeft || !mayRetry(idempotent, 'network', false)) throw err;
        await sleep(this.backoff(attempt), request.signal);
        continue;
      }
      if (RETRYABLE_STATUSES.has(response.status) && retriesLeft) {
        const retryAfter = parseRetryAfter(response.headers.get('retry-after'), response.headers.get('date'));
        if (mayRetry(idempotent, response.status, retryAfter !== undefined)) {
          await response.body?.cancel(); // frees the connection for the next attempt
          await sleep(
            retryAfter === undefined ? this.backoff(attempt) : this.bound(retryAfter),
            request.signal,
          );
          continue;
        }
      }
      const body = await readBody(response, clientRequestId, request.signal);
      const notModified = response.status === 304 && request.ifNoneMatch !== undefined;
      if (!response.ok && !notModified) throw graphRequestError(response, body, clientRequestId, attempt + 1);
      return { response, body, clientRequestId, retried: attempt > 0 };
    }
  }

  /**
   * Opens a Server-Sent Events stream with the same token, client-request-id and headers as send(), but a
   * single attempt: a stream that has started can't be replayed transparently, so a failure goes to the
   * caller (who knows where to resume from). Throws GraphRequestError for a non-2xx and
   * UnexpectedResponseError when the answer is not `text/event-stream` (a proxy's page, a server that
   * ignores Accept).
   */
  async openStream(request: StreamRequest): Promise<StreamResult> {
    const clientRequestId = crypto.randomUUID();
    request.signal?.throwIfAborted();
    const headers = await this.headers({ method: 'GET', url: request.url }, clientRequestId, 0);
    headers.set('Accept', 'text/event-stream');
    headers.set('Cache-Control', 'no-cache');
    if (request.lastEventId !== undefined) headers.set('Last-Event-ID', request.lastEventId);
    let response: Response;
    try {
      response = await this.fetch(request.url, { method: 'GET', headers, signal: request.signal });
    } catch (err) {
      if (request.signal?.aborted) throw request.signal.reason;
      throw err;
    }
    if (!response.ok) {
      const body = await readBody(response, clientRequestId, request.signal);
      throw graphRequestError(response, body, clientRequestId, 1);
    }
    const type = response.headers.get('content-type') ?? '';
    if (!/^\s*text\/event-stream\s*(;|$)/i.test(type) || !response.body) {
      await response.body?.cancel();
      throw new UnexpectedResponseError(
        `Expected text/event-stream from ${response.url}, got ${type || 'no content type'}`,
        response.status,
        undefined,
        clientRequestId,
      );
    }
    return { response, body: response.body, clientRequestId };
  }

  /** Bounds a server-given wait to [0, maxDelayMs]. */
  bound(ms: number): number {
    return clamp(ms, 0, this.maxDelayMs);
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, this.initialDelayMs, this.maxDelayMs);
  }

  // Calls the global fetch at call time (not a reference taken at construction), so polyfills and test
  // doubles installed later are used, and browsers do not reject a fetch called with a foreign `this`.
  private fetch(url: string, init: RequestInit): Promise<Response> {
    const fetchImpl = this.options.fetch;
    return fetchImpl ? fetchImpl(url, init) : globalThis.fetch(url, init);
  }

  private async headers(request: HttpRequest, clientRequestId: string, attempt: number): Promise<Headers> {
    const headers = new Headers(this.options.headers);
    headers.set('Accept', 'application/json');
    headers.set('client-request-id', clientRequestId);
    if (attempt > 0) headers.set('Retry-Attempt', String(attempt)); // as Graph's SDK retry handler does
    if (request.body !== undefined) headers.set('Content-Type', 'application/json');
    if (request.idempotencyKey !== undefined) headers.set('Idempotency-Key', request.idempotencyKey);
    if (request.ifNoneMatch !== undefined) headers.set('If-None-Match', request.ifNoneMatch);
    const prefer = [...(request.prefer ?? [])];
    if (this.includesUnknownEnumMembers || request.includeUnknownEnumMembers) {
      prefer.unshift('include-unknown-enum-members');
    }
    if (prefer.length > 0) headers.set('Prefer', prefer.join(', '));
    // The token goes only to the API's own origin: an operation URL on another host (Graph's driveItem
    // copy monitor) must be called without it (graph-contract.md §7.4), and a token must never leak to
    // whatever host a Location or nextLink names. Asked per attempt, so a refreshed token is used.
    if (this.options.getToken && sameOrigin(request.url, this.baseUrl)) {
      headers.set('Authorization', `Bearer ${await this.options.getToken()}`);
    }
    return headers;
  }
}

async function readBody(response: Response, clientRequestId: string, signal?: AbortSignal): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Error pages from proxies are often HTML; keep the text for the caller rather than failing here.
    if (!response.ok) return text;
    throw new UnexpectedResponseError(
      `Expected JSON from ${response.url}, got: ${text.slice(0, 200)}`,
      response.status,
      text,
      clientRequestId,
    );
  }
}
