/**
 * The durable execution engine through createLongrun: handler outcomes (success, retry, exhausted retries,
 * permanent failure, timeout), cancel (waiting and running), progress coalescing, fencing of stale attempts,
 * graceful stop and retention. Real SQLite files and real HTTP; waits poll for conditions, never time them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentError, type HandlerContext, type HandlerDefinition } from '../src/engine/handler.js';
import { MIN_RETENTION_MS } from '../src/engine/retention.js';
import {
  CancelSignal,
  ShutdownSignal,
  StaleSignal,
  TimeoutSignal,
  type WorkerOptions,
} from '../src/engine/worker.js';
import { createLongrun, type Longrun, type LongrunOptions } from '../src/longrun.js';
import type { OperationEvent, OperationRecord } from '../src/model/operation.js';
import { STATUS } from '../src/model/status.js';
import { startTestServer, type TestServer } from './support/server.js';

const FAST: WorkerOptions = {
  pollIntervalMs: 20,
  retryBaseMs: 10,
  retryCapMs: 50,
  leaseMs: 5000,
  progressIntervalMs: 50,
};
const TERMINAL: readonly number[] = [STATUS.succeeded, STATUS.failed, STATUS.canceled];

const servers: TestServer[] = [];
const extraNodes: Longrun[] = [];
afterEach(async () => {
  for (const n of extraNodes.splice(0)) await n.close(0);
  for (const s of servers.splice(0)) await s.close();
});

async function serve(
  options: Omit<LongrunOptions, 'dbFile'> & { worker?: WorkerOptions | false } = {},
): Promise<TestServer> {
  const s = await startTestServer({
    retention: false,
    ...options,
    worker: options.worker === false ? false : { ...FAST, ...options.worker },
  });
  servers.push(s);
  return s;
}

/** A second node on the same SQLite file (e.g. after the first one stopped). */
async function reopen(server: TestServer, options: Omit<LongrunOptions, 'dbFile'> = {}): Promise<Longrun> {
  const node = await createLongrun({ dbFile: server.dbFile, retention: false, worker: false, ...options });
  extraNodes.push(node);
  return node;
}

const def = <I>(d: HandlerDefinition<I>) => d as HandlerDefinition<never>;

/** Polls `check` until it returns something other than undefined/false, or fails after the deadline. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(15);
  }
}

/** A promise the test resolves to let a handler go on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** The operation's URL path (v1.0): `/v1.0/{collection}/{id}`. */
const httpPath = (op: OperationRecord) =>
  `/v1.0/${op.scope === 'operations' ? '' : `${op.scope}/`}operations/${encodeURIComponent(op.id)}`;

async function read(
  server: TestServer,
  op: OperationRecord,
  prefer = true,
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await server.request(
    'GET',
    httpPath(op),
    prefer ? { headers: { Prefer: 'include-unknown-enum-members' } } : {},
  );
  return {
    status: res.status,
    body: res.status === 200 ? await res.json() : await res.text(),
    headers: res.headers,
  };
}

async function waitStatus(server: TestServer, op: OperationRecord, status: string): Promise<any> {
  return until(`${op.id} to be ${status}`, async () => {
    const { body } = await read(server, op);
    return body.status === status ? body : undefined;
  });
}

const terminalEvents = (history: OperationEvent[]) => history.filter((e) => TERMINAL.includes(e.toStatus));

async function expectOneTerminalEvent(
  node: Longrun,
  op: OperationRecord,
  status: number,
): Promise<OperationEvent[]> {
  const history = await node.store.history(op);
  const terminal = terminalEvents(history);
  expect(terminal).toHaveLength(1);
  expect(terminal[0].toStatus).toBe(status);
  return history;
}

/** Waits until every one of `ops` has succeeded. */
async function allSucceed(node: Longrun, ops: readonly OperationRecord[]): Promise<void> {
  await until('all to succeed', async () => {
    for (const op of ops) if ((await node.store.get(op))?.status !== STATUS.succeeded) return false;
    return true;
  });
}

