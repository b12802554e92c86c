/**
 * What a handler is: the work behind an operation. A handler runs at least once per operation (again
 * after a crash or a retry), so it should be idempotent; the operation's terminal state is written
 * exactly once whatever happens.
 */
import type { OperationRecord } from '../model/operation.js';

export interface HandlerContext<I = unknown> {
  /** The operation as this attempt claimed it. */
  operation: OperationRecord;
  input: I;
  /** Aborts on cancel, timeout, lost lease (another worker took over) and shutdown. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  /**
   * Reports progress (0–100) and optionally a status detail. Writes are coalesced: calling this in a tight
   * loop costs nothing; the store sees at most a few writes a second.
   */
  progress(percent: number, detail?: string): void;
  /**
   * Saves a small JSON state for the attempts after this one (at most MAX_CHECKPOINT_BYTES, 64 KiB, as
   * JSON; a larger or non-JSON state throws a TypeError at once). Coalesced with progress: calling it
   * often costs little. The promise resolves once this state, or a later one, is durable; it rejects when
   * the attempt can no longer write (its lease was taken over, or it was aborted first).
   */
  checkpoint(state: unknown): Promise<void>;
  /** What the last attempt saved with `checkpoint`, or undefined when none did. */
  lastCheckpoint?: unknown;
}

/** The largest checkpoint, as UTF-8 JSON. */
export const MAX_CHECKPOINT_BYTES = 64 * 1024;

/** What a handler's success sets on the operation. */
export interface HandlerResult {
  resourceLocation?: string | null;
  statusDetail?: string | null;
  /** Subtype properties, e.g. resourceId, errors, warnings, validatedFiles. */
  props?: Record<string, unknown>;
}

export type Handler<I = unknown> = (ctx: HandlerContext<I>) => Promise<HandlerResult | void>;

export interface HandlerDefinition<I = unknown> {
  name: string;
  run: Handler<I>;
  /** Attempts before the operation fails; default 3. */
  maxAttempts?: number;
  /** Per-attempt time limit; default none. */
  timeoutMs?: number;
}

/** Thrown (or used as an abort reason) to fail an operation at once, without retries. */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly code = 'permanentFailure',
  ) {
    super(message);
    this.name = 'PermanentError';
  }
}

export class HandlerRegistry {
  private readonly handlers = new Map<string, HandlerDefinition>();

  register<I>(definition: HandlerDefinition<I>): this {
    this.handlers.set(definition.name, definition as HandlerDefinition);
    return this;
  }

  get(name: string): HandlerDefinition | undefined {
    return this.handlers.get(name);
  }

  names(): string[] {
    return [...this.handlers.keys()];
  }
}
