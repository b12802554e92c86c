/**
 * Runs handlers for due operations. The operations table is the queue: a worker claims due operations
 * (one indexed query), holds a lease it renews by heartbeat, and writes the outcome under the fencing
 * token of its claim, so a stalled attempt whose lease was taken over can't write anything, and the
 * terminal state is written exactly once. A process that dies loses nothing: its leases expire and the
 * operations are claimed again.
 */
import { randomUUID } from 'node:crypto';
import type { OperationRecord } from '../model/operation.js';
import { STATUS } from '../model/status.js';
import { subtypeProperties } from '../model/types.js';
import type { OperationChange } from '../service/changes.js';
import type { OperationService, StartClaimer } from '../service/operation-service.js';
import { backoffDelay } from './backoff.js';
import {
  MAX_CHECKPOINT_BYTES,
  PermanentError,
  type HandlerDefinition,
  type HandlerRegistry,
  type HandlerResult,
} from './handler.js';

export interface WorkerOptions {
  /** Handlers running at once in this process; default 8. */
  concurrency?: number;
  /**
   * Operations claimed ahead of a free slot, so that the next one starts the moment a handler returns
   * instead of a claim's round trip later; default: `concurrency`, 0 turns it off. Only while handlers are
   * quick (under 50 ms on average, over at least `concurrency` runs): an operation claimed ahead shows
   * `running` and its lease runs while it waits, so slow handlers get none.
   */
  prefetch?: number;
  /** How long a claim lasts without a heartbeat; default 30 s. Heartbeats renew it every third of that. */
  leaseMs?: number;
  /**
   * Look for due work at least this often; default 1 s. Between polls the worker also wakes for new work
   * and at the due time of every retry or scheduled start it learns of (see DueTimes), so this is only
   * the backstop for what no notification told it (e.g. a lease that expired on another node).
   */
  pollIntervalMs?: number;
  /** Progress is written at most this often per operation; default 250 ms. */
  progressIntervalMs?: number;
  /** Retry backoff: base and cap; defaults 1 s and 5 min. */
  retryBaseMs?: number;
  retryCapMs?: number;
  workerId?: string;
  /** Where attempts that fail, retry or lose their lease are logged (pino-compatible); silent by default. */
  logger?: WorkerLogger;
}

export interface WorkerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Claim-ahead only while handlers take less than this on average (ms)... */
const PREFETCH_MAX_HANDLER_MS = 50;
/** ...an average over about this many runs (the weight of the newest in an exponential average). */
const HANDLER_TIME_WEIGHT = 0.1;

/** How often a worker looks for dead workers' leases (besides at its start). */
const LIVENESS_CHECK_MS = 5_000;

const SILENT: WorkerLogger = { info() {}, warn() {} };

interface Attempt {
  record: OperationRecord;
  controller: AbortController;
  done: Promise<void>;
}

