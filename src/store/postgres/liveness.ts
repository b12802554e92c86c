/**
 * Worker liveness on PostgreSQL: each registered worker holds a session-level advisory lock
 * (LIVENESS_LOCK_CLASS, its lock_key) on a connection of its own. PostgreSQL releases the lock the moment
 * that session ends (the process died, its host vanished and TCP keepalive gave up), so a worker listed in
 * `workers` whose lock nobody holds is dead, and its leases are free without waiting for them to expire.
 * pg_locks is readable by every role, so this needs no privilege.
 *
 * The lock is taken before the row is written, so a worker is never seen listed but unlocked while it
 * registers. If the connection breaks while the node lives, others may release its leases: its running
 * attempts are then fenced out (their writes refused), never run twice to completion; the node takes the
 * lock again and re-registers. A key collision (two ids, one 31-bit hash) only makes the second worker
 * unregistered: its leases then expire as before.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { now } from '../../model/time.js';
import { DUE_HANDLERS_CTE } from '../sql/due-handlers.js';
import { LIVENESS_LOCK_CLASS } from './migrations.js';

type Query = (text: string, values: unknown[]) => Promise<pg.QueryResult>;

// Leased rows are due when their lease ends, so a dead worker's leases lie in each handler's range
// run_at > now of operations_due_handler (with the retries and scheduled starts still to come): that range
// is searched per handler (due_handlers, a loose scan of the same index), and lease_owner checked there.
export const RELEASE_SQL = `
WITH RECURSIVE ${DUE_HANDLERS_CTE}, dead AS MATERIALIZED (
  SELECT w.worker_id FROM workers w
  WHERE NOT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = $1::bigint::oid AND l.objid = w.lock_key::bigint::oid)
), freed AS (
  UPDATE operations o SET run_at = $2, version = o.version + 1 FROM dead
  WHERE o.handler IN (SELECT name FROM due_handlers) AND o.status < 2 AND o.run_at > $2
    AND o.lease_owner = dead.worker_id
  RETURNING o.seq
), gone AS (
  DELETE FROM workers w USING dead WHERE w.worker_id = dead.worker_id
)
SELECT count(*) AS n FROM freed`;

interface Session {
  client?: pg.Client;
  timer?: NodeJS.Timeout;
  closed: boolean;
}

export function lockKeyOf(workerId: string): number {
  return createHash('sha256').update(workerId).digest().readUInt32BE(0) & 0x7fffffff;
}

export class LivenessLocks {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly query: Query,
  ) {}

  /** Takes the worker's lock on a connection of its own, then lists the worker; rejects if it can't. */
  async register(workerId: string): Promise<void> {
    const session: Session = { closed: false };
    this.sessions.set(workerId, session);
    await this.connect(workerId, session);
  }

  private async connect(workerId: string, session: Session): Promise<void> {
    const key = lockKeyOf(workerId);
    const client = new pg.Client({ ...this.config, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on('error', () => {}); // surfaces as 'end' below
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1, $2) AS locked',
      [LIVENESS_LOCK_CLASS, key],
    );
    if (!rows[0].locked || session.closed) {
      await client.end().catch(() => {});
      return; // collision, or unregistered meanwhile: leases expire as before
    }
    session.client = client;
    client.once('end', () => {
      if (session.closed) return;
      session.client = undefined;
      this.retry(workerId, session); // lost while alive: take the lock again
    });
    await this.query(
      `INSERT INTO workers (worker_id, lock_key, host, pid, registered_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (worker_id) DO UPDATE SET lock_key = excluded.lock_key, host = excluded.host,
         pid = excluded.pid, registered_at = excluded.registered_at`,
      [workerId, key, hostname(), process.pid, now()],
    );
  }

  /** After a pause (the server may be restarting), again until it works or the worker unregisters. */
  private retry(workerId: string, session: Session): void {
    session.timer = setTimeout(() => {
      this.connect(workerId, session).catch(() => {
        if (!session.closed) this.retry(workerId, session);
      });
    }, 1000);
  }

  async unregister(workerId: string): Promise<void> {
    const session = this.sessions.get(workerId);
    this.sessions.delete(workerId);
    if (session) {
      session.closed = true;
      clearTimeout(session.timer);
    }
    await this.query('DELETE FROM workers WHERE worker_id = $1', [workerId]).catch(() => {});
    await session?.client?.end().catch(() => {});
  }

  async releaseDeadLeases(): Promise<number> {
    const { rows } = await this.query(RELEASE_SQL, [LIVENESS_LOCK_CLASS, Date.now()]);
    return Number((rows[0] as { n: string }).n);
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((id) => this.unregister(id)));
  }
}
