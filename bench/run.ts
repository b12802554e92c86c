/**
 * `npm run bench` (full) and `npm run bench -- --quick` (same scenarios, short): each measurement runs
 * side by side with its baseline in the same run, on the same machine, and is reported as a ratio, so a
 * noisy shared machine still compares fairly. Servers run in their own processes (bench/target.ts);
 * autocannon drives them from this one. Writes bench/out/latest.json.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.js';

const quick = process.argv.includes('--quick');
const HTTP_SECONDS = quick ? 1 : 10;
const ENGINE_OPS = quick ? 2_000 : 20_000;
const SCALE_OPS = quick ? 1_000_000 : 10_000_000;
const BASE_OPS = 10_000;
const here = fileURLToPath(new URL('.', import.meta.url));

interface Scenario {
  name: string;
  store: string;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  baseline: string;
  baselineOpsPerSec: number;
  ratio: number;
  note?: string;
}
const scenarios: Scenario[] = [];

interface Target {
  child: ChildProcess;
  port: number;
  token?: string;
  ids?: string[];
}

/** Starts bench/target.ts with arguments and waits for its ready line. */
async function target(args: string[]): Promise<Target> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${here}target.ts`, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`target ${args[0]} exited with ${code}`)));
  });
  return { child, ...(JSON.parse(line) as Omit<Target, 'child'>) };
}

async function stop(t: Target): Promise<void> {
  t.child.kill('SIGTERM');
  await new Promise((r) => t.child.once('exit', r));
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Load {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** A fresh body per request (starts need distinct keys). */
  bodyFor?: (n: number) => string;
}

async function cannon(
  port: number,
  load: Load,
  connections = 50,
): Promise<{ rps: number; p50: number; p99: number }> {
  let n = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: HTTP_SECONDS,
    requests: [
      {
        method: (load.method ?? 'GET') as 'GET',
        path: load.path,
        headers: load.headers,
        body: load.body,
        ...(load.bodyFor ? { setupRequest: (req: object) => ({ ...req, body: load.bodyFor!(n++) }) } : {}),
      },
    ],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Captures longrun's real response to serve the same bytes from the bare baseline. */
async function capture(port: number, load: Load) {
  const res = await fetch(`http://127.0.0.1:${port}${load.path}`, {
    method: load.method ?? 'GET',
    headers: load.headers,
    body: load.bodyFor ? load.bodyFor(-1) : load.body,
  });
  return {
    status: res.status,
    headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' },
    body: await res.text(),
  };
}

/** Runs the load against longrun and against a bare server with the same bytes, alternating. */
async function sideBySide(name: string, store: string, t: Target, load: Load, note?: string): Promise<void> {
  const headers = { authorization: `Bearer ${t.token}`, 'content-type': 'application/json', ...load.headers };
  const withAuth = { ...load, headers };
  const sample = await capture(t.port, withAuth);
  const bare = await target(['bare', JSON.stringify({ [load.method ?? 'GET']: sample })]);
  try {
    const ours = await cannon(t.port, withAuth);
    const base = await cannon(bare.port, withAuth);
    push({ name, store, ours, baseline: 'bare node:http, same bytes', base, note });
  } finally {
    await stop(bare);
  }
}

function push(o: {
  name: string;
  store: string;
  ours: { rps: number; p50: number; p99: number };
  baseline: string;
  base: { rps: number };
  note?: string;
}): void {
  scenarios.push({
    name: o.name,
    store: o.store,
    opsPerSec: Math.round(o.ours.rps),
    p50Ms: o.ours.p50,
    p99Ms: o.ours.p99,
    baseline: o.baseline,
    baselineOpsPerSec: Math.round(o.base.rps),
    ratio: Number((o.ours.rps / o.base.rps).toFixed(3)),
    note: o.note,
  });
  const s = scenarios.at(-1)!;
  console.log(
    `${s.name.padEnd(30)} ${s.store.padEnd(10)} ${String(s.opsPerSec).padStart(8)}/s  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms  vs ${s.baseline} ${s.baselineOpsPerSec}/s  = ${s.ratio}×`,
  );
}

const LIST = "/v1.0/operations?$filter=status%20eq%20'running'&$orderby=createdDateTime%20desc&$top=100";

async function httpScenarios(store: 'sqlite' | 'postgres', pgUrl?: string): Promise<void> {
  const t = await target([store, String(BASE_OPS), pgUrl ?? '']);
  try {
    await sideBySide('GET one operation', store, t, { path: `/v1.0/operations/${t.ids![1]}` });
    await sideBySide('PATCH one operation', store, t, {
      method: 'PATCH',
      path: `/v1.0/operations/${t.ids![0]}`,
      body: JSON.stringify({ statusDetail: 'step 3 of 5' }),
    });
    await sideBySide('List a page', store, t, { path: LIST });
    await sideBySide('Start an action (202)', store, t, {
      method: 'POST',
      path: '/v1.0/sites/bench/contentTypes/addCopyFromContentTypeHub',
      bodyFor: (n) =>
        JSON.stringify({ contentTypeId: `0x${(n + 2).toString(16)}${Date.now().toString(16)}` }),
    });
  } finally {
    await stop(t);
  }
}

