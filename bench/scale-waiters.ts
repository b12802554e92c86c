/**
 * Issue 18's scale target for held reads: many `Prefer: wait` readers and event streams on one node.
 *
 * The node (createLongrun, SQLite, auth off: loopback only, workers off) runs in a child process of its
 * own, so its RSS (/proc/<pid>/status VmRSS, and VmHWM for the peak) is the server's alone. This process
 * creates `operations` operations, then opens `waiters` readers (`GET {id}` with `Prefer: wait=30` and
 * If-None-Match, re-armed after every answer) and `streams` SSE streams (`GET {id}/events`), spread evenly
 * over the operations, each on a socket of its own (one undici Agent, unlimited connections per origin).
 * Then `rounds` rounds of changes: a PATCH of statusDetail on every operation, paced evenly over
 * `spreadMs` (0: all at once, the burst case), a pause between rounds for the waiters to re-arm.
 *
 * Each delay runs from the moment the PATCH is sent (before its acknowledgment; the PATCH's own latency is
 * reported beside) to the moment the client has the changed operation: a waiter's whole answer read, or
 * the stream's data line carrying the new statusDetail received.
 *
 * The node is given limits.maxConnections 100,000 (the default, 10,000, would refuse the 12,000 sockets
 * here: a deployment holding this many must raise it too). Both processes need a file descriptor per
 * socket: the soft `ulimit -n` must exceed waiters + streams (20,000 here); raise it in the shell first
 * (`ulimit -n 65536`) if it doesn't.
 *
 * Usage: node --import tsx bench/scale-waiters.ts [--small] [--dist] [--profile] [--verbose]
 *          [waiters streams operations rounds spreadMs]
 *   defaults 10000 2000 100 5 1000 (plus one unmeasured warm-up round); --small is 500 100 20 3 500.
 *   --dist: the node runs the compiled build (`npm run build` first), as deployed: its RSS is then
 *   longrun's, without tsx's loader (which adds about 40 MB to every figure).
 *   --profile: the node writes V8 CPU profiles (bench/out/profiles/; the largest is the main thread) and
 *   its heap breakdown (process.memoryUsage) is printed, and a heap snapshot of the armed node is written
 *   there too. --verbose: progress while the clients open.
 *   --heap=<MB>: the node runs with --max-old-space-size=<MB>.
 * Prints a table and one JSON line.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { percentile } from './stats.js';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The node under test, as an inline module so it can load the compiled build (`--dist`: dist/, as a
 * deployment runs it, without tsx's loader in the process) or the sources through tsx. Prints
 * { port, pid } when ready; answers IPC 'memory' with process.memoryUsage().
 */
const serverCode = (entry: string) => `
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const { createLongrun } = await import(${JSON.stringify(entry)});
const dir = mkdtempSync(join(tmpdir(), 'longrun-scale-'));
const node = await createLongrun({
  dbFile: join(dir, 'scale.db'),
  worker: false,
  retention: false,
  webhooks: false,
  limits: { maxConnections: 100000 },
});
const url = await node.listen(0, '127.0.0.1');
process.on('message', (m) => {
  if (m === 'memory') process.send({ memory: process.memoryUsage() });
});
// BENCH_MEMTRACE=<ms>: the node prints its memory every <ms> to stderr (RSS, V8 heap by space, external).
if (process.env.BENCH_MEMTRACE) {
  const v8 = await import('node:v8');
  const t0 = Date.now();
  const M = (x) => Math.round(x / 1048576);
  setInterval(() => {
    const m = process.memoryUsage();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace('_space', ''), M(s.space_size) + '/' + M(s.space_used_size)]));
    process.stderr.write('mem ' + JSON.stringify({ t: Date.now() - t0, rss: M(m.rss), heapTotal: M(m.heapTotal), heapUsed: M(m.heapUsed), external: M(m.external), arrayBuffers: M(m.arrayBuffers), ...spaces }) + '\\n');
  }, Number(process.env.BENCH_MEMTRACE)).unref();
}
process.on('SIGTERM', () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
console.log(JSON.stringify({ port: Number(new URL(url).port), pid: process.pid }));
`;