export class Worker implements StartClaimer {
  readonly id: string;
  private readonly concurrency: number;
  private readonly prefetch: number;
  /** Operations claimed ahead (see WorkerOptions.prefetch), oldest first, each with when it was claimed. */
  private readonly ready: { record: OperationRecord; claimedAt: number }[] = [];
  /** Handlers' average run time (ms) and how many runs it covers: claim-ahead only while it is short. */
  private handlerMs = 0;
  private handlerRuns = 0;
  private readonly leaseMs: number;
  private readonly pollIntervalMs: number;
  private readonly progressIntervalMs: number;
  private readonly retryBaseMs: number;
  private readonly retryCapMs: number;
  private readonly running = new Map<string, Attempt>();
  /**
   * Attempts whose handler is still running: the slots in use. An attempt whose handler has returned
   * stays in `running` until its outcome is written, but its slot is free at once, so that the next claim
   * goes out with that write (one commit for both on SQLite, round trips that overlap on PostgreSQL)
   * instead of after it.
   */
  private handling = 0;
  /**
   * Cancels seen for operations this worker was not (yet) running, with when: a cancel that lands while a
   * claim is in flight arrives before the attempt is in `running`, and would otherwise wait for the next
   * heartbeat (a third of the lease) to be noticed.
   */
  private readonly recentCancels = new Map<string, number>();
  private stopping = false;
  private started = false;
  private loopPromise?: Promise<void>;
  private wake?: () => void;
  private wakeRequested = false;
  private unsubscribe?: () => void;
  private readonly log: WorkerLogger;
  /** When known operations become due: the loop sleeps until the earliest (timers, not ticks). */
  private readonly due = new DueTimes();
  /**
   * New operations take a free slot in their own insert (StartClaimer) only when nothing older can be
   * waiting for it: `dueSignals` counts the signals of possibly due work (pokes), `drainedAt` is the count
   * when a claim last came back with less than it asked for. Equal: the queue was empty for these
   * handlers as of the last signal, so a new operation jumps no queue by starting at once.
   */
  private dueSignals = 0;
  private drainedAt = -1;
  /** When the last claim went out (ms): one goes out at least every poll interval, whatever else holds. */
  private lastClaimAt = -Infinity;
  /** Slots held for new operations whose claimed insert is in flight. */
  private reserved = 0;
  /** Listed for liveness (registerWorker succeeded): a claim at insert is a lease this worker must hold. */
  private registered = false;

  constructor(
    private readonly service: OperationService,
    private readonly registry: HandlerRegistry,
    options: WorkerOptions = {},
  ) {
    this.id = options.workerId ?? `${process.pid}-${randomUUID().slice(0, 8)}`;
    this.concurrency = options.concurrency ?? 8;
    this.prefetch = options.prefetch ?? this.concurrency;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.progressIntervalMs = options.progressIntervalMs ?? 250;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.retryCapMs = options.retryCapMs ?? 300_000;
    this.log = options.logger ?? SILENT;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.service.changes.subscribe((change) => this.onChange(change));
    this.loopPromise = this.loop();
  }

  /** Asks the loop to look for work now (new work was created, a slot freed up). */
  poke(): void {
    this.dueSignals++;
    this.wakeLoop();
  }

  private wakeLoop(): void {
    this.wakeRequested = true;
    this.wake?.();
  }

  /**
   * Wakes the loop for freed slots in the next check phase, not now: handlers that end together free
   * their slots in one turn, and one claim then takes them all. The claim is issued before the store's own
   * setImmediate flush of that turn's outcome writes, so on SQLite it shares their commit.
   */
  private pokeForSlots(): void {
    if (this.slotPokeScheduled) return;
    this.slotPokeScheduled = true;
    setImmediate(() => {
      this.slotPokeScheduled = false;
      // A freed slot is no sign of new work: not counted in dueSignals.
      this.wakeLoop();
    });
  }
  private slotPokeScheduled = false;

