/**
 * Purges terminal operations older than the retention period, in small batches with a pause between
 * them so a large purge never stalls the requests sharing the store.
 */
import type { OperationService } from '../service/operation-service.js';

export const MIN_RETENTION_MS = 24 * 60 * 60 * 1000; // Graph's guideline: keep finished operations a day at least
export const DEFAULT_RETENTION_MS = 7 * MIN_RETENTION_MS;

export interface RetentionOptions {
  retentionMs?: number;
  /** How often to look for expired operations; default 1 min. */
  intervalMs?: number;
  batchSize?: number;
  /** Allows a retention below 24 h (tests). */
  allowShortRetention?: boolean;
}

export class RetentionPurger {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  readonly retentionMs: number;

  constructor(
    private readonly service: OperationService,
    private readonly options: RetentionOptions = {},
  ) {
    const wanted = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.retentionMs = options.allowShortRetention ? wanted : Math.max(MIN_RETENTION_MS, wanted);
  }

  start(): void {
    this.timer = setInterval(() => void this.purgeOnce(), this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One full pass; returns how many operations it removed. */
  purgeOnce(): Promise<number> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<number> {
    const batch = this.options.batchSize ?? 500;
    const before = Date.now() - this.retentionMs;
    let total = 0;
    for (;;) {
      let n: number;
      try {
        n = await this.service.purgeTerminal(before, batch);
      } catch {
        return total; // store unreachable; the next pass continues
      }
      total += n;
      if (n < batch) return total;
      await new Promise((r) => setImmediate(r));
    }
  }
}
