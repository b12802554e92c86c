/**
 * An error a client should see, in Graph's envelope: `{"error":{"code","message","target"?,"details"?}}`.
 * Any layer may throw it; the HTTP layer renders it (adding innerError with request-id and date).
 */
export interface GraphErrorDetail {
  code: string;
  message: string;
  target?: string;
}

export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly options: {
      target?: string;
      details?: GraphErrorDetail[];
      /** Extra response headers, e.g. WWW-Authenticate or Retry-After. */
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.name = 'GraphError';
  }
}

export const badRequest = (message: string, target?: string) =>
  new GraphError(400, 'invalidRequest', message, { target });
export const notFound = (message = 'The requested resource does not exist.') =>
  new GraphError(404, 'itemNotFound', message);
export const conflict = (message: string, code = 'conflict') => new GraphError(409, code, message);
