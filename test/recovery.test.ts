/**
 * Instant recovery: a real `longrun serve` process is SIGKILLed mid-job and restarted with default
 * options (30 s lease, 1 s poll). The new process proves its predecessor dead (SQLite: same host, pid
 * gone; PostgreSQL: its session's advisory lock is gone) and runs the handler again at once, long before
 * the lease the dead process held would have expired. The measured figures are printed.
 *
 * Runs the built CLI: `npm run build` first.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import { processStart, provenDead, thisProcess } from '../src/store/sqlite/liveness.js';
import { freshDatabase } from './support/pg.js';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'longrun-recovery-'));
const started: ServerProcess[] = [];
afterAll(async () => {
  for (const p of started) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await waitForExit(p.child);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const LEASE_MS = 30_000; // the default: no --lease-ms below

async function start(store: string[]): Promise<ServerProcess> {
  const p = await startServerProcess([
    ...store,
    '--auth',
    'none',
    '--log-level',
    'warn',
    '--scenarios',
    JSON.stringify({ contentTypeCopy: { durationMs: 120_000 } }),
  ]);
  started.push(p);
  return p;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Claim {
  at: number;
}

async function claims(url: string, opPath: string): Promise<Claim[]> {
  const res = await fetch(`${url}${opPath}/history`);
  const { value } = (await res.json()) as { value: { at: string; kind: string }[] };
  return value.filter((e) => e.kind === 'claimed').map((e) => ({ at: Date.parse(e.at) }));
}

const BACKENDS = [
  {
    name: 'SQLite',
    store: async () => ['--db', join(dir, 'recovery.db')],
    leaseExpiry: async (store: string[], id: string) => {
      const db = new Database(store[1], { readonly: true });
      try {
        const row = db.prepare('SELECT run_at FROM operations WHERE id = ?').get(id) as { run_at: number };
        return Number(row.run_at);
      } finally {
        db.close();
      }
    },
  },
  {
    name: 'PostgreSQL',
    store: async () => ['--postgres', await freshDatabase('recovery')],
    leaseExpiry: async (store: string[], id: string) => {
      const db = new pg.Client({ connectionString: store[1] });
      await db.connect();
      try {
        const { rows } = await db.query('SELECT run_at FROM operations WHERE id = $1', [id]);
        return Number(rows[0].run_at);
      } finally {
        await db.end();
      }
    },
  },
];

describe.each(BACKENDS)('instant recovery on $name', ({ name, store: makeStore, leaseExpiry }) => {
  it(
    'SIGKILL mid-job, restart with defaults: the handler runs again long before the lease expires',
    { timeout: 90_000 },
    async () => {
      const store = await makeStore();
      const first = await start(store);
      const res = await fetch(`${first.url}/v1.0/sites/recovery/contentTypes/addCopyFromContentTypeHub`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contentTypeId: '0x0101' }),
      });
      expect(res.status).toBe(202);
      const opPath = new URL(res.headers.get('location')!).pathname;
      const id = decodeURIComponent(opPath.split('/').pop()!);
      await until(
        'the first claim',
        async () => ((await claims(first.url, opPath)).length === 1 ? true : undefined),
        20_000,
      );

      first.child.kill('SIGKILL');
      await waitForExit(first.child);
      const killedAt = Date.now();
      const expiresAt = await leaseExpiry(store, id);
      expect(expiresAt - killedAt).toBeGreaterThan(LEASE_MS / 2); // the dead process's lease was still long

      const second = await start(store);
      const readyAt = Date.now();
      const reclaim = await until(
        'the second claim',
        async () => (await claims(second.url, opPath))[1],
        LEASE_MS + 20_000,
      );
      console.log(
        `${name}: handler ran again ${reclaim.at - killedAt} ms after the SIGKILL (restart included; ${reclaim.at - readyAt} ms after the new process answered /healthz); the lease would have expired ${expiresAt - killedAt} ms after it`,
      );
      expect(reclaim.at).toBeLessThan(expiresAt);
      second.child.kill('SIGKILL');
      await waitForExit(second.child);
    },
  );
});

describe('SQLite liveness proof', () => {
  it('proves a killed process dead, and a reused pid too, but never a living one or another host', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await until(
      'the child to start',
      async () => (processStart(child.pid!) !== null ? true : undefined),
      10_000,
    );
    const id = { host: hostname(), pid: child.pid!, start: processStart(child.pid!) };
    expect(provenDead(id)).toBe(false);
    child.kill('SIGKILL');
    await waitForExit(child);
    expect(provenDead(id)).toBe(true);
    const me = thisProcess();
    expect(provenDead(me)).toBe(false);
    expect(provenDead({ ...me, start: me.start === null ? null : `${me.start}1` })).toBe(me.start !== null);
    expect(provenDead({ ...id, host: `not-${hostname()}` })).toBe(false);
  });
});

const FIXTURE = fileURLToPath(new URL('./fixtures/checkpoint-node.mjs', import.meta.url));

/** Starts the fixture node; resolves with the process and the URL it printed. */
async function startFixture(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push({ child, url: '', output: () => '' });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('http://'));
      if (line) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code}:\n${out}`)));
  });
  return { child, url };
}

describe('checkpoints', () => {
  it(
    'a handler killed after checkpointing at 50 % resumes from its checkpoint',
    { timeout: 60_000 },
    async () => {
      const db = join(dir, 'checkpoint.db');
      const marker = join(dir, 'checkpointed');
      const first = await startFixture([db, marker, 'create']);
      await until('the awaited checkpoint', async () => (existsSync(marker) ? true : undefined), 30_000);
      first.child.kill('SIGKILL');
      await waitForExit(first.child);

      const second = await startFixture([db, marker]);
      const op = await until(
        'the second attempt to finish',
        async () => {
          const o = (await (await fetch(`${second.url}/v1.0/operations/job-1`)).json()) as Record<
            string,
            any
          >;
          return o.status === 'succeeded' ? o : undefined;
        },
        40_000,
      );
      expect(JSON.parse(op.statusDetail)).toEqual({
        attempt: 2,
        from: 5,
        lastCheckpoint: { step: 5, note: 'half way' },
      });
      second.child.kill('SIGKILL');
      await waitForExit(second.child);
    },
  );
});
