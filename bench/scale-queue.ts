/**
 * Issue 18's scale target for the queue: does a deep queue slow the engine? SQLite, one node, a no-op
 * handler, worker concurrency 8 (as bench/engine.ts), other settings default.
 *
 * - Claim rate: `claimOps` no-op operations run from a queue that holds only them (empty) and from one
 *   that holds `queued` of them (deep: notStarted, handler set, due; the first `claimOps` are timed). The
 *   rate runs from the first handler call to the moment the database counts `claimOps` succeeded.
 * - Create→start latency: operations started one at a time at 200/s (engine.ts's steadyLatency, the first
 *   tenth is warm-up) with the queue empty, and with `queued` operations waiting that this worker cannot
 *   take ahead of them (else the new ones would wait their turn behind the whole backlog, which is the
 *   queue's order, not its speed): due but for a handler this node doesn't run (`other`, another service
 *   sharing the database), and for this handler but scheduled for tomorrow (`future`, a deferred backlog).
 *
 * The backlog is written straight through SQL (secondary indexes dropped and rebuilt, as bench/seed.ts).
 * Each case runs `repeat` times, alternating with the empty queue, in this process (run it alone).
 *
 * Usage: node --import tsx bench/scale-queue.ts [queued claimOps latencySamples repeat]
 *   defaults 1000000 20000 2200 2; a quick check: 100000 5000 400 1.
 * Prints a table and one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { createLongrun } from '../src/longrun.js';
import type { FilterNode } from '../src/model/query.js';
import { now as now7 } from '../src/model/time.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { percentile } from './stats.js';

const nums = process.argv.slice(2).map(Number);
const QUEUED = nums[0] || 1_000_000;
const CLAIM_OPS = nums[1] || 20_000;
const LATENCY_SAMPLES = nums[2] || 2_200;
const REPEAT = nums[3] || 2;
const CONCURRENCY = 8;
/** Experiments: SCALE_QUEUE_CACHE_KB sets SQLite's page cache (default 2 MB); SCALE_QUEUE_ONLY=claim skips latency. */
const CACHE_KB = Number(process.env.SCALE_QUEUE_CACHE_KB ?? 0);
const CLAIM_ONLY = process.env.SCALE_QUEUE_ONLY === 'claim';
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Backlog = 'none' | 'noop' | 'other' | 'future';

/** `count` notStarted operations with a handler, due (or tomorrow for 'future'), in one transaction. */
function fill(db: Database.Database, count: number, backlog: Exclude<Backlog, 'none'>, prefix: string) {
  const indexes = db
    .prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'operations' AND sql IS NOT NULL",
    )
    .all() as { name: string; sql: string }[];
  const runAt = backlog === 'future' ? Date.now() + 86_400_000 : Date.now() - 1000;
  const at = now7();
  db.transaction(() => {
    for (const i of indexes) db.exec(`DROP INDEX "${i.name}"`);
    db.prepare(
      `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ? - 1)
       INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, props, handler,
         max_attempts, run_at)
       SELECT '', 'operations', ? || i, 'longRunningOperation', 0, ?, ?, '{}', ?, 1, ? + i / 1000 FROM g`,
    ).run(count, prefix, at, at, backlog === 'other' ? 'other' : 'noop', runAt);
    for (const i of indexes) db.exec(i.sql);
  })();
  db.exec('ANALYZE');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/** One node on a fresh database holding `backlog` (QUEUED rows, or none). */
