/**
 * The client's poller sees every change: against a real node, `pollUntilDone()` with its default options
 * (Prefer: wait=30 plus If-None-Match with the ETag it holds) calls `onProgress` for the progress a job
 * reports every 200 ms, and spends no request on an unchanged operation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient } from '../src/client/index.js';
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

it('pollUntilDone calls onProgress for every change of a job reporting every 200 ms', async () => {
  const op = await server.node.start('ticker', null, { collection: '/sites/s1/operations' });
  const operationUrl = `${server.url}/v1.0/sites/s1/operations/${op.id}`;
  const requests: { status: number; ifNoneMatch: string | null }[] = [];
  const client = createClient({
    baseUrl: `${server.url}/v1.0`,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      requests.push({ status: res.status, ifNoneMatch: new Headers(init?.headers).get('if-none-match') });
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
  const final = await poller.pollUntilDone();
  const elapsedMs = Date.now() - started;

  expect(final.status).toBe('succeeded');
  expect(seen.length).toBeGreaterThanOrEqual(10);
  // Each callback saw something new: progress never goes back, and no state is reported twice.
  const percents = seen.map((s) => s.percent);
  expect(percents).toEqual([...percents].sort((a, b) => a - b));
  expect(new Set(seen.map((s) => s.state)).size).toBe(seen.length);
  // Every poll after the first carried the tag it held, and none was wasted: a request per change seen.
  expect(requests.slice(1).every((r) => r.ifNoneMatch !== null)).toBe(true);
  expect(requests.length).toBeLessThanOrEqual(seen.length + 1);
  console.log(
    `poller: ${seen.length} onProgress calls, ${requests.length} requests (${requests.filter((r) => r.status === 304).length} × 304) in ${elapsedMs} ms; ` +
      `1 s polling would have sent ${Math.ceil(elapsedMs / 1000) + 1} requests and seen at most as many states`,
  );
});
