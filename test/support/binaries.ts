/**
 * Where the test harness takes its external programs (PostgreSQL server binaries, Chromium) from.
 * A fresh machine has neither, so the harness falls back to copies shipped in npm packages; a machine that
 * has them installed keeps using its own. LONGRUN_TEST_BINARIES forces one side, so CI can prove that the
 * npm-only path works even on a machine that has the system packages (docs/decisions/0010-...).
 */
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export type BinaryPreference = 'auto' | 'system' | 'npm';

export const BINARIES_VARIABLE = 'LONGRUN_TEST_BINARIES';

const CHOICES: readonly BinaryPreference[] = ['auto', 'system', 'npm'];

/**
 * LONGRUN_TEST_BINARIES, validated: `npm` uses only the npm packages (explicit paths such as
 * LONGRUN_PG_BIN_DIR and CHROMIUM_PATH are ignored too), `system` only what is installed on the machine,
 * `auto` (the default) the machine's when present and npm's otherwise.
 */
export function binaryPreference(env: NodeJS.ProcessEnv = process.env): BinaryPreference {
  const raw = env[BINARIES_VARIABLE];
  if (raw === undefined || raw === '') return 'auto';
  if ((CHOICES as readonly string[]).includes(raw)) return raw as BinaryPreference;
  throw new Error(`${BINARIES_VARIABLE} must be one of ${CHOICES.join(', ')} (got ${JSON.stringify(raw)})`);
}

/**
 * The package that holds the npm copies (test/binaries/package.json, its own lockfile). It is not a root
 * devDependency, so a contributor whose machine has both programs never downloads them; the test run
 * installs it on first need (test/support/binaries-install.ts).
 */
export const TEST_BINARIES_DIR = fileURLToPath(new URL('../binaries/', import.meta.url));

const TEST_BINARIES_MODULES = join(TEST_BINARIES_DIR, 'node_modules') + sep;

/**
 * Resolves `name` as test/binaries (or, with `from`, a file inside its node_modules) sees it, and only
 * accepts what is inside test/binaries/node_modules: Node's lookup would otherwise walk up to the root's
 * node_modules, where a clone installed before the move may still hold stale copies. Throws when absent.
 */
export function resolveInTestBinaries(name: string, from = join(TEST_BINARIES_DIR, 'package.json')): string {
  const resolved = createRequire(from).resolve(name);
  if (!resolved.startsWith(TEST_BINARIES_MODULES)) {
    throw new Error(`${name} resolved to ${resolved}, outside test/binaries/node_modules`);
  }
  return resolved;
}