async function withNode<T>(
  backlog: Backlog,
  body: (node: Awaited<ReturnType<typeof makeNode>>, h: Handler) => Promise<T>,
): Promise<T & { seedMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-queue-'));
  try {
    const store = new SqliteStore({ file: join(dir, 'q.db') });
    await store.migrate();
    const seeding = now();
    if (backlog !== 'none') fill((store as unknown as { db: Database.Database }).db, QUEUED, backlog, 'q-');
    const seedMs = Math.round(now() - seeding);
    const h = new Handler();
    const node = await makeNode(store, h);
    try {
      return { ...(await body(node, h)), seedMs };
    } finally {
      await node.close(1000);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

class Handler {
  calls = 0;
  first: number | undefined;
  target = Infinity;
  reached: () => void = () => {};
  latencies: number[] = [];
  readonly handler = {
    name: 'noop',
    maxAttempts: 1,
    run: async (ctx: { input: { t?: number } | null }) => {
      this.first ??= now();
      const t = ctx.input?.t;
      if (t) this.latencies.push(now() - t);
      if (++this.calls === this.target) this.reached();
    },
  };
}

function makeNode(store: SqliteStore, h: Handler) {
  if (CACHE_KB > 0) (store as unknown as { db: Database.Database }).db.pragma(`cache_size = -${CACHE_KB}`);
  return createLongrun({
    store,
    handlers: [h.handler as never],
    worker: { concurrency: CONCURRENCY },
    retention: false,
    webhooks: false,
  });
}

/** Claim rate over the first CLAIM_OPS; on an empty queue they are all it holds. */
async function claimRate(deep: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-queue-'));
  try {
    const store = new SqliteStore({ file: join(dir, 'q.db') });
    await store.migrate();
    fill((store as unknown as { db: Database.Database }).db, deep ? QUEUED : CLAIM_OPS, 'noop', 'q-');
    const h = new Handler();
    h.target = CLAIM_OPS;
    const reached = new Promise<void>((r) => (h.reached = r));
    const node = await makeNode(store, h);
    await reached;
    const succeeded: FilterNode = { op: 'eq', field: 'status', value: 2 };
    while ((await node.store.count('', 'operations', succeeded)) < CLAIM_OPS) await sleep(1);
    const elapsed = now() - h.first!;
    await node.close(1000);
    return (CLAIM_OPS / elapsed) * 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** engine.ts's steadyLatency: starts at 200/s, drift-corrected, not awaited. */
async function latency(backlog: Backlog) {
  return withNode(backlog, async (node, h) => {
    const begin = now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const wait = begin + i * 5 - now();
      if (wait > 0) await sleep(wait);
      pending.push(node.start('noop', { t: now() }, { collection: '/sites/latency/operations' }));
    }
    await Promise.all(pending);
    const deadline = now() + 10_000;
    while (h.latencies.length < LATENCY_SAMPLES && now() < deadline) await sleep(10);
    // Starts not yet run by the deadline count as started at the deadline (a floor on their latency).
    const missing = Array.from(
      { length: LATENCY_SAMPLES - h.latencies.length },
      () => now() - begin - 5 * LATENCY_SAMPLES,
    );
    const lat = [...h.latencies, ...missing].slice(Math.floor(LATENCY_SAMPLES / 10));
    return { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), samples: h.latencies.length };
  });
}

const round1 = (x: number) => Math.round(x * 10) / 10;
/** Latencies to 0.01 ms: a start takes a few tenths of a millisecond, so 10 % of it is below 0.1 ms. */
const round2 = (x: number) => Math.round(x * 100) / 100;
const rates = { empty: [] as number[], deep: [] as number[] };
const lats: Record<Backlog, { p50Ms: number; p99Ms: number; samples: number; seedMs: number }[]> = {
  none: [],
  noop: [],
  other: [],
  future: [],
};
const loads: number[] = [];
for (let r = 0; r < REPEAT; r++) {
  rates.empty.push(await claimRate(false));
  rates.deep.push(await claimRate(true));
  if (!CLAIM_ONLY) {
    lats.none.push(await latency('none'));
    lats.other.push(await latency('other'));
    lats.future.push(await latency('future'));
  }
  loads.push(loadavg()[0]);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const empty = mean(rates.empty);
const deep = mean(rates.deep);
const latOf = (b: Backlog) => ({
  p50Ms: round2(mean(lats[b].map((l) => l.p50Ms))),
  p99Ms: round2(mean(lats[b].map((l) => l.p99Ms))),
  runs: lats[b].map((l) => ({
    p50Ms: round2(l.p50Ms),
    p99Ms: round2(l.p99Ms),
    samples: l.samples,
    seedMs: l.seedMs,
  })),
});
const result = {
  queued: QUEUED,
  claimOps: CLAIM_OPS,
  claim: {
    emptyOpsPerSec: Math.round(empty),
    deepOpsPerSec: Math.round(deep),
    ratio: round1((deep / empty) * 100) / 100,
    runs: { empty: rates.empty.map(Math.round), deep: rates.deep.map(Math.round) },
  },
  latency: { empty: latOf('none'), other: latOf('other'), future: latOf('future') },
  load1: loads.map(round1),
};
const l = result.latency;
console.error(
  [
    `${QUEUED} queued, ${CLAIM_OPS} claimed, ${REPEAT} run(s) each (means), load ${result.load1.join(' ')}`,
    `claim rate: empty ${result.claim.emptyOpsPerSec}/s, deep ${result.claim.deepOpsPerSec}/s, ratio ${result.claim.ratio}`,
    `create->start p50/p99: empty ${l.empty.p50Ms}/${l.empty.p99Ms} ms; behind ${QUEUED} due for another handler ${l.other.p50Ms}/${l.other.p99Ms} ms; behind ${QUEUED} scheduled tomorrow ${l.future.p50Ms}/${l.future.p99Ms} ms`,
  ].join('\n'),
);
console.log(JSON.stringify(result));
process.exit(0);
