/**
 * Follows one operation to its end. Shaped after @azure/core-lro's poller (poll, pollUntilDone,
 * onProgress, serialize, isDone) but reading Graph's operation resource: the status is in the body and a
 * `200 OK` is returned in every state (graph-contract.md §3.2).
 */
import { OperationFailedError, UnexpectedResponseError } from './errors.js';
import type { Transport } from './http.js';
import { eventStreamLink } from './link.js';
import { SseParser, type SseEvent } from './sse.js';
import { backoffDelay, parseRetryAfter, sleep } from './timing.js';
import type { Operation, OperationStatus } from './types.js';

export interface PollOptions {
  signal?: AbortSignal;
  /**
   * Send `Prefer: wait=N`: a server that supports it holds the GET until the operation changes or N
   * seconds pass, and says so with `Preference-Applied: wait=…`; the next poll then follows at once.
   */
  preferWaitSeconds?: number;
}

export interface PollUntilDoneOptions extends PollOptions {
  /** First backoff step when the server sends no Retry-After; doubles up to 30 s. Default 1000 ms. */
  intervalMs?: number;
  /**
   * Follow the operation's Server-Sent Events stream when the server advertises one (a `Link` with
   * `rel="alternate"; type="text/event-stream"`, as longrun sends), instead of polling: one request for
   * the whole wait, and every change is seen. Default true; `false` for networks whose proxies buffer
   * event streams. Servers without the Link (Microsoft Graph) are polled either way.
   */
  stream?: boolean;
}

/** pollUntilDone sends `Prefer: wait=30` unless told otherwise (`preferWaitSeconds: 0` turns it off). */
export const DEFAULT_PREFER_WAIT_SECONDS = 30;

export interface OperationPoller {
  /** Absolute URL of the operation. */
  readonly operationUrl: string;
  /** The start action's 202 body (e.g. resetPassword's passwordResetResponse), or undefined when empty. */
  readonly actionResponse: unknown;
  /** The operation as last read, or undefined before the first poll. */
  getOperation(): Operation | undefined;
  /** One GET of the operation; resolves with it whatever its status. */
  poll(options?: PollOptions): Promise<Operation>;
  /**
   * Polls until terminal, following the operation's event stream where the server advertises one (see
   * PollUntilDoneOptions.stream); resolves with the `succeeded` operation, rejects with
   * OperationFailedError otherwise.
   */
  pollUntilDone(options?: PollUntilDoneOptions): Promise<Operation>;
  /**
   * Called with the operation after each poll that read it and each stream event that changed it; a poll
   * the server answered `304 Not Modified`, or an event with the ETag already held (the operation is as
   * last seen), doesn't call it. Returns a function that unsubscribes.
   */
  onProgress(callback: (operation: Operation) => void): () => void;
  /** JSON with the operation URL, the last operation and the action response; see resumePoller. */
  serialize(): string;
  isDone(): boolean;
}

/** What serialize() writes. */
export interface PollerState {
  version: 1;
  operationUrl: string;
  operation?: Operation;
  actionResponse?: unknown;
}

/** Backoff cap when the server gives no Retry-After. */
export const MAX_POLL_INTERVAL_MS = 30_000;
const TERMINAL: ReadonlySet<string> = new Set<OperationStatus>(['succeeded', 'failed', 'canceled']);
const NOT_TERMINAL: ReadonlySet<string> = new Set<OperationStatus>(['notStarted', 'running']);

export class HttpOperationPoller implements OperationPoller {
  private operation: Operation | undefined;
  /** The wait the last response asked for (Retry-After), not yet honoured. */
  private retryAfterMs: number | undefined;
  /** The last response already waited on the server (Preference-Applied: wait). */
  private waitApplied = false;
  private done = false;
  /** The ETag of the operation as last read: sent as If-None-Match, so the server can say "unchanged". */
  private etag: string | undefined;
  /** The event stream the last response advertised (its Link header), if any. */
  private eventsUrl: string | undefined;
  /** The `id:` of the last stream event seen: sent as Last-Event-ID when the stream is opened again. */
  private lastEventId: string | undefined;
  private readonly listeners = new Set<(operation: Operation) => void>();

  constructor(
    private readonly transport: Transport,
    readonly operationUrl: string,
    readonly actionResponse: unknown,
    initial: { operation?: Operation; retryAfterMs?: number } = {},
  ) {
    this.retryAfterMs = initial.retryAfterMs;
    if (initial.operation) this.record(initial.operation);
  }

  getOperation(): Operation | undefined {
    return this.operation;
  }

  isDone(): boolean {
    return this.done;
  }

