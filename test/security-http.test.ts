/**
 * Issue 13 (items 7, 10 at the socket level, 14): a real `longrun serve` process with tight limits. Stalled
 * or anonymous bodies can't hold connections, connections are capped, and a too-large body gets a 413 the
 * client can read.
 */
import { connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { mintToken } from '../src/auth/tokens.js';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
let dir: string;
let server: ServerProcess;
let token: string;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'longrun-limits-'));
  const config = await resolveAuthConfig({ authSecret: SECRET }, {}, dir);
  token = await mintToken(config, { scopes: ['LongRun.ReadWrite.All'], oid: 'o1' });
  server = await startServerProcess(
    [
      '--db',
      join(dir, 'longrun.db'),
      '--no-workers',
      '--log-level',
      'warn',
      '--headers-timeout-ms',
      '1000',
      '--request-timeout-ms',
      '2000',
      '--max-connections',
      '8',
    ],
    { LONGRUN_AUTH_SECRET: SECRET },
  );
  port = Number(new URL(server.url).port);
});
afterAll(async () => {
  server.child.kill('SIGKILL');
  await waitForExit(server.child);
  rmSync(dir, { recursive: true, force: true });
});

/** A raw connection that records what the server sends and when it closes. */
async function open(): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let data = '';
  socket.on('data', (d) => (data += d));
  socket.on('error', () => {});
  const started = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  return { socket, received: () => data, closed };
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);

describe('start-up', () => {
  it('warns that issuer and audience are not checked when only a secret is configured', () => {
    expect(server.output()).toMatch(/tokens are accepted with ANY issuer \(iss\) and audience \(aud\)/);
  });
});

describe('request limits (real process)', () => {
  it('answers an anonymous request with a body 401 before reading the body', async () => {
    const c = await open();
    c.socket.write(
      'POST /v1.0/operations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{',
    );
    const deadline = Date.now() + 5_000;
    while (!c.received().includes('\r\n\r\n') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(c.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(c.received()).toContain('"unauthenticated"');
    c.socket.destroy();
  });

  it('closes a connection whose body trickles in slower than the request timeout', async () => {
    const c = await open();
    c.socket.write(
      `POST /v1.0/operations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    const trickle = setInterval(() => c.socket.writable && c.socket.write(' '), 200);
    try {
      // 2 s request timeout, checked every second: closed well before the 1000 bytes would have arrived (200 s).
      const outcome = await within(c.closed, 15_000);
      expect(outcome).not.toBe('timeout');
      expect(c.received()).toMatch(/^(HTTP\/1\.1 408 |)/);
    } finally {
      clearInterval(trickle);
      c.socket.destroy();
    }
  });

  it('closes a connection that never finishes its headers', async () => {
    const c = await open();
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => c.socket.writable && c.socket.write('X-A: b\r\n'), 200);
    try {
      expect(await within(c.closed, 15_000)).not.toBe('timeout');
    } finally {
      clearInterval(trickle);
      c.socket.destroy();
    }
  });

  it('refuses connections beyond --max-connections and serves again once they close', async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => open()));
    for (const c of held) c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 200));
    const extra = await open();
    expect(await within(extra.closed, 5_000)).not.toBe('timeout');
    expect(extra.received()).toBe('');
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('lets fetch read the 413 for a body over the limit (the rest of the body is read and dropped)', async () => {
    const body = JSON.stringify({ id: 'big', statusDetail: 'x'.repeat(4 * 1024 * 1024) });
    const res = await fetch(`${server.url}/v1.0/operations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('requestEntityTooLarge');
  });
});

describe('secrets at rest (real process)', () => {
  it('creates data files 0600 in a 0700 folder and keeps no generated password in the clear', async () => {
    const data = join(dir, 'fresh', 'data');
    const args = ['--db', join(data, 'longrun.db'), '--no-workers', '--log-level', 'warn'];
    let p = await startServerProcess(args);
    try {
      const config = await resolveAuthConfig({}, {}, data); // the dev key the server created
      const admin = await mintToken(config, {
        oid: 'ad000000-0000-4000-8000-0000000000ad',
        scopes: ['UserAuthenticationMethod.ReadWrite.All'],
        wids: ['62e90394-69f5-4237-9190-012177145e10'],
      });
      const reset = () =>
        fetch(`${p.url}/v1.0/users/frank@contoso.com/authentication/methods/m1/resetPassword`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'idempotency-key': 'reset-1' },
        });
      const first = await reset();
      expect(first.status).toBe(202);
      const { newPassword } = (await first.json()) as { newPassword: string };
      expect(newPassword).toMatch(/.{8,}/);

      expect(statSync(data).mode & 0o777).toBe(0o700);
      for (const file of ['longrun.db', 'longrun.db-wal', 'longrun.db-shm', 'auth-dev-key.json']) {
        expect(statSync(join(data, file)).mode & 0o777, file).toBe(0o600);
      }
      const onDisk = ['longrun.db', 'longrun.db-wal'].map((f) =>
        readFileSync(join(data, f)).toString('latin1'),
      );
      expect(onDisk.some((bytes) => bytes.includes(newPassword))).toBe(false);

      // A replay, also after a restart, answers with the same password (unsealed with the same key).
      expect(((await (await reset()).json()) as { newPassword: string }).newPassword).toBe(newPassword);
      p.child.kill('SIGKILL');
      await waitForExit(p.child);
      p = await startServerProcess(args);
      expect(((await (await reset()).json()) as { newPassword: string }).newPassword).toBe(newPassword);
    } finally {
      p.child.kill('SIGKILL');
      await waitForExit(p.child);
    }
  });
});
