/**
 * Webhook hardening (issue 13, items 5 and 13), against real receivers on real ports:
 * - a receiver answering the validation handshake with 200 MB (generated as it is read) is refused, and
 *   the server — a real `longrun serve` process, measured through /proc — reads a few KB of it, not 200 MB;
 * - a receiver answering deliveries with an endless body still gets each notification once, in order;
 * - receivers that never answer, or trickle their answer, are cut off at the deadline;
 * - IPv6 spellings of private IPv4 addresses (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are refused;
 * - a request connects to the address the check resolved, never resolving the name again.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkDelivererOptions } from '../src/engine/webhook-deliverer.js';
import { CheckedNotificationUrl } from '../src/service/notification-url.js';
import { postWebhook } from '../src/service/webhook-request.js';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';
import { startTestServer } from './support/server.js';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

/** A real HTTP receiver whose answers the test decides; closing it drops whatever it still holds. */
async function receiver(handle: Handler): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    handle(req, res, new URL(req.url!, 'http://x'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers the validation handshake properly: the token, as plain text. */
const echoToken: Handler = (_req, res, url) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end(url.searchParams.get('validationToken'));
};

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const inAMinute = () => new Date(Date.now() + 60_000).toISOString();
const subscription = (notificationUrl: string) => ({
  changeType: 'created,updated',
  notificationUrl,
  resource: '/operations',
  expirationDateTime: inAMinute(),
});

describe('a huge answer to the validation handshake (real server process)', () => {
  let dir: string;
  let node: ServerProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'longrun-sechooks-'));
    node = await startServerProcess([
      '--db',
      join(dir, 'longrun.db'),
      '--auth',
      'none',
      '--webhook-allow-private',
      '--webhook-allow-http',
      '--log-level',
      'warn',
    ]);
  });
  afterAll(async () => {
    node.child.kill('SIGKILL');
    await waitForExit(node.child);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The server process's resident memory now and at its peak, in bytes (Linux /proc). */
  const memory = () => {
    const status = readFileSync(`/proc/${node.child.pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  };

  it('is refused, and the server reads a few KB of it, not 200 MB', async () => {
    const post = (body: unknown) =>
      fetch(`${node.url}/v1.0/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // Warm up the same path with a well-behaved receiver, so what follows measures only the big answer.
    const good = await receiver(echoToken);
    cleanup.push(good.close);
    for (let i = 0; i < 3; i++) expect((await post(subscription(good.url))).status).toBe(201);

    const TOTAL = 200 * 1024 * 1024;
    let sent = 0;
    const huge = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      // Generated as it is read: the receiver itself holds one chunk at a time.
      Readable.from(
        (function* () {
          while (sent < TOTAL) {
            sent += chunk.length;
            yield chunk;
          }
        })(),
      )
        .on('error', () => {})
        .pipe(res)
        .on('error', () => {});
    });
    cleanup.push(huge.close);

    const before = memory();
    const res = await post(subscription(huge.url));
    const after = memory();
    const MB = 1024 * 1024;
    console.log(
      `server RSS ${Math.round(before.rss / MB)} MB -> ${Math.round(after.rss / MB)} MB, peak ${Math.round(before.peak / MB)} MB -> ${Math.round(after.peak / MB)} MB; receiver sent ${Math.round(sent / 1024)} KB`,
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toMatch(/validation request failed/i);
    // The server dropped the connection long before the end (socket buffers hold a few MB at most).
    expect(sent).toBeLessThan(TOTAL / 4);
    expect(after.rss - before.rss).toBeLessThan(32 * MB);
    expect(after.peak - Math.max(before.peak, before.rss)).toBeLessThan(32 * MB);
  });
});

