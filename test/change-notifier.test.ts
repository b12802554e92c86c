/**
 * The PostgreSQL store's announcements of committed writes (src/store/postgres/notifier.ts): what goes in
 * one NOTIFY, when it goes, and that nothing announced is dropped. The NOTIFY here is a function that
 * records its payloads; the real one (and the LISTEN side) is covered on a real PostgreSQL by
 * test/live-postgres.test.ts and test/multinode.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ChangeNotifier, type Announcement } from '../src/store/postgres/notifier.js';
import { CHANGES_CHANNEL, MAX_PAYLOAD_BYTES } from '../src/store/postgres/listener.js';

const announcement = (id: string, eventSeq?: number): Announcement => ({
  seq: 1,
  tenantId: 't',
  scope: 's',
  id,
  kind: 'updated',
  ...(eventSeq === undefined ? {} : { eventSeq }),
});

/** A notifier whose sends are recorded: the ids in each payload, in order. */
function recorded(gapMs: number, fail?: (n: number) => boolean) {
  const payloads: string[] = [];
  const errors: unknown[] = [];
  const notifier = new ChangeNotifier(
    async (channel, payload) => {
      expect(channel).toBe(CHANGES_CHANNEL);
      payloads.push(payload);
      if (fail?.(payloads.length)) throw new Error(`send ${payloads.length} failed`);
    },
    (error) => errors.push(error),
    gapMs,
  );
  const ids = () => payloads.map((p) => (JSON.parse(p) as { id: string }[]).map((a) => a.id));
  return { notifier, payloads, errors, ids };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('ChangeNotifier', () => {
  it('sends what one turn of the loop announced as one payload, in order, at the end of that turn', async () => {
    const { notifier, ids } = recorded(1_000);
    notifier.announce(announcement('a', 7));
    notifier.announce(announcement('b'));
    notifier.announce(announcement('c'));
    expect(ids()).toEqual([]);
    await nextTurn();
    await nextTurn();
    // The first send after a quiet spell does not wait for the gap.
    expect(ids()).toEqual([['a', 'b', 'c']]);
  });

  it('groups announcements that follow a send within the gap into the next send, and drain() waits for it', async () => {
    const { notifier, ids, payloads } = recorded(1_000);
    notifier.announce(announcement('a'));
    await notifier.drain();
    expect(ids()).toEqual([['a']]);
    // Writes that follow one another, each in a turn of its own (a serialized chain of PATCHes).
    notifier.announce(announcement('b', 8));
    await nextTurn();
    notifier.announce(announcement('c', 9));
    await nextTurn();
    notifier.announce(announcement('d', 10));
    await nextTurn();
    expect(ids()).toEqual([['a']]);
    await notifier.drain();
    expect(ids()).toEqual([['a'], ['b', 'c', 'd']]);
    expect(JSON.parse(payloads[1]!)).toEqual([
      { tenantId: 't', scope: 's', id: 'b', kind: 'updated', eventSeq: 8 },
      { tenantId: 't', scope: 's', id: 'c', kind: 'updated', eventSeq: 9 },
      { tenantId: 't', scope: 's', id: 'd', kind: 'updated', eventSeq: 10 },
    ]);
  });

  it('with no gap, sends each turn on its own (the previous behaviour)', async () => {
    const { notifier, ids } = recorded(0);
    notifier.announce(announcement('a'));
    await notifier.drain();
    notifier.announce(announcement('b'));
    await notifier.drain();
    expect(ids()).toEqual([['a'], ['b']]);
  });

  it('splits a large group into payloads under the NOTIFY limit, keeping every announcement in order', async () => {
    const { notifier, payloads } = recorded(0);
    const sent = Array.from({ length: 600 }, (_, i) => `operation-${String(i).padStart(4, '0')}`);
    for (const id of sent) notifier.announce(announcement(id, 1));
    await notifier.drain();
    expect(payloads.length).toBeGreaterThan(1);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(payloads.flatMap((p) => (JSON.parse(p) as { id: string }[]).map((a) => a.id))).toEqual(sent);
  });

  it('announces a key too long for a payload by its seq', async () => {
    const { notifier, payloads } = recorded(0);
    notifier.announce({ ...announcement('x'.repeat(MAX_PAYLOAD_BYTES)), seq: 42, eventSeq: 3 });
    await notifier.drain();
    expect(JSON.parse(payloads[0]!)).toEqual([{ seq: 42, kind: 'updated', eventSeq: 3 }]);
  });

  it('reports a failed send and keeps sending what comes after it', async () => {
    const { notifier, ids, errors } = recorded(0, (n) => n === 1);
    notifier.announce(announcement('a'));
    await notifier.drain();
    notifier.announce(announcement('b'));
    await notifier.drain();
    expect(ids()).toEqual([['a'], ['b']]);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain('send 1 failed');
  });
});
