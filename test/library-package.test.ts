/**
 * The library as a user gets it: the package is built (tsc, as `npm run build` does) and installed into an
 * app outside the repository (node_modules/longrun → the package, as a `file:` dependency installs it).
 * The app is examples/report-export/main.ts importing from 'longrun' and 'longrun/client'; it compiles
 * under `strict` and runs over real HTTP. The same app with a misspelled handler name or a wrong input
 * shape does not compile.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
let tmp: string;
let app: string;
let source: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'longrun-pkg-'));
  const pkg = join(tmp, 'pkg');
  await exec(
    process.execPath,
    [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')],
    {
      cwd: ROOT,
      timeout: 300_000,
    },
  );
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');

  app = join(tmp, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(pkg, join(app, 'node_modules', 'longrun'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types'), join(app, 'node_modules', '@types'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', 'jose'), join(app, 'node_modules', 'jose'), 'dir');
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'report-app',
      type: 'module',
      private: true,
      dependencies: { longrun: 'file:../pkg' },
    }),
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        outDir: 'out',
        types: ['node'],
        lib: ['ES2023', 'DOM'],
      },
      files: ['main.ts'],
    }),
  );
  source = readFileSync(join(ROOT, 'examples', 'report-export', 'main.ts'), 'utf8')
    .replace("from '../../src/index.js'", "from 'longrun'")
    .replace("from '../../src/client/index.js'", "from 'longrun/client'");
  expect(source).toContain("from 'longrun'");
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function compile(text: string, noEmit = true): Promise<{ ok: boolean; output: string }> {
  writeFileSync(join(app, 'main.ts'), text);
  try {
    await exec(process.execPath, [TSC, '-p', app, ...(noEmit ? ['--noEmit'] : [])], {
      cwd: app,
      timeout: 120_000,
    });
    return { ok: true, output: '' };
  } catch (e) {
    return { ok: false, output: String((e as { stdout?: string }).stdout) };
  }
}

const START = "node.start('export-report', { reportId: 'r1', format: 'pdf' })";

describe('an app depending on the built package', () => {
  it('compiles under strict and runs over real HTTP', async () => {
    expect(source).toContain(START);
    const result = await compile(source, false);
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
    const { stdout } = await exec(process.execPath, [join(app, 'out', 'main.js')], {
      cwd: app,
      timeout: 120_000,
    });
    expect(stdout).toMatch(/^action: 202 Location http:\/\/127\.0\.0\.1:\d+\/v1\.0\/operations\//);
    expect(stdout).toContain('client: done succeeded https://files.example.com/reports/q3-sales.csv');
    expect(stdout).toContain('cancel: canceled');
  }, 300_000);

  const broken: [string, string, RegExp][] = [
    [
      'a misspelled handler name',
      "node.start('export-reprot', { reportId: 'r1', format: 'pdf' })",
      /export-reprot/,
    ],
    ['a wrong input shape', "node.start('export-report', { wrong: 1 })", /wrong/],
    ['a wrong input type', "node.start('export-report', { reportId: 1, format: 'pdf' })", /TS2322|TS2345/],
    ['an input missing a property', "node.start('export-report', { reportId: 'r1' })", /format/],
    ['an action naming no handler', "handler: 'export-reports'", /export-reports/],
  ];
  for (const [what, replacement, message] of broken) {
    it(`does not compile with ${what}`, async () => {
      const text = replacement.startsWith('handler:')
        ? source.replace("handler: 'export-report'", replacement)
        : source.replace(START, replacement);
      expect(text).not.toBe(source);
      const result = await compile(text);
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/error TS\d+/);
      expect(result.output).toMatch(message);
    }, 180_000);
  }
});
