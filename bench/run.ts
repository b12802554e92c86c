/**
 * `npm run bench` (full, about 15 minutes) and `npm run bench -- --quick` (the same scenarios measured the
 * same way, fewer rounds, under 90 s): every measurement runs side by side with its baseline in the same
 * run, on the same machine, and is reported as a ratio, so a noisy shared machine still compares fairly.
 * HTTP servers under test run in processes of their own (bench/target.ts) and autocannon drives them from
 * this one, alternating between longrun and its baselines in 0.25 s rounds (3 per server and scenario in
 * quick runs, 40 in full ones), after warm-ups (`warm`, `alternate`); each HTTP row also gives the CPU
 * each server's process spent per request. The engine's rate is the steady rate over a window after a
 * warm-up (bench/engine.ts). Writes bench/out/latest.json and bench/out/latest.svg; docs/BENCHMARKS.md
 * explains every row.
 *
 * Options: --quick (leaves the scale rows out unless --only asks for them); --only <regexp> (run the
 * scenario groups whose name matches: http, engine, wait, scale); --profile (servers and engine runs write
 * V8 CPU profiles to bench/out/profiles/); --no-postgres (SQLite only; the PostgreSQL rows say why they
 * were skipped, as they do when PostgreSQL is missing).
 * For experiments: --scenario <regexp> (HTTP scenarios whose "<store> <name>" matches), --rounds N,
 * --round-seconds S, --longrun-warm N (the requests longrun's warm-up per scenario asks for).
 * BENCH_TRACE=1 prints when each step starts (where a run's time goes) and each round's rates.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.js';
import type { BareResponse } from './target.js';
import { BENCH_SECRET } from './seed.js';
import { renderChart } from './chart.js';
import { cpuSeconds, stealSeconds } from './proc.js';
import { median, percentile, percentileWithMissed } from './stats.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const profile = argv.includes('--profile');
const onlyIndex = argv.indexOf('--only');
const only = onlyIndex >= 0 ? new RegExp(argv[onlyIndex + 1]) : undefined;
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
/** A numeric option's value, checked: a positive number (an integer where `integer`). */
function numberFlag(name: string, integer = false): number | undefined {
  const text = flag(name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${text}`);
  return value;
}
const scenarioFilter = flag('--scenario') ? new RegExp(flag('--scenario')!) : undefined;
const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = `${here}out`;

// Quick and full measure the same way (the same warm-ups, the same round length, the engine's rate over the
// same 1 s window after the same warm-up) and differ only in how many rounds they average.
// Short rounds, finely alternated: this shared machine's speed wanders on a scale of about a second, so
// a ratio of two 1 s rounds varied by 20-30 %, while four 0.25 s rounds of each server, interleaved, give
// a ratio within about 8 % (docs/BENCHMARKS.md, session 6). Quick runs measure three, after the unmeasured
// rotation that the first measured round used to be (`alternate`), to stay under 90 s.
const CONFIG = quick
  ? {
      rounds: 3,
      // The scale rows at 50,000 operations only check the path: a quick run leaves them out (skipped rows)
      // unless --only asks for them.
      scaleRounds: 2,
      seconds: 0.25,
      engineOps: 25_000,
      engineWindowSeconds: 1,
      engineRounds: 1,
      latencySamples: 60,
      waitSamples: 40,
      pollSamples: 20,
      scaleOps: 50_000,
      scaleStores: ['sqlite'] as Store[],
    }
  : {
      rounds: 40,
      scaleRounds: 40,
      seconds: 0.25,
      engineOps: 25_000,
      engineWindowSeconds: 1,
      engineRounds: 5,
      latencySamples: 440,
      waitSamples: 200,
      pollSamples: 40,
      scaleOps: 10_000_000,
      scaleStores: ['sqlite', 'postgres'] as Store[],
    };
CONFIG.rounds = numberFlag('--rounds', true) ?? CONFIG.rounds;
CONFIG.seconds = numberFlag('--round-seconds') ?? CONFIG.seconds;
const BASE_OPS = 10_000;
const stamp = Date.now();
const begun = performance.now();
/** A database name not used before in this run. */
let databases = 0;
const fresh = (name: string) => `${name.replace(/\W/g, '_')}_${stamp}_${++databases}`;
const CONNECTIONS = 50;
/**
 * longrun's own warm-up per scenario, counted in requests: its code paths speed up with the number of times
 * they run (the JIT), not with seconds, and its PostgreSQL writes run at a tenth of the rate of its SQLite
 * reads. Bounded in seconds both ways, so that quick runs stay under 90 s; the unmeasured rotation after it
 * (`alternate`) gives longrun one more round of the load.
 */
const LONGRUN_WARM = {
  requests: numberFlag('--longrun-warm', true) ?? 3000,
  minSeconds: 0.25,
  maxSeconds: 1.5,
};

type Store = 'sqlite' | 'postgres';

interface Scenario {
  name: string;
  store: string;
  opsPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  baseline: string;
  baselineOpsPerSec: number | null;
  /** Always "higher is better": ours / baseline for rates, baseline / ours for latencies. */
  ratio: number | null;
  baselineP50Ms?: number | null;
  baselineP99Ms?: number | null;
  /**
   * HTTP rows: µs of CPU each server's own process spent per request, and baseline ÷ ours: the measure
   * this shared machine's noise moves least (the rate's ratio moves with whatever else runs meanwhile).
   */
  cpuUsPerRequest?: number | null;
  baselineCpuUsPerRequest?: number | null;
  cpuRatio?: number | null;
  note?: string;
  skipped?: string;
}
const scenarios: Scenario[] = [];
const phases: Record<string, number> = {};

const round = (n: number, digits = 2) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

function push(s: Scenario): void {
  scenarios.push(s);
  if (s.skipped) {
    console.log(`${s.name.padEnd(34)} ${s.store.padEnd(9)} skipped: ${s.skipped}`);
    return;
  }
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '-' : String(v));
  console.log(
    `${s.name.padEnd(34)} ${s.store.padEnd(9)} ${fmt(s.opsPerSec).padStart(7)}/s p50 ${fmt(s.p50Ms)} p99 ${fmt(s.p99Ms)} ms | ${s.baseline}: ${fmt(s.baselineOpsPerSec)}/s${s.baselineP50Ms !== undefined ? ` p50 ${fmt(s.baselineP50Ms)} p99 ${fmt(s.baselineP99Ms)} ms` : ''} | ratio ${fmt(s.ratio)}${s.cpuRatio !== undefined ? ` (CPU ${fmt(s.cpuUsPerRequest)} vs ${fmt(s.baselineCpuUsPerRequest)} µs/request: ${fmt(s.cpuRatio)})` : ''}`,
  );
}

async function phase<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  if (only && !only.test(name)) return undefined;
  const started = performance.now();
  try {
    return await fn();
  } finally {
    phases[name] = Math.round((performance.now() - started) / 100) / 10;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

function nodeArgs(label: string): string[] {
  return [
    ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${outDir}/profiles/${label}`] : []),
    '--import',
    'tsx',
  ];
}

