/**
 * Engine throughput in its own process: N no-op operations created first, then run to succeeded by one
 * worker pool at concurrency 8; and create-to-start latency at a steady 200 starts/s. The same for the
 * baselines (graphile-worker, pg-boss) with the settings reference/queue-anchors.md documents.
 * Usage: engine.ts <longrun-sqlite|longrun-postgres|graphile-worker|pg-boss> <N> [postgres-url]
 * Prints one JSON line: { opsPerSec, p50Ms, p99Ms }.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLongrun, type Longrun } from '../src/longrun.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const [system, countText, pgUrl] = process.argv.slice(2);
const N = Number(countText);
const CONCURRENCY = 8;
/** Starts at 200/s for the latency measurement: 5 s in a full run, 1.5 s in a quick one. */
const LATENCY_SAMPLES = N >= 10_000 ? 1000 : 300;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Starts `count` jobs at `perSecond` (drift-corrected), returning start→handler latencies in ms. */
async function steadyLatency(count: number, enqueue: (t: number) => Promise<unknown>, latencies: number[]) {
  const begin = now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const due = begin + i * 5;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    pending.push(enqueue(now()));
  }
  await Promise.all(pending);
  const deadline = now() + 10_000;
  while (latencies.length < count && now() < deadline) await sleep(10);
  return latencies.slice(Math.floor(count / 10)); // the first tenth is warm-up
}

async function longrun(kind: 'sqlite' | 'postgres') {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-engine-'));
  const latencies: number[] = [];
  let started: number | undefined;
  const handler = {
    name: 'noop',
    maxAttempts: 1,
    async run(ctx: { input: { t?: number } }) {
      started ??= now();
      if (ctx.input?.t) latencies.push(now() - ctx.input.t);
    },
  };
  const makeNode = (worker: boolean): Promise<Longrun> =>
    createLongrun({
      store:
        kind === 'postgres'
          ? new PostgresStore({ connectionString: pgUrl })
          : new SqliteStore({ file: join(dir, 'e.db') }),
      handlers: [handler as never],
      worker: worker ? { concurrency: CONCURRENCY, pollIntervalMs: 200, leaseMs: 30_000 } : false,
      retention: false,
      webhooks: false,
    });
  // Fill, untimed, with workers off.
  const filler = await makeNode(false);
  for (let i = 0; i < N; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, N - i) }, () =>
        filler.start('noop', {}, { collection: '/operations' }),
      ),
    );
  }
  await filler.close();
  const node = await makeNode(true);
  const done = async () =>
    (await node.store.count('', 'operations', { op: 'eq', field: 'status', value: 2 })) >= N;
  while (!(await done())) await sleep(5);
  const elapsed = now() - (started ?? now());
  const lat = await steadyLatency(
    1000,
    (t) => node.start('noop', { t }, { collection: '/sites/latency/operations' }),
    latencies,
  );
  await node.close();
  return { opsPerSec: (N / elapsed) * 1000, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

async function graphileWorker() {
  process.env.NO_LOG_SUCCESS = '1';
  const { run, makeWorkerUtils } = await import('graphile-worker');
  const utils = await makeWorkerUtils({ connectionString: pgUrl });
  await utils.migrate();
  await utils.addJobs(Array.from({ length: N }, (_, i) => ({ identifier: 'noop', payload: { i } })));
  let started: number | undefined;
  const latencies: number[] = [];
  const runner = await run({
    connectionString: pgUrl,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    taskList: {
      noop: async (payload: unknown) => {
        started ??= now();
        const t = (payload as { t?: number }).t;
        if (t) latencies.push(now() - t);
      },
    },
  });
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  while (
    Number((await client.query('SELECT count(*) AS n FROM graphile_worker._private_jobs')).rows[0].n) > 0
  )
    await sleep(1);
  const elapsed = now() - (started ?? now());
  const lat = await steadyLatency(LATENCY_SAMPLES, (t) => utils.addJob('noop', { t }), latencies);
  await runner.stop();
  await utils.release();
  await client.end();
  return { opsPerSec: (N / elapsed) * 1000, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

async function pgBoss() {
  const { PgBoss } = (await import('pg-boss')) as unknown as { PgBoss: new (o: object) => any };
  // Throughput: burst mode reads the cached ready count, refreshed every queueCacheIntervalSeconds (60 s by
  // default): refresh it every second so the burst engages while the backlog lasts.
  const boss = new PgBoss({ connectionString: pgUrl, queueCacheIntervalSeconds: 1 });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('noop');
  for (let i = 0; i < N; i += 1000) {
    await boss.insert(
      'noop',
      Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ data: { i: i + j } })),
    );
  }
  await boss.supervise('noop');
  await sleep(1500); // let the queue cache see the backlog
  let started: number | undefined;
  await boss.work(
    'noop',
    { localConcurrency: CONCURRENCY, batchSize: 1, burstWhenReadyExceeds: 1 },
    async () => {
      started ??= now();
    },
  );
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  const left = async () =>
    Number(
      (
        await client.query(
          "SELECT count(*) AS n FROM pgboss.job WHERE name = 'noop' AND state <> 'completed'",
        )
      ).rows[0].n,
    );
  while ((await left()) > 0) await sleep(1);
  const elapsed = now() - (started ?? now());
  await boss.stop({ graceful: false });

  // Latency: LISTEN/NOTIFY on, as queue-anchors.md measured it.
  const latencies: number[] = [];
  const notified = new PgBoss({ connectionString: pgUrl, useListenNotify: true });
  notified.on('error', () => {});
  await notified.start();
  await notified.createQueue('latency', { notify: true });
  await notified.work(
    'latency',
    { localConcurrency: CONCURRENCY, batchSize: 1 },
    async (jobs: { data: { t: number } }[]) => {
      for (const job of jobs) latencies.push(now() - job.data.t);
    },
  );
  const lat = await steadyLatency(LATENCY_SAMPLES, (t) => notified.send('latency', { t }), latencies);
  await notified.stop({ graceful: false });
  await client.end();
  return { opsPerSec: (N / elapsed) * 1000, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

const result =
  system === 'longrun-sqlite'
    ? await longrun('sqlite')
    : system === 'longrun-postgres'
      ? await longrun('postgres')
      : system === 'graphile-worker'
        ? await graphileWorker()
        : await pgBoss();
console.log(JSON.stringify(result));
process.exit(0);
