/**
 * New operations taken by a free local worker in their own insert (NewOperation.claim, Worker.reserve):
 * one commit before the handler starts instead of an insert's and then a claim's. What a user can see:
 * the start answers `running` with both history events (created, then claimed by the worker); with no
 * free slot, or older work possibly waiting, the operation is queued as before; on PostgreSQL a node's
 * own announcement of a start does not come back to it (it would send its worker to claim nothing).
 * Real SQLite files, a real PostgreSQL, real nodes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { HandlerContext, HandlerDefinition } from '../src/engine/handler.js';
import { createLongrun, type Longrun } from '../src/longrun.js';
import type { OperationRecord } from '../src/model/operation.js';
import type { OperationChange } from '../src/service/changes.js';
import { STATUS } from '../src/model/status.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A handler whose runs wait for `open()`; `calls` lists the operation ids in the order they started. */
function gated(name: string) {
  let open!: () => void;
  let opened = new Promise<void>((r) => (open = r));
  const calls: string[] = [];
  const handler: HandlerDefinition<never> = {
    name,
    async run(ctx) {
      calls.push(ctx.operation.id);
      await opened;
    },
  };
  return {
    handler,
    calls,
    open: () => open(),
    /** Closes the gate again for the runs that start from now on. */
    close: () => (opened = new Promise<void>((r) => (open = r))),
  };
}

async function serve(options: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const s = await startTestServer({ retention: false, ...options });
  servers.push(s);
  return s;
}

async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Waits until the worker has looked for work and found the queue empty (reserve then says yes). */
async function idle(node: Longrun, handler: string): Promise<void> {
  await until('the worker to be idle', () => {
    const slot = node.worker!.reserve(handler);
    if (slot) node.worker!.cancel();
    return slot !== undefined;
  });
}

describe('claimed in its insert (SQLite)', () => {
  it('an idle worker takes a new operation in its insert: the start answers running, history created then claimed', async () => {
    const g = gated('gated');
    const s = await serve({ handlers: [g.handler], worker: { concurrency: 2 } });
    await idle(s.node, 'gated');
    const op = await s.node.start('gated', null);
    expect(op.status).toBe(STATUS.running);
    expect(op.leaseOwner).toBe(s.node.worker!.id);
    expect(op.attempts).toBe(1);
    await until('the handler to run', () => g.calls.length === 1);
    const history = await s.node.store.history(op);
    expect(history.map((e) => [e.kind, e.fromStatus, e.toStatus, e.actor])).toEqual([
      ['created', null, STATUS.notStarted, expect.any(String)],
      ['claimed', STATUS.notStarted, STATUS.running, `worker:${s.node.worker!.id}`],
    ]);
    // The record the start returned is the row as stored: its version and event are the claimed ones.
    expect(op.eventSeq).toBe(history[1].eventSeq);
    expect((await s.node.store.get(op))?.version).toBe(op.version);
    g.open();
    await until('it to succeed', async () => (await s.node.store.get(op))?.status === STATUS.succeeded);
    expect(g.calls).toEqual([op.id]);
    expect((await s.node.store.history(op)).map((e) => e.kind)).toEqual(['created', 'claimed', 'succeeded']);
  });

  it('with no free slot the operation is queued (notStarted) and runs when a slot frees, in order', async () => {
    const g = gated('gated');
    const s = await serve({ handlers: [g.handler], worker: { concurrency: 1, prefetch: 0 } });
    await idle(s.node, 'gated');
    const first = await s.node.start('gated', null);
    expect(first.status).toBe(STATUS.running);
    const queued: OperationRecord[] = [];
    for (let i = 0; i < 3; i++) queued.push(await s.node.start('gated', null));
    for (const op of queued) expect(op.status).toBe(STATUS.notStarted);
    g.open();
    await until('all to succeed', async () => {
      for (const op of [first, ...queued])
        if ((await s.node.store.get(op))?.status !== STATUS.succeeded) return false;
      return true;
    });
    expect(g.calls).toEqual([first, ...queued].map((o) => o.id));
  });

  it('a start while older work may be waiting is queued behind it, not run ahead of it', async () => {
    const g = gated('gated');
    const s = await serve({ handlers: [g.handler], worker: { concurrency: 2, prefetch: 0 } });
    await idle(s.node, 'gated');
    // Told of due work it has not claimed yet (a start, another node's notification): no claim at insert
    // until a claim has come back short (the queue is empty again).
    s.node.worker!.poke();
    expect(s.node.worker!.reserve('gated')).toBeUndefined();
    await idle(s.node, 'gated');
    // Two slots: two claims at insert, then none (the third is queued); a slot given back frees one again.
    expect(s.node.worker!.reserve('gated')).toBeDefined();
    expect(s.node.worker!.reserve('gated')).toBeDefined();
    expect(s.node.worker!.reserve('gated')).toBeUndefined();
    s.node.worker!.cancel();
    expect(s.node.worker!.reserve('gated')).toBeDefined();
    s.node.worker!.cancel();
    s.node.worker!.cancel();
    // A handler this worker does not run is never claimed at insert.
    expect(s.node.worker!.reserve('other')).toBeUndefined();
    g.open();
  });

  it('a node without workers, and a stopped worker, leave new operations queued', async () => {
    const g = gated('gated');
    const off = await serve({ handlers: [g.handler], worker: false });
    expect((await off.node.start('gated', null)).status).toBe(STATUS.notStarted);
    const s = await serve({ handlers: [g.handler] });
    await idle(s.node, 'gated');
    await s.node.worker!.stop(0);
    expect(s.node.service.startClaimer).toBeUndefined();
    expect(s.node.worker!.reserve('gated')).toBeUndefined();
    expect((await s.node.start('gated', null)).status).toBe(STATUS.notStarted);
    expect(g.calls).toEqual([]);
  });
});

