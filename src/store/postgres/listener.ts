/**
 * LISTEN side of the cross-node change notifications. Stores announce their writes after they commit
 * (`pg_notify(CHANGES_CHANNEL, payload)`, several per payload: see notifier.ts), to every node listening.
 * One dedicated connection per listener (LISTEN needs a session: it can't go through a pooler in
 * transaction mode); when it breaks, the listener reconnects by itself with backoff.
 */
import pg from 'pg';
import { StoreUnavailableError, type ListenOptions, type OperationKey, type StoreChange } from '../store.js';
import { storeError } from './errors.js';

export const CHANGES_CHANNEL = 'longrun_changes';

/**
 * NOTIFY payloads must stay under 8000 bytes. An announcement is `{tenantId, scope, id, kind, eventSeq?}`,
 * or `{seq, kind, eventSeq?}` when the key is too long for that; the listener then looks the key up (a
 * deleted one is not delivered). A payload holds one announcement or an array of them.
 */
export const MAX_PAYLOAD_BYTES = 7900;

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

export class ChangeListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly onChange: (change: StoreChange) => void,
    /** Finds the key of an operation announced by seq (oversized keys); undefined when it is gone. */
    private readonly keyOfSeq: (seq: number) => Promise<OperationKey | undefined>,
    private readonly options: ListenOptions = {},
    /** The `o` of the same store's own announcements (notifier.ts): see deliverOne. */
    private readonly origin?: string,
  ) {}

  /** Connects and listens; rejects (StoreUnavailableError) when the first connection fails. */
  async start(): Promise<void> {
    try {
      this.attach(await this.open());
    } catch (error) {
      this.stopped = true;
      throw storeError(error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async open(): Promise<pg.Client> {
    const client = new pg.Client({ ...this.config, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    // Errors also surface through connect()/query() and 'end'; this only keeps them from crashing us.
    client.on('error', (error) => this.options.onError?.(error));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  private attach(client: pg.Client): void {
    this.client = client;
    client.on('notification', (message) => {
      if (message.channel === CHANGES_CHANNEL && message.payload) this.deliver(message.payload);
    });
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('end', lost);
    client.on('error', lost);
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** this.failures);
    // Full jitter keeps many nodes from reconnecting in lockstep after a server restart.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.timer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    if (this.stopped) return;
    let client: pg.Client;
    try {
      client = await this.open();
    } catch (error) {
      this.failures++;
      this.options.onError?.(
        new StoreUnavailableError(`listener reconnect failed: ${messageOf(error)}`, { cause: error }),
      );
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.failures = 0;
    this.attach(client);
    this.options.onReconnect?.();
  }

  /** A payload is one announcement or (from notifier.ts) an array of them. */
  private deliver(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return; // not ours
    }
    for (const entry of Array.isArray(parsed) ? parsed : [parsed]) {
      if (entry && typeof entry === 'object') this.deliverOne(entry as Record<string, unknown>);
    }
  }

  private deliverOne(parsed: {
    tenantId?: unknown;
    scope?: unknown;
    id?: unknown;
    kind?: unknown;
    seq?: unknown;
    eventSeq?: unknown;
    o?: unknown;
  }): void {
    const kind = typeof parsed.kind === 'string' ? parsed.kind : 'changed';
    // This node's own start, heard back: the service published it already, at once and with its record.
    // Delivered again it would only send this node's workers to look for work that is not there (a claim
    // per start), and keep them from taking new operations in their insert (worker.ts, reserve).
    if (kind === 'created' && this.origin !== undefined && parsed.o === this.origin) return;
    const extra = typeof parsed.eventSeq === 'number' ? { kind, eventSeq: parsed.eventSeq } : { kind };
    if (
      typeof parsed.tenantId === 'string' &&
      typeof parsed.scope === 'string' &&
      typeof parsed.id === 'string'
    ) {
      this.emit({ tenantId: parsed.tenantId, scope: parsed.scope, id: parsed.id, ...extra });
    } else if (typeof parsed.seq === 'number') {
      this.keyOfSeq(parsed.seq).then(
        (key) => key && !this.stopped && this.emit({ ...key, ...extra }),
        () => {}, // gone or unreachable: polling covers it
      );
    }
  }

  private emit(change: StoreChange): void {
    try {
      this.onChange(change);
    } catch (error) {
      this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
