/**
 * CPU per request: the server process's own CPU time (user + system, from /proc/<pid>/stat) spent per
 * request over a fixed number of requests. Unlike requests per second, this barely moves when other
 * programs load the machine, so it can compare two commits on a shared, noisy machine: an A/B of the hot
 * paths that throughput runs could not settle (docs/BENCHMARKS.md).
 *
 * Usage: node --import tsx bench/cpu.ts [--repo DIR ...] [--rounds N] [--requests N]
 *   --repo DIR: a checkout whose bench/target.ts and src/ are measured (default: this one); give two to
 *   compare them. Rounds alternate between the checkouts (A B A B ...) so drift hits both alike.
 * SQLite only; Linux only (/proc). Prints µs of server CPU per request, per scenario and checkout, the
 * median over rounds, and the ratio of each checkout to the first; for GET, PATCH and start also the floor
 * server of bench/target.ts (the unavoidable work: cached jose, one statement, JSON.stringify) on the same
 * file.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './proc.js';
import { BENCH_SECRET } from './seed.js';
import { median } from './stats.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const argv = process.argv.slice(2);
const repos: string[] = [];
let rounds = 3;
let requests = 20_000;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--repo') repos.push(resolve(argv[++i]));
  else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
  else if (argv[i] === '--requests') requests = Number(argv[++i]);
  else throw new Error(`unknown argument ${argv[i]}`);
}
if (repos.length === 0) repos.push(resolve(here, '..'));
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
if (!Number.isInteger(requests) || requests < 1000) throw new Error('--requests must be an integer ≥ 1000');

const CONNECTIONS = 10;

interface Scenario {
  name: string;
  method: 'GET' | 'PATCH' | 'POST';
  path: (ids: string[], n: number) => string;
  body?: (n: number) => string;
  /** Whether the floor server does this work too (GET, PATCH and start). */
  floor?: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'GET one operation', method: 'GET', path: (ids) => `/v1.0/operations/${ids[1]}`, floor: true },
  {
    name: 'List a page',
    method: 'GET',
    path: () => "/v1.0/operations?$filter=status%20eq%20'running'&$orderby=createdDateTime%20desc&$top=100",
  },
  {
    name: 'PATCH one operation',
    method: 'PATCH',
    path: (ids) => `/v1.0/operations/${ids[0]}`,
    body: () => JSON.stringify({ statusDetail: 'step 3 of 5' }),
    floor: true,
  },
  {
    name: 'PATCH, 1,000 operations',
    method: 'PATCH',
    path: (_ids, n) => `/v1.0/operations/bench-${(n % 1000) * 5}`,
    body: (n) => JSON.stringify({ statusDetail: `step ${n % 10} of 10` }),
    floor: true,
  },
  {
    name: 'Start an action (202)',
    method: 'POST',
    path: () => '/v1.0/sites/bench/contentTypes/addCopyFromContentTypeHub',
    body: (n) => JSON.stringify({ contentTypeId: `0x0101${process.pid.toString(16)}${n + 2}` }),
    floor: true,
  },
];

interface Target {
  child: ChildProcess;
  port: number;
  token: string;
  ids: string[];
  dbFile: string;
}

async function spawnTarget<T>(repo: string, args: string[]): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${repo}/bench/target.ts`, ...args], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error(`${repo}/bench/target.ts ${args[0]} ended without output`);
  return { child, info: JSON.parse(first.value) as T };
}

async function startTarget(repo: string): Promise<Target> {
  const { child, info } = await spawnTarget<Omit<Target, 'child'>>(repo, ['longrun', 'sqlite', '10000']);
  return { child, ...info };
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function load(t: Target, s: Scenario, amount: number, offset: number): Promise<number> {
  let n = offset;
  const result = await autocannon({
    url: `http://127.0.0.1:${t.port}`,
    connections: CONNECTIONS,
    amount,
    requests: [
      {
        method: s.method,
        path: s.path(t.ids, n),
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
        body: s.body?.(n),
        setupRequest: (req: any) => {
          const i = n++;
          return { ...req, path: s.path(t.ids, i), body: s.body?.(i) };
        },
      },
    ],
  });
  return result.errors + result.non2xx;
}

/** µs of CPU per request the process `pid` spends on one scenario (warmed with a quarter of the load). */
async function cpuPerRequest(t: Target, pid: number, s: Scenario, label: string): Promise<number> {
  await load(t, s, Math.ceil(requests / 4), 1_000_000);
  const before = cpuSeconds(pid);
  const errors = await load(t, s, requests, 0);
  const spent = cpuSeconds(pid) - before;
  if (errors > requests / 100) throw new Error(`${s.name} on ${label}: ${errors} errors`);
  return (spent * 1e6) / requests;
}

/** Server CPU per request for one scenario on a fresh longrun server and, if asked, the floor beside it. */
async function measure(
  repo: string,
  s: Scenario,
  withFloor: boolean,
): Promise<{ ours: number; floor?: number }> {
  const t = await startTarget(repo);
  try {
    const ours = await cpuPerRequest(t, t.child.pid!, s, repo);
    if (!withFloor) return { ours };
    const floor = await spawnTarget<{ port: number }>(repo, ['floor', 'sqlite', t.dbFile, BENCH_SECRET]);
    try {
      return {
        ours,
        floor: await cpuPerRequest({ ...t, port: floor.info.port }, floor.child.pid!, s, 'floor'),
      };
    } finally {
      await stopChild(floor.child);
    }
  } finally {
    await stopChild(t.child);
  }
}

console.log(`server CPU µs per request, ${requests} requests, ${CONNECTIONS} connections, ${rounds} rounds`);
for (const s of SCENARIOS) {
  const samples = repos.map(() => [] as number[]);
  const floors: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate the order every round, so neither checkout always runs first.
    const order = repos.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      // The floor is the same code in every checkout: measured once per round, beside the first.
      const m = await measure(repos[i], s, !!s.floor && i === 0);
      samples[i].push(m.ours);
      if (m.floor !== undefined) floors.push(m.floor);
    }
  }
  const medians = samples.map(median);
  const cells = repos.map(
    (repo, i) =>
      `${repo.split('/').at(-1)}: ${medians[i].toFixed(0)} µs (${samples[i].map((x) => x.toFixed(0)).join(', ')})` +
      (i > 0 ? ` ${(medians[i] / medians[0]).toFixed(2)}×` : ''),
  );
  if (floors.length) {
    const f = median(floors);
    cells.push(`floor: ${f.toFixed(0)} µs, ${(f / medians.at(-1)!).toFixed(2)}× of the last`);
  }
  console.log(`${s.name.padEnd(26)} ${cells.join(' | ')}`);
}