  onProgress(callback: (operation: Operation) => void): () => void {
    // Wrapped so that subscribing the same function twice gives two independent subscriptions.
    const listener = (operation: Operation) => callback(operation);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async poll(options: PollOptions = {}): Promise<Operation> {
    const prefer = options.preferWaitSeconds ? [`wait=${Math.round(options.preferWaitSeconds)}`] : [];
    // With the tag it holds, a waiting read ends on the first change the client has not seen (nothing
    // between two polls is missed), and an unchanged operation costs a bodiless 304.
    const ifNoneMatch = this.operation ? this.etag : undefined;
    const { response, body, clientRequestId } = await this.transport.send({
      method: 'GET',
      url: this.operationUrl,
      signal: options.signal,
      prefer,
      ifNoneMatch,
    });
    this.retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), response.headers.get('date'));
    this.waitApplied = /(^|[\s,])wait(=|\s*[,;]|\s*$)/i.test(
      response.headers.get('preference-applied') ?? '',
    );
    this.eventsUrl = eventStreamLink(response.headers.get('link'), response.url || this.operationUrl);
    if (response.status === 304 && this.operation) return this.operation;
    let operation = asOperation(body, response, clientRequestId);
    const etag = response.headers.get('etag') ?? undefined;
    if (operation.status === 'unknownFutureValue' && !this.transport.includesUnknownEnumMembers) {
      operation = await this.reveal(operation, options.signal);
    }
    this.record(operation, etag);
    this.notify(operation);
    return operation;
  }

  async pollUntilDone(options: PollUntilDoneOptions = {}): Promise<Operation> {
    checkPollUntilDoneOptions(options);
    const intervalMs = options.intervalMs ?? 1000;
    const stream = options.stream ?? true;
    // Ask the server to hold each poll until something changes; one that doesn't honour the preference
    // (Microsoft Graph) ignores it, and the Retry-After/backoff schedule applies as usual.
    options = { ...options, preferWaitSeconds: options.preferWaitSeconds ?? DEFAULT_PREFER_WAIT_SECONDS };
    let backoffStep = 0;
    let streamFailures = 0;
    while (!this.done) {
      if (stream && this.eventsUrl !== undefined) {
        const news = await this.follow(this.eventsUrl, options.signal);
        if (this.done) break;
        // The stream ended before the operation did (token expiry, restart, a proxy): a plain poll makes
        // sure nothing was missed, then the loop may open it again. A stream that brought nothing new
        // counts as failed and backs off, so a server that keeps closing streams is not hammered.
        streamFailures = news ? 0 : streamFailures + 1;
        const delay =
          streamFailures === 0 ? 0 : backoffDelay(streamFailures - 1, intervalMs, MAX_POLL_INTERVAL_MS);
        await sleep(delay, options.signal);
        await this.poll(options);
        continue;
      }
      await sleep(
        this.nextDelay(intervalMs, () => backoffStep++),
        options.signal,
      );
      await this.poll(options);
    }
    return this.settle();
  }

  /**
   * Reads the operation's event stream until the operation is terminal or the stream ends; resolves with
   * whether it brought any change this poller had not seen. Only an abort of `signal` (or a listener's
   * error) rejects: a stream that fails for any other reason is left to the caller's fallback poll.
   */
  private async follow(url: string, signal: AbortSignal | undefined): Promise<boolean> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let news = false;
    // A listener's error goes to the caller as poll() would pass it on, not into the fallback.
    let listenerFailure: { error: unknown } | undefined;
    // Events are handled one at a time, in order, even though a reveal() may await in between.
    const pending: SseEvent[] = [];
    const parser = new SseParser((event) => pending.push(event));
    try {
      signal?.throwIfAborted();
      const { body } = await this.transport.openStream({
        url,
        signal: controller.signal,
        lastEventId: this.lastEventId,
      });
      const reader = body.getReader();
      const decoder = new TextDecoder();
      while (!this.done) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        for (let event = pending.shift(); event && !this.done; event = pending.shift()) {
          const operation = await this.apply(event, signal);
          if (operation === undefined) return news; // not an operation (deleted, bad JSON): poll instead
          if (operation === 'unchanged') continue;
          news = true;
          try {
            this.notify(operation);
          } catch (error) {
            listenerFailure = { error };
            throw error;
          }
        }
      }
      return news;
    } catch {
      if (signal?.aborted) throw signal.reason;
      if (listenerFailure) throw listenerFailure.error;
      return news;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      controller.abort(); // closes the stream (a no-op once it has ended)
    }
  }

  /**
   * Records one stream event's operation; `unchanged` when its ETag is the one held (the stream's opening
   * event, or a replay after a reconnect, repeats what a poll showed), undefined when it is not an
   * operation (a `deleted` event, bad JSON).
   */
  private async apply(
    event: SseEvent,
    signal: AbortSignal | undefined,
  ): Promise<Operation | 'unchanged' | undefined> {
    if (event.event !== undefined && event.event !== 'message') return undefined;
    let body: unknown;
    try {
      body = JSON.parse(event.data);
    } catch {
      return undefined;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
    if (event.lastEventId !== undefined) this.lastEventId = event.lastEventId;
    let operation = body as Operation;
    const etag = (operation as { '@odata.etag'?: unknown })['@odata.etag'];
    if (typeof etag === 'string' && etag === this.etag && this.operation) return 'unchanged';
    if (operation.status === 'unknownFutureValue' && !this.transport.includesUnknownEnumMembers) {
      operation = await this.reveal(operation, signal);
    }
    this.record(operation);
    return operation;
  }

  /** Calls the onProgress listeners; over a copy, so one that unsubscribes does not disturb the loop. */
  private notify(operation: Operation): void {
    for (const listener of [...this.listeners]) listener(operation);
  }

  serialize(): string {
    const state: PollerState = {
      version: 1,
      operationUrl: this.operationUrl,
      operation: this.operation,
      actionResponse: this.actionResponse,
    };
    return JSON.stringify(state);
  }

  /**
   * How long to wait before the next poll: nothing after a server-side wait; the server's Retry-After
   * (bounded by the client's maxDelayMs); nothing before the first poll; else backoff with full jitter.
   */
  private nextDelay(intervalMs: number, nextBackoffStep: () => number): number {
    if (this.waitApplied) return 0;
    if (this.retryAfterMs !== undefined) return this.transport.bound(this.retryAfterMs);
    if (this.operation === undefined) return 0;
    return backoffDelay(nextBackoffStep(), intervalMs, MAX_POLL_INTERVAL_MS);
  }

  /**
   * `unknownFutureValue` hides a newer member (longrun's `canceled`) from clients that did not opt in.
   * Waiting on it could mean waiting forever, so ask once more with the opt-in to learn the real status.
   */
  private async reveal(operation: Operation, signal?: AbortSignal): Promise<Operation> {
    const { response, body, clientRequestId } = await this.transport.send({
      method: 'GET',
      url: this.operationUrl,
      signal,
      includeUnknownEnumMembers: true,
    });
    return body === undefined ? operation : asOperation(body, response, clientRequestId);
  }

  private record(operation: Operation, etag?: string): void {
    this.operation = operation;
    const annotated = (operation as { '@odata.etag'?: unknown })['@odata.etag'];
    this.etag = etag ?? (typeof annotated === 'string' ? annotated : undefined);
    const status = operation.status;
    // Anything other than a known state means this client cannot tell when it ends (a member newer than
    // this client, or unknownFutureValue the server would not reveal): report it rather than poll forever.
    // A missing status (the CSDL allows null) is read as "not yet known" and polled.
    this.done = status !== null && status !== undefined && !NOT_TERMINAL.has(status);
  }

  private settle(): Operation {
    const operation = this.operation!;
    if (operation.status === 'succeeded') return operation;
    throw new OperationFailedError(operation);
  }
}

