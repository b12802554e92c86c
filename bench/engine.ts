/**
 * Engine throughput, in a process of its own: N no-op jobs are created first (untimed), then one worker
 * pool at concurrency 8 works through them. The rate is measured over a window: the jobs the database
 * has committed as done are counted half a second after the first handler call (the warm-up: JIT,
 * connections, LISTEN) and again `window` seconds later, and the rest of the backlog is then deleted.
 * Quick and full runs measure the very same window (bench/run.ts); a full run repeats it more times.
 * With BENCH_TRACE set, the count every ~100 ms of the window goes to stderr. Without a window (`window`
 * 0) the rate runs from the first handler call to the last completion of all N. Then create→start latency: jobs started one at a time on a steady 200/s
 * schedule (drift-corrected, not awaited), each carrying the time it was started; the handler records
 * `now − t` on entry. The first tenth of the samples is warm-up.
 *
 * The same for the baselines, with the settings docs/BENCHMARKS.md lists (from
 * shared/reference/queue-anchors.md): graphile-worker 0.18 and pg-boss 12.38.
 *
 * Usage: engine.ts <longrun-sqlite|longrun-postgres|graphile-worker|graphile-worker-best|pg-boss> <N> <latency-samples> [postgres-url] [window-seconds]
 * Prints one JSON line: { opsPerSec, p50Ms, p99Ms, samplesMs, missed, cpuCores, settings } (a p50 or p99
 * beyond every sample, because jobs were missed, is null).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLongrun, type Longrun } from '../src/longrun.js';
import type { FilterNode } from '../src/model/query.js';
import { now as now7 } from '../src/model/time.js';
import type { OperationStore } from '../src/store/store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { percentileWithMissed } from './stats.js';

const [system, countText, samplesText, pgUrl, windowText] = process.argv.slice(2);
const N = Number(countText);
const WARM_MS = 500;
const WINDOW_MS = Number(windowText ?? 0) * 1000;
const LATENCY_SAMPLES = Number(samplesText);
const CONCURRENCY = 8;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The create→start latencies after warm-up (ms), so that several runs' samples can be pooled. */
  samplesMs: number[];
  /** Latency jobs not begun LATENCY_GRACE_MS after the last start (in p50Ms and p99Ms as slower than all). */
  missed: number;
  /** CPU of this (Node) process over the throughput run, in cores. */
  cpuCores: number;
  settings: string;
}

/** How long the latency run waits, after its last start, for the rest to begin; those that don't are missed. */
const LATENCY_GRACE_MS = 1000;

/**
 * Starts `count` jobs at 200/s, drift-corrected and not awaited; returns the latencies after warm-up (the
 * first tenth to arrive) and how many jobs had not begun LATENCY_GRACE_MS after the last start. Those are
 * counted as slower than any sample (`latencyFigures`), not left out: pg-boss, whose workers poll every
 * 30 s while LISTEN/NOTIFY is on and whose notifications coalesce while its workers are busy, left about
 * half of its latency jobs unstarted for over 10 s in some runs, and its percentiles were those of the
 * jobs it did start. The other systems start every job within milliseconds of the last start.
 */
async function steadyLatency(count: number, enqueue: (t: number) => Promise<unknown>, latencies: number[]) {
  const begin = now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = begin + i * 5 - now();
    if (wait > 0) await sleep(wait);
    pending.push(enqueue(now()));
  }
  await Promise.all(pending);
  const deadline = now() + LATENCY_GRACE_MS;
  while (latencies.length < count && now() < deadline) await sleep(10);
  const warm = Math.floor(count / 10);
  return { samples: latencies.slice(warm), missed: count - Math.max(latencies.length, warm) };
}

/** The figures of a latency run (the missed jobs count as slower than every sample). */
const latencyFigures = ({ samples, missed }: { samples: number[]; missed: number }) => ({
  p50Ms: percentileWithMissed(samples, missed, 50),
  p99Ms: percentileWithMissed(samples, missed, 99),
  samplesMs: samples.map((v) => Math.round(v * 1000) / 1000),
  missed,
});

