/**
 * NOTIFY side of the cross-node change notifications: a store's writes are announced after they commit,
 * many to one `pg_notify`.
 *
 * Why not `pg_notify` inside each write's transaction: PostgreSQL serializes the commits of notifying
 * transactions (they hold a global lock from the queue insert until after the commit record is flushed), so
 * with a notify in every write, no two writes could share a WAL flush and write throughput fell to one
 * fsync per write (docs/BENCHMARKS.md). Announcing after the commit, one NOTIFY per turn of the event loop,
 * keeps commits concurrent. The price: a process that dies between a commit and its announcement leaves
 * other nodes to find that change by their polling backstops (workers poll, `Prefer: wait` reads again
 * at its deadline, event streams catch up from the history at the next notification or reconnect).
 * Nothing is lost: the change and its history event are committed; only the wake-up is late.
 *
 * Sends are also spaced at least MIN_GAP_MS apart: what is announced in between goes out together. Without
 * the gap, writes that follow one another (the PATCHes of one operation are serialized) each got a NOTIFY
 * of their own: a second query per write on the pool, and a wake-up of every node's listener, this one's
 * included. The price is up to MIN_GAP_MS more before another node hears of a change; this node's own
 * waiters, streams and workers hear of it at once, from the service, not from here (docs/decisions/0030).
 */
import { CHANGES_CHANNEL, MAX_PAYLOAD_BYTES } from './listener.js';

export interface Announcement {
  seq: number;
  tenantId: string;
  scope: string;
  id: string;
  kind: string;
  eventSeq?: number;
}

/** The least time between two sends (ms): enough to group a serialized chain of writes, small beside polling. */
export const MIN_GAP_MS = 2;

export class ChangeNotifier {
  private pending: string[] = [];
  /** The flush that will send what is pending, once scheduled (resolves when it has been handed on). */
  private scheduled: Promise<void> | undefined;
  /** When the last send began (performance.now()); the next one waits until minGapMs after it. */
  private lastSendAt = -Infinity;
  /** Sends go out one after another, so announcements arrive in the order their writes committed. */
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly notify: (channel: string, payload: string) => Promise<unknown>,
    private readonly onError: (error: unknown) => void = () => {},
    private readonly minGapMs = MIN_GAP_MS,
    /** Sent with each `created` announcement, for the listener of the same store (ChangeListener). */
    private readonly origin?: string,
  ) {}

  /** Queues the announcement of a committed write; it goes out at the end of this turn of the loop. */
  announce(a: Announcement): void {
    const seq = {
      ...(a.eventSeq !== undefined && { eventSeq: a.eventSeq }),
      ...(a.kind === 'created' && this.origin !== undefined && { o: this.origin }),
    };
    let entry = JSON.stringify({ tenantId: a.tenantId, scope: a.scope, id: a.id, kind: a.kind, ...seq });
    // A key too long for a payload is announced by seq; the listener looks it up.
    if (Buffer.byteLength(entry) + 2 > MAX_PAYLOAD_BYTES)
      entry = JSON.stringify({ seq: a.seq, kind: a.kind, ...seq });
    this.pending.push(entry);
    if (this.scheduled) return;
    // At the end of this turn of the loop, or when the gap since the last send has passed if later.
    const wait = this.lastSendAt + this.minGapMs - performance.now();
    this.scheduled = new Promise<void>((resolve) => {
      const flush = () => {
        this.scheduled = undefined;
        this.flush();
        resolve();
      };
      if (wait > 0) setTimeout(flush, wait);
      else setImmediate(flush);
    });
  }

  /** Resolves once every announcement queued so far has been sent (or has failed). */
  async drain(): Promise<void> {
    await this.scheduled;
    await this.sending;
  }

  private flush(): void {
    // What is queued when the previous send ends goes out together: under load, fewer and fuller payloads.
    this.sending = this.sending.then(() => this.sendPending());
  }

  private async sendPending(): Promise<void> {
    const entries = this.pending;
    this.pending = [];
    if (entries.length === 0) return;
    this.lastSendAt = performance.now();
    // Payloads are JSON arrays of announcements, each under PostgreSQL's 8000-byte limit.
    let chunk: string[] = [];
    let bytes = 2;
    for (const entry of entries) {
      const size = Buffer.byteLength(entry) + 1;
      if (chunk.length > 0 && bytes + size > MAX_PAYLOAD_BYTES) {
        await this.send(chunk);
        chunk = [];
        bytes = 2;
      }
      chunk.push(entry);
      bytes += size;
    }
    if (chunk.length > 0) await this.send(chunk);
  }

  private send(entries: string[]): Promise<unknown> {
    return this.notify(CHANGES_CHANNEL, `[${entries.join(',')}]`).catch(this.onError);
  }
}
