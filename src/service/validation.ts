/**
 * Checks a client's POST/PATCH body against the operation type table (src/model/types.ts) and turns it
 * into changes the store can apply. Graph's rules: `id` can't be patched, unknown properties are
 * rejected, `unknownFutureValue` is ignored in a PATCH and refused in a POST, members after the sentinel
 * need `Prefer: include-unknown-enum-members`.
 */
import { badRequest } from '../model/errors.js';
import { MAX_ID_LENGTH } from '../model/ids.js';
import type { OperationChanges } from '../model/operation.js';
import { SENTINEL, statusValue } from '../model/status.js';
import { normalizeTimestamp } from '../model/time.js';
import {
  OPERATION_TYPES,
  subtypeProperties,
  typeFromODataType,
  isSubtypeOf,
  type EnumDef,
  type OperationTypeName,
  type PropertyDef,
} from '../model/types.js';

export type BodyMode = 'create' | 'update';

export interface ValidationOptions {
  mode: BodyMode;
  includeUnknownEnumMembers: boolean;
}

type Json = Record<string, unknown>;

export function asObjectBody(body: unknown): Json {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object.');
  }
  return body as Json;
}

/**
 * The type a create body asks for: its `@odata.type` (which must be a concrete type allowed in the
 * collection), else the collection's default.
 */
export function typeForCreate(
  body: Json,
  allowed: readonly OperationTypeName[],
  defaultType: OperationTypeName,
): OperationTypeName {
  const odataType = body['@odata.type'];
  if (odataType === undefined) return defaultType;
  if (typeof odataType !== 'string') throw badRequest("'@odata.type' must be a string.", '@odata.type');
  const type = typeFromODataType(odataType);
  if (!type || !allowed.includes(type)) {
    throw badRequest(
      `The type '${odataType}' can't be created in this collection; allowed: ${allowed
        .map((t) => '#' + OPERATION_TYPES[t].qualifiedName)
        .join(', ')}.`,
      '@odata.type',
    );
  }
  return type;
}

/** For a PATCH: an `@odata.type` in the body must name the operation's type or one of its base types. */
function checkPatchType(body: Json, type: OperationTypeName): void {
  const odataType = body['@odata.type'];
  if (odataType === undefined) return;
  const named = typeof odataType === 'string' ? typeFromODataType(odataType) : undefined;
  if (!named || !isSubtypeOf(type, named)) {
    throw badRequest(
      `'@odata.type' ${JSON.stringify(odataType)} does not match the operation's type '#${OPERATION_TYPES[type].qualifiedName}'.`,
      '@odata.type',
    );
  }
}

export interface ValidatedBody {
  id?: string;
  changes: OperationChanges;
}

export function validateBody(type: OperationTypeName, body: Json, options: ValidationOptions): ValidatedBody {
  if (options.mode === 'update') checkPatchType(body, type);
  const own = new Map(subtypeProperties(type).map((p) => [p.name, p]));
  const changes: OperationChanges = {};
  const props: Record<string, unknown> = {};
  let id: string | undefined;

  for (const [name, value] of Object.entries(body)) {
    if (name.startsWith('@')) continue; // instance annotations (@odata.type checked above)
    switch (name) {
      case 'id':
        if (options.mode === 'update')
          throw badRequest("The property 'id' is read-only and can't be updated.", 'id');
        id = checkId(value);
        break;
      case 'status': {
        const status = checkStatus(value, options);
        if (status !== undefined) changes.status = status;
        break;
      }
      case 'createdDateTime':
      case 'lastActionDateTime':
        // Nullable in the CSDL, so null is accepted; longrun always knows both times (lists order and
        // page by them), so null leaves them to the server: createdDateTime keeps its value (now, on a
        // create) and lastActionDateTime is the time of this write (docs/decisions/0019).
        if (value !== null) changes[name] = checkTimestamp(name, value);
        break;
      case 'resourceLocation':
      case 'statusDetail':
        changes[name] = checkNullableString(name, value);
        break;
      default: {
        const def = own.get(name);
        if (!def) {
          throw badRequest(
            `Could not find a property named '${name}' on type '${OPERATION_TYPES[type].qualifiedName}'.`,
            name,
          );
        }
        const checked = checkProperty(def, value, options);
        if (checked !== IGNORED) props[name] = checked;
      }
    }
  }
  if (Object.keys(props).length > 0) changes.props = props;
  return { id, changes };
}

/** Defaults for the non-nullable subtype properties a create body did not give. */
export function defaultProps(
  type: OperationTypeName,
  given: Record<string, unknown> = {},
): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const p of subtypeProperties(type)) {
    if (p.name in given) props[p.name] = given[p.name];
    else if (!p.nullable) props[p.name] = structuredClone(p.defaultValue);
  }
  return props;
}

const IGNORED = Symbol('ignored');

function checkId(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw badRequest(`'id' must be a non-empty string of at most ${MAX_ID_LENGTH} characters.`, 'id');
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
  if (/[\u0000-\u001f/\\]/.test(value)) {
    throw badRequest("'id' must not contain control characters, '/' or '\\'.", 'id');
  }
  return value;
}

