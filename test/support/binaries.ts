/**
 * Where the test harness takes its external programs (PostgreSQL server binaries, Chromium) from.
 * A fresh machine has neither, so the harness falls back to copies shipped in npm packages; a machine that
 * has them installed keeps using its own. LONGRUN_TEST_BINARIES forces one side, so CI can prove that the
 * npm-only path works even on a machine that has the system packages (docs/decisions/0010-...).
 */
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
