/**
 * `defineHandler`: a handler with a name, a TypeBox schema for its input, and the work. The schema types
 * `ctx.input` and `node.start(name, input)`, and is checked at start, before anything is stored.
 */
import { Kind, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { HandlerContext, HandlerDefinition, HandlerResult } from '../engine/handler.js';
import { GraphError } from '../model/errors.js';
import { subtypeProperties, type OperationTypeName } from '../model/types.js';
import { Checker } from './options-check.js';

/** The type operations of handlers default to: it has `percentageComplete`, so progress is never dropped. */
export const DEFAULT_HANDLER_TYPE: OperationTypeName = 'richLongRunningOperation';

export interface HandlerSpec<N extends string, I> {
  /** Unique among the node's handlers; what `start` and actions name. */
  name: N;
  /** A TypeBox schema for the input: checked at start (400 over HTTP, InvalidInputError in-process). */
  input?: TSchema;
  /**
   * The operation type created for this handler; default richLongRunningOperation. A type without a
   * percentage (longRunningOperation) gets `progress(pct, detail)` as the statusDetail `"40% detail"`.
   */
  type?: OperationTypeName;
  /** Attempts before the operation fails; default 3. */
  maxAttempts?: number;
  /** Per-attempt time limit in ms; default none. */
  timeoutMs?: number;
  run(ctx: HandlerContext<I>): Promise<HandlerResult | void>;
}

/** A handler as createLongrun takes it. `I` is the input type `start` and actions must give. */
export interface Handler<N extends string = string, I = unknown> extends HandlerSpec<N, I> {
  readonly type: OperationTypeName;
}

/** Any handler, whatever its input type (what createLongrun's `handlers` accepts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- inputs vary per handler; `start` recovers each one's type
export type AnyHandler = HandlerSpec<string, any>;

/** The input type of the handler named N. */
export type InputOf<H extends readonly AnyHandler[], N extends string> =
  Extract<H[number], { name: N }> extends HandlerSpec<string, infer I> ? I : never;

/** The names of the handlers in H. */
export type HandlerName<H extends readonly AnyHandler[]> = H[number]['name'];

/** The input given to `start` or produced by an action does not match the handler's schema. */
export class InvalidInputError extends GraphError {
  constructor(message: string, target?: string) {
    super(400, 'invalidRequest', message, { target });
    this.name = 'InvalidInputError';
  }
}

export function defineHandler<const N extends string, S extends TSchema>(
  spec: Omit<HandlerSpec<N, Static<S>>, 'input'> & { input: S },
): Handler<N, Static<S>>;
export function defineHandler<const N extends string, I = unknown>(
  spec: HandlerSpec<N, I> & { input?: undefined },
): Handler<N, I>;
export function defineHandler(spec: HandlerSpec<string, unknown>): Handler<string, unknown> {
  return checkHandler(spec, new Checker('defineHandler'), '');
}

/** Validates a handler spec (defineHandler, and createLongrun for plain objects); fills in the defaults. */
export function checkHandler(spec: unknown, c: Checker, prefix: string): Handler<string, unknown> {
  c.object(prefix || 'handler', spec);
  const p = (name: string) => (prefix ? `${prefix}.${name}` : name);
  c.knownKeys(spec, prefix, ['name', 'input', 'type', 'maxAttempts', 'timeoutMs', 'run']);
  if (typeof spec.name !== 'string' || spec.name.trim() === '' || spec.name.length > 256)
    c.fail(p('name'), 'must be a non-empty string of at most 256 characters', spec.name);
  if (spec.name.startsWith('longrun.'))
    c.fail(p('name'), "must not start with 'longrun.' (reserved)", spec.name);
  if (spec.input !== undefined && !isSchema(spec.input))
    c.fail(p('input'), 'must be a TypeBox schema (e.g. Type.Object({...}))', spec.input);
  c.operationType(p('type'), spec.type);
  c.integer(p('maxAttempts'), spec.maxAttempts, 1, 1000);
  c.integer(p('timeoutMs'), spec.timeoutMs, 1);
  c.func(p('run'), spec.run);
  return { ...(spec as unknown as HandlerSpec<string, unknown>), type: spec.type ?? DEFAULT_HANDLER_TYPE };
}

function isSchema(value: unknown): value is TSchema {
  return typeof value === 'object' && value !== null && Kind in value;
}

/** Checks an input against the handler's schema; the first error names the property. */
export function checkInput(handler: AnyHandler, input: unknown): void {
  if (!handler.input || Value.Check(handler.input, input)) return;
  const first = Value.Errors(handler.input, input).First();
  const path = first?.path ? first.path.replace(/^\//, '').replace(/\//g, '.') : '';
  throw new InvalidInputError(
    `The input of '${handler.name}' is not valid${path ? ` at '${path}'` : ''}: ${first?.message ?? 'unexpected value'}.`,
    path || undefined,
  );
}

/**
 * The definition the engine runs. A type without a percentage property would drop `progress(pct)`: the
 * percent goes into statusDetail instead (`"40%"`, or `"40% rendering"` with a detail).
 */
export function toEngineDefinition(handler: AnyHandler): HandlerDefinition {
  const run = handler.run.bind(handler) as (ctx: HandlerContext<unknown>) => Promise<HandlerResult | void>;
  return {
    name: handler.name,
    maxAttempts: handler.maxAttempts,
    timeoutMs: handler.timeoutMs,
    run(ctx) {
      if (hasPercentage(ctx.operation.type)) return run(ctx);
      // Object.create keeps every other member of the context (and any added later) as it is.
      const adapted: HandlerContext<unknown> = Object.create(ctx, {
        progress: {
          value: (percent: number, detail?: string) => {
            if (!Number.isFinite(percent)) return;
            const pct = `${Math.max(0, Math.min(100, Math.round(percent)))}%`;
            ctx.progress(percent, detail ? `${pct} ${detail}` : pct);
          },
        },
      });
      return run(adapted);
    },
  };
}

function hasPercentage(type: OperationTypeName): boolean {
  return subtypeProperties(type).some(
    (p) => p.name === 'percentageComplete' || p.name === 'percentageCompleted',
  );
}