function checkStatus(value: unknown, options: ValidationOptions) {
  if (value === null) {
    // The CSDL allows null; longrun's state rules don't: an operation is always in one state.
    throw badRequest(
      "'status' can't be null: an operation is always in one of notStarted, running, succeeded or failed (longrun's state rule; leave 'status' out to keep it).",
      'status',
    );
  }
  const v = typeof value === 'string' ? statusValue(value) : undefined;
  if (v === undefined) {
    throw badRequest(
      `'${String(value)}' is not a valid value for 'status'; expected one of notStarted, running, succeeded, failed.`,
      'status',
    );
  }
  if (v === SENTINEL) {
    if (options.mode === 'update') return undefined; // Graph: treat as if absent
    throw badRequest("'unknownFutureValue' is not a valid value for 'status' in a create request.", 'status');
  }
  if (v > SENTINEL && !options.includeUnknownEnumMembers) {
    throw badRequest(
      `'${String(value)}' is not a valid value for 'status' unless the request has 'Prefer: include-unknown-enum-members'.`,
      'status',
    );
  }
  return v;
}

function checkTimestamp(name: string, value: unknown): string {
  const t = typeof value === 'string' ? normalizeTimestamp(value) : undefined;
  if (!t)
    throw badRequest(
      `'${name}' must be an ISO 8601 date-time with a time zone, e.g. 2024-01-01T00:00:00Z.`,
      name,
    );
  return t;
}

function checkNullableString(name: string, value: unknown): string | null {
  if (value !== null && typeof value !== 'string')
    throw badRequest(`'${name}' must be a string or null.`, name);
  return value;
}

function checkProperty(def: PropertyDef, value: unknown, options: ValidationOptions): unknown {
  if (value === null) {
    if (!def.nullable) throw badRequest(`'${def.name}' can't be null.`, def.name);
    return null;
  }
  switch (def.kind) {
    case 'string':
      return checkNullableString(def.name, value);
    case 'int32': {
      const min = def.min ?? -2147483648;
      const max = def.max ?? 2147483647;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw badRequest(`'${def.name}' must be an integer from ${min} to ${max}.`, def.name);
      }
      return value;
    }
    case 'enum':
      return checkEnum(def.name, def.enum, value, options);
    case 'publicError':
      return checkPublicError(def.name, value);
    case 'collection':
      if (!Array.isArray(value)) throw badRequest(`'${def.name}' must be an array.`, def.name);
      return value.map((item, i) =>
        def.of === 'string'
          ? typeof item === 'string'
            ? item
            : fail(`'${def.name}[${i}]' must be a string.`, def.name)
          : checkPublicError(`${def.name}[${i}]`, item),
      );
  }
}

function checkEnum(name: string, def: EnumDef, value: unknown, options: ValidationOptions): unknown {
  const member = typeof value === 'string' ? (def.aliases?.[value] ?? value) : undefined;
  const index = member === undefined ? -1 : def.members.indexOf(member);
  if (index < 0) {
    throw badRequest(
      `'${String(value)}' is not a valid value for '${name}'; expected one of ${def.members.join(', ')}.`,
      name,
    );
  }
  if (member === 'unknownFutureValue') {
    if (options.mode === 'update') return IGNORED;
    throw badRequest(`'unknownFutureValue' is not a valid value for '${name}' in a create request.`, name);
  }
  return member;
}

const ERROR_DETAIL_KEYS = ['code', 'message', 'target'];

/** graph.publicError: code, details, innerError, message, target. innerError is an open type. */
function checkPublicError(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    fail(`'${name}' must be an object.`, name);
  const v = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of ['code', 'message', 'target']) out[key] = optionalString(`${name}.${key}`, v[key]);
  out.details = checkDetails(`${name}.details`, v.details);
  if (v.innerError !== undefined && v.innerError !== null) {
    if (typeof v.innerError !== 'object' || Array.isArray(v.innerError))
      fail(`'${name}.innerError' must be an object.`, name);
    const inner = { ...(v.innerError as Record<string, unknown>) };
    for (const key of ['code', 'message', 'target']) {
      if (key in inner) inner[key] = optionalString(`${name}.innerError.${key}`, inner[key]);
    }
    if ('details' in inner) inner.details = checkDetails(`${name}.innerError.details`, inner.details);
    out.innerError = inner;
  } else {
    out.innerError = null;
  }
  for (const key of Object.keys(v)) {
    if (![...ERROR_DETAIL_KEYS, 'details', 'innerError'].includes(key) && !key.startsWith('@')) {
      fail(`Could not find a property named '${key}' on type 'microsoft.graph.publicError'.`, name);
    }
  }
  return out;
}

function checkDetails(name: string, value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(`'${name}' must be an array.`, name);
  return (value as unknown[]).map((d, i) => {
    if (d === null || typeof d !== 'object' || Array.isArray(d))
      fail(`'${name}[${i}]' must be an object.`, name);
    const detail = d as Record<string, unknown>;
    for (const key of Object.keys(detail)) {
      if (!ERROR_DETAIL_KEYS.includes(key))
        fail(`Could not find a property named '${key}' on type 'microsoft.graph.publicErrorDetail'.`, name);
    }
    return Object.fromEntries(
      ERROR_DETAIL_KEYS.map((k) => [k, optionalString(`${name}[${i}].${k}`, detail[k])]),
    );
  });
}

function optionalString(name: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') fail(`'${name}' must be a string.`, name);
  return value as string;
}

function fail(message: string, target: string): never {
  throw badRequest(message, target);
}
