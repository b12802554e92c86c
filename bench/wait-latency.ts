/**
 * Issue 8's scenario: how soon a client learns that its operation finished, when it waits with
 * `Prefer: wait=30` versus when it polls every second. A handler sleeps 50–250 ms and records when it
 * finishes; the client records when a response first shows `succeeded`. Samples run a few at a time
 * (the load is tiny either way). SQLite store, one process, workers on with their default settings.
 * The sleeps are spread evenly over 50–250 ms (not drawn at random), so that a polling delay's median
 * does not depend on the luck of a few draws and quick and full runs agree; one unmeasured batch first
 * warms each path.
 * Usage: wait-latency.ts <wait-samples> <poll-samples>. Prints { wait: {p50Ms, p99Ms}, poll: {p50Ms, p99Ms} }.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLongrun } from '../src/longrun.js';
import { percentile } from './stats.js';

const waitSamples = Number(process.argv[2] ?? 20);
const pollSamples = Number(process.argv[3] ?? 10);
const AT_ONCE = 10;
const now = () => performance.timeOrigin + performance.now();
const finished = new Map<string, number>();
const dir = mkdtempSync(join(tmpdir(), 'longrun-wait-'));
const node = await createLongrun({
  dbFile: join(dir, 'w.db'),
  handlers: [
    {
      name: 'short',
      async run(ctx) {
        await sleep((ctx.input as { ms: number }).ms);
        finished.set(ctx.operation.id, now()); // the outcome is written right after this returns
      },
    },
  ],
  retention: false,
  webhooks: false,
});
const url = await node.listen(0, '127.0.0.1');

async function measure(
  samples: number,
  follow: (opUrl: string) => Promise<void>,
): Promise<{ p50Ms: number; p99Ms: number; samples: number }> {
  const delays: number[] = [];
  // Sample i sleeps the (37 i mod n)-th of n evenly spaced durations: each batch gets a spread of them.
  const sleepMs = (i: number, n: number) => 50 + (200 * (((i * 37) % n) + 0.5)) / n;
  const one = async (ms: number, into?: number[]) => {
    const op = await node.start('short', { ms }, { collection: '/operations' });
    await follow(`${url}/v1.0/operations/${op.id}`);
    into?.push(now() - finished.get(op.id)!);
  };
  await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => one(sleepMs(i, AT_ONCE))));
  for (let i = 0; i < samples; i += AT_ONCE) {
    const batch = Array.from({ length: Math.min(AT_ONCE, samples - i) }, (_, j) => i + j);
    await Promise.all(batch.map((k) => one(sleepMs(k, samples), delays)));
  }
  return { p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), samples };
}

const status = async (res: Response) => ((await res.json()) as { status: string }).status;
const wait = await measure(waitSamples, async (opUrl) => {
  while ((await status(await fetch(opUrl, { headers: { prefer: 'wait=30' } }))) !== 'succeeded');
});
const poll = await measure(pollSamples, async (opUrl) => {
  while ((await status(await fetch(opUrl))) !== 'succeeded') await sleep(1000);
});
console.log(JSON.stringify({ wait, poll }));
await node.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
