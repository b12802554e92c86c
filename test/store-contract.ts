/**
 * The OperationStore contract: one suite, registered once per backend (test/store-sqlite.test.ts,
 * test/store-postgres.test.ts). Every test gets a store on its own fresh database, so the global methods
 * (claim, purgeTerminal, queueStats) see only that test's rows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OperationRecord, OperationView } from '../src/model/operation.js';
import type { FilterNode, FilterValue, ListQuery, OrderKey } from '../src/model/query.js';
import { STATUS, type StatusValue } from '../src/model/status.js';
import { fromEpochMs, now } from '../src/model/time.js';
import { cursorFor } from '../src/store/sql/query-sql.js';
import {
  DuplicateKeyError,
  type NewOperation,
  type OperationKey,
  type OperationStore,
  type WriteMeta,
} from '../src/store/store.js';

export interface StoreContractOptions {
  /**
   * Another store on the same database as `store`, with its own connections and not migrated: for
   * concurrent claimers and concurrent migrations. Without it those tests use `store` alone.
   */
  sibling?: (store: OperationStore) => Promise<OperationStore>;
}

const CREATED: WriteMeta = { actor: 'user:alice', kind: 'created' };
const UPDATED: WriteMeta = { actor: 'user:alice', kind: 'updated' };

let idCounter = 0;

/** A minimal new operation; `overrides` win. */
export function newOp(overrides: Partial<NewOperation> = {}): NewOperation {
  const at = now();
  return {
    tenantId: 'tenant-a',
    scope: 'users/alice/authentication',
    id: `op-${++idCounter}`,
    type: 'longRunningOperation',
    status: STATUS.notStarted,
    createdDateTime: at,
    lastActionDateTime: at,
    resourceLocation: null,
    statusDetail: null,
    props: {},
    ...overrides,
  };
}

/** A due operation for the engine: a handler and runAt in the past. */
function dueOp(overrides: Partial<NewOperation> = {}): NewOperation {
  return newOp({ handler: 'work', runAt: Date.now() - 1_000, maxAttempts: 3, ...overrides });
}