/** Checks pollUntilDone's options, naming the option and its rule (a typo'd value would be ignored). */
function checkPollUntilDoneOptions(options: PollUntilDoneOptions): void {
  const fail = (name: string, rule: string, value: unknown) => {
    throw new TypeError(`pollUntilDone: '${name}' ${rule}; got ${String(value)}.`);
  };
  if (options.stream !== undefined && typeof options.stream !== 'boolean') {
    fail('stream', 'must be true or false', options.stream);
  }
  const { intervalMs, preferWaitSeconds } = options;
  if (
    intervalMs !== undefined &&
    !(typeof intervalMs === 'number' && intervalMs >= 0 && intervalMs < Infinity)
  ) {
    fail('intervalMs', 'must be a number of milliseconds, 0 or more', intervalMs);
  }
  if (
    preferWaitSeconds !== undefined &&
    !(typeof preferWaitSeconds === 'number' && preferWaitSeconds >= 0 && preferWaitSeconds < Infinity)
  ) {
    fail('preferWaitSeconds', 'must be a number of seconds, 0 or more', preferWaitSeconds);
  }
}

/** The body of an operation read: a JSON object (with $select, it may lack even `id`). */
export function asOperation(body: unknown, response: Response, clientRequestId: string): Operation {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Operation;
  throw new UnexpectedResponseError(
    `Expected an operation from ${response.url}`,
    response.status,
    body,
    clientRequestId,
  );
}

/** Rebuilds the state serialize() wrote; throws TypeError when it is not such a state. */
export function parsePollerState(serialized: string): PollerState {
  const state = JSON.parse(serialized) as Partial<PollerState> | null;
  if (!state || state.version !== 1 || typeof state.operationUrl !== 'string') {
    throw new TypeError('Not a serialized longrun poller (expected {"version":1,"operationUrl":…}).');
  }
  return state as PollerState;
}

/** `succeeded`, `failed` and `canceled` never change again. */
export function isTerminalStatus(status: string | null | undefined): boolean {
  return status != null && TERMINAL.has(status);
}