/**
 * Measures a throughput run. `begin` starts the workers; `started()` is the first handler call;
 * `done()` counts the jobs the database has committed as done; `drop()` deletes the jobs not yet
 * claimed. With a window: counted WARM_MS after the first call and WINDOW_MS later (or when all N are
 * done), then the backlog dropped. Without: from the first call until all N are done.
 */
async function timed(job: {
  begin: () => Promise<void>;
  started: () => number | undefined;
  done: () => Promise<number>;
  drop: () => Promise<unknown>;
}) {
  await job.begin();
  while (job.started() === undefined) await sleep(1);
  const first = job.started()!;
  let from = first;
  let doneBefore = 0;
  if (WINDOW_MS > 0) {
    await sleep(first + WARM_MS - now());
    doneBefore = await job.done();
    from = now();
    if (doneBefore >= N)
      throw new Error(`all ${N} jobs were done within the ${WARM_MS} ms warm-up: fill more`);
  }
  const cpu = process.cpuUsage();
  const until = WINDOW_MS > 0 ? from + WINDOW_MS : Infinity;
  let doneAfter = await job.done();
  const trace: string[] = [];
  // In a window, counted every 100 ms until its end is near (so the count barely competes with the run);
  // without one, every millisecond, as the peers' docs measure.
  while (doneAfter < N && now() < until) {
    await sleep(WINDOW_MS > 0 ? Math.max(1, Math.min(100, until - now())) : 1);
    doneAfter = await job.done();
    if (process.env.BENCH_TRACE) trace.push(`${Math.round(now() - from)}:${doneAfter - doneBefore}`);
  }
  const end = now();
  if (process.env.BENCH_TRACE) console.error(`[engine ${system}] ms:done ${trace.join(' ')}`);
  const used = process.cpuUsage(cpu);
  if (doneAfter < N) await job.drop();
  const elapsed = end - from;
  return {
    opsPerSec: ((doneAfter - doneBefore) / elapsed) * 1000,
    cpuCores: (used.user + used.system) / 1000 / elapsed,
  };
}