  /**
   * Stops claiming, lets running handlers finish for up to `graceMs`, then aborts the rest and releases
   * their operations so another worker takes them at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.started) return;
    this.stopping = true;
    if (this.service.startClaimer === this) this.service.startClaimer = undefined;
    this.unsubscribe?.();
    this.poke();
    await this.loopPromise;
    // Claimed ahead and not started: give them back at once, as an aborted attempt is.
    await Promise.all(this.ready.splice(0).map(({ record }) => this.release(record).catch(() => {})));
    const all = () => Promise.all([...this.running.values()].map((a) => a.done));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const a of this.running.values()) a.controller.abort(new ShutdownSignal());
      await all();
    }
    await this.service.unregisterWorker(this.id).catch(() => {});
  }

  get activeCount(): number {
    return this.running.size;
  }

  private onChange(change: OperationChange): void {
    // A retry's backoff or a scheduled start: wake when it is due, not at the next poll tick. Leases are
    // in runAt too (a claimed operation is due again when its lease runs out); their renewals move it.
    const r = change.record;
    if (r && r.handler && r.runAt !== null && r.status < STATUS.succeeded && this.registry.get(r.handler)) {
      // Later than the next poll anyway (a lease's expiry, typically): no need to wake now.
      if (this.due.add(r.runAt) && r.runAt < Date.now() + this.pollIntervalMs) this.poke();
    }
    // A change from another node comes without the record: wake up anyway, the claim finds out. An
    // operation this worker claimed in its insert (reserve, adopt) is no work to look for.
    if (
      change.kind === 'created' &&
      (!change.record ||
        (change.record.handler &&
          change.record.leaseOwner !== this.id &&
          this.registry.get(change.record.handler)))
    ) {
      this.poke();
    }
    if (change.kind === 'cancelRequested') {
      const attempt = this.running.get(attemptKey(change));
      if (!attempt) {
        this.noteCancel(attemptKey(change));
        return;
      }
      if (change.record) {
        if (change.record.cancelRequested) attempt.controller.abort(new CancelSignal());
      } else {
        void this.service.store.get(change).then(
          (r) => r?.cancelRequested && attempt.controller.abort(new CancelSignal()),
          () => {},
        );
      }
    }
  }

  private async loop(): Promise<void> {
    // Listed first, so that once this worker holds leases, its death can be proven (instant recovery).
    try {
      await this.service.registerWorker(this.id);
      this.registered = true;
      if (!this.stopping) this.service.startClaimer = this;
    } catch (error) {
      this.log.warn({ worker: this.id, err: messageOf(error) }, 'could not register for liveness');
    }
    let livenessCheckedAt = -Infinity;
    while (!this.stopping) {
      // A worker proven dead (its process or its database session is gone) holds its leases no longer:
      // checked at start (a restart after a crash takes the crashed node's work at once) and now and then.
      if (Date.now() - livenessCheckedAt >= LIVENESS_CHECK_MS) {
        livenessCheckedAt = Date.now();
        try {
          const freed = await this.service.releaseDeadLeases();
          if (freed > 0) {
            this.dueSignals++; // due again now: a sign of work to claim
            this.log.info({ worker: this.id, freed }, 'took over the leases of dead workers');
          }
        } catch {
          // store unreachable: the next check, or the leases' expiry, will do
        }
      }
      const free = this.concurrency - this.handling - this.reserved;
      // Enough for the free slots and, while handlers are quick, the next ones to start.
      const wanted = free - this.ready.length + (this.handlersAreQuick() ? this.prefetch : 0);
      let claimed: OperationRecord[] = [];
      // A slot freed while nothing is known to be waiting (the last claim came back short, within the poll
      // interval): a claim would find nothing, so none goes out (at a steady trickle of starts, one claim
      // per operation saved). The poll interval's claim still goes out, for what no notification told of.
      const pointless = !this.mayHaveWaiting() && Date.now() - this.lastClaimAt < this.pollIntervalMs;
      if (wanted > 0 && !pointless) {
        // What was due by now is looked for by this claim (its store clock reads no earlier than this).
        this.due.passed(Date.now());
        this.lastClaimAt = Date.now();
        const signals = this.dueSignals;
        try {
          claimed = await this.service.claim({
            workerId: this.id,
            limit: wanted,
            leaseMs: this.leaseMs,
            handlers: this.registry.names(),
          });
          if (claimed.length < wanted) this.drainedAt = signals;
        } catch (error) {
          // The store is unreachable for now; try again at the next tick.
          void error;
        }
        const claimedAt = performance.now();
        for (const record of claimed) this.ready.push({ record, claimedAt });
        this.startReady();
      }
      // A full batch means more may be waiting: go again without sleeping.
      if (claimed.length > 0 && claimed.length === wanted) continue;
      await this.sleep(free > 0);
    }
  }

  private sleep(untilDue: boolean): Promise<void> {
    if (this.wakeRequested || this.stopping) {
      this.wakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.wakeRequested = false;
        resolve();
      };
      // Until the earliest due time known (1 ms late: a timer may fire within its own millisecond), else
      // the poll interval. With no free slot, only a finished attempt (a poke) can make room.
      const next = untilDue ? this.due.earliest() : undefined;
      const dueIn = next === undefined ? Infinity : Math.max(0, next - Date.now() + 1);
      const timer = setTimeout(done, Math.min(this.pollIntervalMs, dueIn));
      this.wake = done;
    });
  }

  /** StartClaimer: a free slot for a new operation of `handler`, when nothing older may be waiting for it. */
  reserve(handler: string): { workerId: string; leaseMs: number } | undefined {
    if (!this.registered || this.stopping || !this.registry.get(handler)) return undefined;
    if (this.mayHaveWaiting() || this.ready.length > 0) return undefined;
    if (this.handling + this.reserved >= this.concurrency) return undefined;
    this.reserved++;
    return { workerId: this.id, leaseMs: this.leaseMs };
  }

