/**
 * The store contract against PostgresStore (a fresh database per test on the shared test server), plus
 * what only PostgreSQL has: cross-node change notifications and behaviour while the server is down (on a
 * server of its own, so the shared one stays up for the other test files).
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../src/model/status.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { StoreUnavailableError, type StoreChange } from '../src/store/store.js';
import { applyChanges } from '../src/service/write-chain.js';
import { newOp, storeContract } from './store-contract.js';
import { freshDatabase } from './support/pg.js';
import { startPostgres, startServer, stopServer, type TestPostgres } from './support/postgres.js';

const urls = new WeakMap<PostgresStore, string>();

function open(url: string, options: { connectionTimeoutMillis?: number } = {}): PostgresStore {
  const store = new PostgresStore({ connectionString: url, max: 4, ...options });
  urls.set(store, url);
  return store;
}

storeContract('postgres', async () => open(await freshDatabase('store_contract')), {
  // Its own pool: concurrent claimers really race on separate connections.
  sibling: async (store) => open(urls.get(store as PostgresStore)!),
});

const CREATED = { actor: 'user:alice', kind: 'created' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually<T>(
  read: () => T | Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await sleep(25);
  }
}

describe('PostgresStore change notifications', () => {
  const stores: PostgresStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  async function twoNodes(): Promise<[PostgresStore, PostgresStore, string]> {
    const url = await freshDatabase('store_listen');
    const a = open(url);
    const b = open(url);
    stores.push(a, b);
    await a.migrate();
    return [a, b, url];
  }

  it('delivers every committed write of another store instance, with its history event', async () => {
    const [listening, writing] = await twoNodes();
    const changes: StoreChange[] = [];
    const stop = await listening.listen((c) => changes.push(c));

    const created = await writing.insert(newOp({ handler: 'work', runAt: Date.now() - 1 }), CREATED);
    const updated = await writing.update(
      created,
      { statusDetail: 'x' },
      {},
      { actor: 'app:a', kind: 'cancelRequested' },
    );
    // Lease renewals are bookkeeping: not announced.
    await writing.update(
      created,
      { runAt: Date.now() - 1 },
      {},
      { actor: 'w', kind: 'heartbeat', history: false },
    );
    // A refused write commits nothing, so announces nothing.
    await writing.update(
      created,
      { statusDetail: 'y' },
      { expectedVersion: 99 },
      { actor: 'app:a', kind: 'refused' },
    );
    const [claimed] = await writing.claim({ workerId: 'w1', limit: 1, leaseMs: 60_000 });
    const done = await writing.update(
      claimed,
      { status: STATUS.succeeded },
      {},
      { actor: 'w', kind: 'succeeded' },
    );
    await writing.delete(
      created,
      { expectedVersion: done.ok ? done.record.version : 0 },
      { actor: 'u', kind: 'deleted' },
    );

    const key = { tenantId: created.tenantId, scope: created.scope, id: created.id };
    await eventually(
      () => changes.length,
      (n) => n >= 5,
    );
    await sleep(100);
    expect(changes).toEqual([
      { ...key, kind: 'created', eventSeq: created.eventSeq },
      { ...key, kind: 'cancelRequested', eventSeq: updated.ok ? updated.record.eventSeq : -1 },
      { ...key, kind: 'claimed', eventSeq: claimed.eventSeq },
      { ...key, kind: 'succeeded', eventSeq: done.ok ? done.record.eventSeq : -1 },
      { ...key, kind: 'deleted', eventSeq: (await writing.history(created))[0].eventSeq },
    ]);

    await stop();
    await writing.insert(newOp(), CREATED);
    await sleep(200);
    expect(changes).toHaveLength(5);
  });

  it('announces many writes made together, several to a payload, every one of them once', async () => {
    const [listening, writing] = await twoNodes();
    const changes: StoreChange[] = [];
    await listening.listen((c) => changes.push(c));
    // Long scopes, so that 300 announcements need many payloads of under 8000 bytes.
    const scope = 'sites/' + 'y'.repeat(200);
    const created = await Promise.all(
      Array.from({ length: 300 }, () => writing.insert(newOp({ scope }), CREATED)),
    );
    await eventually(
      () => changes.length,
      (n) => n >= 300,
    );
    await sleep(100);
    expect(changes.map((c) => c.eventSeq).sort((a, b) => a! - b!)).toEqual(
      created.map((c) => c.eventSeq).sort((a, b) => a! - b!),
    );
    expect(new Set(changes.map((c) => c.id)).size).toBe(300);
  });

  it('announces a key too long for a NOTIFY payload by seq and still delivers the key', async () => {
    const [listening, writing] = await twoNodes();
    const changes: StoreChange[] = [];
    await listening.listen((c) => changes.push(c));
    // Repetitive, so PostgreSQL's index compression still fits it into a btree entry.
    const scope = 'sites/' + 'x'.repeat(9000);
    const created = await writing.insert(newOp({ scope }), CREATED);
    const [change] = await eventually(
      () => changes,
      (c) => c.length >= 1,
    );
    expect(change).toEqual({
      tenantId: created.tenantId,
      scope,
      id: created.id,
      kind: 'created',
      eventSeq: created.eventSeq,
    });
  });

  it('reconnects by itself after its connection is killed and keeps delivering', async () => {
    const [listening, writing, url] = await twoNodes();
    const changes: StoreChange[] = [];
    let reconnects = 0;
    await listening.listen((c) => changes.push(c), { onReconnect: () => reconnects++ });
    await writing.insert(newOp({ id: 'before' }), CREATED);
    await eventually(
      () => changes.length,
      (n) => n === 1,
    );

    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'longrun-listen'`,
      );
      expect(killed.rowCount).toBe(1);
    } finally {
      await admin.end();
    }
    await eventually(
      () => reconnects,
      (n) => n === 1,
    );
    await writing.insert(newOp({ id: 'after' }), CREATED);
    await eventually(
      () => changes.map((c) => c.id),
      (ids) => ids.includes('after'),
    );
  });
});

describe('PostgresStore pages keep room for updates', () => {
  it("writes a PATCH-like update on the row's own page, leaving the indexes alone (fillfactor 85)", async () => {
    const url = await freshDatabase('store_fillfactor');
    const store = open(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await store.migrate();
      const { rows: options } = await client.query<{ reloptions: string[] | null }>(
        "SELECT reloptions FROM pg_class WHERE relname = 'operations'",
      );
      expect(options[0].reloptions).toContain('fillfactor=85');
      // Enough rows to fill several pages: the first page is as full as its fillfactor lets it be.
      const ops = [];
      for (let i = 0; i < 200; i++)
        ops.push(await store.insert(newOp({ statusDetail: 'x'.repeat(100) }), CREATED));
      const page = async (id: string) => {
        const { rows } = await client.query<{ ctid: string }>(
          'SELECT ctid::text FROM operations WHERE id = $1',
          [id],
        );
        return rows[0].ctid.slice(1).split(',')[0];
      };
      const first = ops[0];
      const before = await page(first.id);
      let current = first;
      for (let i = 0; i < 3; i++) {
        const result = await store.update(
          current,
          {
            statusDetail: `step ${i} of 3 ${'y'.repeat(100)}`,
            lastActionDateTime: current.lastActionDateTime,
          },
          { expectedVersion: current.version },
          { actor: 'user:alice', kind: 'updated' },
        );
        expect(result.ok).toBe(true);
        if (result.ok) current = result.record;
      }
      // Filled to 100 %, the first update would have moved the row to another page.
      expect(await page(first.id)).toBe(before);
    } finally {
      await client.end();
      await store.close();
    }
  });
});

describe('PostgresStore.updateChain: successive writes to one operation as one', () => {
  const stores: PostgresStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });
  async function store(): Promise<PostgresStore> {
    const s = open(await freshDatabase('store_chain'));
    stores.push(s);
    await s.migrate();
    return s;
  }

  it('writes the state the last step leaves, a version and a history event per step, each step its own actor', async () => {
    const s = await store();
    const base = await s.insert(newOp({ status: STATUS.running, props: { percentComplete: 0 } }), CREATED);
    const steps = [
      {
        changes: { statusDetail: 'one', props: { percentComplete: 10 } },
        meta: { actor: 'user:a', kind: 'updated' },
      },
      // A step that sets nothing of the first's columns leaves them as the first set them.
      { changes: { resourceLocation: 'https://example.test/r' }, meta: { actor: 'user:b', kind: 'updated' } },
      { changes: { status: STATUS.succeeded }, meta: { actor: 'user:c', kind: 'succeeded' } },
    ];
    const result = await s.updateChain(base, steps);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const stored = (await s.get(base))!;
    expect(stored).toMatchObject({
      version: base.version + 3,
      status: STATUS.succeeded,
      statusDetail: 'one',
      props: { percentComplete: 10 },
      resourceLocation: 'https://example.test/r',
    });
    // Moved into a terminal state by the chain: terminal_at is set, as a single update would set it.
    expect(stored.terminalAt).toEqual(expect.any(Number));
    expect(result.record).toMatchObject({
      version: stored.version,
      status: stored.status,
      eventSeq: result.eventSeqs[2],
    });
    const history = (await s.history(base)).slice(1);
    expect(history.map((e) => [e.eventSeq, e.actor, e.kind, e.fromStatus, e.toStatus])).toEqual([
      [result.eventSeqs[0], 'user:a', 'updated', STATUS.running, STATUS.running],
      [result.eventSeqs[1], 'user:b', 'updated', STATUS.running, STATUS.running],
      [result.eventSeqs[2], 'user:c', 'succeeded', STATUS.running, STATUS.succeeded],
    ]);
  });

  it('agrees with applyChanges, the prediction the service answers the earlier steps with', async () => {
    const s = await store();
    const base = await s.insert(newOp({ status: STATUS.running }), CREATED);
    const changes = [
      { statusDetail: 'a', props: { x: 1 } },
      { runAt: 5, statusDetail: null },
    ];
    const result = await s.updateChain(
      base,
      changes.map((c) => ({ changes: c, meta: { actor: 'user:a', kind: 'updated' } })),
    );
    expect(result.ok).toBe(true);
    const predicted = applyChanges(applyChanges(base, changes[0]), changes[1]);
    const { eventSeq: _stored, ...stored } = (await s.get(base))!;
    expect(predicted).toEqual(stored);
  });

  it('writes nothing when the operation moved past the base version, and says so', async () => {
    const s = await store();
    const base = await s.insert(newOp(), CREATED);
    const moved = await s.update(
      base,
      { statusDetail: 'elsewhere' },
      {},
      { actor: 'user:z', kind: 'updated' },
    );
    expect(moved.ok).toBe(true);
    const meta = { actor: 'user:a', kind: 'updated' };
    const result = await s.updateChain(base, [
      { changes: { statusDetail: 'one' }, meta },
      { changes: { statusDetail: 'two' }, meta },
    ]);
    // With the operation as it is, so the caller can decide again without reading it.
    expect(result).toMatchObject({
      ok: false,
      reason: 'conflict',
      current: { version: base.version + 1, statusDetail: 'elsewhere' },
    });
    expect(await s.get(base)).toMatchObject({ version: base.version + 1, statusDetail: 'elsewhere' });
    expect(await s.history(base)).toHaveLength(2);
    expect(
      await s.updateChain({ ...base, id: 'missing' }, [{ changes: { statusDetail: 'x' }, meta }]),
    ).toEqual({
      ok: false,
      reason: 'notFound',
    });
  });
});

describe('PostgresStore while the server is down (own server)', () => {
  let server: TestPostgres;
  const stores: PostgresStore[] = [];

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    await server?.stop();
  });

  it('rejects with StoreUnavailableError, then recovers by itself when the server is back', async () => {
    const store = open(server.url, { connectionTimeoutMillis: 2_000 });
    const other = open(server.url, { connectionTimeoutMillis: 2_000 });
    stores.push(store, other);
    await store.migrate();
    const kept = await store.insert(newOp({ id: 'acknowledged' }), CREATED);
    const changes: StoreChange[] = [];
    let reconnects = 0;
    await store.listen((c) => changes.push(c), { onReconnect: () => reconnects++, onError: () => {} });

    await stopServer(server);
    const failures = await Promise.all([
      store.get(kept).catch((e: unknown) => e),
      store.insert(newOp(), CREATED).catch((e: unknown) => e),
      store.update(kept, { statusDetail: 'x' }, {}, CREATED).catch((e: unknown) => e),
      store.claim({ workerId: 'w', limit: 1, leaseMs: 1000 }).catch((e: unknown) => e),
      store.ping().catch((e: unknown) => e),
      store.list(kept.tenantId, kept.scope, { orderBy: [], top: 10 }).catch((e: unknown) => e),
    ]);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect((failure as Error).cause).toBeInstanceOf(Error);
    }
    // A new listener can't start while the server is down either.
    await expect(other.listen(() => {})).rejects.toBeInstanceOf(StoreUnavailableError);

    await startServer(server);
    await eventually(
      () =>
        store.ping().then(
          () => true,
          () => false,
        ),
      (up) => up,
      20_000,
    );
    expect((await store.get(kept))?.id).toBe('acknowledged');
    expect((await store.history(kept)).map((e) => e.kind)).toEqual(['created']);
    // The listener came back on its own and delivers writes from other nodes again.
    await eventually(
      () => reconnects,
      (n) => n >= 1,
      20_000,
    );
    await other.insert(newOp({ id: 'after-restart' }), CREATED);
    await eventually(
      () => changes.map((c) => c.id),
      (ids) => ids.includes('after-restart'),
    );
  });
});
