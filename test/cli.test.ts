/** The built `longrun` command, run as a subprocess against a real server. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'longrun-cli-'));
let server: ServerProcess;
let base: string;

/** Runs `longrun ...args`; resolves with stdout, stderr and the exit code (never rejects). */
async function longrun(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env: { ...process.env, NO_COLOR: '1', LONGRUN_URL: base },
      timeout: 30_000,
    });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

const post = (path: string, body: unknown) =>
  fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const patch = (path: string, body: unknown) =>
  fetch(base + path, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  server = await startServerProcess([
    '--db',
    join(dir, 'cli.db'),
    '--auth',
    'none',
    '--poll-ms',
    '50',
    '--scenarios',
    JSON.stringify({
      default: { durationMs: 400 },
      // Long enough that `ops watch` (a new process, slow on a loaded machine) connects while it runs.
      contentTypeCopy: { durationMs: 5000 },
      roleManagementAlertRefresh: { durationMs: 20_000 },
    }),
  ]);
  base = `${server.url}/v1.0`;
});
afterAll(async () => {
  server.child.kill('SIGTERM');
  await waitForExit(server.child);
  rmSync(dir, { recursive: true, force: true });
});

describe('longrun ops', () => {
  it('lists a collection as an aligned table, and as JSON', async () => {
    for (let i = 0; i < 3; i++)
      await post('/operations', { id: `list-${i}`, statusDetail: i === 1 ? 'a longer detail' : null });
    await patch('/operations/list-1', { status: 'running' });
    const { stdout, code } = await longrun(
      'ops',
      'list',
      '/operations',
      '--filter',
      "startswith(id, 'list-')",
    );
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+STATUS\s+PROGRESS\s+AGE\s+RESOURCE$/);
    expect(lines).toHaveLength(4);
    expect(stdout).not.toContain('\u001b['); // not a terminal: no colours
    for (const column of ['TYPE', 'STATUS', 'PROGRESS', 'AGE']) {
      const at = lines[0].indexOf(column);
      for (const line of lines.slice(1)) {
        expect(line[at - 1], `${column} column in ${JSON.stringify(line)}`).toBe(' ');
        expect(line[at], `${column} column in ${JSON.stringify(line)}`).not.toBe(' ');
      }
    }
    expect(lines.find((l) => l.startsWith('list-1'))).toMatch(/running/);

    const json = await longrun('ops', 'list', '/operations', '--status', 'running', '--json');
    const items = JSON.parse(json.stdout) as { id: string }[];
    expect(items.map((o) => o.id)).toContain('list-1');
    const direct = (await (
      await fetch(`${base}/operations/list-1`, { headers: { prefer: 'include-unknown-enum-members' } })
    ).json()) as Record<string, unknown>;
    const { '@odata.context': _context, ...operation } = direct;
    expect(items.find((o) => o.id === 'list-1')).toEqual(operation);
  });

  it('gets one operation, and prints the Graph error of a missing one', async () => {
    await post('/operations', { id: 'get-1' });
    const got = await longrun('ops', 'get', '/operations/get-1', '--json');
    expect(JSON.parse(got.stdout)).toMatchObject({ id: 'get-1', status: 'notStarted' });
    const missing = await longrun('ops', 'get', '/operations/nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: itemNotFound: /);
    expect(missing.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('waits: exit 0 succeeded, 1 failed, 2 canceled, 3 timed out', { timeout: 90_000 }, async () => {
    const started = await post('/sites/cli/contentTypes/addCopyFromContentTypeHub', {
      contentTypeId: '0x0101',
    });
    const location = started.headers.get('location')!;
    const ok = await longrun('ops', 'wait', location, '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'succeeded', percentageComplete: 100 });

    await post('/operations', { id: 'wait-failed' });
    await patch('/operations/wait-failed', { status: 'failed', statusDetail: 'broke' });
    const failed = await longrun('ops', 'wait', '/operations/wait-failed');
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/failed/);

    const slow = await fetch(
      `${base.replace('/v1.0', '/beta')}/identityGovernance/roleManagementAlerts/alerts/CliAlert/refresh`,
      {
        method: 'POST',
      },
    );
    const slowLocation = slow.headers.get('location')!;
    const timedOut = await longrun('ops', 'wait', slowLocation, '--timeout', '1');
    expect(timedOut.code).toBe(3);

    const cancel = await longrun('ops', 'cancel', slowLocation);
    expect(cancel.code).toBe(0);
    const canceled = await longrun('ops', 'wait', slowLocation, '--json');
    expect(canceled.code).toBe(2);
    expect(JSON.parse(canceled.stdout).status).toBe('canceled');

    const deleted = await longrun('ops', 'delete', slowLocation);
    expect(deleted.code).toBe(0);
    expect((await fetch(slowLocation)).status).toBe(404);
  });

  it('watches an operation through its event stream until it ends', { timeout: 60_000 }, async () => {
    const started = await post('/sites/cli/contentTypes/addCopyFromContentTypeHub', {
      contentTypeId: '0x0102',
    });
    const { stdout, code } = await longrun('ops', 'watch', started.headers.get('location')!, '--json');
    expect(code).toBe(0);
    const statuses = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).status);
    expect(statuses.at(-1)).toBe('succeeded');
    expect(statuses).toContain('running');
  });

  it('explains an unreachable server in one line', async () => {
    const res = await longrun('ops', 'list', '--url', 'http://127.0.0.1:9/v1.0');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: cannot reach the server at http:\/\/127\.0\.0\.1:9\/v1\.0/);
  });
});