const keyOf = (r: OperationKey): OperationKey => ({ tenantId: r.tenantId, scope: r.scope, id: r.id });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function storeContract(
  name: string,
  makeStore: () => Promise<OperationStore>,
  options: StoreContractOptions = {},
): void {
  describe(`OperationStore contract: ${name}`, () => {
    let store: OperationStore;
    const opened: OperationStore[] = [];

    /** A sibling store (closed after the test), or `store` itself when the backend has no siblings. */
    async function sibling(): Promise<OperationStore> {
      if (!options.sibling) return store;
      const other = await options.sibling(store);
      opened.push(other);
      return other;
    }

    beforeEach(async () => {
      store = await makeStore();
      opened.push(store);
      await store.migrate();
    });

    afterEach(async () => {
      for (const s of opened.splice(0).reverse()) await s.close();
    });

    describe('user directory', () => {
      it('binds a UPN once for tokens (first wins, also between stores), and lets an operator rebind it', async () => {
        const users = store.users!;
        expect(users).toBeDefined();
        expect(await users.lookupUser('t1', 'frank@contoso.com')).toBeUndefined();
        expect(await users.bindUser('t1', 'frank@contoso.com', 'oid-1', 'token')).toEqual({
          objectId: 'oid-1',
          changed: true,
        });
        const other = (await sibling()).users!;
        expect(await other.lookupUser('t1', 'frank@contoso.com')).toBe('oid-1');
        expect(await other.bindUser('t1', 'frank@contoso.com', 'oid-2', 'token')).toEqual({
          objectId: 'oid-1',
          changed: false,
        });
        expect(await users.bindUser('t1', 'frank@contoso.com', 'oid-1', 'operator')).toEqual({
          objectId: 'oid-1',
          changed: false,
        });
        expect(await users.bindUser('t1', 'frank@contoso.com', 'oid-2', 'operator')).toEqual({
          objectId: 'oid-2',
          changed: true,
        });
        expect(await other.lookupUser('t1', 'frank@contoso.com')).toBe('oid-2');
        expect(await users.lookupUser('t2', 'frank@contoso.com')).toBeUndefined();
      });
    });

    describe('lifecycle', () => {
      it('migrate() again is a no-op and keeps the data', async () => {
        const created = await store.insert(newOp(), CREATED);
        await store.migrate();
        await store.migrate();
        expect(await store.get(created)).toEqual(stripEventSeq(created));
        await store.ping();
      });

      it('several stores migrating a fresh database at once all succeed', async () => {
        const fresh = await makeStore();
        opened.push(fresh);
        const others = options.sibling
          ? [await options.sibling(fresh), await options.sibling(fresh)]
          : [fresh, fresh];
        if (options.sibling) opened.push(...others);
        await Promise.all([fresh.migrate(), ...others.map((s) => s.migrate())]);
        const created = await others[0].insert(newOp(), CREATED);
        expect((await fresh.get(created))?.id).toBe(created.id);
        await Promise.all([fresh.migrate(), ...others.map((s) => s.migrate())]);
      });

      it('reports its dialect and answers ping()', async () => {
        expect(['sqlite', 'postgres']).toContain(store.dialect);
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('insert and get', () => {
      it('read() returns what clients see of the operation, and undefined when it is missing', async () => {
        const created = await store.insert(
          newOp({ type: 'richLongRunningOperation', props: { percentageComplete: 7 }, handler: 'h' }),
          CREATED,
        );
        const view = await store.read(created);
        expect(view).toEqual(viewOf(created));
        expect(view).not.toHaveProperty('handler');
        expect(await store.read({ ...created, id: 'missing' })).toBeUndefined();
        expect(await store.read({ ...created, scope: 'elsewhere' })).toBeUndefined();
      });

      it('round-trips every field', async () => {
        const op = newOp({
          type: 'richLongRunningOperation',
          status: STATUS.running,
          createdDateTime: '2024-05-01T10:00:00.1234567Z',
          lastActionDateTime: '2024-05-01T10:00:01.0000000Z',
          resourceLocation: 'https://example.test/items/1?x=a%20b',
          statusDetail: "It's 50% done — ünïcödé 漢字 🎉",
          props: {
            percentageComplete: 50,
            error: {
              code: 'x',
              message: 'y',
              details: [{ code: 'a', message: 'b', target: null }],
              innerError: null,
            },
            resourceId: null,
            type: 'copy',
          },
          handler: 'copy-content',
          input: { items: [1, 'two', { three: 3 }, null, true], nested: { deep: { value: 1.5 } }, empty: {} },
          maxAttempts: 5,
          runAt: 1_714_557_600_000,
          timeoutMs: 30_000,
          idempotencyKey: 'idem-1',
          requestHash: 'hash-1',
          createdBy: 'app:123',
        });
        const created = await store.insert(op, CREATED);
        const expected: Omit<OperationRecord, 'seq'> = {
          tenantId: op.tenantId,
          scope: op.scope,
          id: op.id,
          type: 'richLongRunningOperation',
          status: STATUS.running,
          createdDateTime: op.createdDateTime,
          lastActionDateTime: op.lastActionDateTime,
          resourceLocation: op.resourceLocation,
          statusDetail: op.statusDetail,
          props: op.props,
          version: 1,
          handler: 'copy-content',
          input: op.input,
          attempts: 0,
          maxAttempts: 5,
          runAt: 1_714_557_600_000,
          leaseOwner: null,
          fencingToken: 0,
          cancelRequested: false,
          timeoutMs: 30_000,
          idempotencyKey: 'idem-1',
          requestHash: 'hash-1',
          createdBy: 'app:123',
          terminalAt: null,
          checkpoint: null,
        };
        expect(created).toMatchObject(expected);
        expect(typeof created.seq).toBe('number');
        expect(typeof created.eventSeq).toBe('number');
        const read = await store.get(keyOf(op));
        expect(read).toEqual({ ...expected, seq: created.seq });
      });

      it('fills defaults and keeps nulls for the optional fields', async () => {
        const op = newOp();
        await store.insert(op, CREATED);
        const read = await store.get(op);
        expect(read).toMatchObject({
          handler: null,
          input: null,
          maxAttempts: 1,
          runAt: null,
          timeoutMs: null,
          idempotencyKey: null,
          requestHash: null,
          createdBy: null,
          resourceLocation: null,
          statusDetail: null,
          props: {},
          attempts: 0,
          version: 1,
          fencingToken: 0,
          leaseOwner: null,
          cancelRequested: false,
          terminalAt: null,
        });
      });

      it('round-trips JSON inputs of every shape', async () => {
        const inputs: unknown[] = [
          null,
          'text',
          42,
          0,
          -1.25,
          true,
          false,
          [],
          [1, [2, [3]]],
          { a: { b: [null] } },
        ];
        for (const input of inputs) {
          const op = newOp({ input });
          await store.insert(op, CREATED);
          expect((await store.get(op))?.input).toEqual(input);
        }
      });

      it('sets terminalAt when an operation is created terminal', async () => {
        const before = Date.now();
        const created = await store.insert(newOp({ status: STATUS.succeeded }), CREATED);
        expect(created.terminalAt).toBeGreaterThanOrEqual(before);
        expect(created.terminalAt).toBeLessThanOrEqual(Date.now());
      });

      it('assigns increasing seq', async () => {
        const a = await store.insert(newOp(), CREATED);
        const b = await store.insert(newOp(), CREATED);
        const c = await store.insert(newOp({ scope: 'elsewhere' }), CREATED);
        expect(b.seq).toBeGreaterThan(a.seq);
        expect(c.seq).toBeGreaterThan(b.seq);
      });

      it('returns undefined for a missing operation', async () => {
        expect(await store.get({ tenantId: 'tenant-a', scope: 'nowhere', id: 'missing' })).toBeUndefined();
      });

      it('keeps ids opaque (quotes, separators, unicode)', async () => {
        for (const id of ["it's", 'a:b,c=d', "x''y", 'ünï 漢字', 'space and %20', '']) {
          const op = newOp({ id });
          await store.insert(op, CREATED);
          expect((await store.get(op))?.id).toBe(id);
        }
      });

      it('throws DuplicateKeyError with the existing operation when the key is taken', async () => {
        const first = await store.insert(newOp({ id: 'same', statusDetail: 'first' }), CREATED);
        const error = await store
          .insert(newOp({ id: 'same', statusDetail: 'second' }), CREATED)
          .catch((e) => e);
        expect(error).toBeInstanceOf(DuplicateKeyError);
        expect((error as DuplicateKeyError).existing).toEqual(stripEventSeq(first));
        expect((error as DuplicateKeyError).key).toMatchObject({ id: 'same' });
        expect((await store.get(first))?.statusDetail).toBe('first');
        expect(await store.history(first)).toHaveLength(1);
      });

      it('throws DuplicateKeyError with the existing operation when the idempotency key is taken', async () => {
        const first = await store.insert(newOp({ idempotencyKey: 'k1', requestHash: 'h1' }), CREATED);
        const error = await store
          .insert(newOp({ idempotencyKey: 'k1', requestHash: 'h2' }), CREATED)
          .catch((e) => e);
        expect(error).toBeInstanceOf(DuplicateKeyError);
        expect((error as DuplicateKeyError).existing).toEqual(stripEventSeq(first));
        expect((error as DuplicateKeyError).key).toMatchObject(keyOf(first));
        // Idempotency keys are per tenant, across scopes.
        const otherScope = await store
          .insert(newOp({ scope: 'other', idempotencyKey: 'k1' }), CREATED)
          .catch((e) => e);
        expect(otherScope).toBeInstanceOf(DuplicateKeyError);
        await expect(
          store.insert(newOp({ tenantId: 'tenant-b', idempotencyKey: 'k1' }), CREATED),
        ).resolves.toBeTruthy();
        // Operations without one never collide.
        await store.insert(newOp({ idempotencyKey: null }), CREATED);
        await store.insert(newOp({ idempotencyKey: null }), CREATED);
      });

      it('inserts issued together each get their own row and history event; a taken key fails alone', async () => {
        const taken = await store.insert(newOp({ idempotencyKey: 'k-together' }), CREATED);
        // Texts that an array literal must quote and escape (grouped inserts travel as arrays on PostgreSQL).
        const tricky = ['NULL', 'a "quoted", {braced} \\ text', 'ünïcödé 漢字 🎉', '', ' spaced '];
        const ops = Array.from({ length: 20 }, (_, i) =>
          newOp({
            statusDetail: `together ${i} ${tricky[i % tricky.length]}`,
            resourceLocation: i % 4 ? null : tricky[i % tricky.length],
            props: { n: i, note: tricky[i % tricky.length] },
            input: i % 2 ? { i } : undefined,
            handler: i % 2 ? 'h' : null,
            runAt: i % 2 ? 1_000 + i : null,
            scope: i % 3 ? 'users/alice/authentication' : 'users/bob/authentication',
          }),
        );
        // One group, every insert new: on PostgreSQL one statement.
        const records = await Promise.all(
          ops.map((op) => store.insert(op, { actor: `user:u${op.statusDetail}`, kind: 'created' })),
        );
        const eventSeqs = new Set<number>();
        for (const [i, op] of ops.entries()) {
          const record = records[i];
          expect(record).toMatchObject({
            scope: op.scope,
            id: op.id,
            statusDetail: op.statusDetail,
            resourceLocation: op.resourceLocation,
            props: op.props,
            input: op.input ?? null,
            handler: op.handler,
            runAt: op.runAt,
            version: 1,
          });
          expect(await store.get(op)).toEqual(stripEventSeq(record));
          const history = await store.history(op);
          expect(history.map((e) => [e.fromStatus, e.toStatus, e.actor, e.kind])).toEqual([
            [null, STATUS.notStarted, `user:u${op.statusDetail}`, 'created'],
          ]);
          expect(record.eventSeq).toBe(history[0].eventSeq);
          eventSeqs.add(history[0].eventSeq);
        }
        expect(eventSeqs.size).toBe(20);
        expect(new Set(records.map((r) => r.seq)).size).toBe(20);

        // A group with a taken id and a taken idempotency key: those two fail, alone.
        const fresh = [newOp({ statusDetail: 'fresh 1' }), newOp({ statusDetail: 'fresh 2' })];
        const settled = await Promise.allSettled([
          store.insert(newOp({ id: taken.id }), CREATED),
          store.insert(fresh[0], CREATED),
          store.insert(newOp({ idempotencyKey: 'k-together' }), CREATED),
          store.insert(fresh[1], CREATED),
        ]);
        expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
        expect(settled[0].status === 'rejected' && settled[0].reason).toBeInstanceOf(DuplicateKeyError);
        expect(settled[2].status === 'rejected' && settled[2].reason).toBeInstanceOf(DuplicateKeyError);
        for (const op of fresh) {
          expect((await store.get(op))?.statusDetail).toBe(op.statusDetail);
          expect(await store.history(op)).toHaveLength(1);
        }
        expect(await store.history(taken)).toHaveLength(1);
        expect((await store.get(taken))?.statusDetail).toBe(taken.statusDetail);
      });

      it('finds an operation by idempotency key, per tenant', async () => {
        const first = await store.insert(newOp({ idempotencyKey: 'find-me' }), CREATED);
        expect(await store.findByIdempotencyKey('tenant-a', 'find-me')).toEqual(stripEventSeq(first));
        expect(await store.findByIdempotencyKey('tenant-b', 'find-me')).toBeUndefined();
        expect(await store.findByIdempotencyKey('tenant-a', 'other')).toBeUndefined();
      });

      it('treats the same id in another scope or tenant as another operation', async () => {
        const a = await store.insert(newOp({ id: 'shared', statusDetail: 'a' }), CREATED);
        const b = await store.insert(
          newOp({ id: 'shared', scope: 'users/bob/authentication', statusDetail: 'b' }),
          CREATED,
        );
        const c = await store.insert(
          newOp({ id: 'shared', tenantId: 'tenant-b', statusDetail: 'c' }),
          CREATED,
        );
        expect(new Set([a.seq, b.seq, c.seq]).size).toBe(3);
        expect((await store.get(a))?.statusDetail).toBe('a');
        expect((await store.get(b))?.statusDetail).toBe('b');
        expect((await store.get(c))?.statusDetail).toBe('c');
        await store.update(b, { statusDetail: 'b2' }, {}, UPDATED);
        expect((await store.get(a))?.statusDetail).toBe('a');
        expect(await store.history(a)).toHaveLength(1);
        expect(await store.history(b)).toHaveLength(2);
      });
    });

    describe('insertOrJoin (starts on a derived id)', () => {
      const started = (overrides: Partial<NewOperation> = {}) =>
        dueOp({ id: 'refresh:alert-1', scope: 'roleManagementAlerts', ...overrides });

      it('inserts when the key is free, joins an unfinished operation, restarts an ended one in place', async () => {
        const first = await store.insertOrJoin(started({ statusDetail: 'run 1' }), CREATED);
        expect(first.outcome).toBe('created');
        expect(first.record).toMatchObject({ id: 'refresh:alert-1', status: STATUS.notStarted, version: 1 });

        const joined = await store.insertOrJoin(started({ statusDetail: 'run 2' }), CREATED);
        expect(joined.outcome).toBe('joined');
        expect(stripEventSeq(joined.record)).toEqual(stripEventSeq(first.record));
        expect(await store.history(first.record)).toHaveLength(1);

        // The first run is claimed, then fails: it has attempts, a lease and a terminalAt.
        const [claimed] = await store.claim({ workerId: 'w', limit: 1, leaseMs: 60_000 });
        const ended = await store.update(
          claimed,
          { status: STATUS.failed, statusDetail: 'broke' },
          { fencingToken: claimed.fencingToken },
          UPDATED,
        );
        expect(ended.ok && ended.record.terminalAt).toBeTypeOf('number');

        const later = fromEpochMs(Date.parse(first.record.createdDateTime) + 5_000);
        const again = await store.insertOrJoin(
          started({ statusDetail: 'run 2', createdDateTime: later, lastActionDateTime: later }),
          CREATED,
        );
        expect(again.outcome).toBe('restarted');
        expect(again.record).toMatchObject({
          seq: first.record.seq,
          id: 'refresh:alert-1',
          status: STATUS.notStarted,
          createdDateTime: later,
          statusDetail: 'run 2',
          attempts: 0,
          leaseOwner: null,
          cancelRequested: false,
          terminalAt: null,
          fencingToken: claimed.fencingToken + 1,
          version: claimed.version + 2,
        });
        expect(await store.get(first.record)).toEqual(stripEventSeq(again.record));
        // The history of the ended run stays; the restart is recorded from the ended status.
        const history = await store.history(first.record);
        expect(history.map((e) => [e.fromStatus, e.toStatus, e.kind])).toEqual([
          [null, STATUS.notStarted, 'created'],
          [STATUS.notStarted, STATUS.running, 'claimed'],
          [STATUS.running, STATUS.failed, 'updated'],
          [STATUS.failed, STATUS.notStarted, 'created'],
        ]);
        expect(again.record.eventSeq).toBe(history[3].eventSeq);
        // The ended run's attempt can no longer write.
        const stale = await store.update(
          claimed,
          { statusDetail: 'late' },
          { fencingToken: claimed.fencingToken },
          UPDATED,
        );
        expect(stale.ok).toBe(false);
        // It is due again.
        expect((await store.claim({ workerId: 'w', limit: 5, leaseMs: 60_000 })).map((r) => r.id)).toEqual([
          'refresh:alert-1',
        ]);
      });

      it('gives concurrent starts of one key, from several stores, the one operation', async () => {
        const stores = [store, await sibling(), await sibling()];
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            stores[i % stores.length].insertOrJoin(started({ statusDetail: `start ${i}` }), CREATED),
          ),
        );
        expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'joined')).toHaveLength(59);
        expect(new Set(results.map((r) => r.record.seq)).size).toBe(1);
        expect(await store.history(results[0].record)).toHaveLength(1);
      });

      it('starts issued together: free keys are created, a key twice is created once and joined once', async () => {
        const pre = await store.insertOrJoin(started({ id: 'refresh:pre' }), CREATED);
        const ids = [
          ...Array.from({ length: 10 }, (_, i) => `refresh:t${i}`),
          'refresh:same',
          'refresh:same',
          'refresh:pre',
        ];
        const results = await Promise.all(
          ids.map((id, i) => store.insertOrJoin(started({ id, statusDetail: `start ${i}` }), CREATED)),
        );
        expect(results.map((r) => r.outcome)).toEqual([
          ...Array.from({ length: 10 }, () => 'created'),
          'created',
          'joined',
          'joined',
        ]);
        for (const [i, result] of results.slice(0, 11).entries()) {
          expect(result.record).toMatchObject({ id: ids[i], statusDetail: `start ${i}`, version: 1 });
          const history = await store.history(result.record);
          expect(history).toHaveLength(1);
          expect(result.record.eventSeq).toBe(history[0].eventSeq);
        }
        expect(results[11].record.seq).toBe(results[10].record.seq);
        expect(results[12].record.seq).toBe(pre.record.seq);
        expect(await store.history(pre.record)).toHaveLength(1);
      });

      it('restarts an ended operation once when concurrent starts find it ended', async () => {
        const first = await store.insert(started({ status: STATUS.succeeded }), CREATED);
        const stores = [store, await sibling(), await sibling()];
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, i) => stores[i % stores.length].insertOrJoin(started(), CREATED)),
        );
        expect(results.filter((r) => r.outcome === 'restarted')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'joined')).toHaveLength(29);
        expect(new Set(results.map((r) => r.record.seq))).toEqual(new Set([first.seq]));
        expect(await store.history(first)).toHaveLength(2);
      });

      it('refuses an idempotency key another operation holds, and takes the new key on a restart', async () => {
        const other = await store.insert(newOp({ idempotencyKey: 'k-taken' }), CREATED);
        const error = await store
          .insertOrJoin(started({ idempotencyKey: 'k-taken' }), CREATED)
          .catch((e) => e);
        expect(error).toBeInstanceOf(DuplicateKeyError);
        expect((error as DuplicateKeyError).existing.id).toBe(other.id);
        expect(await store.get(started())).toBeUndefined();

        await store.insert(started({ status: STATUS.succeeded, idempotencyKey: 'k-old' }), CREATED);
        const again = await store.insertOrJoin(started({ idempotencyKey: 'k-new' }), CREATED);
        expect(again.outcome).toBe('restarted');
        expect(again.record.idempotencyKey).toBe('k-new');
        expect(await store.findByIdempotencyKey('tenant-a', 'k-old')).toBeUndefined();
      });
    });

    describe('update', () => {
      it('applies only the given changes and increments the version', async () => {
        const created = await store.insert(
          newOp({ statusDetail: 'keep', props: { percentageComplete: 1 } }),
          CREATED,
        );
        const result = await store.update(created, { resourceLocation: 'https://x/1' }, {}, UPDATED);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.record).toMatchObject({
          resourceLocation: 'https://x/1',
          statusDetail: 'keep',
          props: { percentageComplete: 1 },
          version: 2,
          status: STATUS.notStarted,
        });
        expect(await store.get(created)).toEqual(stripEventSeq(result.record));
      });

      it('sets every changeable column, including nulls and the props document', async () => {
        const created = await store.insert(
          dueOp({ resourceLocation: 'r', statusDetail: 'd', props: { a: 1, b: 2 } }),
          CREATED,
        );
        const result = await store.update(
          created,
          {
            status: STATUS.running,
            createdDateTime: '2020-01-01T00:00:00.0000000Z',
            lastActionDateTime: '2020-01-02T00:00:00.0000000Z',
            resourceLocation: null,
            statusDetail: null,
            props: { b: 3 },
            runAt: 123,
            leaseOwner: 'w',
            attempts: 7,
            cancelRequested: true,
          },
          {},
          UPDATED,
        );
        expect(result.ok && result.record).toMatchObject({
          status: STATUS.running,
          createdDateTime: '2020-01-01T00:00:00.0000000Z',
          lastActionDateTime: '2020-01-02T00:00:00.0000000Z',
          resourceLocation: null,
          statusDetail: null,
          props: { b: 3 },
          runAt: 123,
          leaseOwner: 'w',
          attempts: 7,
          cancelRequested: true,
          version: 2,
        });
        const back = await store.update(
          created,
          { runAt: null, leaseOwner: null, cancelRequested: false },
          {},
          UPDATED,
        );
        expect(back.ok && back.record).toMatchObject({
          runAt: null,
          leaseOwner: null,
          cancelRequested: false,
          version: 3,
        });
        expect(await store.get(created)).toMatchObject({
          props: { b: 3 },
          runAt: null,
          cancelRequested: false,
        });
      });

      it('increments the version even when nothing else changes', async () => {
        const created = await store.insert(newOp(), CREATED);
        const result = await store.update(created, {}, {}, UPDATED);
        expect(result.ok && result.record.version).toBe(2);
      });

      it('refuses a stale expectedVersion with the current operation', async () => {
        const created = await store.insert(newOp(), CREATED);
        const first = await store.update(created, { statusDetail: 'one' }, { expectedVersion: 1 }, UPDATED);
        expect(first.ok).toBe(true);
        const stale = await store.update(created, { statusDetail: 'two' }, { expectedVersion: 1 }, UPDATED);
        expect(stale).toMatchObject({ ok: false, reason: 'conflict' });
        expect(!stale.ok && stale.current).toMatchObject({ version: 2, statusDetail: 'one' });
        expect((await store.get(created))?.statusDetail).toBe('one');
        expect(await store.history(created)).toHaveLength(2);
      });

      it('refuses a guarded write to an operation that has ended', async () => {
        await store.insert(dueOp(), CREATED);
        const [claimed] = await store.claim({ workerId: 'w1', limit: 1, leaseMs: 60_000 });
        const guard = { fencingToken: claimed.fencingToken, notTerminal: true };
        const progress = await store.update(claimed, { statusDetail: 'half' }, guard, UPDATED);
        expect(progress.ok).toBe(true);
        const ended = await store.update(
          claimed,
          { status: STATUS.canceled },
          { expectedVersion: 3 },
          UPDATED,
        );
        expect(ended.ok).toBe(true);
        const late = await store.update(claimed, { status: STATUS.succeeded }, guard, UPDATED);
        expect(late).toMatchObject({ ok: false, reason: 'conflict', current: { status: STATUS.canceled } });
        expect((await store.get(claimed))?.status).toBe(STATUS.canceled);
      });

      it('writes issued together succeed or fail each on its own', async () => {
        const a = await store.insert(newOp(), CREATED);
        const b = await store.insert(newOp(), CREATED);
        const [okA, staleB, dup, okB] = await Promise.allSettled([
          store.update(a, { statusDetail: 'a' }, { expectedVersion: 1 }, UPDATED),
          store.update(b, { statusDetail: 'stale' }, { expectedVersion: 9 }, UPDATED),
          store.insert(newOp({ id: a.id }), CREATED),
          store.update(b, { statusDetail: 'b' }, { expectedVersion: 1 }, UPDATED),
        ]);
        expect(okA).toMatchObject({ status: 'fulfilled', value: { ok: true } });
        expect(staleB).toMatchObject({ status: 'fulfilled', value: { ok: false, reason: 'conflict' } });
        expect(dup.status === 'rejected' && dup.reason).toBeInstanceOf(DuplicateKeyError);
        expect(okB).toMatchObject({ status: 'fulfilled', value: { ok: true } });
        expect((await store.get(a))?.statusDetail).toBe('a');
        expect((await store.get(b))?.statusDetail).toBe('b');
        expect(await store.history(a)).toHaveLength(2);
      });

      it('applies updates issued together with each its own guard, columns and history', async () => {
        const a = await store.insert(dueOp(), CREATED);
        const b = await store.insert(newOp({ props: { x: 1 } }), CREATED);
        const c = await store.insert(newOp(), CREATED);
        const [claimed] = await store.claim({ workerId: 'w1', limit: 1, leaseMs: 60_000 });
        expect(claimed.id).toBe(a.id);
        const fenced = { fencingToken: claimed.fencingToken, notTerminal: true };
        const results = await Promise.all([
          store.update(
            a,
            { status: STATUS.succeeded, leaseOwner: null, runAt: null, attempts: 5 },
            fenced,
            UPDATED,
          ),
          store.update(
            b,
            { props: { x: 2, y: 'z' }, cancelRequested: true, resourceLocation: 'r' },
            {},
            UPDATED,
          ),
          store.update(c, { statusDetail: 'quiet' }, { expectedVersion: 1 }, { ...UPDATED, history: false }),
          store.update({ ...c, id: 'missing' }, { statusDetail: 'x' }, {}, UPDATED),
          store.update(b, { statusDetail: 'stale' }, { expectedVersion: 1 }, UPDATED),
        ]);
        expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
          'ok',
          'ok',
          'ok',
          'notFound',
          'conflict',
        ]);
        const doneA = await store.get(a);
        expect(doneA).toMatchObject({ status: STATUS.succeeded, leaseOwner: null, runAt: null, attempts: 5 });
        expect(doneA?.terminalAt).toEqual(expect.any(Number));
        expect(await store.get(b)).toMatchObject({
          props: { x: 2, y: 'z' },
          cancelRequested: true,
          resourceLocation: 'r',
          version: 2,
        });
        expect(await store.get(c)).toMatchObject({ statusDetail: 'quiet', version: 2 });
        expect((await store.history(a)).map((e) => [e.kind, e.toStatus])).toEqual([
          ['created', STATUS.notStarted],
          ['claimed', STATUS.running],
          ['updated', STATUS.succeeded],
        ]);
        expect(await store.history(c)).toHaveLength(1);
        // The attempt's guard now fails: the operation has ended.
        const late = await store.update(a, { statusDetail: 'late' }, fenced, UPDATED);
        expect(late).toMatchObject({ ok: false, reason: 'conflict' });
      });

      it('refuses a write with a stale fencing token', async () => {
        await store.insert(dueOp(), CREATED);
        const [claimed] = await store.claim({ workerId: 'w1', limit: 1, leaseMs: 60_000 });
        expect(claimed.fencingToken).toBe(1);
        const stale = await store.update(claimed, { statusDetail: 'x' }, { fencingToken: 0 }, UPDATED);
        expect(stale).toMatchObject({ ok: false, reason: 'conflict' });
        const fresh = await store.update(claimed, { statusDetail: 'y' }, { fencingToken: 1 }, UPDATED);
        expect(fresh.ok && fresh.record.statusDetail).toBe('y');
        const both = await store.update(
          claimed,
          { statusDetail: 'z' },
          { fencingToken: 1, expectedVersion: 2 },
          UPDATED,
        );
        expect(both).toMatchObject({ ok: false, reason: 'conflict' });
        const bothOk = await store.update(
          claimed,
          { statusDetail: 'z' },
          { fencingToken: 1, expectedVersion: 3 },
          UPDATED,
        );
        expect(bothOk.ok).toBe(true);
      });

      it('reports notFound for a missing operation', async () => {
        const result = await store.update(
          { tenantId: 'tenant-a', scope: 's', id: 'missing' },
          { statusDetail: 'x' },
          {},
          UPDATED,
        );
        expect(result).toEqual({ ok: false, reason: 'notFound' });
        const guarded = await store.update(
          { tenantId: 'tenant-a', scope: 's', id: 'missing' },
          {},
          { expectedVersion: 1 },
          UPDATED,
        );
        expect(guarded).toEqual({ ok: false, reason: 'notFound' });
      });

      it('sets terminalAt when the status becomes terminal, and only then', async () => {
        for (const terminal of [STATUS.succeeded, STATUS.failed, STATUS.canceled] as StatusValue[]) {
          const created = await store.insert(newOp(), CREATED);
          const running = await store.update(created, { status: STATUS.running }, {}, UPDATED);
          expect(running.ok && running.record.terminalAt).toBeNull();
          const before = Date.now();
          const done = await store.update(created, { status: terminal }, {}, UPDATED);
          expect(done.ok).toBe(true);
          if (!done.ok) return;
          expect(done.record.terminalAt).toBeGreaterThanOrEqual(before);
          expect(done.record.terminalAt).toBeLessThanOrEqual(Date.now());
          // Later writes to a terminal operation (even repeating the status) keep the first terminalAt.
          await sleep(5);
          const again = await store.update(created, { status: terminal, statusDetail: 'later' }, {}, UPDATED);
          expect(again.ok && again.record.terminalAt).toBe(done.record.terminalAt);
        }
      });

      it('lets an explicit terminalAt win', async () => {
        const created = await store.insert(newOp(), CREATED);
        const result = await store.update(created, { status: STATUS.failed, terminalAt: 5 }, {}, UPDATED);
        expect(result.ok && result.record.terminalAt).toBe(5);
        const cleared = await store.update(created, { terminalAt: null }, {}, UPDATED);
        expect(cleared.ok && cleared.record.terminalAt).toBeNull();
      });
    });

    describe('history', () => {
      it('records each write with from/to status, actor and kind, oldest first', async () => {
        const created = await store.insert(newOp(), { actor: 'user:alice', kind: 'created' });
        await store.update(created, { status: STATUS.running }, {}, { actor: 'app:svc', kind: 'updated' });
        await store.update(created, { statusDetail: 'half' }, {}, { actor: 'app:svc', kind: 'progress' });
        await store.update(
          created,
          { status: STATUS.succeeded },
          {},
          { actor: 'worker:w9', kind: 'succeeded' },
        );
        const events = await store.history(created);
        expect(events.map((e) => [e.fromStatus, e.toStatus, e.actor, e.kind])).toEqual([
          [null, STATUS.notStarted, 'user:alice', 'created'],
          [STATUS.notStarted, STATUS.running, 'app:svc', 'updated'],
          [STATUS.running, STATUS.running, 'app:svc', 'progress'],
          [STATUS.running, STATUS.succeeded, 'worker:w9', 'succeeded'],
        ]);
        for (const e of events) {
          expect(keyOf(e)).toEqual(keyOf(created));
          expect(e.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/);
        }
        const seqs = events.map((e) => e.eventSeq);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(seqs.length);
        const ats = events.map((e) => e.at);
        expect([...ats].sort()).toEqual(ats);
      });

      it('returns the recorded event on the written record', async () => {
        const created = await store.insert(newOp(), CREATED);
        const updated = await store.update(created, { statusDetail: 'x' }, {}, UPDATED);
        const events = await store.history(created);
        expect(created.eventSeq).toBe(events[0].eventSeq);
        expect(updated.ok && updated.record.eventSeq).toBe(events[1].eventSeq);
      });

      it('records nothing for a write with history: false', async () => {
        const created = await store.insert(dueOp(), CREATED);
        const result = await store.update(
          created,
          { runAt: Date.now() + 1000 },
          {},
          { actor: 'worker:w', kind: 'heartbeat', history: false },
        );
        expect(result.ok && result.record.version).toBe(2);
        expect(result.ok && result.record.eventSeq).toBeUndefined();
        expect(await store.history(created)).toHaveLength(1);
      });

      it('records nothing for a refused write', async () => {
        const created = await store.insert(newOp(), CREATED);
        await store.update(created, { statusDetail: 'x' }, { expectedVersion: 9 }, UPDATED);
        expect(await store.history(created)).toHaveLength(1);
      });

      it('is empty for an unknown operation', async () => {
        expect(await store.history({ tenantId: 'tenant-a', scope: 's', id: 'missing' })).toEqual([]);
      });

      it('lists the events of a collection or one operation after a given event', async () => {
        const a = await store.insert(newOp({ scope: 'c1' }), CREATED);
        const b = await store.insert(newOp({ scope: 'c1' }), CREATED);
        await store.insert(newOp({ scope: 'c2' }), CREATED);
        await store.insert(newOp({ scope: 'c1', tenantId: 'tenant-b' }), CREATED);
        await store.update(a, { status: STATUS.running }, {}, UPDATED);
        await store.update(b, { status: STATUS.running }, {}, UPDATED);
        const all = await store.eventsSince('tenant-a', 'c1', 0, { limit: 100 });
        expect(all.map((e) => [e.id, e.kind])).toEqual([
          [a.id, 'created'],
          [b.id, 'created'],
          [a.id, 'updated'],
          [b.id, 'updated'],
        ]);
        const after = await store.eventsSince('tenant-a', 'c1', all[1].eventSeq, { limit: 100 });
        expect(after.map((e) => e.eventSeq)).toEqual([all[2].eventSeq, all[3].eventSeq]);
        expect(await store.eventsSince('tenant-a', 'c1', 0, { limit: 3 })).toHaveLength(3);
        const one = await store.eventsSince('tenant-a', 'c1', 0, { id: a.id, limit: 100 });
        expect(one.map((e) => e.kind)).toEqual(['created', 'updated']);
        expect(await store.eventsSince('tenant-a', 'c1', one[1].eventSeq, { id: a.id, limit: 100 })).toEqual(
          [],
        );
      });
    });

    describe('delete', () => {
      it('deletes the operation and its history, recording the deletion, when the version matches', async () => {
        const created = await store.insert(newOp({ status: STATUS.succeeded }), CREATED);
        await store.update(created, { statusDetail: 'x' }, {}, UPDATED);
        const result = await store.delete(
          created,
          { expectedVersion: 2 },
          { actor: 'user:bob', kind: 'deleted' },
        );
        expect(result.ok).toBe(true);
        expect(result.ok && result.record).toMatchObject({
          ...stripEventSeq(created),
          version: 2,
          statusDetail: 'x',
        });
        expect(await store.get(created)).toBeUndefined();
        // The history goes with the operation; only the deletion itself remains, for streams and webhooks.
        const events = await store.history(created);
        expect(events.map((e) => [e.fromStatus, e.toStatus, e.actor, e.kind])).toEqual([
          [STATUS.succeeded, STATUS.succeeded, 'user:bob', 'deleted'],
        ]);
        expect(events[0].eventSeq).toBeGreaterThan(created.eventSeq!);
        // The key is free again.
        const again = await store.insert(newOp({ id: created.id }), CREATED);
        expect(again.seq).not.toBe(created.seq);
        expect((await store.history(again)).map((e) => e.kind)).toEqual(['deleted', 'created']);
      });

      it('refuses a stale version and reports a missing operation', async () => {
        const created = await store.insert(newOp({ status: STATUS.failed }), CREATED);
        const stale = await store.delete(created, { expectedVersion: 2 }, { actor: 'u', kind: 'deleted' });
        expect(stale).toMatchObject({ ok: false, reason: 'conflict' });
        expect(!stale.ok && stale.current?.version).toBe(1);
        expect(await store.get(created)).toBeTruthy();
        expect((await store.history(created)).map((e) => e.kind)).toEqual(['created']);
        const missing = await store.delete(
          { ...keyOf(created), id: 'missing' },
          { expectedVersion: 1 },
          { actor: 'u', kind: 'deleted' },
        );
        expect(missing).toEqual({ ok: false, reason: 'notFound' });
      });

      it('leaves operations with the same id elsewhere alone', async () => {
        const a = await store.insert(newOp({ id: 'dup' }), CREATED);
        const b = await store.insert(newOp({ id: 'dup', scope: 'other' }), CREATED);
        await store.delete(a, { expectedVersion: 1 }, { actor: 'u', kind: 'deleted' });
        expect(await store.get(b)).toBeTruthy();
        expect(await store.history(b)).toHaveLength(1);
      });
    });

    describe('list and count', () => {
      const SCOPE = 'sites/s1/lists/l1';
      let rows: OperationRecord[];

      /** 29 operations with ties, nulls, and JSON props, in one scope; plus noise in other scopes. */
      async function seed(): Promise<void> {
        rows = [];
        const base = Date.UTC(2024, 0, 1);
        for (let i = 0; i < 29; i++) {
          const props: Record<string, unknown> = {};
          if (i % 4 !== 0) props.percentageComplete = ((i * 7) % 5) * 25;
          const record = await store.insert(
            newOp({
              scope: SCOPE,
              id: `item-${String((i * 11) % 29).padStart(2, '0')}`,
              type: 'richLongRunningOperation',
              status: (
                [
                  STATUS.notStarted,
                  STATUS.running,
                  STATUS.succeeded,
                  STATUS.failed,
                  STATUS.canceled,
                ] as StatusValue[]
              )[i % 5],
              // Ties: three rows share each timestamp.
              createdDateTime: fromEpochMs(base + Math.floor(i / 3) * 1000),
              lastActionDateTime: fromEpochMs(base + ((i * 13) % 29) * 1000),
              resourceLocation: i % 3 === 0 ? null : `https://x/${(i * 5) % 7}`,
              statusDetail: i % 2 === 0 ? null : ['a', 'b', 'B', 'ab', ''][i % 5],
              props,
            }),
            CREATED,
          );
          rows.push(record);
        }
        await store.insert(newOp({ scope: 'sites/s1/lists/l2', type: 'richLongRunningOperation' }), CREATED);
        await store.insert(
          newOp({ scope: SCOPE, tenantId: 'tenant-b', type: 'richLongRunningOperation' }),
          CREATED,
        );
      }

      /** Reads every page of `top` rows and checks that it matches one unpaged sort of `rows`. */
      async function pageThrough(
        orderBy: OrderKey[],
        filter?: FilterNode,
        top = 4,
      ): Promise<OperationView[]> {
        const seen: OperationView[] = [];
        let query: ListQuery = { orderBy, top, filter };
        for (let pages = 0; pages < 100; pages++) {
          const page = await store.list('tenant-a', SCOPE, query);
          expect(page.length).toBeLessThanOrEqual(top + 1);
          seen.push(...page.slice(0, top));
          if (page.length <= top) return seen;
          query = { ...query, after: cursorFor(orderBy, page[top - 1]) };
        }
        throw new Error('paging did not end');
      }

      beforeEach(seed);

      it('lists one collection in creation order by default', async () => {
        const page = await store.list('tenant-a', SCOPE, { orderBy: [], top: 100 });
        expect(page.map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
        expect(page[0]).toEqual(viewOf(rows[0]));
      });

      it('returns top + 1 rows when there are more', async () => {
        expect(await store.list('tenant-a', SCOPE, { orderBy: [], top: 5 })).toHaveLength(6);
        expect(await store.list('tenant-a', SCOPE, { orderBy: [], top: 29 })).toHaveLength(29);
        expect(await store.list('tenant-a', 'empty', { orderBy: [], top: 5 })).toEqual([]);
      });

      const orderings: [string, OrderKey[]][] = [
        ['seq', []],
        ['createdDateTime asc', [{ field: 'createdDateTime', dir: 'asc' }]],
        ['createdDateTime desc', [{ field: 'createdDateTime', dir: 'desc' }]],
        ['id desc', [{ field: 'id', dir: 'desc' }]],
        [
          'status asc, createdDateTime desc',
          [
            { field: 'status', dir: 'asc' },
            { field: 'createdDateTime', dir: 'desc' },
          ],
        ],
        [
          'status desc, lastActionDateTime asc',
          [
            { field: 'status', dir: 'desc' },
            { field: 'lastActionDateTime', dir: 'asc' },
          ],
        ],
        ['percentageComplete asc (JSON, nulls)', [{ field: 'percentageComplete', dir: 'asc' }]],
        ['percentageComplete desc (JSON, nulls)', [{ field: 'percentageComplete', dir: 'desc' }]],
        [
          'percentageComplete desc, id asc',
          [
            { field: 'percentageComplete', dir: 'desc' },
            { field: 'id', dir: 'asc' },
          ],
        ],
        ['statusDetail asc (nullable)', [{ field: 'statusDetail', dir: 'asc' }]],
        ['statusDetail desc (nullable)', [{ field: 'statusDetail', dir: 'desc' }]],
        [
          'resourceLocation desc, statusDetail asc',
          [
            { field: 'resourceLocation', dir: 'desc' },
            { field: 'statusDetail', dir: 'asc' },
          ],
        ],
        [
          'resourceLocation asc, percentageComplete desc, createdDateTime asc',
          [
            { field: 'resourceLocation', dir: 'asc' },
            { field: 'percentageComplete', dir: 'desc' },
            { field: 'createdDateTime', dir: 'asc' },
          ],
        ],
      ];

      for (const [label, orderBy] of orderings) {
        it(`pages by keyset, each row once, ordered by ${label}`, async () => {
          const expected = sortRecords(rows, orderBy).map((r) => r.id);
          const unpaged = await store.list('tenant-a', SCOPE, { orderBy, top: 100 });
          expect(unpaged.map((r) => r.id)).toEqual(expected);
          for (const top of [1, 4, 7]) {
            expect((await pageThrough(orderBy, undefined, top)).map((r) => r.id)).toEqual(expected);
          }
        });
      }

      it('filters, also while paging', async () => {
        const filter: FilterNode = {
          op: 'or',
          left: { op: 'eq', field: 'status', value: STATUS.running },
          right: { op: 'ge', field: 'percentageComplete', value: 50 },
        };
        const matches = (r: OperationRecord) =>
          r.status === STATUS.running ||
          (typeof r.props.percentageComplete === 'number' && r.props.percentageComplete >= 50);
        const orderBy: OrderKey[] = [
          { field: 'percentageComplete', dir: 'desc' },
          { field: 'createdDateTime', dir: 'asc' },
        ];
        const expected = sortRecords(rows.filter(matches), orderBy).map((r) => r.id);
        expect(expected.length).toBeGreaterThan(5);
        expect((await pageThrough(orderBy, filter, 3)).map((r) => r.id)).toEqual(expected);
      });

      it('applies filters on base columns, nulls and JSON props', async () => {
        const cases: [FilterNode, (r: OperationRecord) => boolean][] = [
          [{ op: 'eq', field: 'statusDetail', value: null }, (r) => r.statusDetail === null],
          [{ op: 'ne', field: 'statusDetail', value: 'a' }, (r) => r.statusDetail !== 'a'],
          [
            { op: 'startswith', field: 'statusDetail', value: 'a' },
            (r) => r.statusDetail?.startsWith('a') ?? false,
          ],
          [
            { op: 'in', field: 'status', values: [STATUS.succeeded, STATUS.failed] },
            (r) => r.status === STATUS.succeeded || r.status === STATUS.failed,
          ],
          [
            { op: 'lt', field: 'percentageComplete', value: 50 },
            (r) => typeof r.props.percentageComplete === 'number' && r.props.percentageComplete < 50,
          ],
          [
            { op: 'not', operand: { op: 'eq', field: 'percentageComplete', value: 0 } },
            (r) => r.props.percentageComplete !== 0,
          ],
          [
            { op: 'gt', field: 'createdDateTime', value: fromEpochMs(Date.UTC(2024, 0, 1) + 5000) },
            (r) => r.createdDateTime > fromEpochMs(Date.UTC(2024, 0, 1) + 5000),
          ],
          [{ op: 'const', value: false }, () => false],
        ];
        for (const [filter, matches] of cases) {
          const expected = rows.filter(matches).map((r) => r.id);
          const got = await store.list('tenant-a', SCOPE, { filter, orderBy: [], top: 100 });
          expect(
            got.map((r) => r.id),
            JSON.stringify(filter),
          ).toEqual(expected);
          expect(await store.count('tenant-a', SCOPE, filter), JSON.stringify(filter)).toBe(expected.length);
        }
      });

      it('counts one collection', async () => {
        expect(await store.count('tenant-a', SCOPE)).toBe(29);
        expect(await store.count('tenant-a', 'sites/s1/lists/l2')).toBe(1);
        expect(await store.count('tenant-b', SCOPE)).toBe(1);
        expect(await store.count('tenant-a', 'empty')).toBe(0);
      });
    });

    describe('claim', () => {
      it('takes only due operations: a handler, not terminal, runAt <= now', async () => {
        const due = await store.insert(dueOp(), CREATED);
        const expired = await store.insert(
          dueOp({ status: STATUS.running, runAt: Date.now() - 10 }),
          CREATED,
        );
        await store.insert(dueOp({ runAt: Date.now() + 60_000 }), CREATED); // later
        await store.insert(dueOp({ runAt: null }), CREATED); // not scheduled
        await store.insert(newOp({ runAt: Date.now() - 1000 }), CREATED); // no handler
        for (const status of [STATUS.succeeded, STATUS.failed, STATUS.canceled] as StatusValue[]) {
          await store.insert(dueOp({ status }), CREATED);
        }
        const claimed = await store.claim({ workerId: 'w1', limit: 100, leaseMs: 60_000 });
        expect(claimed.map((r) => r.id).sort()).toEqual([due.id, expired.id].sort());
        expect(await store.claim({ workerId: 'w2', limit: 100, leaseMs: 60_000 })).toEqual([]);
      });

      it('sets running, the lease, attempts and the fencing token, and records the claim', async () => {
        const created = await store.insert(dueOp(), CREATED);
        const before = Date.now();
        const [claimed] = await store.claim({ workerId: 'w1', limit: 1, leaseMs: 30_000 });
        expect(claimed).toMatchObject({
          ...keyOf(created),
          status: STATUS.running,
          leaseOwner: 'w1',
          attempts: 1,
          fencingToken: 1,
          version: 2,
        });
        expect(claimed.runAt).toBeGreaterThanOrEqual(before + 30_000);
        expect(claimed.runAt).toBeLessThanOrEqual(Date.now() + 30_000);
        expect(claimed.lastActionDateTime > created.lastActionDateTime).toBe(true);
        expect(await store.get(created)).toEqual(stripEventSeq(claimed));
        const events = await store.history(created);
        expect(events.at(-1)).toMatchObject({
          fromStatus: STATUS.notStarted,
          toStatus: STATUS.running,
          actor: 'worker:w1',
          kind: 'claimed',
          at: claimed.lastActionDateTime,
        });
        expect(claimed.eventSeq).toBe(events.at(-1)?.eventSeq);
      });

      it('respects the limit and takes the oldest due first', async () => {
        const t = Date.now();
        const a = await store.insert(dueOp({ runAt: t - 3000 }), CREATED);
        const b = await store.insert(dueOp({ runAt: t - 1000 }), CREATED);
        const c = await store.insert(dueOp({ runAt: t - 2000 }), CREATED);
        const d = await store.insert(dueOp({ runAt: t - 2000 }), CREATED);
        const first = await store.claim({ workerId: 'w', limit: 3, leaseMs: 60_000 });
        expect(first.map((r) => r.id)).toEqual([a.id, c.id, d.id]);
        const second = await store.claim({ workerId: 'w', limit: 3, leaseMs: 60_000 });
        expect(second.map((r) => r.id)).toEqual([b.id]);
      });

      it('filters by handler name', async () => {
        const a = await store.insert(dueOp({ handler: 'alpha' }), CREATED);
        const b = await store.insert(dueOp({ handler: 'beta' }), CREATED);
        const c = await store.insert(dueOp({ handler: 'gamma' }), CREATED);
        expect(await store.claim({ workerId: 'w', limit: 10, leaseMs: 60_000, handlers: [] })).toEqual([]);
        const got = await store.claim({
          workerId: 'w',
          limit: 10,
          leaseMs: 60_000,
          handlers: ['alpha', 'gamma', 'unknown'],
        });
        expect(got.map((r) => r.id).sort()).toEqual([a.id, c.id].sort());
        const rest = await store.claim({ workerId: 'w', limit: 10, leaseMs: 60_000 });
        expect(rest.map((r) => r.id)).toEqual([b.id]);
      });

      it('claims only the given handlers, merged oldest first across them, at most limit at a time', async () => {
        const t = Date.now();
        // a, b and c interleaved by runAt (and two of a at the same runAt: seq breaks the tie).
        const specs: [string, number][] = [
          ['b', 9000],
          ['a', 8000],
          ['c', 7500],
          ['b', 7000],
          ['a', 6000],
          ['a', 6000],
          ['c', 5000],
          ['b', 4000],
          ['c', 3000],
          ['a', 2000],
          ['b', 1500],
          ['c', 1000],
        ];
        const made: OperationRecord[] = [];
        for (const [handler, ago] of specs)
          made.push(await store.insert(dueOp({ handler, runAt: t - ago }), CREATED));
        const expected = made.filter((r) => r.handler !== 'b').map((r) => r.id);
        const claim = (limit: number) =>
          store.claim({ workerId: 'w', limit, leaseMs: 60_000, handlers: ['a', 'c'] });
        const first = await claim(3);
        expect(first.map((r) => r.id)).toEqual(expected.slice(0, 3));
        const second = await claim(4);
        expect(second.map((r) => r.id)).toEqual(expected.slice(3, 7));
        expect((await claim(10)).map((r) => r.id)).toEqual(expected.slice(7));
        expect(await claim(10)).toEqual([]);
        expect([...first, ...second].every((r) => r.handler !== 'b' && r.leaseOwner === 'w')).toBe(true);
        // b's operations were never touched; a claim of every handler takes them now, oldest first.
        const rest = await store.claim({ workerId: 'w', limit: 10, leaseMs: 60_000 });
        expect(rest.map((r) => r.id)).toEqual(made.filter((r) => r.handler === 'b').map((r) => r.id));
        expect(rest.every((r) => r.attempts === 1)).toBe(true);
      });

      it('claims each due operation once when a handler name is given twice', async () => {
        const a = await store.insert(dueOp({ handler: 'a' }), CREATED);
        const got = await store.claim({ workerId: 'w', limit: 10, leaseMs: 60_000, handlers: ['a', 'a'] });
        expect(got.map((r) => [r.id, r.attempts])).toEqual([[a.id, 1]]);
        expect((await store.history(a)).map((e) => e.kind)).toEqual(['created', 'claimed']);
      });

      it('does not hand out a leased operation until its lease has passed, then takes it over', async () => {
        const created = await store.insert(dueOp(), CREATED);
        const [first] = await store.claim({ workerId: 'w1', limit: 1, leaseMs: 300 });
        expect(first.fencingToken).toBe(1);
        expect(await store.claim({ workerId: 'w2', limit: 1, leaseMs: 300 })).toEqual([]);
        await sleep(first.runAt! - Date.now() + 20);
        const [second] = await store.claim({ workerId: 'w2', limit: 1, leaseMs: 60_000 });
        expect(second).toMatchObject({
          ...keyOf(created),
          leaseOwner: 'w2',
          fencingToken: 2,
          attempts: 2,
          status: STATUS.running,
        });
        // The first attempt's writes are now refused.
        const stale = await store.update(
          first,
          { status: STATUS.succeeded },
          { fencingToken: first.fencingToken },
          UPDATED,
        );
        expect(stale).toMatchObject({ ok: false, reason: 'conflict' });
        const events = await store.history(created);
        expect(events.slice(-2).map((e) => [e.fromStatus, e.toStatus, e.actor])).toEqual([
          [STATUS.notStarted, STATUS.running, 'worker:w1'],
          [STATUS.running, STATUS.running, 'worker:w2'],
        ]);
      });

      it('never hands out an operation twice to concurrent claimers', async () => {
        const total = 200;
        const t = Date.now() - 1000;
        for (let i = 0; i < total; i++) await store.insert(dueOp({ runAt: t - (i % 17) }), CREATED);
        const claimers = [store, await sibling(), await sibling(), await sibling()];
        const got = await Promise.all(
          claimers.map(async (s, w) => {
            const mine: OperationRecord[] = [];
            for (let empty = 0; empty < 3;) {
              const batch = await s.claim({ workerId: `w${w}`, limit: 7, leaseMs: 60_000 });
              mine.push(...batch);
              empty = batch.length === 0 ? empty + 1 : 0;
            }
            return mine;
          }),
        );
        const all = got.flat();
        expect(all).toHaveLength(total);
        expect(new Set(all.map((r) => r.id)).size).toBe(total);
        for (const r of all) expect(r.fencingToken).toBe(1);
        expect(await store.queueStats()).toEqual({ due: 0, oldestDueAt: null });
      });
    });

    describe('purgeTerminal', () => {
      it('removes operations terminal before the cutoff and their history, in batches', async () => {
        const old: OperationRecord[] = [];
        for (let i = 0; i < 5; i++) {
          const created = await store.insert(newOp(), CREATED);
          await store.update(created, { status: STATUS.succeeded, terminalAt: 1000 + i }, {}, UPDATED);
          old.push(created);
        }
        const recent = await store.insert(newOp(), CREATED);
        await store.update(recent, { status: STATUS.failed, terminalAt: 5000 }, {}, UPDATED);
        const running = await store.insert(newOp({ status: STATUS.running }), CREATED);

        expect(await store.purgeTerminal(2000, 2)).toBe(2);
        expect(await store.get(old[0])).toBeUndefined();
        expect(await store.get(old[1])).toBeUndefined();
        expect(await store.get(old[2])).toBeTruthy();
        expect(await store.history(old[0])).toEqual([]);
        expect(await store.purgeTerminal(2000, 2)).toBe(2);
        expect(await store.purgeTerminal(2000, 2)).toBe(1);
        expect(await store.purgeTerminal(2000, 2)).toBe(0);
        for (const r of old) expect(await store.get(r)).toBeUndefined();
        expect(await store.get(recent)).toBeTruthy();
        expect(await store.history(recent)).toHaveLength(2);
        expect(await store.get(running)).toBeTruthy();
        expect(await store.count('tenant-a', old[0].scope)).toBe(2);
      });
    });

    describe('checkpoints', () => {
      it('keeps a checkpoint written with a fenced update, for the next claim, alone or in a group', async () => {
        const ops = [];
        for (let i = 0; i < 6; i++) ops.push(await store.insert(dueOp(), CREATED));
        const claimed = await store.claim({ workerId: 'w', limit: 6, leaseMs: 60_000 });
        expect(claimed.map((r) => r.checkpoint)).toEqual(ops.map(() => null));
        const state = { page: 7, cursor: 'abc', nested: { list: [1, 2, 3] }, text: '"quoted"' };
        const checkpointOf = (i: number) => (i % 2 === 0 ? { ...state, page: i } : `just a string ${i}`);
        // Issued together: PostgreSQL sends the first ones at once, alone, and the rest, which arrive while
        // those are in flight, together as one statement.
        const results = await Promise.all(
          claimed.map((r, i) =>
            store.update(
              r,
              { checkpoint: checkpointOf(i) },
              { fencingToken: r.fencingToken },
              { actor: 'worker:w', kind: 'progress' },
            ),
          ),
        );
        expect(results.every((r) => r.ok)).toBe(true);
        const byId = new Map(claimed.map((r, i) => [r.id, checkpointOf(i)]));
        for (const op of ops) expect((await store.get(op))!.checkpoint).toEqual(byId.get(op.id));
        // A stale attempt's checkpoint is refused like its other writes.
        const stale = await store.update(
          claimed[0],
          { checkpoint: { page: 1 } },
          { fencingToken: claimed[0].fencingToken - 1 },
          { actor: 'worker:old', kind: 'progress' },
        );
        expect(stale.ok).toBe(false);
        // Freed and claimed again: the next attempt gets the checkpoint.
        await store.update(claimed[0], { runAt: Date.now() - 1, leaseOwner: null }, {}, UPDATED);
        const [again] = await store.claim({ workerId: 'w2', limit: 1, leaseMs: 60_000 });
        expect(again.id).toBe(claimed[0].id);
        expect(again.checkpoint).toEqual(byId.get(claimed[0].id));
      });
    });

    describe('worker liveness', () => {
      it('leaves the leases of a registered, living worker alone', async () => {
        if (!store.registerWorker || !store.releaseDeadLeases || !store.unregisterWorker) return;
        await store.registerWorker('w-alive');
        await store.insert(dueOp(), CREATED);
        const [claimed] = await store.claim({ workerId: 'w-alive', limit: 1, leaseMs: 60_000 });
        expect(await store.releaseDeadLeases()).toBe(0);
        expect((await store.get(claimed))!.runAt).toBe(claimed.runAt);
        await store.unregisterWorker('w-alive');
        // Unregistered (a clean stop): no longer listed, so nothing proves it dead; the lease runs out.
        expect(await store.releaseDeadLeases()).toBe(0);
        expect((await store.get(claimed))!.runAt).toBe(claimed.runAt);
      });
    });

    describe('operator queries (admin)', () => {
      const FAILED: WriteMeta = { actor: 'worker:w', kind: 'failed' };
      /** Ends an operation at an exact time, so durations are known. */
      async function finish(r: OperationRecord, status: StatusValue, atMs: number) {
        const result = await store.update(keyOf(r), { status, terminalAt: atMs }, {}, FAILED);
        expect(result.ok).toBe(true);
      }

      it('lists a tenant across scopes, newest first, with every filter and keyset pages', async () => {
        const admin = store.admin!;
        const a = await store.insert(newOp({ scope: 'users/alice/authentication', handler: 'h1' }), CREATED);
        const b = await store.insert(newOp({ scope: 'sites/s1', type: 'richLongRunningOperation' }), CREATED);
        const c = await store.insert(newOp({ scope: 'sites/s1/lists/l%', handler: 'h2' }), CREATED);
        const d = await store.insert(newOp({ scope: 'operations', handler: 'h1' }), CREATED);
        // Neither a user scope (nothing between prefix and suffix) nor another tenant's.
        await store.insert(newOp({ scope: 'users/authentication' }), CREATED);
        await store.insert(newOp({ tenantId: 'tenant-b', scope: 'operations' }), CREATED);
        const ids = async (filter: Parameters<typeof admin.list>[1], top = 50) =>
          (await admin.list('tenant-a', filter, { top })).map((r) => r.id);

        expect((await ids({})).slice(1)).toEqual([d.id, c.id, b.id, a.id]);
        expect(await ids({ scopes: [{ prefix: 'users/', suffix: '/authentication' }] })).toEqual([a.id]);
        expect(await ids({ scopes: [{ prefix: 'sites/' }] })).toEqual([c.id, b.id]);
        // '%' is a literal character, not a wildcard.
        expect(await ids({ scopes: [{ prefix: 'sites/s1/lists/l%' }] })).toEqual([c.id]);
        expect(await ids({ scopes: [{ prefix: 'sites/s1/lists/lx' }] })).toEqual([]);
        expect(await ids({ scopes: [{ exact: 'operations' }, { exact: 'sites/s1' }] })).toEqual([d.id, b.id]);
        expect(await ids({ scopes: [] })).toEqual([]);
        expect(await ids({ handlers: ['h1'] })).toEqual([d.id, a.id]);
        expect(await ids({ types: ['richLongRunningOperation'] })).toEqual([b.id]);
        expect(await ids({ id: c.id })).toEqual([c.id]);
        expect(await ids({ createdFrom: b.createdDateTime, createdTo: d.createdDateTime })).toEqual([
          c.id,
          b.id,
        ]);
        await finish(a, STATUS.failed, 1_000_000);
        await finish(c, STATUS.succeeded, 2_000_000);
        expect(await ids({ statuses: [STATUS.failed, STATUS.succeeded] })).toEqual([c.id, a.id]);
        expect(await ids({ finishedFrom: 1_500_000 })).toEqual([c.id]);
        expect(await ids({ finishedTo: 1_500_000 })).toEqual([a.id]);
        expect(await admin.count('tenant-a', { handlers: ['h1', 'h2'] })).toBe(3);

        // Pages of two: the extra row says there is more; beforeSeq continues after the last row shown.
        const first = await admin.list('tenant-a', {}, { top: 2 });
        expect(first).toHaveLength(3);
        const second = await admin.list('tenant-a', {}, { top: 2, beforeSeq: first[1].seq });
        expect([...first.slice(0, 2), ...second].map((r) => r.id)).toEqual(await ids({}));
        expect(first[0].handler === null || typeof first[0].handler === 'string').toBe(true);
      });

      it('counts by scope and by handler, and tells the latest failures', async () => {
        const admin = store.admin!;
        const x = await store.insert(newOp({ scope: 'operations', handler: 'h1' }), CREATED);
        const y = await store.insert(newOp({ scope: 'operations', handler: 'h1' }), CREATED);
        await store.insert(newOp({ scope: 'sites/s1', handler: 'h2' }), CREATED);
        await store.insert(newOp({ tenantId: 'tenant-b', scope: 'operations', handler: 'h1' }), CREATED);
        await finish(x, STATUS.failed, 5_000);
        await finish(y, STATUS.failed, 9_000);
        const byScope = await admin.countsByScope('tenant-a');
        expect(byScope.sort((p, q) => (p.scope + p.status < q.scope + q.status ? -1 : 1))).toEqual([
          { scope: 'operations', status: STATUS.failed, count: 2 },
          { scope: 'sites/s1', status: STATUS.notStarted, count: 1 },
        ]);
        const byHandler = await admin.countsByHandler('tenant-a');
        expect(byHandler.sort((p, q) => (p.handler < q.handler ? -1 : 1))).toEqual([
          { handler: 'h1', status: STATUS.failed, count: 2 },
          { handler: 'h2', status: STATUS.notStarted, count: 1 },
        ]);
        expect((await admin.latestFailures('tenant-a', 10)).map((r) => r.id)).toEqual([y.id, x.id]);
        expect((await admin.latestFailures('tenant-a', 1)).map((r) => r.id)).toEqual([y.id]);
      });

      it('buckets activity and gives nearest-rank duration percentiles', async () => {
        const admin = store.admin!;
        const base = 1_800_000_000_000; // a whole minute
        const ops: OperationRecord[] = [];
        // Created 1, 2, 3 and 4 s before `base`, all finished at `base` (one failed).
        for (const s of [1, 2, 3, 4]) {
          const at = fromEpochMs(base - s * 1000);
          ops.push(await store.insert(newOp({ createdDateTime: at, lastActionDateTime: at }), CREATED));
        }
        for (const [i, r] of ops.entries()) await finish(r, i === 0 ? STATUS.failed : STATUS.succeeded, base);
        const late = fromEpochMs(base + 30_000);
        await store.insert(newOp({ createdDateTime: late, lastActionDateTime: late }), CREATED);
        const buckets = await admin.activity('tenant-a', base - 60_000, 60_000);
        expect(buckets).toEqual([
          { start: base - 60_000, created: 4, finished: 0, failed: 0, p50Ms: null, p95Ms: null },
          { start: base, created: 1, finished: 4, failed: 1, p50Ms: 2000, p95Ms: 4000 },
        ]);
        // Nothing before `sinceMs` counts.
        expect(await admin.activity('tenant-a', base + 1, 60_000)).toEqual([
          { start: base, created: 1, finished: 0, failed: 0, p50Ms: null, p95Ms: null },
        ]);
        expect(await admin.activity('tenant-b', 0, 60_000)).toEqual([]);
      });
    });

    describe('queueStats', () => {
      it('counts due operations and reports the oldest runAt', async () => {
        expect(await store.queueStats()).toEqual({ due: 0, oldestDueAt: null });
        const t = Date.now();
        await store.insert(dueOp({ runAt: t - 5000 }), CREATED);
        await store.insert(dueOp({ runAt: t - 100 }), CREATED);
        await store.insert(dueOp({ runAt: t + 60_000 }), CREATED);
        await store.insert(dueOp({ runAt: t - 9000, status: STATUS.succeeded }), CREATED);
        await store.insert(newOp({ runAt: t - 9000 }), CREATED);
        expect(await store.queueStats()).toEqual({ due: 2, oldestDueAt: t - 5000 });
        await store.claim({ workerId: 'w', limit: 1, leaseMs: 60_000 });
        expect(await store.queueStats()).toEqual({ due: 1, oldestDueAt: t - 100 });
      });
    });
  });
}

