// Per-test-file databases on the shared test server started by global-setup.ts.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createDatabase } from './postgres.js';

/** URL of the shared server: provided by globalSetup, or the env var when inject() is unavailable. */
function sharedServerUrl(): string {
  let provided: string | undefined;
  try {
    provided = inject('pgUrl');
  } catch {
    // Not inside a vitest worker (e.g. a script importing test helpers); fall back to the env var.
  }
  const url = provided ?? process.env.LONGRUN_TEST_PG_URL;
  if (!url) {
    throw new Error(
      'No test PostgreSQL: run through vitest (globalSetup starts one) or set LONGRUN_TEST_PG_URL.',
    );
  }
  return url;
}

/**
 * Creates an empty database with a unique name starting with `prefix` and returns its URL. Databases are
 * not dropped: the whole cluster is thrown away at the end of the run.
 */
export async function freshDatabase(prefix: string): Promise<string> {
  // Identifiers are limited to 63 bytes; keep the prefix readable in logs but short and safe.
  const safePrefix =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .slice(0, 40) || 'test';
  const name = `${safePrefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  return createDatabase(sharedServerUrl(), name);
}