describe('handler outcomes', () => {
  it('success: the result sets resourceLocation and the subtype properties of a richLongRunningOperation', async () => {
    const seen: HandlerContext<{ n: number }>[] = [];
    const s = await serve({
      handlers: [
        def<{ n: number }>({
          name: 'copy',
          async run(ctx) {
            seen.push(ctx);
            return {
              resourceLocation: `https://contoso.example/items/${ctx.input.n}`,
              statusDetail: 'Copied.',
              props: { resourceId: `item-${ctx.input.n}`, type: 'copy', notAProperty: 'dropped' },
            };
          },
        }),
      ],
    });
    const op = await s.node.start('copy', { n: 7 }, { collection: '/sites/s1/operations' });
    expect(op.type).toBe('richLongRunningOperation');
    expect(op.scope).toBe('sites/s1');
    const done = await waitStatus(s, op, 'succeeded');
    expect(done).toMatchObject({
      '@odata.type': '#microsoft.graph.richLongRunningOperation',
      id: op.id,
      resourceLocation: 'https://contoso.example/items/7',
      status: 'succeeded',
      statusDetail: 'Copied.',
      error: null,
      percentageComplete: 100,
      resourceId: 'item-7',
      type: 'copy',
    });
    expect(done).not.toHaveProperty('notAProperty');
    expect(seen).toHaveLength(1);
    expect(seen[0].attempt).toBe(1);
    expect(seen[0].input).toEqual({ n: 7 });
    expect(seen[0].operation.id).toBe(op.id);
    expect(seen[0].signal.aborted).toBe(false);
    const history = await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
    expect(history.map((e) => e.kind)).toEqual(['created', 'claimed', 'succeeded']);
    expect(history[1].actor).toMatch(/^worker:/);
    expect(history[0].actor).toBe('library');
  });

  it('throw then retry success: attempts 1 and 2, statusDetail tells of the retry in between', async () => {
    const attempts: number[] = [];
    const detailsSeen: (string | null)[] = [];
    const secondStarted = gate();
    const finishSecond = gate();
    const s = await serve({
      handlers: [
        def({
          name: 'flaky',
          async run(ctx) {
            attempts.push(ctx.attempt);
            detailsSeen.push(ctx.operation.statusDetail);
            if (ctx.attempt === 1) throw new Error('boom');
            secondStarted.open();
            await finishSecond.opened;
            return { resourceLocation: 'https://contoso.example/done' };
          },
        }),
      ],
    });
    const retries: OperationRecord[] = [];
    s.node.service.changes.subscribe((c) => c.kind === 'retry' && c.record && retries.push(c.record));
    const op = await s.node.start('flaky', null);
    await secondStarted.opened;
    // While the second attempt runs, a reader still sees why the first one was retried.
    const { body: during } = await read(s, op);
    expect(during.status).toBe('running');
    expect(during.statusDetail).toBe('Attempt 1 of 3 failed: boom; retrying.');
    finishSecond.open();
    const done = await waitStatus(s, op, 'succeeded');
    expect(done.resourceLocation).toBe('https://contoso.example/done');
    expect(done.statusDetail).toBeNull();
    expect(attempts).toEqual([1, 2]);
    expect(detailsSeen).toEqual([null, 'Attempt 1 of 3 failed: boom; retrying.']);
    expect(retries).toHaveLength(1);
    expect(retries[0].status).toBe(STATUS.running);
    expect(retries[0].leaseOwner).toBeNull();
    expect(retries[0].statusDetail).toMatch(/retrying/);
    const history = await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
    expect(history.map((e) => e.kind)).toEqual(['created', 'claimed', 'retry', 'claimed', 'succeeded']);
  });

  it('exhausted retries: failed with statusDetail, and error on a richLongRunningOperation', async () => {
    const attempts: number[] = [];
    const s = await serve({
      handlers: [
        def({
          name: 'broken',
          maxAttempts: 3,
          async run(ctx) {
            attempts.push(ctx.attempt);
            throw new Error(`still broken (attempt ${ctx.attempt})`);
          },
        }),
      ],
    });
    const rich = await s.node.start('broken', null, { collection: '/sites/s1/operations' });
    const failed = await waitStatus(s, rich, 'failed');
    expect(attempts).toEqual([1, 2, 3]);
    expect(failed.statusDetail).toBe('still broken (attempt 3)');
    expect(failed.error).toMatchObject({ code: 'handlerFailed', message: 'still broken (attempt 3)' });
    expect(failed.resourceLocation).toBeNull();
    const history = await expectOneTerminalEvent(s.node, rich, STATUS.failed);
    expect(history.filter((e) => e.kind === 'retry')).toHaveLength(2);

    // The base type has no error property: statusDetail carries the reason.
    attempts.length = 0;
    const base = await s.node.start('broken', null, { maxAttempts: 2 });
    const baseFailed = await waitStatus(s, base, 'failed');
    expect(attempts).toEqual([1, 2]);
    expect(baseFailed['@odata.type']).toBe('#microsoft.graph.longRunningOperation');
    expect(baseFailed.statusDetail).toBe('still broken (attempt 2)');
    expect(baseFailed).not.toHaveProperty('error');
    await expectOneTerminalEvent(s.node, base, STATUS.failed);
  });

  it('PermanentError fails at once, without retries', async () => {
    const attempts: number[] = [];
    const s = await serve({
      handlers: [
        def({
          name: 'reject',
          maxAttempts: 5,
          async run(ctx) {
            attempts.push(ctx.attempt);
            throw new PermanentError('The input names no file.', 'badInput');
          },
        }),
      ],
    });
    const op = await s.node.start('reject', {}, { collection: '/sites/s1/operations' });
    const failed = await waitStatus(s, op, 'failed');
    expect(attempts).toEqual([1]);
    expect(failed.statusDetail).toBe('The input names no file.');
    expect(failed.error).toMatchObject({ code: 'badInput', message: 'The input names no file.' });
    const history = await expectOneTerminalEvent(s.node, op, STATUS.failed);
    expect(history.map((e) => e.kind)).toEqual(['created', 'claimed', 'failed']);
  });

  it('per-operation timeout: the signal aborts with a TimeoutSignal and the operation fails (timeout)', async () => {
    const reasons: unknown[] = [];
    const s = await serve({
      handlers: [
        def({
          name: 'hang',
          async run(ctx) {
            await new Promise<void>((resolve) =>
              ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
            );
            reasons.push(ctx.signal.reason);
            throw ctx.signal.reason;
          },
        }),
      ],
    });
    const op = await s.node.start('hang', null, {
      collection: '/sites/s1/operations',
      timeoutMs: 100,
      maxAttempts: 1,
    });
    expect(op.timeoutMs).toBe(100);
    const failed = await waitStatus(s, op, 'failed');
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(TimeoutSignal);
    expect(failed.statusDetail).toBe('Timed out after 100 ms.');
    expect(failed.error).toMatchObject({ code: 'timeout', message: 'Timed out after 100 ms.' });
    await expectOneTerminalEvent(s.node, op, STATUS.failed);

    // The limit is per attempt: with attempts left, a timed-out attempt is retried.
    reasons.length = 0;
    const twice = await s.node.start('hang', null, { timeoutMs: 50, maxAttempts: 2 });
    await waitStatus(s, twice, 'failed');
    expect(reasons).toHaveLength(2);
    expect(reasons.every((r) => r instanceof TimeoutSignal)).toBe(true);
    await expectOneTerminalEvent(s.node, twice, STATUS.failed);
  });
});