await drive();

interface Memory {
  rssMb: number;
  hwmMb: number;
}

async function drive(): Promise<void> {
  const argv = process.argv.slice(2);
  const small = argv.includes('--small');
  const profile = argv.includes('--profile');
  const verbose = argv.includes('--verbose');
  const dist = argv.includes('--dist');
  // --heap=<MB>: the node's --max-old-space-size, to see what the RSS is with the heap's headroom capped.
  const heapMb = argv.find((a) => a.startsWith('--heap='))?.slice(7);
  const nums = argv.filter((a) => !a.startsWith('--')).map(Number);
  const [waiters, streams, operations, rounds, spreadMs] = [
    nums[0] ?? (small ? 500 : 10_000),
    nums[1] ?? (small ? 100 : 2_000),
    nums[2] ?? (small ? 20 : 100),
    nums[3] ?? (small ? 3 : 5),
    nums[4] ?? (small ? 500 : 1_000),
  ];
  const profDir = `${here}out/profiles`;
  if (profile) mkdirSync(profDir, { recursive: true });
  const entry = dist ? `${here}../dist/longrun.js` : `${here}../src/longrun.ts`;
  const child = spawn(
    process.execPath,
    [
      ...(dist ? [] : ['--import', 'tsx']),
      ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--heapsnapshot-signal=SIGUSR2'] : []),
      ...(heapMb ? [`--max-old-space-size=${heapMb}`] : []),
      // BENCH_NODE_FLAGS: more flags for the node (e.g. --trace-gc), to see where its memory goes.
      ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
      '--input-type=module',
      '-e',
      serverCode(entry),
    ],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], cwd: profile ? profDir : undefined },
  );
  const ready = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    // The first JSON line; any other output of the node (--trace-gc's) goes to stderr.
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!ready && line.startsWith('{')) {
        ready = true;
        resolve(JSON.parse(line));
      } else console.error(line);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  const base = `http://127.0.0.1:${ready.port}`;
  const memory = (): Memory => {
    const status = readFileSync(`/proc/${ready.pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
    return { rssMb: Math.round(kb('VmRSS') / 1024), hwmMb: Math.round(kb('VmHWM') / 1024) };
  };
  const heap = () =>
    new Promise<NodeJS.MemoryUsage>((resolve) => {
      child.once('message', (m) => resolve((m as { memory: NodeJS.MemoryUsage }).memory));
      child.send('memory');
    });

  // Every held request needs a socket of its own: no cap on connections per origin, no pipelining.
  const agent = new Agent({
    connections: null,
    pipelining: 1,
    keepAliveTimeout: 120_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: 30_000 },
  });
  const now = () => performance.now();
  let errors = 0;
  const errorSamples: string[] = [];
  const fail = (what: string, error: unknown) => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(`${what}: ${String(error)}`);
  };

  // The operations, through the API (notStarted, so waits hold).
  const ids: string[] = [];
  for (let i = 0; i < operations; i++) {
    const res = await request(`${base}/v1.0/operations`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    ids.push(((await res.body.json()) as { id: string }).id);
  }
  const before = memory();

  /** When each change was sent: `sentAt.get(id)[round]`. */
  const sentAt = new Map<string, number[]>(ids.map((id) => [id, []]));
  const roundOf = (text: string): number | undefined => {
    const m = /"statusDetail":"r(\d+)"/.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const waiterDelays: number[] = [];
  const streamDelays: number[] = [];
  let stopping = false;

  // Waiters: a plain GET for the tag, then held reads, re-armed after each answer.
  let armedWaiters = 0;
  const waiter = async (id: string) => {
    const url = `${base}/v1.0/operations/${id}`;
    let etag = '';
    let seen = -1;
    try {
      const first = await request(url, { dispatcher: agent });
      const firstText = await first.body.text();
      if (first.statusCode !== 200) throw new Error(`status ${first.statusCode} ${firstText.slice(0, 200)}`);
      etag = String(first.headers.etag);
      armedWaiters++;
      while (!stopping) {
        const res = await request(url, {
          dispatcher: agent,
          headers: { prefer: 'wait=30', 'if-none-match': etag },
        });
        const text = await res.body.text();
        const at = now();
        // 304: the time ran out (or the node is closing) with nothing new; ask again.
        if (res.statusCode === 304) continue;
        if (res.statusCode !== 200) {
          fail('waiter', `status ${res.statusCode} ${text.slice(0, 200)}`);
          continue;
        }
        if (typeof res.headers.etag !== 'string')
          fail('waiter', `200 without an ETag: ${text.slice(0, 200)}`);
        else etag = res.headers.etag;
        const round = roundOf(text);
        if (round !== undefined && round !== seen) {
          seen = round;
          waiterDelays.push(at - sentAt.get(id)![round]);
        }
      }
    } catch (error) {
      if (!stopping) fail('waiter', error);
    }
  };

  let armedStreams = 0;
  const streamClosers: (() => void)[] = [];
  const stream = async (id: string) => {
    const controller = new AbortController();
    streamClosers.push(() => controller.abort());
    let seen = -1;
    let counted = false;
    try {
      const res = await request(`${base}/v1.0/operations/${id}/events`, {
        dispatcher: agent,
        signal: controller.signal,
      });
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      res.body.setEncoding('utf8');
      let pending = '';
      for await (const chunk of res.body as AsyncIterable<string>) {
        const at = now();
        pending += chunk;
        const end = pending.lastIndexOf('\n\n');
        if (end < 0) continue;
        const complete = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (!counted && complete.includes('data: ')) {
          counted = true;
          armedStreams++;
        }
        const round = roundOf(complete.slice(complete.lastIndexOf('data: ')));
        if (round !== undefined && round !== seen) {
          seen = round;
          streamDelays.push(at - sentAt.get(id)![round]);
        }
      }
    } catch (error) {
      if (!stopping) fail('stream', error);
    }
  };

  // Open the clients in batches, so the accept queue never overflows.
  const clientsOpening = now();
  const running: Promise<void>[] = [];
  const BATCH = 500;
  for (let i = 0; i < waiters + streams; i += BATCH) {
    for (let j = i; j < Math.min(i + BATCH, waiters + streams); j++) {
      running.push(j < waiters ? waiter(ids[j % operations]) : stream(ids[(j - waiters) % operations]));
    }
    const target = Math.min(i + BATCH, waiters + streams);
    const stuck = now() + 30_000;
    while (armedWaiters + armedStreams + errors < target && now() < stuck) await sleep(5);
    if (now() >= stuck)
      console.error(`opening: only ${armedWaiters + armedStreams} of ${target} answered in 30 s`);
    if (verbose) {
      console.error(
        `opened ${target} in ${Math.round(now() - clientsOpening)} ms (RSS ${memory().rssMb} MB, errors ${errors})`,
      );
    }
  }
  const openMs = Math.round(now() - clientsOpening);
  await sleep(1000); // the last waiters' held reads reach the server
  const armed = memory();
  if (process.env.BENCH_MEMTRACE) console.error(`phase armed (RSS ${armed.rssMb} MB)`);
  const armedHeap = profile ? await heap() : undefined;
  if (profile) {
    // A heap snapshot of the armed node (written to bench/out/profiles/; the node pauses while it writes).
    child.kill('SIGUSR2');
    await sleep(1000);
    await heap(); // answered once the snapshot is written
  }

  const patchMs: number[] = [];
  const cpuMs = () => {
    const fields = readFileSync(`/proc/${ready.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 10 ms ticks
  };
  const cpuAtRounds = cpuMs();
  const roundsStart = now();
  // Round 0 warms the node's JIT up and is not counted.
  for (let round = 0; round <= rounds; round++) {
    if (process.env.BENCH_MEMTRACE) console.error(`phase round ${round} (RSS ${memory().rssMb} MB)`);
    const begin = now();
    const patches: Promise<void>[] = [];
    for (let i = 0; i < operations; i++) {
      const wait = begin + (i * spreadMs) / operations - now();
      if (wait > 0) await sleep(wait);
      const id = ids[i];
      patches.push(
        (async () => {
          const t = now();
          sentAt.get(id)![round] = t;
          const res = await request(`${base}/v1.0/operations/${id}`, {
            method: 'PATCH',
            dispatcher: agent,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ statusDetail: `r${round}` }),
          });
          await res.body.text();
          if (round > 0) patchMs.push(now() - t);
          if (res.statusCode !== 200) fail('patch', `status ${res.statusCode}`);
        })().catch((error) => fail('patch', error)),
      );
    }
    await Promise.all(patches);
    // Every client has this round's change (or ten seconds have passed), then a pause to re-arm. The
    // counts start again after the warm-up round.
    const expected = (round === 0 ? 1 : round) * (waiters + streams);
    const deadline = now() + 10_000;
    while (waiterDelays.length + streamDelays.length < expected && now() < deadline) await sleep(10);
    if (round === 0) {
      waiterDelays.length = 0;
      streamDelays.length = 0;
    }
    await sleep(500);
  }
  const roundsMs = Math.round(now() - roundsStart);
  // The node's CPU time (user + system) over the rounds: less noisy than the delays on a shared machine.
  const roundsCpuMs = cpuMs() - cpuAtRounds;
  const after = memory();
  const afterHeap = profile ? await heap() : undefined;
  const missed = rounds * (waiters + streams) - waiterDelays.length - streamDelays.length;

  stopping = true;
  for (const close of streamClosers) close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await agent.destroy().catch(() => {});
  await Promise.race([Promise.allSettled(running), sleep(2000)]);

  const stats = (values: number[]) => ({
    n: values.length,
    p50Ms: round1(percentile(values, 50)),
    p99Ms: round1(percentile(values, 99)),
    maxMs: round1(Math.max(...values)),
  });
  const result = {
    waiters,
    streams,
    operations,
    rounds,
    spreadMs,
    openMs,
    roundsMs,
    roundsCpuMs,
    rss: { beforeMb: before.rssMb, armedMb: armed.rssMb, afterMb: after.rssMb, peakMb: after.hwmMb },
    waiter: stats(waiterDelays),
    stream: stats(streamDelays),
    patch: stats(patchMs),
    missed,
    errors,
    errorSamples,
    load: loadavg().map(round1),
    ...(profile && { armedHeap: mb(armedHeap!), afterHeap: mb(afterHeap!) }),
    delayFrom: 'PATCH sent (before its acknowledgment)',
  };
  const row = (name: string, s: ReturnType<typeof stats>) =>
    `${name.padEnd(8)} n=${String(s.n).padStart(6)}  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms  max ${s.maxMs} ms`;
  console.error(
    [
      `${waiters} waiters + ${streams} streams on ${operations} operations, ${rounds} rounds of PATCHes spread over ${spreadMs} ms (opened in ${openMs} ms)`,
      `RSS before ${before.rssMb} MB, armed ${armed.rssMb} MB, after ${after.rssMb} MB, peak ${after.hwmMb} MB`,
      row('waiter', result.waiter),
      row('stream', result.stream),
      row('patch', result.patch),
      `node CPU over the rounds ${roundsCpuMs} ms (of ${roundsMs} ms)`,
      `missed ${missed}, errors ${errors}${errorSamples.length ? ` (${errorSamples.join('; ')})` : ''}, load ${result.load.join(' ')}`,
    ].join('\n'),
  );
  console.log(JSON.stringify(result));
  process.exit(0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
function mb(m: NodeJS.MemoryUsage): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 1048576)]));
}
