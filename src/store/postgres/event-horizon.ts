/**
 * The highest event_seq below which the history has no holes that may still fill.
 *
 * PostgreSQL hands out event_seq when a row is inserted, not when its transaction commits, so a reader
 * can see seq 11 while seq 10 is still in flight. Readers that keep a cursor (webhook deliveries, event
 * stream resumes) must not move past seq 10 before it is visible, or they would skip it for good. A hole
 * followed by an event older than SETTLE_MS belongs to a transaction that rolled back (or to purged
 * history): every write here is one short statement, so nothing stays in flight that long.
 */
import type { OperationEvent } from '../../model/operation.js';
import { toEpochMs } from '../../model/time.js';

export const SETTLE_MS = 2000;
/** How many of the newest events are examined; holes older than these are settled by then. */
export const TAIL = 5000;

export type TailRow = { event_seq: string | number; at: string };

export function horizonOf(tailDescending: TailRow[], nowMs = Date.now()): number {
  const rows = tailDescending.map((r) => ({ seq: Number(r.event_seq), at: r.at })).reverse();
  if (rows.length === 0) return 0;
  let horizon = rows[0].seq;
  for (let i = 1; i < rows.length; i++) {
    const { seq, at } = rows[i];
    if (seq !== horizon + 1 && nowMs - toEpochMs(at) < SETTLE_MS) return horizon;
    horizon = seq;
  }
  return horizon;
}

/** Keeps only the events at or below the horizon (they come ordered by event_seq). */
export function settled(events: OperationEvent[], horizon: number): OperationEvent[] {
  const cut = events.findIndex((e) => e.eventSeq > horizon);
  return cut < 0 ? events : events.slice(0, cut);
}