describe('slots', () => {
  it('never runs more handlers at once than its concurrency, with the next claim going out beside the outcomes, retries due at once included', async () => {
    let running = 0;
    let most = 0;
    const s = await serve({
      worker: { concurrency: 3, retryBaseMs: 0, retryCapMs: 0 },
      handlers: [
        def({
          name: 'busy',
          maxAttempts: 2,
          async run(ctx) {
            running++;
            most = Math.max(most, running);
            try {
              await sleep(1);
              // Every other operation fails its first attempt: its retry is due at once, so the claim that
              // goes out beside that outcome may take it again while the first attempt is being written.
              if (ctx.attempt === 1 && Number(ctx.operation.id.slice(-1)) % 2 === 0) throw new Error('once');
            } finally {
              running--;
            }
          },
        }),
      ],
    });
    const ops = await Promise.all(
      Array.from({ length: 30 }, (_, i) => s.node.start('busy', null, { id: `slot-${i}` })),
    );
    await allSucceed(s.node, ops);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(3);
    for (const op of ops) {
      const history = await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
      expect(history.map((e) => e.kind)).toEqual(
        Number(op.id.slice(-1)) % 2 === 0
          ? ['created', 'claimed', 'retry', 'claimed', 'succeeded']
          : ['created', 'claimed', 'succeeded'],
      );
    }
    await until('the worker to hold nothing', () => s.node.worker!.activeCount === 0);
  });
});

