/**
 * Which node-postgres errors mean "the database can't be reached right now" (→ StoreUnavailableError,
 * HTTP 503) rather than a bug or bad input. The pool drops broken connections and opens new ones, so
 * these clear by themselves once the server is back.
 */
import { StoreUnavailableError } from '../store.js';

/** Socket-level failures (Node's errno codes). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs: admin_shutdown, crash_shutdown, cannot_connect_now (starting up / recovering),
 * too_many_connections; class 08 (connection exception) is matched by prefix.
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);

/** node-postgres and pg-pool report these as plain Errors without a code. */
const MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|is not queryable|Connection ended/i;

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  // Node 20 tries every address of a host name and reports an AggregateError of the attempts.
  if (error instanceof AggregateError && error.errors.some(isConnectionError)) return true;
  return MESSAGES.test(error.message);
}

/** A connection-level error wrapped in StoreUnavailableError; anything else unchanged. */
export function storeError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !isConnectionError(error)) return error;
  const message = error instanceof Error && error.message ? error.message : String(error);
  return new StoreUnavailableError(`PostgreSQL is unavailable: ${message}`, { cause: error });
}

/** unique_violation: the name of the violated index, or undefined for other errors. */
export function uniqueViolation(error: unknown): string | undefined {
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== '23505') return undefined;
  return (error as { constraint?: string }).constraint ?? '';
}
