/**
 * The poller's stream, when things go wrong, over real HTTP: a stream the server ends mid-job (its token
 * expires) is resumed with Last-Event-ID after a fallback poll and the terminal state is not missed; a
 * server without the Link header (as Microsoft Graph) is polled with no stream request; a server whose
 * advertised stream is not an event stream is polled too, without looping hot; an abort closes the stream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLOCK_TOLERANCE_SEC, resolveAuthConfig, type AuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { createClient } from '../src/client/index.js';
import type { HandlerDefinition } from '../src/engine/handler.js';
import { startTestServer, type TestServer } from './support/server.js';

type Json = Record<string, unknown>;

const STEPS = 15; // 15 × 200 ms = 3 s

const ticker: HandlerDefinition = {
  name: 'ticker',
  async run(ctx) {
    for (let i = 1; i <= STEPS; i++) {
      await sleep(200);
      ctx.progress(Math.round((i * 100) / STEPS), `step ${i}`);
    }
    return { statusDetail: 'done' };
  },
};

describe('a stream that ends mid-job', () => {
  let server: TestServer;
  let keyDir: string;
  let config: AuthConfig & { mode: 'jwt' };

  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'longrun-pollstream-'));
    config = (await resolveAuthConfig(
      { authSecret: 'poller-stream-secret-0123456789-abcdefghijkl' },
      {},
      keyDir,
    )) as AuthConfig & { mode: 'jwt' };
    server = await startTestServer({
      security: securityFor(config),
      handlers: [ticker as HandlerDefinition<never>],
      retention: false,
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  /** A dev token that stops verifying between 0.5 and 1.5 s from now, so a stream it opens ends soon. */
  async function shortToken(): Promise<string> {
    const exp = Math.floor((Date.now() + 1500) / 1000) - DEFAULT_CLOCK_TOLERANCE_SEC;
    return new SignJWT({
      scp: DEV_TOKEN_DEFAULTS.scopes!.join(' '),
      wids: DEV_TOKEN_DEFAULTS.wids,
      oid: DEV_TOKEN_DEFAULTS.oid,
      tid: DEV_TOKEN_DEFAULTS.tid,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(exp - 3600)
      .setExpirationTime(exp)
      .sign(config.secret!);
  }

  it('resumes the stream after a poll and still reaches succeeded', async () => {
    const op = await server.node.start('ticker', null, {
      collection: '/sites/s1/operations',
      tenantId: DEV_TOKEN_DEFAULTS.tid,
    });
    const streams: { status: number; lastEventId: string | null }[] = [];
    let polls = 0;
    const client = createClient({
      baseUrl: `${server.url}/v1.0`,
      getToken: shortToken,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        const headers = new Headers(init?.headers);
        if (headers.get('accept') === 'text/event-stream') {
          streams.push({ status: res.status, lastEventId: headers.get('last-event-id') });
        } else polls++;
        return res;
      },
    });
    const poller = client.resumePoller(
      JSON.stringify({ version: 1, operationUrl: `${server.url}/v1.0/sites/s1/operations/${op.id}` }),
    );
    const seen: string[] = [];
    const percents: number[] = [];
    poller.onProgress((o) => {
      const percent = (o as { percentageComplete?: number | null }).percentageComplete ?? 0;
      percents.push(percent);
      seen.push(`${o.status} ${percent} ${o.statusDetail}`);
    });
    const final = await poller.pollUntilDone();

    expect(final.status).toBe('succeeded');
    expect(seen.at(-1)).toBe('succeeded 100 done');
    expect(new Set(seen).size).toBe(seen.length);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    // The first stream ended with its token; the poller came back to it, resuming where it left off.
    expect(streams.length).toBeGreaterThanOrEqual(2);
    expect(streams.every((s) => s.status === 200)).toBe(true);
    expect(streams.slice(1).some((s) => s.lastEventId !== null && /^\d+$/.test(s.lastEventId))).toBe(true);
    console.log(
      `poller across token expiries: ${streams.length} streams, ${polls} polls, ${seen.length} changes`,
    );
  });

  it('closes the stream when the caller aborts', async () => {
    const op = await server.node.start('ticker', null, {
      collection: '/sites/s1/operations',
      tenantId: DEV_TOKEN_DEFAULTS.tid,
    });
    let streamSignal: AbortSignal | null = null;
    const client = createClient({
      baseUrl: `${server.url}/v1.0`,
      getToken: shortToken,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (new Headers(init?.headers).get('accept') === 'text/event-stream') streamSignal = init!.signal!;
        return res;
      },
    });
    const poller = client.resumePoller(
      JSON.stringify({ version: 1, operationUrl: `${server.url}/v1.0/sites/s1/operations/${op.id}` }),
    );
    const controller = new AbortController();
    poller.onProgress(() => {
      if (streamSignal) controller.abort(new Error('enough'));
    });
    await expect(poller.pollUntilDone({ signal: controller.signal })).rejects.toThrow('enough');
    // The stream's fetch was aborted with the caller's signal, which closes its connection.
    expect(streamSignal).not.toBeNull();
    expect(streamSignal!.aborted).toBe(true);
    expect(poller.isDone()).toBe(false);
  });
});