  /**
   * Whether due work may be waiting for this worker: something signalled it since its last claim came back
   * short (see dueSignals), or a due time it knows of has come.
   */
  private mayHaveWaiting(): boolean {
    if (this.dueSignals !== this.drainedAt) return true;
    const next = this.due.earliest();
    return next !== undefined && next <= Date.now();
  }

  /** StartClaimer: the reserved operation's insert committed, claimed by this worker: run it now. */
  adopt(record: OperationRecord): void {
    this.reserved--;
    // Stopping meanwhile: given back at once, as operations claimed ahead are.
    if (this.stopping) void this.release(record).catch(() => {});
    else this.begin(record);
  }

  /** StartClaimer: the reserved operation's insert failed. */
  cancel(): void {
    this.reserved--;
  }

  private handlersAreQuick(): boolean {
    return this.handlerRuns >= this.concurrency && this.handlerMs < PREFETCH_MAX_HANDLER_MS;
  }

  private noteHandlerTime(ms: number): void {
    this.handlerRuns++;
    // Until the average covers enough runs, a plain mean; then exponential, so it follows a change.
    const weight = Math.max(HANDLER_TIME_WEIGHT, 1 / this.handlerRuns);
    this.handlerMs += (ms - this.handlerMs) * weight;
  }

  /** Starts claimed operations in the free slots, oldest claim first. */
  private startReady(): void {
    while (!this.stopping && this.handling < this.concurrency && this.ready.length > 0) {
      const { record, claimedAt } = this.ready.shift()!;
      // Waited long enough for its lease to be at risk before the first heartbeat (handlers turned slow
      // since it was claimed): give it back rather than run it on a lease another worker may take.
      if (performance.now() - claimedAt > this.leaseMs / 3) {
        void this.release(record).catch(() => {});
        continue;
      }
      this.begin(record);
    }
  }

  /** Gives a claimed operation back without counting the attempt: another worker may take it at once. */
  private async release(record: OperationRecord): Promise<void> {
    await this.service.attemptWrite(
      record,
      {
        leaseOwner: null,
        runAt: Date.now(),
        attempts: record.attempts - 1,
        statusDetail: record.statusDetail,
      },
      'released',
    );
  }

  private begin(record: OperationRecord): void {
    const controller = new AbortController();
    const attempt: Attempt = { record, controller, done: Promise.resolve() };
    const key = attemptKey(record);
    this.running.set(key, attempt);
    this.handling++;
    let slotFreed = false;
    const freeSlot = () => {
      if (slotFreed) return;
      slotFreed = true;
      this.handling--;
      // One claimed ahead takes the slot now; the loop claims again for what is left.
      this.startReady();
      this.pokeForSlots();
    };
    attempt.done = this.run(attempt, freeSlot)
      .catch((error: unknown) => {
        // The outcome could not be written (the store is unreachable): the lease runs out and another
        // attempt runs the operation again, so nothing is lost.
        this.log.warn(
          { 'operation-id': record.id, scope: record.scope, err: messageOf(error) },
          'could not record the attempt',
        );
        controller.abort(new StaleSignal());
      })
      .finally(() => {
        // A retry due at once may have been claimed again (a new attempt under the same key) already.
        if (this.running.get(key) === attempt) this.running.delete(key);
        freeSlot();
      });
  }

  private noteCancel(key: string): void {
    const now = Date.now();
    for (const [k, at] of this.recentCancels) {
      if (now - at < RECENT_CANCEL_MS) break; // oldest first
      this.recentCancels.delete(k);
    }
    this.recentCancels.delete(key);
    this.recentCancels.set(key, now);
  }

