/**
 * Operation handles: what `start` returns and `node.operation(location)` makes. A handle is a key (the
 * collection and the id) plus calls on the service; it reads the operation as a Graph client sees it,
 * never the engine's record (fencing tokens, leases, input stay internal).
 */
import type { Operation } from '../client/types.js';
import { resolvePath } from '../http/resolve.js';
import { renderOperation } from '../http/render.js';
import { encodeSegment } from '../http/urls.js';
import { GraphError } from '../model/errors.js';
import { isTerminal } from '../model/status.js';
import { concreteTypesFor, type ApiVersion } from '../model/types.js';
import {
  keyOf,
  type CallContext,
  type CollectionRef,
  type OperationService,
} from '../service/operation-service.js';
import { waitForStatusChange } from '../service/wait.js';
import { Checker } from './options-check.js';

export interface WaitOptions {
  /** Give up after this many ms (rejects with a WaitTimeoutError); default: wait as long as it takes. */
  timeoutMs?: number;
  /** Stops waiting (rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface OperationHandle {
  readonly id: string;
  /** The operation's URL path, e.g. `/v1.0/operations/{id}`: what a Location header points at. */
  readonly location: string;
  /** The operation as a Graph client sees it (`canceled` included: in-process callers know the member). */
  get(): Promise<Operation>;
  /** Asks for cancellation: the handler's signal aborts and the operation ends `canceled`. */
  cancel(): Promise<Operation>;
  /** Resolves with the operation once it is terminal (succeeded, failed or canceled), from the change feed. */
  wait(options?: WaitOptions): Promise<Operation>;
}

/** `wait` ran out of time; `operation` is the last state seen. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly operation: Operation,
    timeoutMs: number,
  ) {
    super(
      `The operation '${operation.id}' did not finish within ${timeoutMs} ms (status: ${operation.status}).`,
    );
    this.name = 'WaitTimeoutError';
  }
}

const LIBRARY: CallContext = { actor: 'library', includeUnknownEnumMembers: true };
const render = (view: Parameters<typeof renderOperation>[0]) =>
  renderOperation(view, { includeUnknownEnumMembers: true }) as unknown as Operation;

export function createHandle(
  service: OperationService,
  ref: CollectionRef,
  id: string,
  location: string,
): OperationHandle {
  return {
    id,
    location,
    async get() {
      return render(await service.get(ref, id));
    },
    async cancel() {
      await service.cancel(ref, id, LIBRARY);
      return render(await service.get(ref, id));
    },
    async wait(options = {}) {
      const c: Checker = new Checker('wait');
      c.integer('timeoutMs', options.timeoutMs, 0);
      const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
      const read = (key: Parameters<OperationService['store']['read']>[0]) => service.store.read(key);
      for (;;) {
        options.signal?.throwIfAborted();
        if (service.changes.closing) throw new Error('The longrun node is closing; the wait was abandoned.');
        // Each round subscribes to the operation's changes before reading it (wait.ts), so none is missed;
        // a round without a deadline is bounded only to re-check the closing flag and the signal.
        const remaining = Math.min(deadline - Date.now(), 60_000);
        const { record } = await waitForStatusChange(
          service.changes,
          read,
          keyOf(ref, id),
          Math.max(0, remaining),
          options.signal,
        );
        if (isTerminal(record.status)) return render(record);
        if (Date.now() >= deadline) throw new WaitTimeoutError(render(record), options.timeoutMs!);
      }
    },
  };
}

/** The URL path of an operation in a collection, e.g. `/v1.0/sites/s1/operations/{id}`. */
export function locationOf(version: ApiVersion, collectionPath: string, id: string): string {
  return `/${version}/${collectionPath.replace(/^\/+|\/+$/g, '')}/${encodeSegment(id)}`;
}

/**
 * A handle from an operation's location: a path (`/v1.0/operations/x`) or absolute URL, as a Location
 * header or `handle.location` gives it. Operations under users are addressed by their tenant's key.
 */
export function handleFromLocation(
  service: OperationService,
  location: unknown,
  tenantId = '',
): OperationHandle {
  const c: Checker = new Checker('operation');
  c.nonEmptyString('location', location, 8192);
  let path = location as string;
  if (/^https?:\/\//i.test(path)) path = new URL(path).pathname;
  const m = /^\/(v1\.0|beta)\/(.+)$/.exec(path.split('?')[0]);
  if (!m) c.fail('location', "must be an operation's URL or path under /v1.0 or /beta", location);
  const version = m[1] as ApiVersion;
  let resolved;
  try {
    resolved = resolvePath(m[2], version, undefined);
  } catch (e) {
    if (e instanceof GraphError)
      c.fail('location', `is not an operation's location (${e.message})`, location);
    throw e;
  }
  if (!resolved || resolved.target.kind !== 'item')
    c.fail('location', 'must address one operation (…/operations/{id})', location);
  const ref: CollectionRef = {
    tenantId,
    scope: resolved.scope,
    family: resolved.family,
    types: concreteTypesFor(resolved.family.declaredType, version),
  };
  return createHandle(service, ref, resolved.target.id, path);
}