describe('webhook receivers (in-process server, real HTTP)', () => {
  it('delivers each notification in order to a receiver answering with an endless body, reading a few KB of it', async () => {
    const got: any[] = [];
    let sent = 0;
    let open = 0;
    const endless = await receiver((req, res, url) => {
      if (url.searchParams.has('validationToken')) return echoToken(req, res, url);
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push(...JSON.parse(body).value);
        res.writeHead(202, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(16 * 1024, 'y');
        open++;
        res.on('close', () => open--);
        const pump = () => {
          while (!res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) break;
          }
        };
        res.on('drain', pump);
        res.on('error', () => {});
        pump();
      });
    });
    const server = await startTestServer({
      webhooks: { allowPrivateNetworks: true, allowHttp: true, pollIntervalMs: 20, timeoutMs: 2000 },
      worker: { pollIntervalMs: 20 },
    });
    cleanup.push(endless.close, () => server.close());
    expect(
      (await server.request('POST', '/v1.0/subscriptions', { body: subscription(endless.url) })).status,
    ).toBe(201);
    const op = (await (
      await server.request('POST', '/v1.0/operations', { body: { id: 'endless' } })
    ).json()) as {
      id: string;
    };
    await server.request('PATCH', `/v1.0/operations/${op.id}`, { body: { status: 'running' } });
    await waitFor(() => got.length >= 2 && open === 0);
    expect(got.slice(0, 2).map((n) => [n.changeType, n.resourceData.status])).toEqual([
      ['created', 'notStarted'],
      ['updated', 'running'],
    ]);
    // The server dropped each connection after a few KB (what socket buffers absorb aside), instead of
    // reading until its deadline.
    expect(sent).toBeLessThan(16 * 1024 * 1024);
  });

  it('refuses a handshake that never answers or trickles its answer past the 10 s deadline', async () => {
    const silent = await receiver(() => {}); // accepts, never answers
    const trickle = await receiver((_req, res, url) => {
      const token = url.searchParams.get('validationToken')!;
      res.writeHead(200, { 'content-type': 'text/plain' });
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed || i >= token.length) return clearInterval(timer);
        res.write(token[i++]);
      }, 1000); // the token is about 48 bytes: 48 s
      res.on('close', () => clearInterval(timer));
    });
    const server = await startTestServer({
      webhooks: { allowPrivateNetworks: true, allowHttp: true },
      worker: false,
    });
    cleanup.push(silent.close, trickle.close, () => server.close());
    const answers = await Promise.all(
      [silent.url, trickle.url].map((u) =>
        server.request('POST', '/v1.0/subscriptions', { body: subscription(u) }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([400, 400]);
  });

  describe('IPv6 spellings of private IPv4 addresses are refused', () => {
    const hosts = [
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[0:0:0:0:0:ffff:127.0.0.1]',
      '[::FFFF:127.0.0.1]',
      '[::ffff:0:127.0.0.1]',
      '[::127.0.0.1]',
      '[64:ff9b::7f00:1]',
      '[64:ff9b::127.0.0.1]',
      '[2002:7f00:1::]',
      '[2002:a9fe:a9fe::1]', // 169.254.169.254, the cloud metadata address
      '[64:ff9b::a9fe:a9fe]',
      '[::ffff:10.0.0.1]',
      '[2002:c0a8:101::]', // 192.168.1.1
      '[2001:0:4136:e378:8000:63bf:3fff:fdd2]', // Teredo
    ];
    let server: Awaited<ReturnType<typeof startTestServer>>;
    beforeAll(async () => {
      server = await startTestServer({ worker: false }); // the default policy: public https only
    });
    afterAll(() => server.close());
    for (const host of hosts) {
      it(host, async () => {
        const res = await server.request('POST', '/v1.0/subscriptions', {
          body: subscription(`https://${host}/hook`),
        });
        expect(res.status).toBe(400);
        const error = ((await res.json()) as any).error;
        expect(error.target).toBe('notificationUrl');
        expect(error.message).toMatch(/loopback, private or reserved address/);
      });
    }
  });

  it('connects to the address the check resolved and never resolves the name again', async () => {
    const seen: string[] = [];
    const target = await receiver((req, res) => {
      seen.push(req.headers.host!);
      res.writeHead(202).end('ok');
    });
    cleanup.push(target.close);
    const port = new URL(target.url).port;
    // `.invalid` never resolves (RFC 6761): reaching the receiver proves the pinned address was used.
    const url = new CheckedNotificationUrl(`http://rebind.invalid:${port}/hook`, [
      { address: '127.0.0.1', family: 4 },
    ]);
    const res = await postWebhook(url, { body: '{}', contentType: 'application/json' });
    expect(res).toEqual({ status: 202, body: 'ok', complete: true });
    expect(seen).toEqual([`rebind.invalid:${port}`]);
  });
});

describe('webhook limits as library options', () => {
  it('refuses a timeout or a read limit out of range, naming the option and the rule', () => {
    expect(() => checkDelivererOptions({ maxResponseBytes: 0 })).toThrow(
      'The option webhooks.maxResponseBytes must be an integer from 1 to 1048576.',
    );
    expect(() => checkDelivererOptions({ timeoutMs: -1 })).toThrow(
      'The option webhooks.timeoutMs must be an integer from 1 to 600000.',
    );
    expect(() => checkDelivererOptions({ timeoutMs: 2000, maxResponseBytes: 8192 })).not.toThrow();
  });
});

async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
