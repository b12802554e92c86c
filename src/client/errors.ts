/**
 * The errors the client throws. Each keeps what a caller needs to log or report the failure: Graph asks
 * clients to log `request-id` and their own `client-request-id` with every failure.
 */
import type { Operation, OperationStatus, PublicError } from './types.js';

/** Graph's HTTP error envelope: `{"error":{"code","message","target"?,"details"?,"innerError"?}}`. */
export interface GraphErrorEnvelope {
  error: {
    code: string;
    message: string;
    target?: string;
    details?: { code: string; message: string; target?: string }[];
    innerError?: {
      'request-id'?: string;
      'client-request-id'?: string;
      date?: string;
      [member: string]: unknown;
    };
  };
}

/** A non-2xx response. */
export class GraphRequestError extends Error {
  override readonly name = 'GraphRequestError';
  readonly status: number;
  /** Graph's error code (`itemNotFound`, `accessDenied`, ...), or `unknownError` when the body has none. */
  readonly code: string;
  /** The server's `request-id` (header, else `innerError`). */
  readonly requestId: string | undefined;
  /** The `client-request-id` this client sent. */
  readonly clientRequestId: string;
  /** The parsed JSON body, or the text when it is not JSON, or undefined when empty. */
  readonly body: unknown;
  /** How many times the request was sent (more than 1 after retries). */
  readonly attempts: number;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    requestId: string | undefined;
    clientRequestId: string;
    body: unknown;
    attempts?: number;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.clientRequestId = init.clientRequestId;
    this.body = init.body;
    this.attempts = init.attempts ?? 1;
  }

  /** The envelope's `target` and `details`, when present. */
  get target(): string | undefined {
    return envelopeOf(this.body)?.error.target;
  }

  get details(): GraphErrorEnvelope['error']['details'] {
    return envelopeOf(this.body)?.error.details;
  }
}

export function envelopeOf(body: unknown): GraphErrorEnvelope | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  return typeof (error as { code?: unknown }).code === 'string' ? (body as GraphErrorEnvelope) : undefined;
}

/** Builds the error from a response whose body was already read. */
export function graphRequestError(
  response: Response,
  body: unknown,
  clientRequestId: string,
  attempts = 1,
): GraphRequestError {
  const envelope = envelopeOf(body);
  return new GraphRequestError({
    status: response.status,
    code: envelope?.error.code ?? 'unknownError',
    message:
      envelope?.error.message ??
      `${response.status} ${response.statusText || 'HTTP error'} from ${response.url}`.trim(),
    requestId: response.headers.get('request-id') ?? envelope?.error.innerError?.['request-id'] ?? undefined,
    clientRequestId,
    body,
    attempts,
  });
}

/**
 * A 2xx response that breaks the contract the call relies on: a start action without `Location`, or with
 * a 200/201 (a synchronous result, as `addCopyFromContentTypeHub` may give), or a body that is not JSON.
 */
export class UnexpectedResponseError extends Error {
  override readonly name = 'UnexpectedResponseError';
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
    readonly clientRequestId: string,
  ) {
    super(message);
  }
}

/**
 * The operation ended without succeeding: `failed`, `canceled`, or a status this client cannot wait on
 * (`unknownFutureValue` that stays hidden, or a member newer than this client).
 */
export class OperationFailedError extends Error {
  override readonly name = 'OperationFailedError';
  /** The final operation as last read. */
  readonly operation: Operation;
  readonly status: OperationStatus | string | null;
  readonly statusDetail: string | null;
  /** `richLongRunningOperation.error`, when the type has one and it is set. */
  readonly error: PublicError | undefined;

  constructor(operation: Operation) {
    const error = 'error' in operation && operation.error ? operation.error : undefined;
    const why = error?.message ?? operation.statusDetail;
    super(`Operation ${operation.id} ${describe(operation.status)}${why ? `: ${why}` : ''}`);
    this.operation = operation;
    this.status = operation.status;
    this.statusDetail = operation.statusDetail;
    this.error = error;
  }
}

function describe(status: string | null): string {
  if (status === 'failed') return 'failed';
  if (status === 'canceled') return 'was canceled';
  return `ended with an unexpected status (${status})`;
}
