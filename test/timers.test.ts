/**
 * Timers, not ticks: a retry runs when its backoff says, not at the worker's next poll. The poll interval
 * is set to a minute here, so a retry that waited for the tick would not run within the test at all;
 * with `retryBaseMs: 200` the gaps follow 200/400/800 ms (equal jitter: each between half its ceiling and
 * the ceiling). The measured gaps are printed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HandlerDefinition } from '../src/engine/handler.js';
import { DueTimes } from '../src/engine/worker.js';
import { STATUS } from '../src/model/status.js';
import { startTestServer, type TestServer } from './support/server.js';

const failedAt: number[] = [];
const startedAt: number[] = [];

const flaky: HandlerDefinition = {
  name: 'flaky',
  maxAttempts: 4,
  async run(ctx) {
    startedAt.push(Date.now());
    if (ctx.attempt < 4) {
      failedAt.push(Date.now());
      throw new Error(`attempt ${ctx.attempt} fails`);
    }
    return { statusDetail: 'fourth time lucky' };
  },
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    handlers: [flaky as HandlerDefinition<never>],
    worker: { retryBaseMs: 200, pollIntervalMs: 60_000 },
    retention: false,
  });
});
afterAll(() => server?.close());

it('runs each retry when its backoff is due, not at the next poll', async () => {
  const op = await server.node.start('flaky', null);
  const done = await new Promise<number>((resolve) => {
    const off = server.node.service.changes.subscribeOperation(op, (c) => {
      if (c.record?.status === STATUS.succeeded) {
        off();
        resolve(Date.now());
      }
    });
  });
  expect(startedAt).toHaveLength(4);
  const gaps = failedAt.map((t, i) => startedAt[i + 1] - t);
  const ceilings = [200, 400, 800];
  console.log(
    `retry gaps with retryBaseMs 200 (ceilings ${ceilings.join('/')} ms, poll 60 s): ${gaps.join(', ')} ms; done ${done - startedAt[0]} ms after the first attempt`,
  );
  // Each gap at least the backoff's floor (half its ceiling): the retry waited for its time...
  gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(ceilings[i] / 2));
  // ...and not for a poll: the next tick was a minute away.
  gaps.forEach((gap) => expect(gap).toBeLessThan(30_000));
});

it('DueTimes keeps the earliest first and forgets what a claim covered', () => {
  const due = new DueTimes();
  expect(due.add(300)).toBe(true);
  expect(due.add(500)).toBe(false);
  expect(due.add(100)).toBe(true);
  expect(due.add(100)).toBe(false);
  expect(due.earliest()).toBe(100);
  due.passed(300);
  expect(due.earliest()).toBe(500);
  due.passed(1000);
  expect(due.earliest()).toBeUndefined();
});
