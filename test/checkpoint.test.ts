/**
 * ctx.checkpoint in-process: the size limit and non-JSON states fail at the call with an error naming the
 * rule, many calls coalesce into few writes, and an awaited checkpoint is in the store when it resolves.
 * (The crash-and-resume acceptance is in test/recovery.test.ts.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_CHECKPOINT_BYTES, type HandlerDefinition } from '../src/engine/handler.js';
import { STATUS } from '../src/model/status.js';
import { startTestServer, type TestServer } from './support/server.js';

const observed: Record<string, unknown> = {};

const saver: HandlerDefinition = {
  name: 'saver',
  async run(ctx) {
    try {
      void ctx.checkpoint({ blob: 'x'.repeat(MAX_CHECKPOINT_BYTES) });
    } catch (error) {
      observed.tooBig = (error as Error).message;
    }
    try {
      void ctx.checkpoint({ n: 1n });
    } catch (error) {
      observed.notJson = (error as Error).message;
    }
    for (let i = 1; i < 200; i++) void ctx.checkpoint({ i });
    await ctx.checkpoint({ i: 200 });
    observed.stored = (await server.node.store.get(ctx.operation))?.checkpoint;
  },
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ handlers: [saver as HandlerDefinition<never>], retention: false });
});
afterAll(() => server?.close());

it('limits, coalesces and makes durable what a handler checkpoints', async () => {
  const op = await server.node.start('saver', null);
  await new Promise<void>((resolve) => {
    const off = server.node.service.changes.subscribeOperation(op, (c) => {
      if (c.record?.status === STATUS.succeeded) {
        off();
        resolve();
      }
    });
  });
  expect(observed.tooBig).toMatch(/is \d+ bytes as JSON; the limit is 65536 bytes \(64 KiB\)/);
  expect(observed.notJson).toMatch(/must be JSON-serializable/);
  expect(observed.stored).toEqual({ i: 200 });
  const history = await server.node.store.history(op);
  // 200 calls, a handful of writes (and checkpoints alone don't enter the history).
  expect(history.filter((e) => e.kind === 'checkpoint')).toHaveLength(0);
  const version = (await server.node.store.get(op))!.version;
  expect(version).toBeLessThan(20);
});