interface Child<T> {
  child: ChildProcess;
  info: T;
  lines: AsyncIterableIterator<string>;
}

/** Starts a bench script and waits for its first stdout line (JSON). */
async function start<T>(label: string, script: string, args: string[]): Promise<Child<T>> {
  const child = spawn(process.execPath, [...nodeArgs(label), `${here}${script}`, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited with ${code}`))),
  );
  exited.catch(() => {});
  const first = await Promise.race([lines.next(), exited]);
  if (first.done) throw new Error(`${script} ended without output`);
  return { child, info: JSON.parse(first.value) as T, lines };
}

/** The Server a child process is: its port, its token if it has one, its pid. */
function server(c: Child<{ port: number; token?: string }>): Server {
  return { port: c.info.port, token: c.info.token, pid: c.child.pid };
}

async function stop(c: Child<unknown>): Promise<void> {
  if (c.child.exitCode !== null) return;
  const exited = new Promise((r) => c.child.once('exit', r));
  c.child.kill('SIGTERM');
  await exited;
}

/** Runs a bench script to completion and parses its last stdout line. */
async function runJson<T>(label: string, script: string, args: string[]): Promise<T> {
  const child = spawn(process.execPath, [...nodeArgs(label), `${here}${script}`, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NO_LOG_SUCCESS: '1' },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const limit = (quick ? 120 : 900) * 1000;
  const timer = setTimeout(() => child.kill('SIGKILL'), limit);
  const code = await new Promise((r) => child.once('exit', r));
  clearTimeout(timer);
  if (code === null) throw new Error(`${script} ${args[0]} did not finish within ${limit / 1000} s`);
  if (code !== 0) throw new Error(`${script} ${args[0]} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as T;
}

function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP load

interface Load {
  method?: string;
  /** A fixed path, or one per request (n counts requests of this run). */
  path: string | ((n: number) => string);
  body?: string | ((n: number) => string);
  headers?: Record<string, string>;
}

interface Measured {
  requests: number;
  seconds: number;
  p50: number[];
  p99: number[];
  errors: number;
  /** CPU the server's own process spent in the measured rounds (its database server's not included). */
  cpuSeconds: number;
}
const emptyMeasure = (): Measured => ({
  requests: 0,
  seconds: 0,
  p50: [],
  p99: [],
  errors: 0,
  cpuSeconds: 0,
});

/** A server under load: where it listens, the token it wants, and its process (for its CPU). */
interface Server {
  port: number;
  token?: string;
  pid?: number;
  /** Its own warm-up on each scenario's load before the unmeasured rotation: seconds, or LONGRUN_WARM. */
  warm?: number | 'longrun';
  /** Its own load, where it differs from the others' (the scale rows read a row of their own table). */
  load?: Load;
}

const trace = process.env.BENCH_TRACE
  ? (what: string) => console.log(`  [${((performance.now() - begun) / 1000).toFixed(1)} s] ${what}`)
  : () => {};

/**
 * Counts the requests of dynamic loads over the whole run, not per round: a start action's body names a
 * new content type each time, so every start inserts (as the floor's does). Counted per round, each round
 * asked for the previous rounds' content types again, and longrun answered most starts by finding the
 * unfinished operation already there (three queries, not one insert).
 */
let requestSeq = 0;

async function cannon(
  { port, token, pid }: Server,
  load: Load,
  into: Measured,
  seconds = CONFIG.seconds,
): Promise<void> {
  const cpuBefore = pid ? cpuSeconds(pid) : Number.NaN;
  const headers = {
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...load.headers,
  };
  const dynamic = typeof load.path === 'function' || typeof load.body === 'function';
  const pathOf = (i: number) => (typeof load.path === 'function' ? load.path(i) : load.path);
  const bodyOf = (i: number) => (typeof load.body === 'function' ? load.body(i) : load.body);
  // Latency counts requests on established connections: a round opens its 50 connections at once, and the
  // first request on each waits behind the others' (a burst of 50, 1 % of a 0.25 s round at 20,000/s)
  // that steady traffic on kept-alive connections never sees.
  const latencies: number[] = [];
  const opened = new WeakSet<object>();
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    // autocannon checks for the end of the run at every sample: sample often, so a 0.25 s round takes
    // 0.25 s, not up to a sample interval more.
    sampleInt: 50,
    requests: [
      {
        method: (load.method ?? 'GET') as 'GET',
        path: pathOf(0),
        headers,
        body: bodyOf(0),
        ...(dynamic
          ? {
              setupRequest: (req: any) => {
                const i = requestSeq++;
                return { ...req, path: pathOf(i), body: bodyOf(i) };
              },
            }
          : {}),
      },
    ],
  }) as Promise<autocannon.Result> & EventEmitter;
  instance.on('response', (client: object, status: number, _bytes: number, ms: number) => {
    if (!opened.has(client)) opened.add(client);
    else if (status < 300) latencies.push(ms);
  });
  const result = await instance;
  const p50 = percentile(latencies, 50);
  into.requests += result.requests.total;
  into.seconds += result.duration;
  into.p50.push(round(p50, 1)!);
  into.p99.push(round(percentile(latencies, 99), 1)!);
  into.errors += result.errors + result.non2xx;
  into.cpuSeconds += pid ? cpuSeconds(pid) - cpuBefore : Number.NaN;
  // The requests still in flight when the round ended are still being served: let them finish before the
  // next server's round, so they don't take its CPU (on PostgreSQL PATCH one operation that is ~50 ms).
  await new Promise((r) => setTimeout(r, Math.min(2 * p50, 50)));
}

