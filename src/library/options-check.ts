/**
 * Checks for library options. Every failure is a LongrunOptionError whose message names the option (as
 * the user wrote it, e.g. `worker.concurrency` or `handlers[1].name`) and the rule it broke, so a bad
 * option fails where it is given instead of as an internal TypeError, or silently, later.
 */
import { MAX_ID_LENGTH } from '../model/ids.js';
import { OPERATION_TYPES, type OperationTypeName } from '../model/types.js';

export class LongrunOptionError extends TypeError {
  constructor(
    /** The option's path, e.g. `worker.concurrency`. */
    readonly option: string,
    /** The rule, e.g. `must be an integer of at least 1`. */
    rule: string,
    value: unknown,
    where: string,
  ) {
    super(`${where}: '${option}' ${rule}; got ${describe(value)}.`);
    this.name = 'LongrunOptionError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** Checks made on behalf of one call (`createLongrun`, `defineHandler`, `start`), for its messages. */
export class Checker {
  constructor(readonly where: string) {}

  fail(option: string, rule: string, value: unknown): never {
    throw new LongrunOptionError(option, rule, value, this.where);
  }

  /** Rejects keys the options object does not know (a misspelled option would be ignored otherwise). */
  knownKeys(value: object, prefix: string, known: readonly string[]): void {
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) {
        const name = prefix ? `${prefix}.${key}` : key;
        this.fail(
          name,
          `is not an option (known: ${known.join(', ')})`,
          (value as Record<string, unknown>)[key],
        );
      }
    }
  }

  object(option: string, value: unknown): asserts value is Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      this.fail(option, 'must be an object', value);
  }

  integer(option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
      this.fail(option, `must be an integer ${range}`, value);
    }
  }

  nonEmptyString(option: string, value: unknown, maxLength = 1024): void {
    if (value === undefined) return;
    if (typeof value !== 'string' || value.trim().length === 0 || value.length > maxLength)
      this.fail(option, `must be a non-empty string of at most ${maxLength} characters`, value);
  }

  oneOf(option: string, value: unknown, allowed: readonly unknown[]): void {
    if (value === undefined) return;
    if (!allowed.includes(value)) this.fail(option, `must be one of ${allowed.join(', ')}`, value);
  }

  boolean(option: string, value: unknown): void {
    if (value !== undefined && typeof value !== 'boolean') this.fail(option, 'must be true or false', value);
  }

  func(option: string, value: unknown): void {
    if (typeof value !== 'function') this.fail(option, 'must be a function', value);
  }

  /** An operation type a handler can create: a concrete (non-abstract) Graph type. */
  operationType(option: string, value: unknown): asserts value is OperationTypeName | undefined {
    if (value === undefined) return;
    const concrete = (Object.keys(OPERATION_TYPES) as OperationTypeName[]).filter(
      (t) => !OPERATION_TYPES[t].abstract,
    );
    if (typeof value !== 'string' || !concrete.includes(value as OperationTypeName))
      this.fail(option, `must be one of ${concrete.join(', ')}`, value);
  }

  /** The same rule as an `id` in a create request (service/validation.ts). */
  operationId(option: string, value: unknown): void {
    if (value === undefined) return;
    this.nonEmptyString(option, value, MAX_ID_LENGTH);
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
    if (/[\u0000-\u001f/\\]/.test(value as string))
      this.fail(option, "must not contain control characters, '/' or '\\'", value);
  }

  absoluteUrl(option: string, value: unknown): void {
    if (value === undefined) return;
    let url: URL | undefined;
    try {
      url = typeof value === 'string' ? new URL(value) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash)
      this.fail(option, 'must be an absolute http(s) URL without query or fragment', value);
  }
}
