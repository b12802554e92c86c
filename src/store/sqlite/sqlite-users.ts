/** The user directory in the SQLite file (see src/store/users.ts). */
import type Database from 'better-sqlite3';
import { now } from '../../model/time.js';
import type { UserBinding, UserBindingSource, UserDirectoryStore } from '../users.js';

export class SqliteUsers implements UserDirectoryStore {
  constructor(private readonly db: Database.Database) {}

  async lookupUser(tenantId: string, upn: string): Promise<string | undefined> {
    const row = this.db
      .prepare('SELECT object_id FROM user_directory WHERE tenant_id = ? AND upn = ?')
      .get(tenantId, upn) as { object_id: string } | undefined;
    return row?.object_id;
  }

  async bindUser(
    tenantId: string,
    upn: string,
    objectId: string,
    source: UserBindingSource,
  ): Promise<UserBinding> {
    // better-sqlite3 is synchronous: the read and the write below run with nothing in between.
    const bind = this.db.transaction((): UserBinding => {
      const current = this.db
        .prepare('SELECT object_id FROM user_directory WHERE tenant_id = ? AND upn = ?')
        .get(tenantId, upn) as { object_id: string } | undefined;
      if (current && (current.object_id === objectId || source === 'token')) {
        return { objectId: current.object_id, changed: false };
      }
      this.db
        .prepare(
          `INSERT INTO user_directory (tenant_id, upn, object_id, source, bound_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (tenant_id, upn) DO UPDATE SET object_id = excluded.object_id, source = excluded.source,
             bound_at = excluded.bound_at`,
        )
        .run(tenantId, upn, objectId, source, now());
      return { objectId, changed: true };
    });
    return bind.immediate();
  }
}