/**
 * Unmeasured rounds towards the server's steady state: 0.5 s rounds until two in a row agree within 5 %,
 * at most three (two in quick runs, to stay under 90 s). Each scenario then adds an unmeasured round of
 * its own load (`alternate`), which is what the measured rounds need most; searching longer for agreement here
 * mostly measured this machine's noise.
 */
async function warm(server: Server, path = '/v1.0/operations/bench-1'): Promise<void> {
  let previous = 0;
  for (let i = 0; i < (quick ? 2 : 3); i++) {
    const m = emptyMeasure();
    await cannon(server, { path }, m, 0.5);
    const current = rate(m);
    if (i >= 1 && Math.abs(current - previous) <= 0.05 * Math.max(current, previous)) return;
    previous = current;
  }
}

function add(into: Measured, m: Measured): void {
  into.requests += m.requests;
  into.seconds += m.seconds;
  into.p50.push(...m.p50);
  into.p99.push(...m.p99);
  into.errors += m.errors;
  into.cpuSeconds += m.cpuSeconds;
}

const rate = (m: Measured) => m.requests / m.seconds;

/**
 * Runs the load against each server in turn, round by round (the order rotating); one measure each.
 * longrun first gets its own load until warm (LONGRUN_WARM: its write paths speed up over the first few
 * thousand requests), a server with a `warm` in seconds that long; then one whole rotation goes
 * unmeasured. That rotation is every server's first round of this very load (the GET warm-up leaves the
 * PATCH and start paths cold), and it is run in the same alternation as the measured rounds: the first
 * round after a server's warm-up, measured, read the bare server up to a third slower (it ran while
 * longrun was still settling from its warm-up and first round), one round in four of a quick run.
 */
