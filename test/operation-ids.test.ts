import { describe, expect, it } from 'vitest';
import { newOperationId } from '../src/model/ids.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('operation ids longrun makes', () => {
  it('are GUIDs that begin with their creation time and grow with each new one (indexes take them at their end)', () => {
    const before = Date.now();
    const ids = Array.from({ length: 10_000 }, () => newOperationId());
    const after = Date.now();
    for (const id of ids) expect(id).toMatch(GUID);
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    const millis = (id: string) => parseInt(id.replace('-', '').slice(0, 12), 16);
    expect(millis(ids[0])).toBeGreaterThanOrEqual(before);
    expect(millis(ids.at(-1)!)).toBeLessThanOrEqual(after + 1);
  });

  it('differ in their random part, not only in a counter: one id does not give away its neighbours', () => {
    const [a, b] = [newOperationId(), newOperationId()];
    // The last 12 hex digits are fresh random bits for every id (RFC 9562 rand_b).
    expect(a.slice(-12)).not.toBe(b.slice(-12));
    expect(new Set(Array.from({ length: 1000 }, () => newOperationId().slice(-12))).size).toBe(1000);
  });
});
