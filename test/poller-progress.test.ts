/**
 * The client's poller sees every change: against a real node, `pollUntilDone()` with its default options
 * follows the operation's event stream (advertised by the GET's Link header) and calls `onProgress` for
 * the progress a job reports every 200 ms, with fewer requests than plain 1 s polling would send. With
 * `stream: false` it long-polls as before (Prefer: wait=30 plus If-None-Match with the ETag it holds).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient } from '../src/client/index.js';
import type { PollUntilDoneOptions } from '../src/client/poller.js';
import type { HandlerDefinition } from '../src/engine/handler.js';
import { startTestServer, type TestServer } from './support/server.js';

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

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ handlers: [ticker as HandlerDefinition<never>], retention: false });
});
afterAll(() => server?.close());

interface Sent {
  status: number;
  accept: string | null;
  ifNoneMatch: string | null;
  link: string | null;
}

/** Runs a ticker job to its end through the client's poller; what it saw and what it sent. */
async function follow(options?: PollUntilDoneOptions) {
  const op = await server.node.start('ticker', null, { collection: '/sites/s1/operations' });
  const operationUrl = `${server.url}/v1.0/sites/s1/operations/${op.id}`;
  const requests: Sent[] = [];
  const client = createClient({
    baseUrl: `${server.url}/v1.0`,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      const headers = new Headers(init?.headers);
      requests.push({
        status: res.status,
        accept: headers.get('accept'),
        ifNoneMatch: headers.get('if-none-match'),
        link: res.headers.get('link'),
      });
      return res;
    },
  });
  const poller = client.resumePoller(JSON.stringify({ version: 1, operationUrl }));
  const seen: { percent: number; state: string }[] = [];
  poller.onProgress((o) => {
    const percent = (o as { percentageComplete?: number | null }).percentageComplete ?? 0;
    seen.push({ percent, state: `${o.status} ${percent} ${o.statusDetail}` });
  });
  const started = Date.now();
  const final = await poller.pollUntilDone(options);
  const elapsedMs = Date.now() - started;
  return { final, seen, requests, elapsedMs, operationUrl };
}

function expectEveryChangeOnce(seen: { percent: number; state: string }[]): void {
  expect(seen.length).toBeGreaterThanOrEqual(10);
  // Each callback saw something new: progress never goes back, and no state is reported twice.
  const percents = seen.map((s) => s.percent);
  expect(percents).toEqual([...percents].sort((a, b) => a - b));
  expect(new Set(seen.map((s) => s.state)).size).toBe(seen.length);
  expect(seen.at(-1)!.state).toMatch(/^succeeded /);
}

const isStream = (r: Sent) => r.accept === 'text/event-stream';

it('the operation GET advertises its event stream in a Link header', async () => {
  const op = await server.node.start('ticker', null, { collection: '/sites/s1/operations' });
  const res = await server.request('GET', `/v1.0/sites/s1/operations/${op.id}/?$select=status`);
  expect(res.headers.get('link')).toBe(
    `<${server.url}/v1.0/sites/s1/operations/${op.id}/events>; rel="alternate"; type="text/event-stream"`,
  );
  const keyed = await server.request('GET', `/v1.0/sites/s1/operations('${op.id}')`);
  const target = /^<([^>]+)>/.exec(keyed.headers.get('link') ?? '')![1];
  // The advertised stream exists: it answers with the operation's events.
  const stream = await fetch(target, { headers: { accept: 'text/event-stream' } });
  expect(stream.status).toBe(200);
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
  await stream.body?.cancel();
  // A list is not one operation: no Link.
  expect((await server.request('GET', '/v1.0/sites/s1/operations')).headers.get('link')).toBeNull();
});

it('pollUntilDone follows the event stream: every change, fewer requests than 1 s polling', async () => {
  const { final, seen, requests, elapsedMs } = await follow();

  expect(final.status).toBe('succeeded');
  expectEveryChangeOnce(seen);
  // The stream was used: the first GET advertised it and the poller opened it.
  expect(requests[0].link).toMatch(/rel="alternate"; type="text\/event-stream"/);
  expect(requests.filter(isStream).map((r) => r.status)).toEqual([200]);
  // 1 s polling of a 3 s job sends 4 or more requests; the stream needs the first GET and itself.
  expect(requests.length).toBeLessThan(4);
  console.log(
    `poller (stream): ${seen.length} onProgress calls, ${requests.length} requests in ${elapsedMs} ms; ` +
      `1 s polling would have sent ${Math.ceil(elapsedMs / 1000) + 1} requests`,
  );
});

it('with stream: false, pollUntilDone long-polls with If-None-Match as before', async () => {
  const { final, seen, requests, elapsedMs } = await follow({ stream: false });

  expect(final.status).toBe('succeeded');
  expectEveryChangeOnce(seen);
  expect(requests.some(isStream)).toBe(false);
  // Every poll after the first carried the tag it held, and none was wasted: a request per change seen.
  expect(requests.slice(1).every((r) => r.ifNoneMatch !== null)).toBe(true);
  expect(requests.length).toBeLessThanOrEqual(seen.length + 1);
  console.log(
    `poller (stream: false): ${seen.length} onProgress calls, ${requests.length} requests ` +
      `(${requests.filter((r) => r.status === 304).length} × 304) in ${elapsedMs} ms`,
  );
});

it('checks the stream option', async () => {
  const poller = createClient({ baseUrl: `${server.url}/v1.0` }).resumePoller(
    JSON.stringify({ version: 1, operationUrl: `${server.url}/v1.0/operations/x` }),
  );
  await expect(poller.pollUntilDone({ stream: 'no' as unknown as boolean })).rejects.toThrow(
    "pollUntilDone: 'stream' must be true or false; got no.",
  );
  await expect(poller.pollUntilDone({ intervalMs: -1 })).rejects.toThrow(/'intervalMs' must be/);
});
