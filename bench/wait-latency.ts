/**
 * Issue 8's scenario: how soon a client learns that an operation finished, waiting with `Prefer: wait`
 * versus polling every second. A handler records when it finishes; the client records when its response
 * shows `succeeded`. Usage: wait-latency.ts <samples>. Prints { wait: {p50Ms, p99Ms}, poll: {p50Ms, p99Ms} }.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLongrun } from '../src/longrun.js';

const samples = Number(process.argv[2] ?? 20);
const now = () => performance.timeOrigin + performance.now();
const finished = new Map<string, number>();
const node = await createLongrun({
  dbFile: join(mkdtempSync(join(tmpdir(), 'longrun-wait-')), 'w.db'),
  handlers: [
    {
      name: 'short',
      async run(ctx) {
        await sleep(50 + Math.random() * 200);
        finished.set(ctx.operation.id, now()); // the result is written right after this returns
      },
    },
  ],
  worker: { pollIntervalMs: 50 },
  retention: false,
  webhooks: false,
});
const url = await node.listen(0, '127.0.0.1');

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];

async function measure(poll: (opUrl: string) => Promise<void>): Promise<{ p50Ms: number; p99Ms: number }> {
  const delays: number[] = [];
  for (let i = 0; i < samples; i++) {
    const op = await node.start('short', {}, { collection: '/operations' });
    const opUrl = `${url}/v1.0/operations/${op.id}`;
    await poll(opUrl);
    delays.push(now() - finished.get(op.id)!);
  }
  return { p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99) };
}

const status = async (res: Response) => ((await res.json()) as { status: string }).status;
const wait = await measure(async (opUrl) => {
  while ((await status(await fetch(opUrl, { headers: { prefer: 'wait=30' } }))) !== 'succeeded');
});
const poll = await measure(async (opUrl) => {
  while ((await status(await fetch(opUrl))) !== 'succeeded') await sleep(1000);
});
console.log(JSON.stringify({ wait, poll }));
await node.close();
process.exit(0);