async function longrun(kind: 'sqlite' | 'postgres'): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-engine-'));
  const latencies: number[] = [];
  let started: number | undefined;
  const handler = {
    name: 'noop',
    maxAttempts: 1,
    async run(ctx: { input: { t?: number } | null }) {
      started ??= now();
      const t = ctx.input?.t;
      if (t) latencies.push(now() - t);
    },
  };
  const makeStore = async (): Promise<OperationStore> => {
    if (kind === 'sqlite') return new SqliteStore({ file: join(dir, 'engine.db') });
    const { PostgresStore } = await import('../src/store/postgres/postgres-store.js');
    return new PostgresStore({ connectionString: pgUrl });
  };
  const makeNode = async (worker: boolean): Promise<Longrun> =>
    createLongrun({
      store: await makeStore(),
      handlers: [handler as never],
      // Defaults otherwise: poll every 1 s when idle, 30 s leases. New work wakes the worker at once.
      worker: worker ? { concurrency: CONCURRENCY } : false,
      retention: false,
      webhooks: false,
    });
  // Fill, untimed, with workers off: the same rows on both stores, straight through SQL (node.start would
  // take longer than the run itself).
  const filler = await makeNode(false);
  const fill = `INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, props,
      handler, max_attempts, run_at)`;
  if (kind === 'postgres') {
    const pool = (filler.store as unknown as { pool: pg.Pool }).pool;
    await pool.query(
      `${fill} SELECT '', 'operations', 'noop-' || g, 'longRunningOperation', 0, $2, $2, '{}', 'noop', 1, $3
       FROM generate_series(1, $1::int) g`,
      [N, now7(), Date.now()],
    );
    await pool.query('VACUUM ANALYZE operations');
    // As for the peers: the fill's dirty pages are written now, not during the measured window.
    await pool.query('CHECKPOINT');
  } else {
    const db = new Database(join(dir, 'engine.db'));
    db.prepare(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
       ${fill} SELECT '', 'operations', 'noop-' || n, 'longRunningOperation', 0, ?, ?, '{}', 'noop', 1, ? FROM g`,
    ).run(N, now7(), now7(), Date.now());
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
  }
  await filler.close();

  // Without a window the clock stops when the database says all N succeeded: counted once every handler
  // has been called, then every millisecond (so the count never competes with the run itself).
  let calls = 0;
  let allCalled: () => void = () => {};
  const called = new Promise<void>((r) => (allCalled = r));
  const counting = handler.run;
  handler.run = async (ctx) => {
    await counting(ctx);
    if (++calls === N) allCalled();
  };
  let node: Longrun | undefined;
  const succeeded: FilterNode = { op: 'eq', field: 'status', value: 2 };
  const backlog = "DELETE FROM operations WHERE tenant_id = '' AND scope = 'operations' AND status = 0";
  const throughput = await timed({
    begin: async () => {
      node = await makeNode(true);
    },
    started: () => started,
    done: async () => {
      if (WINDOW_MS === 0) await called;
      return node!.store.count('', 'operations', succeeded);
    },
    drop: async () => {
      if (kind === 'postgres') {
        const pool = (node!.store as unknown as { pool: pg.Pool }).pool;
        await pool.query(backlog);
        // The deleted rows' dead index entries would otherwise slow the latency run's claims.
        return pool.query('VACUUM ANALYZE operations');
      }
      // A connection of its own: the store's writes go through its group commit.
      const db = new Database(join(dir, 'engine.db'));
      db.pragma('busy_timeout = 5000');
      db.prepare(backlog).run();
      db.close();
    },
  });
  const lat = await steadyLatency(
    LATENCY_SAMPLES,
    (t) => node!.start('noop', { t }, { collection: '/sites/latency/operations' }),
    latencies,
  );
  await node!.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    ...throughput,
    ...latencyFigures(lat),
    settings: `worker concurrency ${CONCURRENCY}, other settings default${kind === 'postgres' ? ' (pool 10)' : ''}`,
  };
}

/**
 * graphile-worker's throughput settings (0.16+ release notes): a local queue that fetches jobs in batches
 * (size: concurrency + 1, as recommended) and batched completion and failure writes (delay 0: flushed on
 * the next tick).
 */
const GRAPHILE_BEST = {
  localQueue: { size: CONCURRENCY + 1 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};

async function graphileWorker(best = false): Promise<Result> {
  process.env.NO_LOG_SUCCESS = '1';
  const { run, makeWorkerUtils } = await import('graphile-worker');
  const utils = await makeWorkerUtils({ connectionString: pgUrl });
  await utils.migrate();
  for (let i = 0; i < N; i += 5000) {
    await utils.addJobs(
      Array.from({ length: Math.min(5000, N - i) }, (_, j) => ({
        identifier: 'noop',
        payload: { i: i + j },
      })),
    );
  }
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  await client.query('VACUUM ANALYZE graphile_worker._private_jobs');
  await client.query('CHECKPOINT');
  let started: number | undefined;
  const latencies: number[] = [];
  const left = async () =>
    Number((await client.query('SELECT count(*) AS n FROM graphile_worker._private_jobs')).rows[0].n);
  let runner: Awaited<ReturnType<typeof run>> | undefined;
  const throughput = await timed({
    begin: async () => {
      runner = await run({
        connectionString: pgUrl,
        concurrency: CONCURRENCY,
        ...(best && { preset: { worker: GRAPHILE_BEST } }),
        noHandleSignals: true,
        taskList: {
          noop: async (payload: unknown) => {
            started ??= now();
            const t = (payload as { t?: number }).t;
            if (t) latencies.push(now() - t);
          },
        },
      });
    },
    started: () => started,
    // As queue-anchors.md: a separate connection counts what is left in the job table.
    done: async () => N - (await left()),
    // Jobs already fetched into the local queue are locked: they run to the end. Then VACUUM, as for
    // longrun: dead index entries would slow the latency run.
    drop: async () => {
      await client.query('DELETE FROM graphile_worker._private_jobs WHERE locked_at IS NULL');
      await client.query('VACUUM ANALYZE graphile_worker._private_jobs');
    },
  });
  const lat = await steadyLatency(LATENCY_SAMPLES, (t) => utils.addJob('noop', { t }), latencies);
  await runner!.stop();
  await utils.release();
  await client.end();
  return {
    ...throughput,
    ...latencyFigures(lat),
    settings: best
      ? `concurrency ${CONCURRENCY}, NO_LOG_SUCCESS=1, localQueue.size ${CONCURRENCY + 1}, completeJobBatchDelay 0, failJobBatchDelay 0 (pool 10, LISTEN/NOTIFY)`
      : `concurrency ${CONCURRENCY}, NO_LOG_SUCCESS=1, defaults otherwise (pool 10, LISTEN/NOTIFY)`,
  };
}

async function pgBoss(): Promise<Result> {
  const { PgBoss } = (await import('pg-boss')) as unknown as { PgBoss: new (o: object) => any };
  // Burst mode reads the queue's cached ready count, refreshed every queueCacheIntervalSeconds (60 s by
  // default): refreshed every second here so the burst engages while the backlog lasts.
  const boss = new PgBoss({ connectionString: pgUrl, queueCacheIntervalSeconds: 1 });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('noop');
  for (let i = 0; i < N; i += 5000) {
    await boss.insert(
      'noop',
      Array.from({ length: Math.min(5000, N - i) }, (_, j) => ({ data: { i: i + j } })),
    );
  }
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  await client.query('VACUUM ANALYZE pgboss.job');
  await client.query('CHECKPOINT');
  await boss.supervise('noop');
  await sleep(1100); // the queue cache (refreshed every second) sees the backlog
  let started: number | undefined;
  const left = async () =>
    Number(
      (
        await client.query(
          "SELECT count(*) AS n FROM pgboss.job WHERE name = 'noop' AND state <> 'completed'",
        )
      ).rows[0].n,
    );
  const throughput = await timed({
    begin: async () => {
      await boss.work(
        'noop',
        { localConcurrency: CONCURRENCY, batchSize: 1, burstWhenReadyExceeds: 1 },
        async () => {
          started ??= now();
        },
      );
    },
    started: () => started,
    done: async () => N - (await left()),
    // This instance stops next and the latency run uses a queue of its own; the backlog is deleted anyway,
    // and vacuumed as for the others, so no maintenance pass of pg-boss's works through it.
    drop: async () => {
      await client.query("DELETE FROM pgboss.job WHERE name = 'noop' AND state = 'created'");
      await client.query('VACUUM ANALYZE pgboss.job');
    },
  });
  await boss.stop({ graceful: false });

  // Latency: LISTEN/NOTIFY on (instance useListenNotify + queue notify), as queue-anchors.md measured it.
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
  return {
    ...throughput,
    ...latencyFigures(lat),
    settings:
      `localConcurrency ${CONCURRENCY}, batchSize 1, burstWhenReadyExceeds 1, queueCacheIntervalSeconds 1; ` +
      'latency run: useListenNotify + queue notify',
  };
}

const result =
  system === 'longrun-sqlite'
    ? await longrun('sqlite')
    : system === 'longrun-postgres'
      ? await longrun('postgres')
      : system === 'graphile-worker'
        ? await graphileWorker()
        : system === 'graphile-worker-best'
          ? await graphileWorker(true)
          : system === 'pg-boss'
            ? await pgBoss()
            : undefined;
if (!result) {
  console.error(`unknown system ${system}`);
  process.exit(2);
}
console.log(JSON.stringify(result));
process.exit(0);
