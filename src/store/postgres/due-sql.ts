/**
 * Statements over operations_due_handler (handler, run_at, seq) WHERE handler IS NOT NULL AND status < 2
 * (migration 10): the operations of a handler that are due, leased or scheduled, ordered by when they run.
 * What spans all handlers visits them one by one, so no search walks another handler's rows.
 */
import { STATUS } from '../../model/status.js';
import { DUE_HANDLERS_CTE } from '../sql/due-handlers.js';

/**
 * The `due` CTE of claim() (parameters: $1 now, and $6 the handler names unless `allHandlers`; `limit` is the
 * claim's limit, as SQL): for each handler one index search (handler = name AND run_at <= now), oldest
 * first, locking up to `limit` of its rows; then the oldest `limit` of them all, by (run_at, seq). Rows
 * locked but not taken stay locked only until the claim's statement (its own transaction) ends: meanwhile
 * another claimer skips them and takes the next ones, as it would skip rows this claim took.
 *
 * The time and the handler names are read through sub-selects, so that the planner estimates the same
 * whatever their values: a plan made for one claim's values then costs what the reusable (generic) plan
 * costs, and PostgreSQL keeps the generic one after five claims instead of planning each claim afresh
 * (with the names as a constant it counted the one name of a one-handler worker, and the generic plan's
 * ten guessed names looked ten times dearer). The limit is a constant for the same reason (claimSql).
 */
export function dueCte(allHandlers: boolean, limit: string): string {
  const handlers = allHandlers
    ? DUE_HANDLERS_CTE
    : 'due_handlers(name) AS (SELECT DISTINCT unnest((SELECT $6::text[])))';
  return `WITH RECURSIVE ${handlers}, due AS MATERIALIZED (
  SELECT x.seq, x.status, x.run_at FROM due_handlers h CROSS JOIN LATERAL (
    SELECT seq, status, run_at FROM operations
    WHERE handler = h.name AND status < ${STATUS.succeeded} AND run_at <= (SELECT $1::bigint)
    ORDER BY run_at, seq
    LIMIT ${limit}
    FOR UPDATE SKIP LOCKED
  ) x
  ORDER BY x.run_at, x.seq
  LIMIT ${limit}
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