describe('claim-ahead (prefetch)', () => {
  /** Records the limit of every claim the node's worker makes. */
  function spyOnClaims(node: Longrun): number[] {
    const limits: number[] = [];
    const claim = node.service.claim.bind(node.service);
    node.service.claim = (options) => {
      limits.push(options.limit);
      return claim(options);
    };
    return limits;
  }
  const quick = (name: string, calls: string[]) =>
    def({
      name,
      async run(ctx) {
        calls.push(ctx.operation.id);
      },
    });

  it('claims ahead of its free slots while handlers are quick, and runs each operation once', async () => {
    const calls: string[] = [];
    let running = 0;
    let most = 0;
    const s = await serve({
      worker: { concurrency: 2 },
      handlers: [
        def({
          name: 'quick',
          async run(ctx) {
            running++;
            most = Math.max(most, running);
            calls.push(ctx.operation.id);
            await sleep(1);
            running--;
          },
        }),
      ],
    });
    const limits = spyOnClaims(s.node);
    const ops: OperationRecord[] = [];
    for (let i = 0; i < 60; i++) ops.push(await s.node.start('quick', null, { id: `ahead-${i}` }));
    await allSucceed(s.node, ops);
    // Once handlers proved quick, claims asked for more than the two slots.
    expect(Math.max(...limits)).toBeGreaterThan(2);
    expect(Math.max(...limits)).toBeLessThanOrEqual(4);
    expect(most).toBeLessThanOrEqual(2);
    expect(calls.sort()).toEqual(ops.map((o) => o.id).sort());
    for (const op of ops) {
      const history = await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
      expect(history.map((e) => e.kind)).toEqual(['created', 'claimed', 'succeeded']);
    }
  });

  it('does not claim ahead with prefetch 0, nor while handlers are slow', async () => {
    for (const [worker, wait] of [
      [{ concurrency: 2, prefetch: 0 }, 0],
      [{ concurrency: 2 }, 60],
    ] as const) {
      const s = await serve({
        worker,
        handlers: [def({ name: 'w', run: () => sleep(wait) })],
      });
      const limits = spyOnClaims(s.node);
      const ops: OperationRecord[] = [];
      for (let i = 0; i < 12; i++) ops.push(await s.node.start('w', null));
      await allSucceed(s.node, ops);
      expect(Math.max(...limits)).toBeLessThanOrEqual(2);
    }
  });

  it('gives back what it claimed ahead when it stops: not counted as attempts, run at once elsewhere', async () => {
    const calls: string[] = [];
    const started = gate();
    const s = await serve({
      worker: { concurrency: 1, prefetch: 4 },
      handlers: [
        quick('quick', calls),
        def({
          name: 'held',
          async run(ctx) {
            started.open();
            await sleep(60_000, undefined, { signal: ctx.signal }).catch(() => undefined);
            throw ctx.signal.reason;
          },
        }),
      ],
    });
    // Quick runs first, so the worker claims ahead...
    for (let i = 0; i < 4; i++) await s.node.start('quick', null);
    await until('the quick ones to run', () => calls.length === 4);
    // ...of the held one that takes the only slot.
    const held: OperationRecord[] = [];
    for (let i = 0; i < 5; i++) held.push(await s.node.start('held', null, { id: `held-${i}` }));
    await started.opened;
    await until('four more to be claimed ahead', async () => {
      const leased = await Promise.all(held.map((op) => s.node.store.get(op)));
      return leased.filter((r) => r?.leaseOwner).length === 5;
    });
    await s.node.close(50);

    const after = await reopen(s);
    for (const op of held) {
      const record = (await after.store.get(op))!;
      expect(record).toMatchObject({ leaseOwner: null, attempts: 0 });
      expect(record.runAt).toBeLessThanOrEqual(Date.now());
      expect((await after.store.history(op)).map((e) => e.kind)).toEqual(['created', 'claimed', 'released']);
    }
    const next = await reopen(s, { worker: FAST, handlers: [quick('held', calls)] });
    await allSucceed(next, held);
    expect(calls.filter((id) => id.startsWith('held-')).sort()).toEqual(held.map((o) => o.id));
  });

  it('gives back an operation that waited too long for a slot (a third of its lease) instead of running it on a lease at risk', async () => {
    const calls: string[] = [];
    const slowStarted = gate();
    const s = await serve({
      worker: { concurrency: 1, prefetch: 2, leaseMs: 300 },
      handlers: [
        quick('quick', calls),
        def({
          name: 'slow',
          async run() {
            slowStarted.open();
            await sleep(400);
          },
        }),
      ],
    });
    for (let i = 0; i < 3; i++) await s.node.start('quick', null);
    await until('the quick ones to run', () => calls.length === 3);
    const slow = await s.node.start('slow', null);
    await slowStarted.opened;
    // Claimed ahead while the slow one holds the slot for 400 ms, longer than a third of the lease.
    const waiting: OperationRecord[] = [];
    for (let i = 0; i < 2; i++) waiting.push(await s.node.start('quick', null, { id: `waiting-${i}` }));
    await allSucceed(s.node, [slow, ...waiting]);
    for (const op of waiting) {
      const kinds = (await s.node.store.history(op)).map((e) => e.kind);
      expect(kinds).toEqual(['created', 'claimed', 'released', 'claimed', 'succeeded']);
      await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
    }
    // Each ran once: the given-back claim was never run.
    expect(calls.filter((id) => id.startsWith('waiting-')).sort()).toEqual(waiting.map((o) => o.id));
  });
});