async function runJson(script: string, args: string[]): Promise<any> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${here}${script}`, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NO_LOG_SUCCESS: '1' },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`${script} ${args[0]} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

async function engineScenarios(database: TestPostgres): Promise<void> {
  const fresh = (name: string) => createDatabase(database.url, `${name}_${Date.now()}`);
  const sqlite = await runJson('engine.ts', ['longrun-sqlite', String(ENGINE_OPS)]);
  const postgres = await runJson('engine.ts', [
    'longrun-postgres',
    String(ENGINE_OPS),
    await fresh('longrun'),
  ]);
  const graphile = await runJson('engine.ts', [
    'graphile-worker',
    String(ENGINE_OPS),
    await fresh('graphile'),
  ]);
  const boss = await runJson('engine.ts', ['pg-boss', String(ENGINE_OPS), await fresh('pgboss')]);
  const row = (store: string, ours: any, name: string, base: any) =>
    push({
      name: `Engine ${ENGINE_OPS} no-op ops`,
      store,
      ours: { rps: ours.opsPerSec, p50: round(ours.p50Ms), p99: round(ours.p99Ms) },
      baseline: name,
      base: { rps: base.opsPerSec },
      note: `create→start latency at 200/s; ${name}: p50 ${round(base.p50Ms)} ms, p99 ${round(base.p99Ms)} ms`,
    });
  row('postgres', postgres, 'graphile-worker 0.18 (concurrency 8)', graphile);
  row('postgres', postgres, 'pg-boss 12.38 (localConcurrency 8, burst)', boss);
  row('sqlite', sqlite, 'graphile-worker 0.18 (concurrency 8)', graphile);
}

async function scaleScenarios(store: 'sqlite' | 'postgres', pgUrl?: string): Promise<void> {
  const small = await target([store, String(BASE_OPS), pgUrl ?? '']);
  const smallGet = await cannon(small.port, {
    path: `/v1.0/operations/${small.ids![1]}`,
    headers: { authorization: `Bearer ${small.token}` },
  });
  const smallList = await cannon(small.port, {
    path: LIST,
    headers: { authorization: `Bearer ${small.token}` },
  });
  await stop(small);
  const seeding = Date.now();
  const big = await target([store, String(SCALE_OPS), pgUrl ?? '']);
  const seeded = ((Date.now() - seeding) / 1000).toFixed(0);
  const get = await cannon(big.port, {
    path: `/v1.0/operations/${big.ids![1]}`,
    headers: { authorization: `Bearer ${big.token}` },
  });
  const list = await cannon(big.port, { path: LIST, headers: { authorization: `Bearer ${big.token}` } });
  const rss = rssMiB(big.child.pid!);
  await stop(big);
  const note = `server RSS ${rss.toFixed(0)} MiB with ${SCALE_OPS.toLocaleString('en')} operations (seeded in ${seeded} s)`;
  push({
    name: `GET at ${SCALE_OPS / 1e6}M operations`,
    store,
    ours: get,
    baseline: `GET at ${BASE_OPS / 1000}k`,
    base: smallGet,
    note,
  });
  push({
    name: `List at ${SCALE_OPS / 1e6}M operations`,
    store,
    ours: list,
    baseline: `List at ${BASE_OPS / 1000}k`,
    base: smallList,
    note,
  });
}

const round = (n: number) => Math.round(n * 100) / 100;

console.log(
  `longrun bench (${quick ? 'quick' : 'full'}) on ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}\n`,
);
const database = await startPostgres({ durable: true });
try {
  await httpScenarios('sqlite');
  await httpScenarios('postgres', await createDatabase(database.url, `http_${Date.now()}`));
  await engineScenarios(database);
  const wait = await runJson('wait-latency.ts', [quick ? '5' : '40']);
  push({
    name: 'Finish → client knows',
    store: 'sqlite',
    ours: {
      rps: 1000 / Math.max(wait.wait.p50Ms, 0.001),
      p50: round(wait.wait.p50Ms),
      p99: round(wait.wait.p99Ms),
    },
    baseline: 'polling every 1 s',
    base: { rps: 1000 / wait.poll.p50Ms },
    note: `Prefer: wait p50 ${round(wait.wait.p50Ms)} ms / p99 ${round(wait.wait.p99Ms)} ms; polling p50 ${round(wait.poll.p50Ms)} ms / p99 ${round(wait.poll.p99Ms)} ms (opsPerSec = 1000 / p50)`,
  });
  await scaleScenarios('sqlite');
  if (!quick) await scaleScenarios('postgres', await createDatabase(database.url, `scale_${Date.now()}`));
} finally {
  await database.stop();
}

const out = {
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
  },
  scenarios,
};
mkdirSync(`${here}out`, { recursive: true });
writeFileSync(`${here}out/latest.json`, JSON.stringify(out, null, 2));
console.log(`\nwrote bench/out/latest.json`);
process.exit(0);
