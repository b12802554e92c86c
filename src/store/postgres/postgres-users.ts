/** The user directory in PostgreSQL, shared by every node (see src/store/users.ts). */
import type pg from 'pg';
import { now } from '../../model/time.js';
import type { UserBinding, UserBindingSource, UserDirectoryStore } from '../users.js';

type Query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

export class PostgresUsers implements UserDirectoryStore {
  constructor(private readonly query: Query) {}

  async lookupUser(tenantId: string, upn: string): Promise<string | undefined> {
    const { rows } = await this.query<{ object_id: string }>(
      'SELECT object_id FROM user_directory WHERE tenant_id = $1 AND upn = $2',
      [tenantId, upn],
    );
    return rows[0]?.object_id;
  }

  async bindUser(
    tenantId: string,
    upn: string,
    objectId: string,
    source: UserBindingSource,
  ): Promise<UserBinding> {
    if (source === 'token') {
      // First binding wins: concurrent tokens on several nodes race on the primary key, and the loser
      // reads the winner's pair.
      const inserted = await this.query(
        `INSERT INTO user_directory (tenant_id, upn, object_id, source, bound_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, upn) DO NOTHING`,
        [tenantId, upn, objectId, source, now()],
      );
      if (inserted.rowCount === 1) return { objectId, changed: true };
      return { objectId: (await this.lookupUser(tenantId, upn)) ?? objectId, changed: false };
    }
    // An operator's pair replaces the old one; a row comes back only when something was written.
    const written = await this.query(
      `INSERT INTO user_directory (tenant_id, upn, object_id, source, bound_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, upn) DO UPDATE SET object_id = excluded.object_id, source = excluded.source,
         bound_at = excluded.bound_at
       WHERE user_directory.object_id <> excluded.object_id
       RETURNING 1`,
      [tenantId, upn, objectId, source, now()],
    );
    return { objectId, changed: written.rowCount === 1 };
  }
}
