/**
 * Starting a handler's operation, shared by `node.start` and the library's HTTP actions: checks the
 * options and the input (nothing is stored when either is wrong), picks the operation type, files the
 * operation in its collection, and returns its key and location.
 */
import { resolvePath } from '../http/resolve.js';
import type { OperationRecord } from '../model/operation.js';
import { API_VERSIONS, concreteTypesFor, type ApiVersion, type OperationTypeName } from '../model/types.js';
import type { CollectionRef, OperationService } from '../service/operation-service.js';
import { checkInput, type AnyHandler } from './define-handler.js';
import { locationOf } from './handle.js';
import type { Checker } from './options-check.js';

import type { StartOptions } from '../longrun.js';

export type { StartOptions };

const START_OPTIONS = [
  'collection',
  'version',
  'tenantId',
  'type',
  'id',
  'maxAttempts',
  'timeoutMs',
  'idempotencyKey',
] as const;

/** A collection an operation can be filed in, resolved once. */
export interface TargetCollection {
  /** As given, without slashes at the ends: `operations`, `sites/s1/operations`. */
  path: string;
  resolve(version: ApiVersion, tenantId: string): CollectionRef;
}

/** Resolves a collection path; undefined when it names no operations collection in that version. */
export function targetCollection(path: string, version: ApiVersion): TargetCollection | undefined {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  let resolved;
  try {
    resolved = resolvePath(trimmed, version, undefined);
  } catch {
    return undefined;
  }
  if (!resolved || resolved.target.kind !== 'collection' || resolved.isFunction) return undefined;
  const r = resolved;
  return {
    path: trimmed,
    resolve: (v, tenantId) => ({
      tenantId,
      scope: r.scope,
      family: r.family,
      types: concreteTypesFor(r.family.declaredType, v),
    }),
  };
}

export interface StartCall {
  handler: AnyHandler;
  input: unknown;
  options: StartOptions;
  actor: string;
  requestHash?: string;
}

export async function startOperation(
  service: OperationService,
  call: StartCall,
  c: Checker,
): Promise<{ record: OperationRecord; ref: CollectionRef; location: string; created: boolean }> {
  const raw: unknown = call.options;
  c.object('options', raw);
  c.knownKeys(raw, 'options', START_OPTIONS);
  const o = call.options;
  c.oneOf('options.version', o.version, API_VERSIONS);
  const version = o.version ?? 'v1.0';
  if (o.tenantId !== undefined && typeof o.tenantId !== 'string')
    c.fail('options.tenantId', 'must be a string', o.tenantId);
  if (o.collection !== undefined && typeof o.collection !== 'string')
    c.fail('options.collection', 'must be a string', o.collection);
  const collection = targetCollection(o.collection ?? '/operations', version);
  if (!collection)
    c.fail(
      'options.collection',
      `must be an operations collection in ${version}, e.g. /operations`,
      o.collection,
    );
  c.operationType('options.type', o.type);
  c.operationId('options.id', o.id);
  c.integer('options.maxAttempts', o.maxAttempts, 1, 1000);
  c.integer('options.timeoutMs', o.timeoutMs, 1);
  c.nonEmptyString('options.idempotencyKey', o.idempotencyKey, 255);
  const ref = collection.resolve(version, o.tenantId ?? '');
  if (o.type && !ref.types.includes(o.type))
    c.fail('options.type', `must be one the collection holds (${ref.types.join(', ')})`, o.type);
  checkInput(call.handler, call.input);

  // The handler's type (richLongRunningOperation by default) where the collection holds it, else the
  // collection's own: /users/{id}/authentication/operations holds only longRunningOperation.
  const type =
    o.type ??
    (ref.types.includes(handlerType(call.handler)) ? handlerType(call.handler) : ref.family.defaultType);
  const { record, created } = await service.start(
    ref,
    {
      type,
      handler: call.handler.name,
      input: call.input,
      id: o.id,
      idempotencyKey: o.idempotencyKey,
      requestHash: call.requestHash,
      maxAttempts: o.maxAttempts ?? call.handler.maxAttempts,
      timeoutMs: o.timeoutMs ?? call.handler.timeoutMs,
    },
    { actor: call.actor, includeUnknownEnumMembers: true },
  );
  return { record, ref, created, location: locationOf(version, collection.path, record.id) };
}

const handlerType = (h: AnyHandler): OperationTypeName => h.type ?? 'richLongRunningOperation';