describe('no pointless claims', () => {
  /** Counts the claims `node`'s worker sends to its store from now on. */
  function countClaims(node: Longrun): { count: number } {
    const counter = { count: 0 };
    const store = node.store as unknown as { claim: (...args: unknown[]) => Promise<unknown[]> };
    const claim = store.claim.bind(store);
    store.claim = (...args) => {
      counter.count++;
      return claim(...args);
    };
    return counter;
  }

  /** An idle node whose handler 'quick' returns at once; `ran` lists the operations it ran, in order. */
  async function quickNode(pollIntervalMs: number) {
    const ran: string[] = [];
    const s = await serve({
      handlers: [
        { name: 'quick', run: async (ctx: HandlerContext) => void ran.push(ctx.operation.id) } as never,
      ],
      worker: { pollIntervalMs },
    });
    await idle(s.node, 'quick');
    return { s, ran };
  }

  it('a slot freed while nothing is waiting sends no claim (starts one after another, each claimed at insert)', async () => {
    // Under the 30 s lease: a lease's end sooner than the next poll would count as work coming due.
    const { s, ran: done } = await quickNode(20_000);
    const claims = countClaims(s.node);
    for (let i = 0; i < 20; i++) {
      const op = await s.node.start('quick', null);
      expect(op.status).toBe(STATUS.running);
      await until('it to succeed', async () => (await s.node.store.get(op))?.status === STATUS.succeeded);
    }
    expect(done).toHaveLength(20);
    expect(claims.count).toBe(0);
  });

  it('still looks for unannounced work every poll interval while slots keep freeing', async () => {
    const { s, ran } = await quickNode(200);
    // Another node on the same file, without workers, starts one: nothing tells this node's worker of it
    // (SQLite has no notifications between nodes), only its poll finds it.
    const writer = await createLongrun({
      dbFile: s.dbFile,
      worker: false,
      retention: false,
      handlers: [{ name: 'quick', run: async () => {} } as never],
    });
    const unannounced = await writer.start('quick', null, { id: 'unannounced' });
    await writer.close(0);
    // Meanwhile this node's own starts free a slot every 10 ms (for up to 10 s, fifty poll intervals): the
    // unannounced one must be found while they go on, not only once they stop.
    const started = Date.now();
    while (Date.now() - started < 10_000 && !ran.includes(unannounced.id)) {
      await s.node.start('quick', null);
      await sleep(10);
    }
    expect(ran).toContain(unannounced.id);
  });
});

describe('claimed in its insert (PostgreSQL, two nodes)', () => {
  it('each node takes its own idle starts, and hears no echo of its own start announcements', async () => {
    const url = await freshDatabase('claim_insert');
    const ga = gated('gated');
    const gb = gated('gated');
    const a = await serve({
      handlers: [ga.handler],
      store: new PostgresStore({ connectionString: url }),
      worker: { pollIntervalMs: 60_000 },
    });
    const b = await serve({
      handlers: [gb.handler],
      store: new PostgresStore({ connectionString: url }),
      worker: { pollIntervalMs: 60_000 },
    });
    const heardBy = (node: Longrun) => {
      const heard: OperationChange[] = [];
      node.service.changes.subscribe((c) => heard.push(c));
      return heard;
    };
    const heardA = heardBy(a.node);
    const heardB = heardBy(b.node);
    await idle(a.node, 'gated');
    await idle(b.node, 'gated');

    const op = await a.node.start('gated', null);
    expect(op.status).toBe(STATUS.running);
    expect(op.leaseOwner).toBe(a.node.worker!.id);
    await until('A to run it', () => ga.calls.length === 1);
    const history = await a.node.store.history(op);
    expect(history.map((e) => [e.kind, e.fromStatus, e.toStatus])).toEqual([
      ['created', null, STATUS.notStarted],
      ['claimed', STATUS.notStarted, STATUS.running],
    ]);
    expect(op.eventSeq).toBe(history[1].eventSeq);

    // B hears of it (a record-less change from the other node) and its worker finds nothing to claim.
    await until('B to hear of it', () =>
      heardB.some((c) => c.id === op.id && c.kind === 'created' && !c.record),
    );
    // A's own announcement comes back to A's listener too; a later one of A's (the outcome) arriving
    // there means the earlier one would have: notifications reach a listener in the order they were sent.
    ga.open();
    await until('A to hear its own outcome back', () =>
      heardA.some((c) => c.id === op.id && c.kind === 'succeeded' && !c.record),
    );
    expect(heardA.filter((c) => c.id === op.id && c.kind === 'created').map((c) => !!c.record)).toEqual([
      true,
    ]);
    expect(gb.calls).toEqual([]);

    // And B takes its own idle start the same way.
    await idle(b.node, 'gated');
    const other = await b.node.start('gated', null);
    expect(other.status).toBe(STATUS.running);
    expect(other.leaseOwner).toBe(b.node.worker!.id);
    await until('B to run it', () => gb.calls.length === 1);
    gb.open();
    await until('it to succeed', async () => (await b.node.store.get(other))?.status === STATUS.succeeded);
    expect(ga.calls).toEqual([op.id]);
  });
});