describe('servers that do not offer a usable stream', () => {
  let fake: Server;
  let base: string;
  const seen: { url: string; accept: string | undefined }[] = [];
  let reads = 0;
  /** Graph-like: the operation JSON, Retry-After, no Link; or a Link to an "events" URL that is JSON. */
  let advertise = false;
  /** When set, `/events` is this event stream instead, written in these pieces, then cut off. */
  let streamPieces: string[] | undefined;
  let streamed: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    fake = createServer((req: IncomingMessage, res) => {
      seen.push({ url: req.url ?? '', accept: req.headers.accept });
      if (req.url?.endsWith('/events') && streamPieces) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const pieces = streamPieces;
        streamed = (async () => {
          for (const piece of pieces) {
            res.write(piece);
            await sleep(50); // separate network reads, so the parser sees the pieces apart
          }
          res.destroy(); // cut off mid-event, as a dropped connection would
        })();
        return;
      }
      if (req.url?.endsWith('/events')) {
        // A proxy or server that ignores Accept: 200, but not an event stream.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"value":[]}');
        return;
      }
      reads++;
      const status = reads < (streamPieces ? 2 : 3) ? 'running' : 'succeeded';
      res.writeHead(200, {
        'content-type': 'application/json',
        'retry-after': '0',
        ...(advertise && {
          link: '</v1.0/operations/op1/events>; rel="alternate"; type="text/event-stream"',
        }),
      });
      res.end(
        JSON.stringify({
          '@odata.context': `${base}/v1.0/$metadata#operations/$entity`,
          id: 'op1',
          status,
          percentageComplete: reads * 30,
        }),
      );
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => fake.close(() => resolve())));

  const run = async (onProgress?: (operation: Json) => void) => {
    seen.length = 0;
    reads = 0;
    const poller = createClient({ baseUrl: `${base}/v1.0` }).resumePoller(
      JSON.stringify({ version: 1, operationUrl: `${base}/v1.0/operations/op1` }),
    );
    if (onProgress) poller.onProgress((o) => onProgress(o as unknown as Json));
    return poller.pollUntilDone({ intervalMs: 10 });
  };

  it('polls a server without the Link header and sends no stream request', async () => {
    advertise = false;
    expect((await run()).status).toBe('succeeded');
    expect(seen.length).toBe(3);
    expect(seen.every((r) => r.accept === 'application/json' && !r.url.endsWith('/events'))).toBe(true);
  });

  it('falls back to polling when the advertised stream is not an event stream, without looping hot', async () => {
    advertise = true;
    expect((await run()).status).toBe('succeeded');
    const streams = seen.filter((r) => r.url.endsWith('/events'));
    expect(streams.length).toBeGreaterThanOrEqual(1);
    expect(streams.every((r) => r.accept === 'text/event-stream')).toBe(true);
    // Each failed stream is followed by a poll, never by another stream at once.
    for (let i = 1; i < seen.length; i++) {
      if (seen[i].url.endsWith('/events')) expect(seen[i - 1].url.endsWith('/events')).toBe(false);
    }
    expect(reads).toBe(3);
  });

  it('reads events split across network reads, and polls when the stream is cut off mid-event', async () => {
    advertise = true;
    const running = JSON.stringify({
      '@odata.etag': '"7"',
      id: 'op1',
      status: 'running',
      percentageComplete: 60,
    });
    streamPieces = [
      'retry: 2000\r\n\r\n: keep-alive\n\nid: 7\nda',
      `ta: ${running.slice(0, 20)}`,
      `${running.slice(20)}\r`,
      '\n\r\nid: 8\ndata: {"@odata.etag":"\\"8\\"","id":"op1","status":"succ', // never finished
    ];
    try {
      const progress: string[] = [];
      const final = await run((o) => progress.push(`${String(o.status)} ${String(o.percentageComplete)}`));
      await streamed;
      expect(final.status).toBe('succeeded');
      // The first poll, the event from the stream (read whole from four pieces), then the fallback poll.
      expect(progress).toEqual(['running 30', 'running 60', 'succeeded 60']);
      expect(seen.map((r) => r.url.endsWith('/events'))).toEqual([false, true, false]);
    } finally {
      streamPieces = undefined;
    }
  });
});
