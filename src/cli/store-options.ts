/** Which database a command works on: the SQLite file (`--db`) or PostgreSQL (`--postgres`). */
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_DB_FILE } from '../longrun.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { OperationStore } from '../store/store.js';

export interface StoreFlags {
  db: string;
  postgres?: string;
}

export function addStoreOptions(command: Command): Command {
  return command
    .addOption(new Option('--db <file>', 'SQLite database file').env('LONGRUN_DB').default(DEFAULT_DB_FILE))
    .addOption(
      new Option(
        '--postgres <url>',
        'PostgreSQL connection URL: many nodes share one database (env LONGRUN_POSTGRES_URL or DATABASE_URL)',
      ),
    );
}

export function postgresUrlOf(flags: StoreFlags): string | undefined {
  return flags.postgres ?? process.env.LONGRUN_POSTGRES_URL ?? process.env.DATABASE_URL;
}

/** The store the flags name, and a description of it for logs (no password). */
export function storeFor(flags: StoreFlags): { store: OperationStore; description: string } {
  const url = postgresUrlOf(flags);
  if (url)
    return { store: new PostgresStore({ connectionString: url }), description: `PostgreSQL ${redact(url)}` };
  const file = resolve(flags.db);
  return { store: new SqliteStore({ file }), description: `SQLite ${file}` };
}

/** A connection URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
