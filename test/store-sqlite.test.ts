/** The store contract against SqliteStore on a real file (a fresh one per test). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STATUS } from '../src/model/status.js';
import { GroupCommit } from '../src/store/sqlite/group-commit.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { OperationStore } from '../src/store/store.js';
import { newOp, storeContract } from './store-contract.js';

const CREATED_META = { actor: 'user:alice', kind: 'created' };

const dir = mkdtempSync(join(tmpdir(), 'longrun-store-'));
const files = new WeakMap<OperationStore, string>();
let n = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract(
  'sqlite',
  async () => {
    const file = join(dir, `store-${++n}.db`);
    const store = new SqliteStore({ file });
    files.set(store, file);
    return store;
  },
  {
    sibling: async (store) => {
      const file = files.get(store)!;
      const other = new SqliteStore({ file });
      files.set(other, file);
      return other;
    },
  },
);

describe('SqliteStore.modify (read, decide and write in one step)', () => {
  const UPDATED = { actor: 'user:alice', kind: 'updated' };
  let store: SqliteStore;
  beforeEach(async () => {
    store = new SqliteStore({ file: join(dir, `modify-${++n}.db`) });
    await store.migrate();
  });
  afterEach(() => store.close());

  it('applies what decide returns to the operation it saw, with a history event', async () => {
    const created = await store.insert(newOp({ statusDetail: 'a' }), CREATED_META);
    const result = await store.modify(
      created,
      (current) => ({ statusDetail: `${current.statusDetail}b`, status: STATUS.running }),
      UPDATED,
    );
    expect(result).toMatchObject({ written: true, record: { statusDetail: 'ab', version: 2 } });
    expect((await store.history(created)).map((e) => e.kind)).toEqual(['created', 'updated']);
    expect(await store.modify({ ...created, id: 'missing' }, () => ({}), UPDATED)).toBeUndefined();
  });

  it('writes nothing when decide returns undefined or throws, and leaves the other writes of the group alone', async () => {
    const a = await store.insert(newOp(), CREATED_META);
    const b = await store.insert(newOp(), CREATED_META);
    const [none, refused, applied] = await Promise.allSettled([
      store.modify(a, () => undefined, UPDATED),
      store.modify(
        a,
        () => {
          throw new Error('not allowed');
        },
        UPDATED,
      ),
      store.modify(b, () => ({ statusDetail: 'b' }), UPDATED),
    ]);
    expect(none).toMatchObject({ status: 'fulfilled', value: { written: false, record: { version: 1 } } });
    expect(refused).toMatchObject({ status: 'rejected', reason: { message: 'not allowed' } });
    expect(applied).toMatchObject({ status: 'fulfilled', value: { written: true } });
    expect((await store.get(a))?.version).toBe(1);
    expect(await store.history(a)).toHaveLength(1);
    expect((await store.get(b))?.statusDetail).toBe('b');
  });

  it('commits the writes issued just before close()', async () => {
    const file = join(dir, `close-${++n}.db`);
    const closing = new SqliteStore({ file });
    await closing.migrate();
    const op = newOp();
    const pending = closing.insert(op, CREATED_META);
    await closing.close();
    await expect(pending).resolves.toMatchObject({ id: op.id });
    const reopened = new SqliteStore({ file });
    expect(await reopened.get(op)).toMatchObject({ id: op.id, version: 1 });
    await reopened.close();
  });

  it('serializes concurrent decisions on one operation: each sees the one before', async () => {
    const created = await store.insert(newOp({ props: { n: 0 } }), CREATED_META);
    await Promise.all(
      Array.from({ length: 50 }, () =>
        store.modify(created, (current) => ({ props: { n: (current.props.n as number) + 1 } }), UPDATED),
      ),
    );
    const final = await store.get(created);
    expect(final?.props.n).toBe(50);
    expect(final?.version).toBe(51);
  });
});

describe('group commit: writes without a savepoint of their own (the engine claims and guarded updates)', () => {
  it('a guarded update whose changes cannot be stored rejects alone; the others of its group apply', async () => {
    const store = new SqliteStore({ file: join(dir, `nosp-${++n}.db`) });
    await store.migrate();
    const a = await store.insert(newOp(), CREATED_META);
    const b = await store.insert(newOp(), CREATED_META);
    const meta = { actor: 'worker:w', kind: 'progress' };
    const [bad, stale, good] = await Promise.allSettled([
      store.update(a, { props: { n: 1n } }, {}, meta),
      store.update(a, { statusDetail: 'stale' }, { fencingToken: 99 }, meta),
      store.update(b, { statusDetail: 'b' }, { fencingToken: 0 }, meta),
    ]);
    expect(bad).toMatchObject({ status: 'rejected' });
    expect(stale).toMatchObject({ status: 'fulfilled', value: { ok: false, reason: 'conflict' } });
    expect(good).toMatchObject({ status: 'fulfilled', value: { ok: true, record: { statusDetail: 'b' } } });
    expect((await store.get(a))?.version).toBe(1);
    expect(await store.history(b)).toHaveLength(2);
    await store.close();
  });

  it('inserts and starts: a taken key, a taken idempotency key or an input that cannot be stored fails alone', async () => {
    const store = new SqliteStore({ file: join(dir, `nosp-${++n}.db`) });
    await store.migrate();
    const taken = await store.insert(newOp({ idempotencyKey: 'k1' }), CREATED_META);
    const [dup, dupKey, badInput, joinedKey, good, started] = await Promise.allSettled([
      store.insert(newOp({ id: taken.id }), CREATED_META),
      store.insert(newOp({ idempotencyKey: 'k1' }), CREATED_META),
      store.insert(newOp({ input: { n: 1n } }), CREATED_META),
      store.insertOrJoin(newOp({ idempotencyKey: 'k1' }), CREATED_META),
      store.insert(newOp({ statusDetail: 'good' }), CREATED_META),
      store.insertOrJoin(newOp({ statusDetail: 'started' }), CREATED_META),
    ]);
    expect(dup).toMatchObject({ status: 'rejected', reason: { existing: { id: taken.id } } });
    expect(dupKey).toMatchObject({ status: 'rejected', reason: { existing: { id: taken.id } } });
    expect(badInput).toMatchObject({ status: 'rejected', reason: { name: 'TypeError' } });
    expect(joinedKey).toMatchObject({ status: 'rejected', reason: { existing: { id: taken.id } } });
    expect(good).toMatchObject({
      status: 'fulfilled',
      value: { statusDetail: 'good', eventSeq: expect.any(Number) },
    });
    expect(started).toMatchObject({ status: 'fulfilled', value: { outcome: 'created' } });
    if (good.status === 'fulfilled') expect(await store.history(good.value)).toHaveLength(1);
    await store.close();
  });

  it('when one of them fails inside the transaction, the whole group is rolled back and rejected', async () => {
    const db = new Database(join(dir, `nosp-raw-${++n}.db`));
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    const group = new GroupCommit(db);
    const insert = (k: string) => () => db.prepare('INSERT INTO t (k) VALUES (?)').run(k);
    const results = await Promise.allSettled([
      group.run(insert('a')),
      group.run(() => {
        insert('b')();
        insert('a')(); // a storage-level failure (here a constraint) after a change of its own
      }, false),
      group.run(insert('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    // The next group is unaffected.
    await group.run(insert('d'), false);
    expect(db.prepare('SELECT k FROM t').all()).toEqual([{ k: 'd' }]);
    db.close();
  });
});