describe('longrun token, migrate, worker', () => {
  it('mints a JWT with the dev key of a database folder', async () => {
    const { stdout, code } = await longrun(
      'token',
      '--db',
      join(dir, 'token', 'x.db'),
      '--scopes',
      'LongRun.Read.All',
    );
    expect(code).toBe(0);
    const [, payload] = stdout.trim().split('.');
    expect(JSON.parse(Buffer.from(payload, 'base64url').toString())).toMatchObject({
      scp: 'LongRun.Read.All',
    });
  });

  it('migrates a fresh database file', async () => {
    const { stdout, code } = await longrun('migrate', '--db', join(dir, 'fresh', 'm.db'));
    expect(code).toBe(0);
    expect(stdout).toMatch(/schema up to date: SQLite .*m\.db/);
  });

  it('refuses a bad engine flag before starting, naming it and its bounds', async () => {
    for (const [flag, value] of [
      ['--prefetch', '-1'],
      ['--concurrency', '0'],
    ]) {
      const { stderr, code } = await longrun('worker', '--db', join(dir, 'flags.db'), flag, value);
      expect(code).toBe(2);
      expect(stderr).toContain(`${flag} must be a whole number from`);
    }
  });

  it('runs, in a worker process, operations a serve --no-workers process accepted', async () => {
    const db = join(dir, 'split.db');
    const front = await startServerProcess(['--db', db, '--auth', 'none', '--no-workers']);
    const worker = (await import('node:child_process')).spawn(
      process.execPath,
      [CLI, 'worker', '--db', db, '--poll-ms', '50', '--scenarios', '{"default":{"durationMs":100}}'],
      { stdio: 'ignore' },
    );
    try {
      const started = await fetch(`${front.url}/v1.0/sites/split/contentTypes/addCopyFromContentTypeHub`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contentTypeId: '0x01' }),
      });
      const location = started.headers.get('location')!;
      let status = '';
      for (let i = 0; i < 200 && status !== 'succeeded'; i++) {
        status = ((await (await fetch(location)).json()) as { status: string }).status;
        if (status !== 'succeeded') await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe('succeeded');
    } finally {
      worker.kill('SIGTERM');
      front.child.kill('SIGTERM');
      await Promise.all([waitForExit(worker), waitForExit(front.child)]);
    }
  });
});
