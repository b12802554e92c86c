/**
 * Statements over operations_due_handler (handler, run_at, seq) WHERE handler IS NOT NULL AND status < 2
 * (migration 10): the operations of a handler that are due, leased or scheduled, ordered by when they run.
 * What spans all handlers visits them one by one, so no search walks another handler's rows.
 */
import { STATUS } from '../../model/status.js';
import { DUE_HANDLERS_CTE } from '../sql/due-handlers.js';

/**
 * The `due` CTE of claim() (parameters: $1 now, $2 limit, and $7 the handler names unless `allHandlers`):
 * for each handler one index search (handler = name AND run_at <= now), oldest first, locking up to $2 of
 * its rows; then the oldest $2 of them all, by (run_at, seq). Rows locked but not taken stay locked only
 * until the claim's statement (its own transaction) ends: meanwhile another claimer skips them and takes
 * the next ones, as it would skip rows this claim took.
 */
export function dueCte(allHandlers: boolean): string {
  const handlers = allHandlers
    ? DUE_HANDLERS_CTE
    : 'due_handlers(name) AS (SELECT DISTINCT unnest($7::text[]))';
  return `WITH RECURSIVE ${handlers}, due AS MATERIALIZED (
  SELECT x.seq, x.status, x.run_at FROM due_handlers h CROSS JOIN LATERAL (
    SELECT seq, status, run_at FROM operations
    WHERE handler = h.name AND status < ${STATUS.succeeded} AND run_at <= $1
    ORDER BY run_at, seq
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ) x
  ORDER BY x.run_at, x.seq
  LIMIT $2
)`;
}

/**
 * Due now over all handlers ($1 now). Not per handler: the planner can't tell how many handlers the loose
 * scan yields and, each handler's range looking large, planned a sequential scan per handler. This one
 * reads the whole partial index once (its due rows and the leased and scheduled ones: bounded by the work
 * queued and in flight, not by the table) or, when those are most of the table, the table.
 */
export const QUEUE_STATS_SQL = `SELECT count(*) AS due, min(run_at) AS oldest FROM operations
  WHERE handler IS NOT NULL AND status < ${STATUS.succeeded} AND run_at <= $1`;
