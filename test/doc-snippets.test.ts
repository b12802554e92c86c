/**
 * Every ```ts block in README.md and docs/ compiles under `strict`, against the source of the package
 * (`longrun` and `longrun/client` map to src/), so the docs cannot drift from the API. Each block is a
 * module of its own (top-level await allowed). A block that is deliberately partial (it uses names it
 * does not declare) is fenced ```ts-snippet instead, and is not compiled.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, '.tmp', `doc-snippets-${process.pid}`);
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(ROOT, 'docs', f));
  return [join(ROOT, 'README.md'), ...docs];
}

/** The ```ts blocks of a markdown file, with the line each starts at. */
function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

it('finds the fences it should, and only those', () => {
  const md = ['```ts', 'const a = 1;', '```', '```ts-snippet', 'b;', '```', '```sh', 'ls', '```'].join('\n');
  expect(tsBlocks(md)).toEqual([{ line: 2, code: 'const a = 1;' }]);
});

it('every ts block in README.md and docs/ compiles under strict', async () => {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'package.json'), JSON.stringify({ type: 'module' }));
  const files: string[] = [];
  for (const md of markdownFiles()) {
    for (const block of tsBlocks(readFileSync(md, 'utf8'))) {
      const name = `${relative(ROOT, md).replace(/[/\\.]/g, '_')}_L${block.line}.ts`;
      // `export {}` makes each block a module even when it imports nothing.
      writeFileSync(join(OUT, name), `${block.code}\nexport {};\n`);
      files.push(name);
    }
  }
  expect(files.length).toBeGreaterThan(2);
  writeFileSync(
    join(OUT, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        lib: ['ES2023', 'DOM'],
        paths: {
          longrun: [join(ROOT, 'src', 'index.ts')],
          'longrun/client': [join(ROOT, 'src', 'client', 'index.ts')],
        },
        allowImportingTsExtensions: false,
      },
      files,
    }),
  );
  let output = '';
  try {
    await exec(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', OUT], {
      cwd: OUT,
      timeout: 240_000,
    });
  } catch (e) {
    output = String((e as { stdout?: string }).stdout);
  }
  // Errors name the block's file: README_md_L296.ts(3,5) is README.md, the block starting at line 296.
  expect(output).toBe('');
}, 300_000);