async function alternate(servers: Server[], load: Load, rounds = CONFIG.rounds): Promise<Measured[]> {
  for (const s of servers) {
    if (!s.warm) continue;
    if (s.warm !== 'longrun') await cannon(s, s.load ?? load, emptyMeasure(), s.warm);
    else {
      const warmed = emptyMeasure();
      while (
        warmed.seconds < LONGRUN_WARM.minSeconds ||
        (warmed.requests < LONGRUN_WARM.requests && warmed.seconds < LONGRUN_WARM.maxSeconds)
      )
        await cannon(s, s.load ?? load, warmed, CONFIG.seconds);
      trace(`longrun warmed: ${warmed.requests} requests in ${warmed.seconds.toFixed(2)} s`);
    }
  }
  for (const s of servers) await cannon(s, s.load ?? load, emptyMeasure());
  const measures = servers.map(emptyMeasure);
  for (let r = 1; r <= rounds; r++) {
    // Rotate the order every round, so no server always runs right after the same other one.
    const rates: number[] = [];
    const cpu: number[] = [];
    for (let k = 0; k < servers.length; k++) {
      const i = (k + r) % servers.length;
      const m = emptyMeasure();
      await cannon(servers[i], servers[i].load ?? load, m);
      add(measures[i], m);
      rates[i] = Math.round(rate(m));
      cpu[i] = Math.round(cpuPerRequest(m));
    }
    trace(
      `round ${r}: ${rates.join(' ')}/s, ratio ${(rates[0] / rates[1]).toFixed(3)}; CPU ${cpu.join(' ')} µs, ratio ${(cpu[1] / cpu[0]).toFixed(3)}`,
    );
  }
  return measures;
}

/** longrun's own response to one request, to be served byte for byte by the bare server. */
async function capture(port: number, token: string, load: Load): Promise<BareResponse> {
  const path = typeof load.path === 'function' ? load.path(0) : load.path;
  const body = typeof load.body === 'function' ? load.body(-1) : load.body;
  const send = () =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method: load.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
  let res = await send();
  // The floor server may still be finishing the previous scenario's queued updates of the same operation:
  // longrun then answers 409 (changed by others) until they are done.
  for (let i = 0; i < 20 && res.status === 409; i++) {
    await new Promise((r) => setTimeout(r, 250));
    res = await send();
  }
  if (res.status >= 300) throw new Error(`${load.method ?? 'GET'} ${path} answered ${res.status}`);
  const headers: Record<string, string> = {};
  const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  res.headers.forEach((value, name) => {
    if (!skip.has(name)) headers[name] = value;
  });
  return { status: res.status, headers, body: await res.text() };
}

async function setBare(bare: Child<{ port: number }>, response: BareResponse): Promise<void> {
  bare.child.stdin!.write(`${JSON.stringify(response)}\n`);
  const line = await bare.lines.next();
  if (line.value !== 'ok') throw new Error('bare server did not take the response');
}

type Target = Child<{ port: number; token: string; ids: string[]; seedMs: number; dbFile?: string }>;

/** The floor server of bench/target.ts: the unavoidable work of a GET or PATCH, and nothing else. */
const FLOOR_SCENARIOS = new Set([
  'GET one operation',
  'PATCH one operation',
  'PATCH, 1,000 operations',
  'Start an action (202)',
]);
const FLOOR_LABEL = 'floor: node:http + cached jose + one statement';

function startTarget(label: string, store: Store, count: number, pgUrl?: string): Promise<Target> {
  return start(label, 'target.ts', ['longrun', store, String(count), pgUrl ?? '']);
}

const LIST = "/v1.0/operations?$filter=status%20eq%20'running'&$orderby=createdDateTime%20desc&$top=100";
/** One in five seeded operations is running: bench-0, bench-5, … */
const runningId = (n: number) => `bench-${(n % 1000) * 5}`;

function httpLoads(ids: string[]): { name: string; load: Load; note?: string }[] {
  return [
    { name: 'GET one operation', load: { path: `/v1.0/operations/${ids[1]}` } },
    { name: 'List a page', load: { path: LIST }, note: 'first page of 2,000 running among 10,000' },
    {
      name: 'PATCH one operation',
      load: {
        method: 'PATCH',
        path: `/v1.0/operations/${ids[0]}`,
        body: JSON.stringify({ statusDetail: 'step 3 of 5' }),
      },
      note: 'all 50 connections update the same operation',
    },
    {
      name: 'PATCH, 1,000 operations',
      load: {
        method: 'PATCH',
        path: (n) => `/v1.0/operations/${runningId(n)}`,
        body: (n) => JSON.stringify({ statusDetail: `step ${n % 10} of 10` }),
      },
      note: 'requests spread over 1,000 running operations',
    },
    {
      name: 'Start an action (202)',
      load: {
        method: 'POST',
        path: '/v1.0/sites/bench/contentTypes/addCopyFromContentTypeHub',
        body: (n) => JSON.stringify({ contentTypeId: `0x0101${process.pid.toString(16)}${n + 2}` }),
      },
      note: 'content-type copy: validation, insert + history, 202 with Location; workers off',
    },
  ];
}

