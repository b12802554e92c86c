/**
 * Issue 16, item 7: `longrun serve --tls-cert/--tls-key` serves HTTPS with HTTP/2 and HTTP/1.1 (ALPN), and
 * its generated URLs are https://, so Microsoft's Graph JS client works against it unchanged: its default
 * auth handler sends the token (only over https, to `customHosts`) and its PageIterator follows the
 * absolute https nextLinks. A `node:http2` client reads an operation over h2. `--tls` makes a development
 * certificate once and says how to trust it. The client trusts the certificate through `fetchTrusting`
 * and the CLI through `--ca`.
 *
 * Runs the built CLI: `npm run build` first.
 */
import { Client, PageIterator, type PageCollection } from '@microsoft/microsoft-graph-client';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadOrCreateDevCertificate } from '../src/cli/dev-cert.js';
import { createClient } from '../src/client/client.js';
import { fetchTrusting, trustGlobally } from '../src/client/node-tls.js';
import { CLI, freePort, waitForExit } from './support/process.js';

// Server processes on a shared 2-core machine: starting them can take many seconds under load.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const SECRET = 'tls-test-secret-0123456789-abcdefghijklmnopqrstuv';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'api://longrun';

interface Served {
  child: ChildProcess;
  url: string;
  output: () => string;
}

const started: Served[] = [];
const dirs: string[] = [];
const previousDispatcher = getGlobalDispatcher();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-tls-'));
  dirs.push(dir);
  return dir;
}

/** `longrun serve` over TLS; waits until https /healthz answers (the caller trusts the certificate). */
async function serveTls(args: string[], dir: string, env: Record<string, string> = {}): Promise<Served> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', String(port), '--db', join(dir, 'longrun.db'), '--log-level', 'warn', ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const served = { child, url: `https://127.0.0.1:${port}`, output: () => out };
  started.push(served);
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`longrun exited with ${child.exitCode}:\n${out}`);
    try {
      if ((await fetch(`${served.url}/healthz`)).ok) return served;
    } catch {
      // not listening yet (or not trusted: the loop ends with the output)
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`longrun did not answer over https:\n${out}`);
}

