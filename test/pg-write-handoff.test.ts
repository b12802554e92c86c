/**
 * On PostgreSQL, PATCHes of one operation queued behind each other in a node are written together
 * (src/service/write-chain.ts): each decides on the state the ones before it leave, the first on the
 * previous batch's result (handed over, not read again), and the batch goes as one statement. These tests
 * pin what that must never change: every write still lands on the operation as it is, each gets its own
 * version and history event, a write from another node in between is seen, and an If-Match or a terminal
 * state is judged against the real state, not a handed-over one.
 *
 * The node's store is a real PostgresStore seen through a Proxy that only counts reads and lets a test
 * act at one chosen moment (right after a write committed, before the node learns its result).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { etagOf } from '../src/model/etag.js';
import { STATUS } from '../src/model/status.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { OperationKey } from '../src/store/store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
let otherNode: PostgresStore;
let reads = 0;
/** Write statements: single updates and chains. */
let updates = 0;
let chains = 0;
/** Runs once, inside the next store.update, after it committed and before its result is returned. */
let afterNextUpdate: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const url = await freshDatabase('handoff');
  const real = new PostgresStore({ connectionString: url });
  // The class's own methods: the node's metrics wrap the store's methods in place, on the object behind
  // this proxy, and those wrappers call back through the proxy.
  const { get: realGet, update: realUpdate, updateChain: realChain } = PostgresStore.prototype;
  const store = new Proxy(real, {
    get(target, property) {
      if (property === 'get') {
        return (key: OperationKey) => {
          reads++;
          return realGet.call(target, key);
        };
      }
      if (property === 'updateChain') {
        return (...args: Parameters<PostgresStore['updateChain']>) => {
          chains++;
          return realChain.apply(target, args);
        };
      }
      if (property === 'update') {
        return async (...args: Parameters<PostgresStore['update']>) => {
          updates++;
          const result = await realUpdate.apply(target, args);
          const hook = afterNextUpdate;
          afterNextUpdate = undefined;
          if (hook) await hook();
          return result;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  server = await startTestServer({ store, worker: false, retention: false });
  otherNode = new PostgresStore({ connectionString: url });
});
afterAll(async () => {
  await server?.close();
  await otherNode?.close();
});

const tenantId = ''; // auth off: the empty tenant
const keyOf = (id: string): OperationKey => ({ tenantId, scope: 'operations', id });
const patch = (id: string, body: unknown, headers: Record<string, string> = {}) =>
  server.request('PATCH', `/v1.0/operations/${id}`, { body, headers });

async function create(id: string): Promise<void> {
  const response = await server.request('POST', '/v1.0/operations', { body: { id, status: 'running' } });
  expect(response.status).toBe(201);
}

it('a burst of PATCHes on one operation all land, each on the state before it, in few statements', async () => {
  await create('burst');
  // Hold the first write's result back a moment, so the other PATCHes queue up behind it.
  afterNextUpdate = () => new Promise((r) => setTimeout(r, 500));
  reads = 0;
  updates = 0;
  chains = 0;
  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, i) => patch('burst', { statusDetail: `patch ${i}` })),
  );
  const bodies = (await Promise.all(
    responses.map(async (r) => {
      expect(r.status).toBe(200);
      return { etag: r.headers.get('etag')!, body: (await r.json()) as { statusDetail: string } };
    }),
  )) as { etag: string; body: { statusDetail: string } }[];
  // Each write made its own version: 20 writes after the create (version 1) give versions 2..21.
  const versions = bodies.map((b) => Number(/^"(\d+)-/.exec(b.etag)![1])).sort((a, b) => a - b);
  expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
  // The last version is what is stored, with the detail of the request that made it.
  const last = bodies.find((b) => b.etag.startsWith('"21-'))!;
  const stored = (await otherNode.get(keyOf('burst')))!;
  expect(stored.version).toBe(21);
  expect(stored.statusDetail).toBe(last.body.statusDetail);
  const history = await otherNode.history(keyOf('burst'));
  expect(history.filter((e) => e.kind === 'updated')).toHaveLength(20);
  // Each response is the operation as its own PATCH left it: the detail it sent, at its version.
  for (const { body } of bodies) expect(body.statusDetail).toMatch(/^patch \d+$/);
  const details = bodies.map((b) => b.body.statusDetail);
  expect(new Set(details).size).toBe(20);
  // One at a time, that is 20 statements and 20 reads; here the first goes alone and the 19 queued
  // behind it go together, decided on its result.
  expect(updates + chains).toBeLessThanOrEqual(3);
  expect(reads).toBeLessThanOrEqual(2);
});

it('in a batch, each PATCH is judged on the state before it: a stale If-Match is refused, the rest land', async () => {
  await create('mixed');
  const created = (await otherNode.get(keyOf('mixed')))!;
  afterNextUpdate = () => new Promise((r) => setTimeout(r, 1_500));
  const first = patch('mixed', { statusDetail: 'first' });
  // The first is being written (held back); the rest queue behind it, sent one after another so that
  // they queue in this order.
  const bodies = [
    { statusDetail: 'second' },
    // Conditioned on the created version: two writes ago by the time it is judged.
    { statusDetail: 'stale', etag: etagOf(created) },
    { status: 'succeeded' },
    // The operation has ended by then: its status can't change any more.
    { status: 'running' },
    { statusDetail: 'after the end' },
  ];
  const queued: Promise<Response>[] = [];
  for (const { etag, ...body } of bodies) {
    await new Promise((r) => setTimeout(r, 100));
    queued.push(patch('mixed', body, etag ? { 'If-Match': etag } : {}));
  }
  expect((await first).status).toBe(200);
  const answers = await Promise.all(queued);
  expect(answers.map((a) => a.status)).toEqual([200, 412, 200, 409, 200]);
  const answered = (await Promise.all([answers[0], answers[2], answers[4]].map((a) => a.json()))) as {
    status: string;
    statusDetail: string;
  }[];
  expect(answered.map((b) => [b.status, b.statusDetail])).toEqual([
    ['running', 'second'],
    ['succeeded', 'second'],
    ['succeeded', 'after the end'],
  ]);
  const stored = (await otherNode.get(keyOf('mixed')))!;
  expect(stored).toMatchObject({ version: created.version + 4, statusDetail: 'after the end' });
  expect(answers[4].headers.get('etag')).toBe(etagOf(stored));
  const history = (await otherNode.history(keyOf('mixed'))).slice(1);
  expect(history.map((e) => [e.fromStatus, e.toStatus])).toEqual([
    [created.status, created.status],
    [created.status, created.status],
    [created.status, STATUS.succeeded],
    [STATUS.succeeded, STATUS.succeeded],
  ]);
});

it('a write from another node between two queued PATCHes is seen, and If-Match is judged on it', async () => {
  await create('raced');
  let otherEtag = '';
  let second: Promise<Response> | undefined;
  afterNextUpdate = async () => {
    // The first PATCH has committed. Another node changes the operation now, and a client that read the
    // other node's result sends a PATCH conditioned on it, which queues behind the first one here.
    const changed = await otherNode.update(
      keyOf('raced'),
      { statusDetail: 'from the other node' },
      {},
      { actor: 'test', kind: 'updated' },
    );
    if (!changed.ok) throw new Error('the other node could not write');
    otherEtag = etagOf(changed.record);
    second = patch('raced', { statusDetail: 'conditioned' }, { 'If-Match': otherEtag });
    await new Promise((r) => setTimeout(r, 300)); // let it arrive and queue
  };
  const first = await patch('raced', { statusDetail: 'first' });
  expect(first.status).toBe(200);
  const answer = await second!;
  // The handed-over state (the first PATCH's result) is older than the other node's write: the If-Match
  // must be judged on the operation as it is, where it holds.
  expect(answer.status).toBe(200);
  const body = (await answer.json()) as { statusDetail: string };
  expect(body.statusDetail).toBe('conditioned');
  const otherVersion = Number(/^"(\d+)-/.exec(otherEtag)![1]);
  expect(answer.headers.get('etag')).toMatch(new RegExp(`^"${otherVersion + 1}-`));

  // And a stale If-Match is still refused.
  const stale = await patch('raced', { statusDetail: 'stale' }, { 'If-Match': otherEtag });
  expect(stale.status).toBe(412);
});

it('a PATCH soon after another of the same operation writes at once, on the state the last one left', async () => {
  await create('follow');
  expect((await patch('follow', { statusDetail: 'one' })).status).toBe(200);
  reads = 0;
  updates = 0;
  const second = await patch('follow', { statusDetail: 'two' });
  expect(second.status).toBe(200);
  expect(((await second.json()) as { statusDetail: string }).statusDetail).toBe('two');
  const stored = (await otherNode.get(keyOf('follow')))!;
  expect(second.headers.get('etag')).toBe(etagOf(stored));
  expect(stored.version).toBe(3);
  // One statement, no read first.
  expect(reads).toBe(0);
  expect(updates).toBe(1);
});

it('a remembered state made stale by another node costs a retry, never a wrong answer', async () => {
  await create('stale');
  expect((await patch('stale', { statusDetail: 'mine' })).status).toBe(200);
  // Another node changes it: this node's remembered state is now a version behind.
  const other = await otherNode.update(
    keyOf('stale'),
    { statusDetail: 'theirs' },
    {},
    { actor: 'test', kind: 'updated' },
  );
  if (!other.ok) throw new Error('the other node could not write');
  reads = 0;
  // Written on the operation as it is: the refused write answered with it, so no read was needed.
  const next = await patch('stale', { statusDetail: 'mine again' });
  expect(next.status).toBe(200);
  expect(next.headers.get('etag')).toBe(etagOf({ ...other.record, version: other.record.version + 1 }));
  expect(reads).toBe(0);
  // An If-Match on the other node's version was refused on the remembered state; it is judged on the
  // operation as it is, where it no longer holds either (this node wrote since): 412, after a fresh read.
  const conditioned = await patch(
    'stale',
    { statusDetail: 'conditioned' },
    { 'If-Match': etagOf(other.record) },
  );
  expect(conditioned.status).toBe(412);
  // The other node ends it; this node's next status change is refused on that, not on what it remembers.
  const ended = await otherNode.update(
    keyOf('stale'),
    { status: STATUS.succeeded },
    {},
    { actor: 'test', kind: 'succeeded' },
  );
  expect(ended.ok).toBe(true);
  const refused = await patch('stale', { status: 'running' });
  expect(refused.status).toBe(409);
  expect((await otherNode.get(keyOf('stale')))!.status).toBe(STATUS.succeeded);
});
