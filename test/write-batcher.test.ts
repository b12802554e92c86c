/**
 * The PostgreSQL store's group commit for updates (src/store/postgres/write-batcher.ts): when a statement
 * goes, what goes with it, and the order an operation's updates keep. The statements here are functions
 * that record what they were given and answer when the test says so; the store's real statements are
 * covered by the store contract on a real PostgreSQL (test/store-postgres.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { WriteBatcher, type UpdateRequest } from '../src/store/postgres/write-batcher.js';
import type { UpdateResult } from '../src/store/store.js';

const request = (id: string, detail = id): UpdateRequest => ({
  key: { tenantId: 't', scope: 's', id },
  changes: { statusDetail: detail },
  guard: {},
  meta: { actor: 'a', kind: 'updated' },
});

/** Statements that stay in flight until `finish` is called; every call is recorded. */
function statements() {
  const calls: { ids: string[]; finish: () => void }[] = [];
  const applied: string[] = [];
  const result = (r: UpdateRequest): UpdateResult => ({
    ok: false,
    reason: 'notFound' as const,
    ...{ id: r.key.id },
  });
  const deferred = <T>(ids: string[], value: () => T) =>
    new Promise<T>((resolve) =>
      calls.push({
        ids,
        finish: () => {
          applied.push(...ids);
          resolve(value());
        },
      }),
    );
  let failMany = false;
  const one = (r: UpdateRequest) => deferred([r.changes.statusDetail as string], () => result(r));
  const many = (rs: UpdateRequest[]) =>
    failMany
      ? Promise.reject(new Error('statement failed'))
      : deferred(
          rs.map((r) => r.changes.statusDetail as string),
          () => rs.map(result),
        );
  return {
    calls,
    applied,
    one,
    many,
    failNextMany: () => (failMany = true),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('WriteBatcher', () => {
  it('sends the updates of one turn as one statement, at the end of that turn', async () => {
    const s = statements();
    const batcher = new WriteBatcher(s.one, s.many, 1);
    const results = [batcher.run(request('a')), batcher.run(request('b'))];
    expect(s.calls).toHaveLength(0);
    await settle();
    expect(s.calls.map((c) => c.ids)).toEqual([['a', 'b']]);
    s.calls[0].finish();
    expect((await Promise.all(results)).map((r) => (r as { id?: string }).id)).toEqual(['a', 'b']);
  });

  it('groups what arrives while a statement is in flight into the next statement, one per operation', async () => {
    const s = statements();
    const batcher = new WriteBatcher(s.one, s.many, 1);
    const results = [batcher.run(request('a'))];
    await settle();
    results.push(batcher.run(request('b')));
    await settle();
    results.push(batcher.run(request('c')));
    await settle();
    // b and c, issued in later turns, wait for a's statement.
    expect(s.calls.map((c) => c.ids)).toEqual([['a']]);
    s.calls[0].finish();
    await settle();
    expect(s.calls.map((c) => c.ids)).toEqual([['a'], ['b', 'c']]);
    s.calls[1].finish();
    expect((await Promise.all(results)).map((r) => (r as { id?: string }).id)).toEqual(['a', 'b', 'c']);
  });

  it("never has two of an operation's updates in flight, and applies them in the order issued", async () => {
    const s = statements();
    const batcher = new WriteBatcher(s.one, s.many, 4);
    const all = [
      batcher.run(request('x', 'x1')),
      batcher.run(request('x', 'x2')),
      batcher.run(request('y', 'y1')),
      batcher.run(request('x', 'x3')),
    ];
    await settle();
    // x1 and y1 go together; x2 and x3 wait for x1, one at a time.
    expect(s.calls.map((c) => c.ids)).toEqual([['x1', 'y1']]);
    s.calls[0].finish();
    await settle();
    expect(s.calls.map((c) => c.ids)).toEqual([['x1', 'y1'], ['x2']]);
    s.calls[1].finish();
    await settle();
    expect(s.calls.map((c) => c.ids).at(-1)).toEqual(['x3']);
    s.calls[2].finish();
    await Promise.all(all);
    expect(s.applied).toEqual(['x1', 'y1', 'x2', 'x3']);
  });

  it('never has two statements with updates of one operation in flight at once', async () => {
    const s = statements();
    const batcher = new WriteBatcher(s.one, s.many, 4);
    const all = [batcher.run(request('x', 'x1'))];
    await settle();
    all.push(batcher.run(request('x', 'x2')), batcher.run(request('y', 'y1')));
    await settle();
    // y1 goes beside x1 (two in flight); x2 waits for x1.
    expect(s.calls.map((c) => c.ids)).toEqual([['x1'], ['y1']]);
    s.calls[1].finish();
    await settle();
    expect(s.calls).toHaveLength(2);
    s.calls[0].finish();
    await settle();
    expect(s.calls.map((c) => c.ids)).toEqual([['x1'], ['y1'], ['x2']]);
    s.calls[2].finish();
    await Promise.all(all);
    expect(s.applied).toEqual(['y1', 'x1', 'x2']);
  });

  it('holds at most maxInFlight statements in flight', async () => {
    const s = statements();
    const batcher = new WriteBatcher(s.one, s.many, 2);
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      void batcher.run(request(id));
      await settle();
    }
    expect(s.calls.map((c) => c.ids)).toEqual([['a'], ['b']]);
    s.calls[0].finish();
    await settle();
    expect(s.calls.map((c) => c.ids)).toEqual([['a'], ['b'], ['c', 'd', 'e']]);
  });

  it('sends the updates of a failed grouped statement again one by one', async () => {
    const s = statements();
    const batcher = new WriteBatcher(s.one, s.many, 1);
    const all = [batcher.run(request('a'))];
    await settle();
    all.push(batcher.run(request('b')), batcher.run(request('c')));
    s.failNextMany();
    s.calls[0].finish();
    await settle();
    expect(s.calls.map((c) => c.ids)).toEqual([['a'], ['b'], ['c']]);
    s.calls[1].finish();
    s.calls[2].finish();
    expect(await Promise.all(all)).toHaveLength(3);
  });

  it('refuses a maxInFlight that is not a whole number of at least 1, naming it', () => {
    const s = statements();
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => new WriteBatcher(s.one, s.many, bad)).toThrow(
        /maxInFlight must be an integer of at least 1/,
      );
  });
});
