/**
 * The handler names that have rows in operations_due_handler (handler, run_at, seq) WHERE handler IS NOT
 * NULL AND status < 2 (migration 10), for both backends.
 */
import { STATUS } from '../../model/status.js';

/**
 * CTE body `due_handlers(name)` (needs WITH RECURSIVE): the names found by a loose index scan, one index
 * search per name (the first name after the one before), however many rows each has. Its last row is NULL.
 */
export const DUE_HANDLERS_CTE = `due_handlers(name) AS (
  SELECT min(handler) FROM operations WHERE handler IS NOT NULL AND status < ${STATUS.succeeded}
  UNION ALL
  SELECT (SELECT min(handler) FROM operations WHERE handler > d.name AND status < ${STATUS.succeeded})
    FROM due_handlers d WHERE d.name IS NOT NULL
)`;