/** Records read back carry no eventSeq (only the record a write returns does). */
/** The view of a record that reads return (OperationView). */
export function viewOf(record: OperationRecord): OperationView {
  const { seq, tenantId, scope, id, type, status, createdDateTime, lastActionDateTime } = record;
  const { resourceLocation, statusDetail, props, version } = record;
  return {
    seq,
    tenantId,
    scope,
    id,
    type,
    status,
    createdDateTime,
    lastActionDateTime,
    resourceLocation,
    statusDetail,
    props,
    version,
  };
}

export function stripEventSeq(record: OperationRecord): OperationRecord {
  const copy = { ...record };
  delete copy.eventSeq;
  return copy;
}

/** The value a key sorts by: the column or the JSON property; absent is null. */
function sortValue(record: OperationRecord, field: string): FilterValue {
  const base: Record<string, FilterValue> = {
    id: record.id,
    createdDateTime: record.createdDateTime,
    lastActionDateTime: record.lastActionDateTime,
    resourceLocation: record.resourceLocation,
    status: record.status,
    statusDetail: record.statusDetail,
  };
  if (field in base) return base[field];
  const value = record.props[field];
  return value === undefined ? null : (value as FilterValue);
}

/** Byte order for text (both backends compare text as bytes), numeric order for numbers, null first. */
function compareValues(a: FilterValue, b: FilterValue): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
}

/** The order the stores promise: the keys, then seq in the direction of the last key. */
export function sortRecords(records: OperationRecord[], orderBy: OrderKey[]): OperationRecord[] {
  const lastDir = orderBy.at(-1)?.dir ?? 'asc';
  return [...records].sort((x, y) => {
    for (const k of orderBy) {
      const c = compareValues(sortValue(x, k.field), sortValue(y, k.field));
      if (c !== 0) return k.dir === 'asc' ? c : -c;
    }
    return lastDir === 'asc' ? x.seq - y.seq : y.seq - x.seq;
  });
}