  /** A cancel seen just before this attempt was registered: confirmed in the store (rare). */
  private async canceledWhileClaiming(record: OperationRecord): Promise<boolean> {
    const key = attemptKey(record);
    const at = this.recentCancels.get(key);
    if (at === undefined) return false;
    this.recentCancels.delete(key);
    if (Date.now() - at >= RECENT_CANCEL_MS) return false;
    const current = await this.service.store.get(record).catch(() => undefined);
    return current?.cancelRequested === true;
  }

  /** Runs an attempt; `handlerDone` is called once its handler has returned (its slot is free). */
  private async run(attempt: Attempt, handlerDone: () => void): Promise<void> {
    const { record, controller } = attempt;
    const definition = this.registry.get(record.handler!);
    if (!definition) return; // claim filters by registered names; nothing to do
    if (record.cancelRequested || (await this.canceledWhileClaiming(record))) {
      await this.finish(record, { status: STATUS.canceled, statusDetail: 'Canceled.' }, 'canceled');
      return;
    }
    if (record.attempts > record.maxAttempts) {
      // Claimed again after its last attempt's worker died: don't run it a time too many.
      await this.fail(record, definition, new Error('The worker running the last attempt stopped.'));
      return;
    }
    const progress = new ProgressWriter(this.service, record, this.progressIntervalMs, controller);
    const heartbeat = setInterval(
      () => void this.heartbeat(attempt),
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    const timeoutMs = record.timeoutMs ?? definition.timeoutMs;
    const timeout = timeoutMs
      ? setTimeout(() => controller.abort(new TimeoutSignal(timeoutMs)), timeoutMs)
      : undefined;
    let result: HandlerResult | void = undefined;
    let failure: unknown;
    const startedAt = performance.now();
    try {
      result = await definition.run({
        operation: record,
        input: record.input,
        signal: controller.signal,
        attempt: record.attempts,
        progress: (percent, detail) => progress.report(percent, detail),
        checkpoint: (state) => progress.checkpoint(state),
        lastCheckpoint: record.checkpoint ?? undefined,
      });
      if (controller.signal.aborted) failure = controller.signal.reason;
    } catch (error) {
      failure = controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearInterval(heartbeat);
      clearTimeout(timeout);
      this.noteHandlerTime(performance.now() - startedAt);
      handlerDone();
      await progress.close();
    }

    const reason = failure;
    const context = {
      'operation-id': record.id,
      scope: record.scope,
      attempt: record.attempts,
      worker: this.id,
    };
    if (reason instanceof StaleSignal) {
      this.log.warn(context, 'attempt lost its lease to another worker; its result is discarded');
      return;
    }
    if (failure !== undefined && !(reason instanceof CancelSignal) && !(reason instanceof ShutdownSignal)) {
      this.log.warn({ ...context, err: messageOf(failure) }, 'handler attempt failed');
    }
    if (reason instanceof CancelSignal) {
      await this.finish(record, { status: STATUS.canceled, statusDetail: 'Canceled.' }, 'canceled');
    } else if (reason instanceof ShutdownSignal) {
      // Give it back without counting the attempt, so another worker picks it up right away.
      await this.release(record);
    } else if (failure !== undefined) {
      if (failure instanceof PermanentError || record.attempts >= record.maxAttempts) {
        await this.fail(record, definition, failure);
      } else {
        const delay = backoffDelay(record.attempts, this.retryBaseMs, this.retryCapMs);
        await this.service.attemptWrite(
          record,
          {
            leaseOwner: null,
            runAt: Date.now() + delay,
            statusDetail: `Attempt ${record.attempts} of ${record.maxAttempts} failed: ${messageOf(failure)}; retrying.`,
          },
          'retry',
        );
      }
    } else {
      await this.succeed(record, result ?? {});
    }
  }

  private async succeed(record: OperationRecord, result: HandlerResult): Promise<void> {
    const known = new Set(subtypeProperties(record.type).map((p) => p.name));
    const props = Object.assign({}, record.props);
    for (const [name, value] of Object.entries(result.props ?? {})) if (known.has(name)) props[name] = value;
    for (const name of ['percentageComplete', 'percentageCompleted']) if (known.has(name)) props[name] = 100;
    await this.finish(
      record,
      {
        status: STATUS.succeeded,
        resourceLocation: result.resourceLocation ?? record.resourceLocation,
        statusDetail: result.statusDetail ?? null,
        props,
      },
      'succeeded',
    );
  }

  private async fail(
    record: OperationRecord,
    _definition: HandlerDefinition,
    failure: unknown,
  ): Promise<void> {
    const message =
      failure instanceof TimeoutSignal
        ? `Timed out after ${failure.ms} ms.`
        : messageOf(failure) || 'The handler failed.';
    const props = Object.assign({}, record.props);
    if (subtypeProperties(record.type).some((p) => p.name === 'error')) {
      props.error = {
        code:
          failure instanceof PermanentError
            ? failure.code
            : failure instanceof TimeoutSignal
              ? 'timeout'
              : 'handlerFailed',
        message,
        target: null,
        details: [],
        innerError: null,
      };
    }
    await this.finish(record, { status: STATUS.failed, statusDetail: message, props }, 'failed');
  }

  private finish(
    record: OperationRecord,
    changes: Parameters<OperationService['attemptWrite']>[1],
    kind: string,
  ): Promise<OperationRecord | undefined> {
    // The callers' own objects (no spread: slow on Node 20, see row.ts).
    changes.leaseOwner = null;
    changes.runAt = null;
    return this.service.attemptWrite(record, changes, kind);
  }

  private async heartbeat(attempt: Attempt): Promise<void> {
    if (attempt.controller.signal.aborted) return;
    let renewed: OperationRecord | undefined;
    try {
      renewed = await this.service.attemptWrite(
        attempt.record,
        { runAt: Date.now() + this.leaseMs },
        'heartbeat',
        {
          touch: false,
        },
      );
    } catch {
      return; // store unreachable: keep going; the lease may still be ours at the next beat
    }
    if (!renewed) attempt.controller.abort(new StaleSignal());
    else if (renewed.cancelRequested) attempt.controller.abort(new CancelSignal());
  }
}

/**
 * The due times (epoch ms) a worker knows of, earliest first: what its own retries scheduled and what the
 * changes it saw announced. Bounded: beyond MAX entries the latest are forgotten, and the poll finds them.
 */
export class DueTimes {
  private static readonly MAX = 1024;
  private times: number[] = [];