function token(): Promise<string> {
  return new SignJWT({
    oid: '0a0a0a0a-0000-4000-8000-000000000001',
    tid: 'aaaaaaaa-0000-4000-8000-00000000000a',
    upn: 'alice@contoso.com',
    scp: 'LongRun.ReadWrite.All',
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

let certFile: string;
let keyFile: string;
let ca: string;

beforeAll(async () => {
  // A certificate for 127.0.0.1 made by the same code as `--tls`, then given as --tls-cert/--tls-key.
  const dev = await loadOrCreateDevCertificate(tempDir());
  certFile = dev.certFile;
  keyFile = dev.keyFile;
  ca = dev.cert;
  // This test file's fetch (the Graph client's included) trusts it, as NODE_EXTRA_CA_CERTS would.
  trustGlobally(ca);
});

afterAll(async () => {
  setGlobalDispatcher(previousDispatcher);
  for (const s of started)
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await Promise.all(started.map((s) => waitForExit(s.child)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('longrun serve --tls-cert/--tls-key', () => {
  let server: Served;
  let bearer: string;
  beforeAll(async () => {
    server = await serveTls(
      [
        '--tls-cert',
        certFile,
        '--tls-key',
        keyFile,
        '--auth-secret',
        SECRET,
        '--auth-issuer',
        ISSUER,
        '--auth-audience',
        AUDIENCE,
      ],
      tempDir(),
    );
    bearer = await token();
  });

  it('works with the Graph JS client: create, read, and page through 7 operations at $top=2', async () => {
    const host = new URL(server.url).hostname;
    const graph = Client.initWithMiddleware({
      baseUrl: `${server.url}/`,
      defaultVersion: 'v1.0',
      customHosts: new Set([host]),
      authProvider: { getAccessToken: async () => bearer },
    });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const op = await graph.api('/operations').post({ id: `graph-js-${i}`, statusDetail: `op ${i}` });
      expect(op.id).toBe(`graph-js-${i}`);
      ids.push(op.id);
    }
    const read = await graph.api(`/operations/${ids[3]}`).get();
    expect(read).toMatchObject({ id: 'graph-js-3', statusDetail: 'op 3', status: 'notStarted' });
    expect(read['@odata.context']).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/\$metadata#/);

    const first: PageCollection = await graph.api('/operations').top(2).get();
    expect(first.value).toHaveLength(2);
    expect(first['@odata.nextLink']).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/operations\?/);
    // Only two came in the first page: the other five were reached through the https nextLinks.
    const seen: string[] = [];
    const iterator = new PageIterator(graph, first, (op: { id: string }) => {
      seen.push(op.id);
      return true;
    });
    await iterator.iterate();
    expect(seen).toEqual(ids);
    expect(iterator.isComplete()).toBe(true);
  });

  it('answers a request without the token with 401: the token above really was sent', async () => {
    const res = await fetch(`${server.url}/v1.0/operations`);
    expect(res.status).toBe(401);
  });

  it('serves HTTP/2 (ALPN h2) to a node:http2 client, which reads an operation', async () => {
    const created = await fetch(`${server.url}/v1.0/operations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'over-h2' }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toMatch(
      /^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/operations\/over-h2$/,
    );

    const session = connect(server.url, { ca });
    try {
      await new Promise<void>((resolve, reject) =>
        session.once('connect', () => resolve()).once('error', reject),
      );
      expect(session.alpnProtocol).toBe('h2');
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({
          ':path': '/v1.0/operations/over-h2',
          authorization: `Bearer ${bearer}`,
        });
        let status = 0;
        let body = '';
        req.on('response', (headers) => (status = Number(headers[':status'])));
        req.setEncoding('utf8');
        req.on('data', (d) => (body += d));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(JSON.parse(body)).toMatchObject({ id: 'over-h2', status: 'notStarted' });

      // An event stream over h2 too (HTTP/1.1's connection header must not be sent on h2).
      const events = await new Promise<{ status: number; type: string; first: string }>((resolve, reject) => {
        const req = session.request({
          ':path': '/v1.0/operations/over-h2/events',
          accept: 'text/event-stream',
          authorization: `Bearer ${bearer}`,
        });
        let head = { status: 0, type: '' };
        req.on('response', (h) => (head = { status: Number(h[':status']), type: String(h['content-type']) }));
        req.setEncoding('utf8');
        req.once('data', (d: string) => {
          resolve({ ...head, first: d });
          req.close();
        });
        req.on('error', reject);
        req.end();
      });
      expect(events.status).toBe(200);
      expect(events.type).toMatch(/^text\/event-stream/);
      expect(events.first).toMatch(/^retry: /);
    } finally {
      session.close();
    }
  });

  it("is reached by longrun's client with fetchTrusting(ca), and by `longrun ops --ca`", async () => {
    // A fetch of its own: it trusts the certificate without the process-wide setting.
    setGlobalDispatcher(previousDispatcher);
    try {
      const client = createClient({
        baseUrl: `${server.url}/v1.0`,
        getToken: () => bearer,
        fetch: fetchTrusting(ca),
      });
      expect((await client.getOperation('/operations/over-h2')).id).toBe('over-h2');
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [CLI, 'ops', 'get', '/operations/over-h2', '--url', `${server.url}/v1.0`, '--ca', certFile, '--json'],
        { env: { ...process.env, LONGRUN_TOKEN: bearer } },
      );
      expect(JSON.parse(stdout)).toMatchObject({ id: 'over-h2' });
    } finally {
      trustGlobally(ca);
    }
  });
});

describe('longrun serve --tls', () => {
  /** Starts `serve --tls` and resolves once it printed the NODE_EXTRA_CA_CERTS line (its path). */
  async function serveDev(dir: string): Promise<{ child: ChildProcess; url: string; certPath: string }> {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--tls', '--auth', 'none', '--port', String(port), '--db', join(dir, 'longrun.db')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    started.push({ child, url: '', output: () => out });
    for (;;) {
      const printed = /NODE_EXTRA_CA_CERTS=(\S+)/.exec(out);
      if (printed) return { child, url: `https://127.0.0.1:${port}`, certPath: printed[1] };
      if (child.exitCode !== null) throw new Error(`longrun exited with ${child.exitCode}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('makes a development certificate once, prints its path and the NODE_EXTRA_CA_CERTS line', async () => {
    const dir = tempDir();
    const first = await serveDev(dir);
    expect(first.certPath).toBe(join(dir, 'tls-dev-cert.pem'));
    const devCa = readFileSync(first.certPath, 'utf8');
    // Trusting the printed file is all a client needs (the name checked is 127.0.0.1).
    const res = await fetchTrusting(devCa)(`${first.url}/v1.0/operations`);
    expect(res.status).toBe(200);
    first.child.kill('SIGTERM');
    await waitForExit(first.child);

    // Started again: the same certificate, so clients keep trusting it.
    const again = await serveDev(dir);
    expect(again.certPath).toBe(first.certPath);
    expect(readFileSync(again.certPath, 'utf8')).toBe(devCa);
    expect((await fetchTrusting(devCa)(`${again.url}/v1.0/operations`)).status).toBe(200);
    again.child.kill('SIGTERM');
    await waitForExit(again.child);
  });

  it('refuses half a configuration with a message that names the option', async () => {
    const run = (args: string[]) =>
      promisify(execFile)(
        process.execPath,
        [
          CLI,
          'serve',
          '--port',
          '0',
          '--db',
          join(tempDir(), 'x.db'),
          ...args,
          // A server that started after all is stopped, and the test fails on its empty stderr.
        ],
        { timeout: 20_000 },
      ).then(
        () => '',
        (e: { stderr: string }) => e.stderr,
      );
    expect(await run(['--tls-cert', certFile])).toMatch(/--tls-cert needs --tls-key/);
    expect(await run(['--tls-key', keyFile])).toMatch(/--tls-key needs --tls-cert/);
    expect(await run(['--tls', '--tls-cert', certFile, '--tls-key', keyFile])).toMatch(
      /either --tls or --tls-cert/,
    );
    // The certificate where the key should be: caught before listening.
    expect(await run(['--tls-cert', certFile, '--tls-key', certFile])).toMatch(/not a usable certificate/);
  });
});