describe('cancel', () => {
  it('cancel while waiting: canceled at once and the handler never runs', async () => {
    const blocker = gate();
    const ran: string[] = [];
    const s = await serve({
      worker: { concurrency: 1 },
      handlers: [
        def({
          name: 'block',
          async run() {
            await blocker.opened;
          },
        }),
        def<{ tag: string }>({
          name: 'record',
          async run(ctx) {
            ran.push(ctx.input.tag);
          },
        }),
      ],
    });
    const busy = await s.node.start('block', null);
    await waitStatus(s, busy, 'running');
    const waiting = await s.node.start('record', { tag: 'waiting' });
    const res = await s.request('POST', `${httpPath(waiting)}/cancel`, {
      headers: { Prefer: 'include-unknown-enum-members' },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`${s.url}${httpPath(waiting)}`);
    expect(res.headers.get('preference-applied')).toBe('include-unknown-enum-members');
    const body: any = await res.json();
    expect(body.status).toBe('canceled');
    expect(body.statusDetail).toBe('Canceled before it started.');

    // Work started after the cancel runs once the worker is free; the canceled operation never does.
    const later = await s.node.start('record', { tag: 'later' });
    blocker.open();
    await waitStatus(s, later, 'succeeded');
    expect(ran).toEqual(['later']);
    expect((await read(s, waiting)).body.status).toBe('canceled');
    const history = await expectOneTerminalEvent(s.node, waiting, STATUS.canceled);
    expect(history.map((e) => e.kind)).toEqual(['created', 'cancelRequested']);
  });

  it('cancel on a node without workers (nothing claims it): canceled at once', async () => {
    const s = await serve({ worker: false, handlers: [def({ name: 'never', run: async () => undefined })] });
    const op = await s.node.start('never', null);
    const res = await s.request('POST', `${httpPath(op)}/cancel`);
    expect(res.status).toBe(202);
    expect(((await res.json()) as any).status).toBe('unknownFutureValue');
    expect((await s.node.store.get(op))!.status).toBe(STATUS.canceled);
    // Nothing can claim a canceled operation.
    expect(
      await s.node.service.claim({ workerId: 'w', limit: 10, leaseMs: 1000, handlers: ['never'] }),
    ).toEqual([]);
  });

  it('cancel while running: the signal aborts, the operation ends canceled; cancel again is a no-op; 409 once succeeded', async () => {
    const started = gate();
    const reasons: unknown[] = [];
    const s = await serve({
      handlers: [
        def({
          name: 'long',
          async run(ctx) {
            started.open();
            await sleep(60_000, undefined, { signal: ctx.signal }).catch(() => undefined);
            reasons.push(ctx.signal.reason);
            return { resourceLocation: 'https://contoso.example/should-not-be-written' };
          },
        }),
        def({ name: 'quick', run: async () => ({ resourceLocation: 'https://contoso.example/q' }) }),
      ],
    });
    const op = await s.node.start('long', null, { collection: '/sites/s1/operations' });
    await started.opened;
    const first = await s.request('POST', `${httpPath(op)}/cancel`, {
      headers: { Prefer: 'include-unknown-enum-members' },
    });
    expect(first.status).toBe(202);
    const firstBody: any = await first.json();
    // Still running until the handler stops; the operation says it is being canceled.
    expect(['running', 'canceled']).toContain(firstBody.status);
    if (firstBody.status === 'running') expect(firstBody.statusDetail).toBe('Cancellation requested.');

    await until('the handler to see the abort', () => reasons.length === 1);
    expect(reasons[0]).toBeInstanceOf(CancelSignal);
    const canceled = await waitStatus(s, op, 'canceled');
    expect(canceled.resourceLocation).toBeNull();
    expect(canceled.statusDetail).toBe('Canceled.');

    const withPrefer = await read(s, op, true);
    expect(withPrefer.body.status).toBe('canceled');
    expect(withPrefer.headers.get('preference-applied')).toBe('include-unknown-enum-members');
    expect(withPrefer.headers.get('retry-after')).toBeNull();
    const without = await read(s, op, false);
    expect(without.body.status).toBe('unknownFutureValue');
    expect(without.headers.get('preference-applied')).toBeNull();

    const again = await s.request('POST', `${httpPath(op)}/cancel`);
    expect(again.status).toBe(202);
    expect(((await again.json()) as any).status).toBe('unknownFutureValue');
    const history = await expectOneTerminalEvent(s.node, op, STATUS.canceled);
    expect(history.map((e) => e.kind)).toEqual(['created', 'claimed', 'cancelRequested', 'canceled']);

    const quick = await s.node.start('quick', null);
    await waitStatus(s, quick, 'succeeded');
    const late = await s.request('POST', `${httpPath(quick)}/cancel`);
    expect(late.status).toBe(409);
    expect(((await late.json()) as any).error.code).toBe('conflict');
    expect((await read(s, quick)).body.status).toBe('succeeded');
    await expectOneTerminalEvent(s.node, quick, STATUS.succeeded);
  });
});

describe('progress', () => {
  it('coalesces 10,000 progress calls into a handful of writes and keeps the last value', async () => {
    const reported = gate();
    const finish = gate();
    const s = await serve({
      worker: { progressIntervalMs: 100 },
      handlers: [
        def({
          name: 'chatty',
          async run(ctx) {
            for (let i = 1; i <= 10_000; i++) {
              ctx.progress((i * 73) / 10_000, `step ${i}`);
              if (i % 500 === 0) await new Promise((r) => setImmediate(r));
            }
            reported.open();
            await finish.opened;
          },
        }),
      ],
    });
    const op = await s.node.start('chatty', null, { collection: '/sites/s1/operations' });
    await reported.opened;
    const during = await until('the last progress to be written', async () => {
      const { body } = await read(s, op);
      return body.percentageComplete === 73 ? body : undefined;
    });
    expect(during.status).toBe('running');
    expect(during.statusDetail).toBe('step 10000');
    finish.open();
    const done = await waitStatus(s, op, 'succeeded');
    expect(done.percentageComplete).toBe(100);
    const history = await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
    const progressEvents = history.filter((e) => e.kind === 'progress');
    expect(progressEvents.length).toBeGreaterThanOrEqual(1);
    expect(progressEvents.length).toBeLessThan(20);
  });

  it('reports percentageCompleted on an attackSimulationOperation', async () => {
    const finish = gate();
    const s = await serve({
      handlers: [
        def({
          name: 'sim',
          async run(ctx) {
            ctx.progress(41.6);
            await finish.opened;
          },
        }),
      ],
    });
    const op = await s.node.start('sim', null, { collection: '/security/attackSimulation/operations' });
    await until('percentageCompleted 42', async () => (await read(s, op)).body.percentageCompleted === 42);
    finish.open();
    expect((await waitStatus(s, op, 'succeeded')).percentageCompleted).toBe(100);
  });
});

describe('fencing', () => {
  it('a stale claim (lease expired and taken over) cannot write', async () => {
    const s = await serve({ worker: false, handlers: [def({ name: 'fenced', run: async () => undefined })] });
    const op = await s.node.start('fenced', null, { collection: '/sites/s1/operations' });
    const [a] = await s.node.service.claim({ workerId: 'A', limit: 1, leaseMs: 30, handlers: ['fenced'] });
    expect(a.id).toBe(op.id);
    expect(a.leaseOwner).toBe('A');
    // While A's lease holds, nobody else gets the operation.
    expect(
      await s.node.service.claim({ workerId: 'B', limit: 1, leaseMs: 60_000, handlers: ['fenced'] }),
    ).toEqual([]);
    const b = await until('the lease to expire and B to claim', async () => {
      const [r] = await s.node.service.claim({
        workerId: 'B',
        limit: 1,
        leaseMs: 60_000,
        handlers: ['fenced'],
      });
      return r;
    });
    expect(b.fencingToken).toBe(a.fencingToken + 1);
    expect(b.attempts).toBe(2);

    const before = (await s.node.store.get(op))!;
    for (const [changes, kind] of [
      [{ status: STATUS.succeeded, resourceLocation: 'https://stale.example/' }, 'succeeded'],
      [{ statusDetail: 'stale progress', props: { percentageComplete: 50 } }, 'progress'],
      [{ runAt: Date.now() + 60_000 }, 'heartbeat'],
    ] as const) {
      expect(await s.node.service.attemptWrite(a, { ...changes }, kind)).toBeUndefined();
    }
    const after = (await s.node.store.get(op))!;
    expect(after).toEqual(before);
    expect(after.leaseOwner).toBe('B');
    expect(after.status).toBe(STATUS.running);

    const written = await s.node.service.attemptWrite(
      b,
      { status: STATUS.succeeded, resourceLocation: 'https://b.example/' },
      'succeeded',
    );
    expect(written?.status).toBe(STATUS.succeeded);
    await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
    // A terminal operation is not taken again.
    expect(
      await s.node.service.claim({ workerId: 'C', limit: 1, leaseMs: 1000, handlers: ['fenced'] }),
    ).toEqual([]);
  });

  it('a stalled attempt cannot overwrite a state set after its lease expired (cancel)', async () => {
    const s = await serve({ worker: false, handlers: [def({ name: 'fenced', run: async () => undefined })] });
    const op = await s.node.start('fenced', null);
    const [a] = await s.node.service.claim({ workerId: 'A', limit: 1, leaseMs: 30, handlers: ['fenced'] });
    await until('the lease to expire', () => Date.now() > a.runAt! + 5);
    // Nobody holds a live lease, so the cancel ends the operation at once...
    const res = await s.request('POST', `${httpPath(op)}/cancel`, {
      headers: { Prefer: 'include-unknown-enum-members' },
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as any).status).toBe('canceled');
    // ...and the stalled attempt that wakes up afterwards can't bring it back or end it a second time.
    expect(
      await s.node.service.attemptWrite(
        a,
        { status: STATUS.succeeded, leaseOwner: null, runAt: null },
        'succeeded',
      ),
    ).toBeUndefined();
    expect(
      await s.node.service.attemptWrite(a, { runAt: Date.now() + 1000 }, 'heartbeat', { touch: false }),
    ).toBeUndefined();
    expect((await s.node.store.get(op))!.status).toBe(STATUS.canceled);
    await expectOneTerminalEvent(s.node, op, STATUS.canceled);
  });

  it('a running handler whose lease was taken over gets a StaleSignal and cannot write its result', async () => {
    const started = gate();
    const reasons: unknown[] = [];
    const s = await serve({
      worker: { concurrency: 1, leaseMs: 300 },
      handlers: [
        def({
          name: 'slow',
          async run(ctx) {
            started.open();
            await sleep(60_000, undefined, { signal: ctx.signal }).catch(() => undefined);
            reasons.push(ctx.signal.reason);
            // A handler that ignores the abort and returns a result anyway.
            return { resourceLocation: 'https://stale.example/result' };
          },
        }),
      ],
    });
    const op = await s.node.start('slow', null, { collection: '/sites/s1/operations' });
    await started.opened;
    const held = (await s.node.store.get(op))!;
    expect(held.leaseOwner).toBe(s.node.worker!.id);
    // Simulate the worker stalling past its lease (no heartbeat renewed it), and another worker taking over.
    // Both writes complete without yielding to timers, so the stalled worker's heartbeat can't run in between.
    await s.node.store.update(
      op,
      { runAt: Date.now() - 1 },
      {},
      { actor: 'test', kind: 'stall', history: false },
    );
    const [taken] = await s.node.service.claim({
      workerId: 'usurper',
      limit: 1,
      leaseMs: 60_000,
      handlers: ['slow'],
    });
    expect(taken?.id).toBe(op.id);
    expect(taken.fencingToken).toBe(held.fencingToken + 1);

    await until('the stale handler to be aborted', () => reasons.length === 1);
    expect(reasons[0]).toBeInstanceOf(StaleSignal);
    await until('the stale attempt to end', () => s.node.worker!.activeCount === 0);
    const current = (await s.node.store.get(op))!;
    expect(current.status).toBe(STATUS.running);
    expect(current.leaseOwner).toBe('usurper');
    expect(current.resourceLocation).toBeNull();
    expect(terminalEvents(await s.node.store.history(op))).toHaveLength(0);

    expect(
      await s.node.service.attemptWrite(
        taken,
        { status: STATUS.succeeded, resourceLocation: 'https://new.example/' },
        'succeeded',
      ),
    ).toBeDefined();
    expect((await read(s, op)).body.resourceLocation).toBe('https://new.example/');
    await expectOneTerminalEvent(s.node, op, STATUS.succeeded);
  });
});

describe('graceful stop', () => {
  it('lets a running handler finish within the grace period', async () => {
    const started = gate();
    const s = await serve({
      handlers: [
        def({
          name: 'finishing',
          async run(ctx) {
            started.open();
            await sleep(300, undefined, { signal: ctx.signal });
            return { resourceLocation: 'https://contoso.example/finished' };
          },
        }),
      ],
    });
    const op = await s.node.start('finishing', null);
    await started.opened;
    await s.node.close(20_000);
    const after = await reopen(s);
    const record = (await after.store.get(op))!;
    expect(record.status).toBe(STATUS.succeeded);
    expect(record.resourceLocation).toBe('https://contoso.example/finished');
    await expectOneTerminalEvent(after, op, STATUS.succeeded);
  });

  it('releases a handler that outlives the grace period: its operation is claimable again, not failed', async () => {
    const started = gate();
    const reasons: unknown[] = [];
    const s = await serve({
      handlers: [
        def({
          name: 'outlives',
          async run(ctx) {
            started.open();
            await sleep(60_000, undefined, { signal: ctx.signal }).catch(() => undefined);
            reasons.push(ctx.signal.reason);
            throw ctx.signal.reason;
          },
        }),
      ],
    });
    const op = await s.node.start('outlives', null);
    await started.opened;
    await s.node.close(100);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(ShutdownSignal);

    const attempts: number[] = [];
    const next = await reopen(s, {
      worker: FAST,
      handlers: [
        def({
          name: 'outlives',
          async run(ctx) {
            attempts.push(ctx.attempt);
            return { resourceLocation: 'https://contoso.example/second-node' };
          },
        }),
      ],
    });
    const released = (await next.store.history(op)).find((e) => e.kind === 'released');
    expect(released?.toStatus).toBe(STATUS.running);
    await until(
      'the next node to finish it',
      async () => (await next.store.get(op))!.status === STATUS.succeeded,
    );
    // The released attempt was not counted: the next node runs attempt 1 again.
    expect(attempts).toEqual([1]);
    expect((await next.store.get(op))!.resourceLocation).toBe('https://contoso.example/second-node');
    await expectOneTerminalEvent(next, op, STATUS.succeeded);
  });

  it('a released operation is due at once (not failed, lease cleared)', async () => {
    const started = gate();
    const s = await serve({
      handlers: [
        def({
          name: 'outlives',
          async run(ctx) {
            started.open();
            await sleep(60_000, undefined, { signal: ctx.signal });
          },
        }),
      ],
    });
    const op = await s.node.start('outlives', null);
    await started.opened;
    await s.node.close(50);
    const after = await reopen(s);
    const record = (await after.store.get(op))!;
    expect(record).toMatchObject({ status: STATUS.running, leaseOwner: null, attempts: 0 });
    expect(record.runAt).toBeLessThanOrEqual(Date.now());
    const [claimed] = await after.service.claim({
      workerId: 'next',
      limit: 1,
      leaseMs: 1000,
      handlers: ['outlives'],
    });
    expect(claimed?.id).toBe(op.id);
    expect(claimed.attempts).toBe(1);
  });
});

describe('retention', () => {
  it('purges finished operations after a short retention when allowed; GET then answers 404', async () => {
    const s = await serve({
      retention: { retentionMs: 50, allowShortRetention: true },
      handlers: [def({ name: 'ok', run: async () => ({ resourceLocation: 'https://contoso.example/x' }) })],
    });
    expect(s.node.retention!.retentionMs).toBe(50);
    const op = await s.node.start('ok', null);
    const unfinished = await s.node.start('ok', null, { collection: '/sites/s1/operations' });
    await waitStatus(s, op, 'succeeded');
    await waitStatus(s, unfinished, 'succeeded');
    expect((await read(s, op)).status).toBe(200);
    await until('the purge to remove it', async () => {
      await s.node.retention!.purgeOnce();
      return (await read(s, op)).status === 404;
    });
    const gone = await s.request('GET', httpPath(op));
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as any).error.code).toBe('itemNotFound');
    expect(await s.node.store.history(op)).toEqual([]);
  });

  it('never keeps finished operations less than 24 h without allowShortRetention', async () => {
    const s = await serve({
      retention: { retentionMs: 50 },
      handlers: [def({ name: 'ok', run: async () => undefined })],
    });
    expect(s.node.retention!.retentionMs).toBe(MIN_RETENTION_MS);
    const op = await s.node.start('ok', null);
    await waitStatus(s, op, 'succeeded');
    await sleep(120);
    expect(await s.node.retention!.purgeOnce()).toBe(0);
    expect((await read(s, op)).status).toBe(200);
  });

  it('does not purge unfinished operations', async () => {
    const s = await serve({ worker: false, retention: { retentionMs: 1, allowShortRetention: true } });
    const op = await s.node.start('longrun.scenario', { scenario: 'x', result: {} });
    await sleep(20);
    expect(await s.node.retention!.purgeOnce()).toBe(0);
    expect((await read(s, op)).status).toBe(200);
  });
});