  /** Records a due time; true when it is now the earliest (the sleeping loop should re-arm its timer). */
  add(at: number): boolean {
    let i = this.times.length;
    while (i > 0 && this.times[i - 1] > at) i--;
    if (this.times[i - 1] === at) return false;
    this.times.splice(i, 0, at);
    if (this.times.length > DueTimes.MAX) this.times.pop();
    return i === 0;
  }

  /** Forgets the times a claim made at `now` has covered. */
  passed(now: number): void {
    let n = 0;
    while (n < this.times.length && this.times[n] <= now) n++;
    if (n > 0) this.times.splice(0, n);
  }

  earliest(): number | undefined {
    return this.times[0];
  }
}

/** How long a cancel seen for an operation not yet running is remembered (a claim's round trip, and more). */
const RECENT_CANCEL_MS = 5_000;

const attemptKey = (k: { tenantId: string; scope: string; id: string }) =>
  `${k.tenantId}\u0000${k.scope}\u0000${k.id}`;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Abort reasons, so the worker can tell why a handler stopped. */
export class CancelSignal extends Error {
  constructor() {
    super('The operation was canceled.');
    this.name = 'AbortError';
  }
}
export class StaleSignal extends Error {
  constructor() {
    super('This attempt lost its lease to another worker.');
    this.name = 'AbortError';
  }
}
export class ShutdownSignal extends Error {
  constructor() {
    super('The worker is shutting down.');
    this.name = 'AbortError';
  }
}
export class TimeoutSignal extends Error {
  constructor(readonly ms: number) {
    super(`The attempt timed out after ${ms} ms.`);
    this.name = 'TimeoutError';
  }
}

/**
 * Coalesces a handler's progress reports and checkpoints: the latest of each is written at most once per
 * interval, in one write, and what is pending is flushed when the handler ends. A refused write means
 * the attempt is stale. A checkpoint's promise settles when the write carrying it (or a later one) does.
 */
class ProgressWriter {
  private pending?: { percent: number; detail?: string };
  private pendingCheckpoint?: { state: unknown; waiters: Waiter[] };
  private timer?: NodeJS.Timeout;
  private lastWrite = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly field: string | undefined;

