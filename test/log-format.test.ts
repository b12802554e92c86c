/**
 * `longrun serve` logs readable lines to a person at a terminal and JSON to everything else, and
 * `--log-format json|pretty` overrides the guess. The terminal cases run the real CLI under a real
 * pseudo-terminal (util-linux `script`), since stdout being a TTY is exactly what is decided on.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, freePort, startServerProcess, waitForExit } from './support/process.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'longrun-logfmt-'));
let databases = 0;
const dbArgs = () => ['--db', join(dir, `${++databases}.db`)];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const READY = 'longrun listening on';
// pino-pretty's line: `[12:34:56.789] INFO: message`, checked with colour codes removed.
const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: longrun listening on /m;
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g');
const plain = (output: string) => output.replace(ANSI_COLOUR, '');

/** The JSON log lines (the dev token hint goes to stderr as plain text, and is left out). */
function jsonLines(output: string): Record<string, unknown>[] {
  return output
    .split(/\r?\n/)
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Runs `longrun serve` piped (stdout is not a terminal) until it is up, stops it, returns its output. */
async function servePiped(args: string[]): Promise<string> {
  const server = await startServerProcess([...dbArgs(), ...args], { NO_COLOR: '1' });
  server.child.kill('SIGTERM');
  await waitForExit(server.child);
  return server.output();
}

/** Runs `longrun serve` with stdout on a pseudo-terminal until it has logged READY, then stops it. */
async function serveOnTerminal(args: string[]): Promise<string> {
  const port = await freePort();
  const command = [process.execPath, CLI, 'serve', '--port', String(port), ...dbArgs(), ...args]
    .map((word) => `'${word.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  // -e: script exits with the command's status; -q: no banner; /dev/null: no typescript file.
  const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  try {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (output.includes(READY)) resolve();
      };
      child.stdout.on('data', check);
      child.once('exit', (code) => reject(new Error(`longrun under script exited (${code}):\n${output}`)));
    });
    // The log line is written just after listen(); the server really is up.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).ok).toBe(true);
  } finally {
    // script hangs up the terminal's session, which ends longrun with it.
    child.kill('SIGTERM');
    await waitForExit(child);
  }
  return output;
}

describe('longrun serve --log-format', () => {
  it('writes JSON lines when stdout is not a terminal (files, pipes, log shippers)', async () => {
    const lines = jsonLines(await servePiped([]));
    const ready = lines.find((line) => String(line.msg).startsWith(READY));
    expect(ready).toMatchObject({ level: 30, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
  });

  it('writes readable lines with --log-format pretty, even into a pipe', async () => {
    const output = await servePiped(['--log-format', 'pretty']);
    expect(output).toMatch(PRETTY_LINE);
    // Not JSON, and the structured fields still shown (indented under the line).
    expect(output.split('\n').some((line) => line.startsWith('{'))).toBe(false);
    expect(output).toMatch(/^\s+url: "http:\/\/127\.0\.0\.1:\d+"/m);
  });

  it('writes readable lines to a terminal by default', async () => {
    const output = await serveOnTerminal([]);
    // Coloured, as a terminal is expected to show it.
    expect(output).toContain(`${String.fromCharCode(27)}[`);
    expect(plain(output)).toMatch(PRETTY_LINE);
    expect(output).not.toMatch(/^\{"level"/m);
  });

  it('writes JSON to a terminal with --log-format json', async () => {
    const output = await serveOnTerminal(['--log-format', 'json']);
    const ready = jsonLines(output).find((line) => String(line.msg).startsWith(READY));
    expect(ready).toBeDefined();
  });

  it('takes LONGRUN_LOG_FORMAT from the environment', async () => {
    const server = await startServerProcess(dbArgs(), { LONGRUN_LOG_FORMAT: 'pretty', NO_COLOR: '1' });
    server.child.kill('SIGTERM');
    await waitForExit(server.child);
    expect(server.output()).toMatch(PRETTY_LINE);
  });

  it('rejects an unknown format, naming the option and the choices', async () => {
    const failed = await exec(process.execPath, [CLI, 'serve', ...dbArgs(), '--log-format', 'xml']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stderr: string }).stderr).toMatch(/--log-format.*'xml' is invalid.*json, pretty/);
  });
});
