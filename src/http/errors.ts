/**
 * Every error leaves in Graph's envelope:
 * `{"error":{"code","message","target"?,"details"?,"innerError":{"date","request-id","client-request-id"}}}`.
 * Fastify's own errors (bad JSON, body too large, wrong media type) are mapped to the same shape, so no
 * input reaches a client as a bare 500.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GraphError } from '../model/errors.js';
import { StoreUnavailableError } from '../store/store.js';

export function toGraphError(error: unknown): GraphError {
  if (error instanceof GraphError) return error;
  if (error instanceof StoreUnavailableError || isSqliteBusy(error)) {
    // The database is down or locked for now: nothing was lost, try again shortly.
    return new GraphError(
      503,
      'serviceNotAvailable',
      'The service is temporarily unavailable; retry after a few seconds.',
      {
        headers: { 'Retry-After': '2' },
      },
    );
  }
  const e = error as FastifyError & { status?: number };
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GraphError(415, 'unsupportedMediaType', 'The request body must be application/json.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GraphError(413, 'requestEntityTooLarge', 'The request body is larger than 1 MiB.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GraphError(400, 'invalidRequest', 'The request body is empty; a JSON object was expected.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GraphError(400, 'invalidRequest', 'The Content-Length header does not match the body.');
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new GraphError(400, 'invalidRequest', `The request body is not valid JSON: ${e.message}`);
  }
  const status = e.statusCode ?? e.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new GraphError(status, 'invalidRequest', e.message);
  }
  return new GraphError(
    500,
    'generalException',
    'An unexpected error occurred; the request-id identifies it in the log.',
  );
}

function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

export function sendGraphError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: GraphError,
): FastifyReply {
  const clientRequestId = request.headers['client-request-id'];
  const innerError: Record<string, string> = {
    date: new Date().toISOString().slice(0, 19),
    'request-id': request.id,
  };
  if (typeof clientRequestId === 'string') innerError['client-request-id'] = clientRequestId;
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.options.target) body.target = error.options.target;
  if (error.options.details) body.details = error.options.details;
  body.innerError = innerError;
  for (const [name, value] of Object.entries(error.options.headers ?? {})) reply.header(name, value);
  return reply.code(error.status).type('application/json').send({ error: body });
}
