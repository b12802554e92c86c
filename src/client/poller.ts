/**
 * Follows one operation to its end. Shaped after @azure/core-lro's poller (poll, pollUntilDone,
 * onProgress, serialize, isDone) but reading Graph's operation resource: the status is in the body and a
 * `200 OK` is returned in every state (graph-contract.md §3.2).
 */
import { OperationFailedError, UnexpectedResponseError } from './errors.js';
import type { Transport } from './http.js';
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
  /** Polls until terminal; resolves with the `succeeded` operation, rejects with OperationFailedError otherwise. */
  pollUntilDone(options?: PollUntilDoneOptions): Promise<Operation>;
  /**
   * Called with the operation after each poll that read it; a poll the server answered `304 Not
   * Modified` (the operation is as last seen) doesn't call it. Returns a function that unsubscribes.
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
    if (response.status === 304 && this.operation) return this.operation;
    let operation = asOperation(body, response, clientRequestId);
    const etag = response.headers.get('etag') ?? undefined;
    if (operation.status === 'unknownFutureValue' && !this.transport.includesUnknownEnumMembers) {
      operation = await this.reveal(operation, options.signal);
    }
    this.record(operation, etag);
    // A copy of the set, so a listener that unsubscribes during the call does not disturb the loop.
    for (const listener of [...this.listeners]) listener(operation);
    return operation;
  }

  async pollUntilDone(options: PollUntilDoneOptions = {}): Promise<Operation> {
    const intervalMs = options.intervalMs ?? 1000;
    // Ask the server to hold each poll until something changes; one that doesn't honour the preference
    // (Microsoft Graph) ignores it, and the Retry-After/backoff schedule applies as usual.
    options = { ...options, preferWaitSeconds: options.preferWaitSeconds ?? DEFAULT_PREFER_WAIT_SECONDS };
    let backoffStep = 0;
    while (!this.done) {
      await sleep(
        this.nextDelay(intervalMs, () => backoffStep++),
        options.signal,
      );
      await this.poll(options);
    }
    return this.settle();
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
