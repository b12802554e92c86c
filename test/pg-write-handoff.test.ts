/**
 * On PostgreSQL, PATCHes of one operation queued behind each other in a node take the previous write's
 * result instead of reading the operation again (OperationService.modify's hand-off): one round trip each
 * instead of two. These tests pin what that must never change: every write still lands on the operation
 * as it is, a write from another node in between is seen, and an If-Match is judged against the real
 * state, not the handed-over one.
 *
 * The node's store is a real PostgresStore seen through a Proxy that only counts reads and lets a test
 * act at one chosen moment (right after a write committed, before the node learns its result).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { etagOf } from '../src/model/etag.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { OperationKey } from '../src/store/store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
let otherNode: PostgresStore;
let reads = 0;
/** Runs once, inside the next store.update, after it committed and before its result is returned. */
let afterNextUpdate: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const url = await freshDatabase('handoff');
  const real = new PostgresStore({ connectionString: url });
  // The class's own methods: the node's metrics wrap the store's methods in place, on the object behind
  // this proxy, and those wrappers call back through the proxy.
  const { get: realGet, update: realUpdate } = PostgresStore.prototype;
  const store = new Proxy(real, {
    get(target, property) {
      if (property === 'get') {
        return (key: OperationKey) => {
          reads++;
          return realGet.call(target, key);
        };
      }
      if (property === 'update') {
        return async (...args: Parameters<PostgresStore['update']>) => {
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

it('a burst of PATCHes on one operation all land, each on the state before it, with fewer reads', async () => {
  await create('burst');
  // Hold the first write's result back a moment, so the other PATCHes queue up behind it.
  afterNextUpdate = () => new Promise((r) => setTimeout(r, 500));
  reads = 0;
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
  // Without the hand-off, every PATCH reads the operation first (20 reads).
  expect(reads).toBeLessThan(20);
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