const cpuPerRequest = (m: Measured) => (m.cpuSeconds * 1e6) / m.requests;

/** A row measured against the bare node:http server that answered the same bytes. */
function againstBare(name: string, store: string, m: Measured, base: Measured, note: string) {
  return {
    name,
    store,
    opsPerSec: Math.round(rate(m)),
    p50Ms: median(m.p50),
    p99Ms: median(m.p99),
    baseline: 'bare node:http, same bytes',
    baselineOpsPerSec: Math.round(rate(base)),
    baselineP50Ms: median(base.p50),
    baselineP99Ms: median(base.p99),
    ratio: round(rate(m) / rate(base), 3),
    cpuUsPerRequest: round(cpuPerRequest(m), 1),
    baselineCpuUsPerRequest: round(cpuPerRequest(base), 1),
    cpuRatio: round(cpuPerRequest(base) / cpuPerRequest(m), 3),
    note,
  };
}

async function httpScenarios(
  store: Store,
  bare: Child<{ port: number }>,
  fastify: Child<{ port: number }> | undefined,
  pgUrl?: string,
): Promise<void> {
  trace(`http ${store}: starting`);
  const startFloor = (where: string) =>
    start<{ port: number }>(`floor-${store}`, 'target.ts', ['floor', store, where, BENCH_SECRET]);
  // On PostgreSQL the floor starts beside the target; on SQLite it copies the file the target seeds.
  const floorStarting = store === 'postgres' ? startFloor(pgUrl!) : undefined;
  floorStarting?.catch(() => {});
  const t = await startTarget(`http-${store}`, store, BASE_OPS, pgUrl);
  trace(`http ${store}: target up`);
  const floor = await (floorStarting ?? startFloor(t.info.dbFile!));
  try {
    trace(`http ${store}: floor up`);
    for (const { name, load, note } of httpLoads(t.info.ids)) {
      if (scenarioFilter && !scenarioFilter.test(`${store} ${name}`)) continue;
      trace(`http ${store}: ${name}`);
      const response = await capture(t.info.port, t.info.token, load);
      await setBare(bare, response);
      // The GET on SQLite also runs against bare Fastify: how far the framework alone gets.
      const reference = fastify && name === 'GET one operation' ? fastify : undefined;
      if (reference) await setBare(reference, response);
      const withFloor = FLOOR_SCENARIOS.has(name);
      const [ours, base, ...others] = await alternate(
        [
          { ...server(t), warm: 'longrun' },
          // Warm already (`warm`, before the first scenario): it answers every load from memory alike, and
          // gets the unmeasured rotation like the others.
          server(bare),
          // Half a second of its own load before the rotation: with only the rotation's round, its first
          // measured round on PostgreSQL GET still ran at 1.2-1.5x its CPU per request of the later ones.
          ...(withFloor ? [{ ...server(floor), token: t.info.token, warm: 0.5 }] : []),
          ...(reference ? [server(reference)] : []),
        ],
        load,
      );
      const floorMeasure = withFloor ? others.shift() : undefined;
      const framework = others.shift();
      push(
        againstBare(
          name,
          store,
          ours,
          base,
          `${note ? `${note}; ` : ''}${ours.errors ? `${ours.errors} errors; ` : ''}${CONFIG.rounds} × ${CONFIG.seconds} s alternating`,
        ),
      );
      if (floorMeasure) {
        push({
          ...againstBare(name, store, ours, floorMeasure, "the ratio to the floor is longrun's own overhead"),
          baseline: FLOOR_LABEL,
        });
      }
      if (framework) {
        push(
          againstBare(
            'GET, bare Fastify (reference)',
            '-',
            framework,
            base,
            'Fastify 5 with no hooks or application code answering the same bytes: the framework floor',
          ),
        );
      }
    }
  } finally {
    await stop(floor);
    await stop(t);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Engine

interface EngineResult {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  samplesMs: number[];
  /** Latency jobs that had not begun 1 s after the last start (bench/engine.ts). */
  missed: number;
  cpuCores: number;
  settings: string;
}

async function engineScenarios(database: TestPostgres | undefined, pgSkip: string | undefined) {
  const ops = CONFIG.engineOps;
  const name = 'Engine, no-op operations';
  const peers = [
    { system: 'graphile-worker', label: 'graphile-worker 0.18', module: 'graphile-worker' },
    { system: 'pg-boss', label: 'pg-boss 12.38', module: 'pg-boss' },
    {
      system: 'graphile-worker-best',
      label: 'graphile-worker 0.18 (local queue, batched completion)',
      module: 'graphile-worker',
    },
  ];
  const window = `median of ${CONFIG.engineRounds} run(s) of the rate over ${CONFIG.engineWindowSeconds} s after a 0.5 s warm-up, ${ops.toLocaleString('en')} queued`;
  const runs: Record<string, EngineResult[]> = {};
  const skips: Record<string, string> = {};
  for (const p of peers) {
    try {
      await import(p.module);
    } catch (error) {
      skips[p.system] = `${p.module} is not installed (${(error as Error).message.split('\n')[0]})`;
    }
  }
  const once = async (system: string) => {
    if (system !== 'longrun-sqlite' && (pgSkip || !database)) return;
    if (skips[system]) return;
    trace(`engine: ${system}`);
    const url = system === 'longrun-sqlite' ? '' : await createDatabase(database!.url, fresh(system));
    try {
      const r = await runJson<EngineResult>(`engine-${system}`, 'engine.ts', [
        system,
        String(ops),
        String(CONFIG.latencySamples),
        url,
        String(CONFIG.engineWindowSeconds),
      ]);
      (runs[system] ??= []).push(r);
      console.log(
        `  ${system}: ${Math.round(r.opsPerSec)} ops/s, latency p50 ${round(r.p50Ms)} p99 ${round(r.p99Ms)} ms, ${round(r.cpuCores)} cores`,
      );
    } catch (error) {
      skips[system] = (error as Error).message;
    }
  };
  const order = ['longrun-postgres', 'graphile-worker', 'graphile-worker-best', 'pg-boss', 'longrun-sqlite'];
  for (let r = 0; r < CONFIG.engineRounds; r++) {
    for (const system of r % 2 === 0 ? order : [...order].reverse()) await once(system);
  }
  const medianRun = (system: string) => {
    const list = runs[system];
    if (!list?.length) return undefined;
    // The median run by throughput; its latencies are those of all runs, pooled.
    const sorted = [...list].sort((a, b) => b.opsPerSec - a.opsPerSec);
    const samples = list.flatMap((r) => r.samplesMs);
    const missed = list.reduce((sum, r) => sum + r.missed, 0);
    return {
      ...sorted[Math.floor((sorted.length - 1) / 2)],
      p50Ms: percentileWithMissed(samples, missed, 50),
      p99Ms: percentileWithMissed(samples, missed, 99),
      missed,
      started: samples.length + missed,
    };
  };
  const describe = (r: EngineResult & { started: number }) =>
    `${r.settings}; ${round(r.cpuCores)} cores of Node during the run` +
    (r.missed > 0 ? `; ${r.missed} of ${r.started} latency jobs not begun 1 s after the last start` : '');
  const row = (store: Store, ours: string, peer: (typeof peers)[number]) => {
    const o = medianRun(ours);
    const b = medianRun(peer.system);
    const skipped =
      store === 'postgres' && pgSkip
        ? pgSkip
        : !o
          ? (skips[ours] ?? 'no result')
          : !b
            ? (skips[peer.system] ?? 'no result')
            : undefined;
    if (skipped || !o || !b) {
      push({
        name,
        store,
        opsPerSec: o ? Math.round(o.opsPerSec) : null,
        p50Ms: null,
        p99Ms: null,
        baseline: peer.label,
        baselineOpsPerSec: null,
        ratio: null,
        skipped: skipped ?? 'no result',
      });
      return;
    }
    push({
      name,
      store,
      opsPerSec: Math.round(o.opsPerSec),
      p50Ms: round(o.p50Ms),
      p99Ms: round(o.p99Ms),
      baseline: peer.label,
      baselineOpsPerSec: Math.round(b.opsPerSec),
      baselineP50Ms: round(b.p50Ms),
      baselineP99Ms: round(b.p99Ms),
      ratio: round(o.opsPerSec / b.opsPerSec, 3),
      note: `${window}; latency = create→start at 200/s; longrun: ${describe(o)}. ${peer.label}: ${describe(b)}`,
    });
  };
  row('postgres', 'longrun-postgres', peers[0]);
  row('postgres', 'longrun-postgres', peers[2]);
  row('postgres', 'longrun-postgres', peers[1]);
  const sqlite = medianRun('longrun-sqlite');
  if (medianRun(peers[0].system) || !sqlite) row('sqlite', 'longrun-sqlite', peers[0]);
  else {
    // No PostgreSQL for the peers: the issue's target is the yardstick.
    push({
      name,
      store: 'sqlite',
      opsPerSec: Math.round(sqlite.opsPerSec),
      p50Ms: round(sqlite.p50Ms),
      p99Ms: round(sqlite.p99Ms),
      baseline: 'target: 10,000 ops/s',
      baselineOpsPerSec: 10_000,
      ratio: round(sqlite.opsPerSec / 10_000, 3),
      note: `${window}; latency = create→start at 200/s; longrun: ${describe(sqlite)}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scale

const scaleLabel = (ops: number) => (ops >= 1e6 ? `${ops / 1e6}M` : `${ops / 1e3}k`);

/** The scale rows of a store, as skipped (why). */
function skipScale(store: Store, skipped: string): void {
  for (const what of ['GET', 'List'])
    push({
      name: `${what} at ${scaleLabel(CONFIG.scaleOps)} operations`,
      store,
      opsPerSec: null,
      p50Ms: null,
      p99Ms: null,
      baseline: `${what} at 10k`,
      baselineOpsPerSec: null,
      ratio: null,
      skipped,
    });
}

async function scaleScenario(store: Store, database: TestPostgres | undefined, pgSkip?: string) {
  const big = CONFIG.scaleOps;
  const label = scaleLabel(big);
  if (store === 'postgres' && (pgSkip || !database)) {
    skipScale(store, pgSkip ?? 'no PostgreSQL');
    return;
  }
  const url = (name: string) =>
    store === 'postgres' ? createDatabase(database!.url, fresh(name)) : undefined;
  // Seeded side by side (start-ups only; nothing is measured until both are up).
  const [smallStart, largeStart] = await Promise.allSettled([
    startTarget(`scale-${store}-10k`, store, BASE_OPS, await url('scale_small')),
    startTarget(`scale-${store}-${label}`, store, big, await url('scale_large')),
  ]);
  if (smallStart.status === 'rejected' || largeStart.status === 'rejected') {
    for (const started of [smallStart, largeStart])
      if (started.status === 'fulfilled') await stop(started.value);
    throw smallStart.status === 'rejected' ? smallStart.reason : (largeStart as PromiseRejectedResult).reason;
  }
  const small = smallStart.value;
  const large = largeStart.value;
  try {
    trace('scale: both up');
    const smallMemory = memoryMiB(small.child.pid!);
    for (const [what, load] of [
      // The middle of the table: as far from the cached edges as a read gets.
      ['GET', { path: `/v1.0/operations/${large.info.ids[2]}` }],
      ['List', { path: LIST }],
    ] as const) {
      const smallLoad = what === 'GET' ? { path: `/v1.0/operations/${small.info.ids[2]}` } : load;
      const [ours, base] = await alternate(
        [
          { ...server(large), load, warm: 0.3 },
          { ...server(small), load: smallLoad, warm: 0.3 },
        ],
        load,
        CONFIG.scaleRounds,
      );
      const memory = memoryMiB(large.child.pid!);
      push({
        name: `${what} at ${label} operations`,
        store,
        opsPerSec: Math.round(rate(ours)),
        p50Ms: median(ours.p50),
        p99Ms: median(ours.p99),
        baseline: `${what} at 10k`,
        baselineOpsPerSec: Math.round(rate(base)),
        baselineP50Ms: median(base.p50),
        baselineP99Ms: median(base.p99),
        ratio: round(rate(ours) / rate(base), 3),
        note: `server RSS ${memory.rss} MiB (peak ${memory.peak}) with ${big.toLocaleString('en')} operations, ${smallMemory.rss} MiB with 10,000; seeded in ${Math.round(large.info.seedMs / 1000)} s`,
      });
    }
  } finally {
    await stop(large);
    await stop(small);
  }
}

// ---------------------------------------------------------------------------------------------------------

const startLoad = loadavg()[0];
const startSteal = stealSeconds();
console.log(
  `longrun bench (${quick ? 'quick' : 'full'}) on ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, load ${startLoad.toFixed(2)}\n`,
);

// The bare servers start while PostgreSQL does (start-ups only: nothing is measured until both are up).
const runsHttp = !only || only.test('http');
const bareStarting = runsHttp ? start<{ port: number }>('bare', 'target.ts', ['bare']) : undefined;
// The bare Fastify reference only in full runs: it is no target, and quick runs have 90 s.
const fastifyStarting =
  runsHttp && !quick ? start<{ port: number }>('fastify', 'target.ts', ['fastify']) : undefined;
bareStarting?.catch(() => {});
fastifyStarting?.catch(() => {});

let database: TestPostgres | undefined;
let pgSkip: string | undefined = argv.includes('--no-postgres')
  ? 'PostgreSQL turned off (--no-postgres)'
  : undefined;
try {
  if (!pgSkip) await import('../src/store/postgres/postgres-store.js');
} catch (error) {
  pgSkip = `no PostgreSQL store (${(error as Error).message.split('\n')[0]})`;
}
if (!pgSkip) {
  try {
    database = await startPostgres({ durable: true });
  } catch (error) {
    pgSkip = `PostgreSQL did not start (${(error as Error).message.split('\n')[0]})`;
  }
}
let pgVersion: string | undefined;
if (database) {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  pgVersion = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v;
  await client.end();
}

try {
  await phase('http', async () => {
    const bare = await bareStarting!;
    const fastify = await fastifyStarting;
    try {
      trace('bare servers up');
      await warm(server(bare));
      if (fastify) await warm(server(fastify));
      trace('bare servers warmed');
      await httpScenarios('sqlite', bare, fastify);
      if (pgSkip || !database) {
        for (const { name } of httpLoads([]))
          push({
            name,
            store: 'postgres',
            opsPerSec: null,
            p50Ms: null,
            p99Ms: null,
            baseline: 'bare node:http, same bytes',
            baselineOpsPerSec: null,
            ratio: null,
            skipped: pgSkip ?? 'no PostgreSQL',
          });
      } else {
        await httpScenarios('postgres', bare, undefined, await createDatabase(database.url, fresh('http')));
      }
    } finally {
      await stop(bare);
      if (fastify) await stop(fastify);
    }
  });
  await phase('engine', () => engineScenarios(database, pgSkip));
  await phase('wait', async () => {
    const r = await runJson<{
      wait: { p50Ms: number; p99Ms: number };
      poll: { p50Ms: number; p99Ms: number };
    }>('wait', 'wait-latency.ts', [String(CONFIG.waitSamples), String(CONFIG.pollSamples)]);
    push({
      name: 'Finish → client knows',
      store: 'sqlite',
      opsPerSec: null,
      p50Ms: round(r.wait.p50Ms),
      p99Ms: round(r.wait.p99Ms),
      baseline: 'polling every 1 s',
      baselineOpsPerSec: null,
      baselineP50Ms: round(r.poll.p50Ms),
      baselineP99Ms: round(r.poll.p99Ms),
      ratio: round(r.poll.p50Ms / r.wait.p50Ms, 1),
      note: `GET with Prefer: wait=30 (${CONFIG.waitSamples} samples) vs GET every second (${CONFIG.pollSamples}); ratio = polling p50 / waiting p50`,
    });
  });
  await phase('scale', async () => {
    for (const store of CONFIG.scaleStores) {
      if (quick && !only)
        skipScale(store, 'a quick run leaves the scale rows out (--quick --only scale runs them)');
      else await scaleScenario(store, database, pgSkip);
    }
  });
} finally {
  await database?.stop();
}

const runSeconds = (performance.now() - begun) / 1000;
const stolen = stealSeconds() - startSteal;
const out = {
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    postgres: pgVersion ?? null,
    loadAverage: { start: round(startLoad), end: round(loadavg()[0]) },
    /** CPU the host took from this VM during the run (all CPUs), and its share of the run's CPU time. */
    steal: { seconds: round(stolen, 1), share: round(stolen / (cpus().length * runSeconds), 3) },
    seconds: Math.round(runSeconds),
    phaseSeconds: phases,
  },
  scenarios,
};
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/latest.json`, `${JSON.stringify(out, null, 2)}\n`);
writeFileSync(
  `${outDir}/latest.svg`,
  renderChart(scenarios, `longrun bench, ${out.machine.mode} run, ${out.machine.date.slice(0, 10)}`),
);

// The table, once more, in one piece.
const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toLocaleString('en'));
console.log(
  `\n${'scenario'.padEnd(34)} ${'store'.padEnd(9)} ${'ops/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}  ${'baseline'.padEnd(38)} ${'ops/s'.padStart(8)} ${'p50'.padStart(6)} ${'p99'.padStart(6)} ${'ratio'.padStart(7)} ${'CPU'.padStart(6)}`,
);
for (const s of scenarios) {
  if (s.skipped) {
    console.log(`${s.name.padEnd(34)} ${s.store.padEnd(9)} skipped: ${s.skipped}`);
    continue;
  }
  console.log(
    `${s.name.padEnd(34)} ${s.store.padEnd(9)} ${fmt(s.opsPerSec).padStart(8)} ${fmt(s.p50Ms).padStart(7)} ${fmt(s.p99Ms).padStart(7)}  ${s.baseline.slice(0, 38).padEnd(38)} ${fmt(s.baselineOpsPerSec).padStart(8)} ${fmt(s.baselineP50Ms).padStart(6)} ${fmt(s.baselineP99Ms).padStart(6)} ${fmt(s.ratio).padStart(7)} ${fmt(s.cpuRatio).padStart(6)}`,
  );
}
console.log(
  `\n${quick ? 'quick' : 'full'} run: ${out.machine.seconds} s, ${out.machine.steal.seconds} s of CPU stolen by the host (${Object.entries(
    phases,
  )
    .map(([k, v]) => `${k} ${v} s`)
    .join(', ')}); wrote bench/out/latest.json and bench/out/latest.svg`,
);
process.exit(0);