  constructor(
    private readonly service: OperationService,
    private readonly record: OperationRecord,
    private readonly intervalMs: number,
    private readonly controller: AbortController,
  ) {
    const names = subtypeProperties(record.type).map((p) => p.name);
    this.field = names.find((n) => n === 'percentageComplete' || n === 'percentageCompleted');
  }

  report(percent: number, detail?: string): void {
    if (!Number.isFinite(percent)) return;
    this.pending = { percent: Math.max(0, Math.min(100, Math.round(percent))), detail };
    this.schedule();
  }

  checkpoint(state: unknown): Promise<void> {
    let json: string | undefined;
    try {
      json = JSON.stringify(state);
    } catch (error) {
      throw new TypeError(
        `ctx.checkpoint(state): the state must be JSON-serializable (${messageOf(error)}).`,
      );
    }
    if (json === undefined) throw new TypeError('ctx.checkpoint(state): the state must be a JSON value.');
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_CHECKPOINT_BYTES) {
      throw new TypeError(
        `ctx.checkpoint(state): the state is ${bytes} bytes as JSON; the limit is ${MAX_CHECKPOINT_BYTES} bytes (64 KiB).`,
      );
    }
    const promise = new Promise<void>((resolve, reject) => {
      // A copy, so that the handler may go on changing its object; earlier waiters ride on this write.
      const waiters = this.pendingCheckpoint?.waiters ?? [];
      waiters.push({ resolve, reject });
      this.pendingCheckpoint = { state: JSON.parse(json), waiters };
    });
    promise.catch(() => {}); // a handler that doesn't await it must not crash the process on a refusal
    this.schedule();
    return promise;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastWrite + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.inFlight.then(() => this.flush());
    }, wait);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (this.controller.signal.aborted) {
      this.pendingCheckpoint?.waiters.forEach((w) => w.reject(this.controller.signal.reason));
      this.pendingCheckpoint = undefined;
      return;
    }
    if (this.pending || this.pendingCheckpoint) await this.flush();
  }

  private async flush(): Promise<void> {
    const p = this.pending;
    const cp = this.pendingCheckpoint;
    this.pending = undefined;
    this.pendingCheckpoint = undefined;
    if (!p && !cp) return;
    this.lastWrite = Date.now();
    const changes: Parameters<OperationService['attemptWrite']>[1] = {};
    if (p && this.field) changes.props = { ...this.record.props, [this.field]: p.percent };
    if (p?.detail !== undefined) changes.statusDetail = p.detail;
    const visible = changes.props !== undefined || changes.statusDetail !== undefined;
    if (cp) changes.checkpoint = cp.state;
    if (!visible && !cp) return;
    try {
      // A checkpoint alone is not an action on the operation: no history event, lastActionDateTime stays.
      const written = await this.service.attemptWrite(
        this.record,
        changes,
        visible ? 'progress' : 'checkpoint',
        { touch: visible },
      );
      if (!written) {
        this.controller.abort(new StaleSignal());
        cp?.waiters.forEach((w) => w.reject(new StaleSignal()));
      } else {
        this.record.props = written.props;
        cp?.waiters.forEach((w) => w.resolve());
      }
    } catch (error) {
      // progress is best effort; the next report or the outcome carries on. A checkpoint's caller is told.
      cp?.waiters.forEach((w) => w.reject(error));
    }
  }
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}
